"""The engine talks to the store through its port: no module under ``engine/`` imports
SQLAlchemy, a row class or any adapter, and the SQLAlchemy store implements the port."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import perphedge.engine
from perphedge.adapters.store.repository import HedgeStore
from perphedge.engine.store_port import HedgeRepository

ENGINE = Path(perphedge.engine.__file__).resolve().parent
FORBIDDEN = ("sqlalchemy", "perphedge.adapters")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_engine_module_imports_sqlalchemy_or_an_adapter() -> None:
    offending = {
        f"{path.name}: {name}"
        for path in sorted(ENGINE.glob("*.py"))
        for name in imported_modules(path)
        if name.startswith(FORBIDDEN)
    }
    assert offending == set()


def test_importing_the_engine_loads_no_sqlalchemy() -> None:
    """Transitively too: a fresh interpreter importing every engine module."""
    modules = sorted(f"perphedge.engine.{p.stem}" for p in ENGINE.glob("*.py")
                     if p.stem != "__init__")
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith("
              "('sqlalchemy', 'perphedge.adapters'))}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout


def test_the_sqlalchemy_store_implements_the_port(tmp_path: Path) -> None:
    store: HedgeRepository = HedgeStore(f"sqlite:///{tmp_path / 's.db'}")
    assert store.hedge("none") is None
    assert isinstance(store, HedgeStore)
    store.close()
