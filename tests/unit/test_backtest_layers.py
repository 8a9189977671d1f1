"""The backtest's modules import one way: engine → replay → steps, with no circle.

Imports are read from the source (AST), type-only ones under ``TYPE_CHECKING`` included: a
circle through annotations is still a circle to a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import perphedge.backtest

PACKAGE = "perphedge.backtest"
FOLDER = Path(perphedge.backtest.__file__).parent
#: The replay's steps and the types they share: they never see the engine or the replay.
BELOW_THE_REPLAY = ("perform", "rolls", "series_build", "replay_state", "spec")
ABOVE_THE_STEPS = ("engine", "replay")


def _imported_siblings(path: Path) -> set[str]:
    """Names of the ``perphedge.backtest`` modules that ``path`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # Relative imports (``from .replay import Replay``) are read as this package's.
            suffix = f".{node.module}" if node.module else ""
            base = PACKAGE + suffix if node.level else (node.module or "")
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith(PACKAGE + "."):
                found.add(name.removeprefix(PACKAGE + ".").split(".")[0])
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module of ``perphedge.backtest`` → the sibling modules it imports."""
    modules = {p.stem for p in FOLDER.glob("*.py") if p.stem != "__init__"}
    return {m: _imported_siblings(FOLDER / f"{m}.py") & (modules - {m}) for m in modules}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as a path that returns to its start (None: acyclic)."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node):], node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph[node]):
            cycle = visit(nxt)
            if cycle is not None:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle is not None:
            return cycle
    return None


def test_the_graph_is_read_from_the_real_modules() -> None:
    graph = import_graph()
    assert set(BELOW_THE_REPLAY) | set(ABOVE_THE_STEPS) <= set(graph)
    assert "replay" in graph["engine"]
    assert "perform" in graph["replay"]


def test_the_cycle_finder_names_a_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_backtest_modules_import_each_other_without_a_circle() -> None:
    assert find_cycle(import_graph()) is None


def test_no_step_imports_the_engine_or_the_replay() -> None:
    graph = import_graph()
    wrong = {m: sorted(graph.get(m, set()) & set(ABOVE_THE_STEPS)) for m in BELOW_THE_REPLAY}
    assert {m: names for m, names in wrong.items() if names} == {}


def test_the_replay_never_imports_the_engine() -> None:
    assert "engine" not in import_graph()["replay"]
