"""The CLI loads a command's module only when that command runs, and its summary table is true."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from perphedge.cli import app as cli

HEAVY = ("sqlalchemy", "alembic", "ccxt", "plotly", "matplotlib", "pyarrow", "numpy")


def _imported_by(*args: str) -> set[str]:
    """Top-level packages a real ``python -m perphedge ARGS`` process imports."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "perphedge", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_help_imports_no_heavy_package() -> None:
    imported = _imported_by("--help")
    assert "perphedge" in imported  # the listing above is real
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


def test_plan_json_loads_neither_the_store_nor_ccxt_nor_the_charts() -> None:
    imported = _imported_by("plan", "--asset", "BTC", "--quantity", "5", "--json")
    assert "numpy" in imported  # the plan does read the bundled history
    assert imported.isdisjoint({"sqlalchemy", "alembic", "ccxt", "plotly", "matplotlib"})


def _real_commands() -> dict[str, tuple[str, str]]:
    """Every command the modules register: name -> (defining module, first help paragraph)."""
    cli.register_all_commands()
    out = {}
    for info in cli.app.registered_commands:
        assert info.callback is not None
        name = info.name or info.callback.__name__.replace("_", "-")
        doc = inspect.getdoc(info.callback) or ""
        out[name] = (info.callback.__module__, doc.split("\n\n")[0])
    for group in cli.app.registered_groups:
        assert group.typer_instance is not None
        assert group.name is not None
        help_text = group.typer_instance.info.help
        out[group.name] = (_module_of(group.name), str(help_text).split("\n\n")[0])
    return out


def _module_of(group_name: str) -> str:
    for name, (module, _) in cli.COMMANDS.items():
        if name == group_name:
            return module
    raise AssertionError(f"group {group_name!r} is missing from COMMANDS")


def test_the_summary_table_names_every_command_with_its_own_help() -> None:
    real = _real_commands()
    assert set(cli.COMMANDS) == set(real)
    for name, (module, summary) in cli.COMMANDS.items():
        real_module, real_summary = real[name]
        assert module == real_module, name
        assert " ".join(summary.split()) == " ".join(real_summary.split()), name


@pytest.mark.parametrize("name", ["plan", "exchange", "status"])
def test_a_command_found_lazily_is_the_registered_one(name: str) -> None:
    import typer.main

    group = typer.main.get_command(cli.app)
    assert isinstance(group, cli.LazyCommands)
    command = group.get_command(None, name)
    assert command is not None
    assert command.name == name
