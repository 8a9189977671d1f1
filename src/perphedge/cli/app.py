"""The ``perphedge`` command: one Typer app; each command lives in its own module."""

from __future__ import annotations

import sys

import typer

from perphedge.errors import PerphedgeError

app = typer.Typer(
    name="perphedge",
    help="Lock the value of crypto holdings with USDT-margined perpetuals; keep the hedge alive.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
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
        serve_cmd,
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
