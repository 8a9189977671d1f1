"""The ``perphedge`` command: one Typer app; each command lives in its own module."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from perphedge.errors import PerphedgeError

app = typer.Typer(
    name="perphedge",
    help="Lock the value of crypto holdings with USDT-margined perpetuals; keep the hedge alive.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _hide_flag_types() -> None:
    """``--json`` is a flag: its help row shows no ``<bool>`` type (Typer's rich help shows
    one for every option; a flag takes no value, so the type only misleads)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_flags_hidden", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag and not self.count:
            return None
        return shown(self, ctx)

    display_type_rich._flags_hidden = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_hide_flag_types()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("perphedge")
        except PackageNotFoundError:  # run from a source tree that was never installed
            number = "unknown (not installed)"
        typer.echo(f"perphedge {number}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print perphedge's version and exit.")] = False,
) -> None:
    """Lock the value of crypto holdings with USDT-margined perpetuals, and keep the hedge alive."""


def _register_commands() -> None:
    # Imported for their side effect of adding commands to ``app``.
    import perphedge.cli.carry_cmd  # noqa: F401
    from perphedge.cli import (  # noqa: F401
        backtest_cmd,
        data_cmd,
        demo_cmd,
        exchange_cmd,
        hedge_cmds,
        init_cmd,
        plan_cmd,
    )


def fail(message: str, code: int) -> None:
    """Print one line to stderr and exit with ``code``."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(code)


def _usage_message(err: Exception) -> str:
    format_message = getattr(err, "format_message", None)
    return str(format_message()) if callable(format_message) else str(err)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: perphedge errors and usage errors become one line and a non-zero exit."""
    _register_commands()
    try:
        app(args=argv, standalone_mode=False)
    except PerphedgeError as err:
        fail(str(err), err.exit_code)
    except typer.Abort:
        fail("aborted", 130)
    except typer.Exit as err:
        raise SystemExit(err.exit_code) from None
    except typer.TyperException as err:
        # Usage errors (unknown option, missing value): one line, exit 2 like other bad input.
        fail(" ".join(_usage_message(err).split()), int(getattr(err, "exit_code", 2)))
