"""The ``perphedge`` command: one Typer app; each command lives in its own module."""

from __future__ import annotations

import sys

import typer

from perphedge.errors import PerphedgeError

#: The exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130

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
    )


def fail(message: str, code: int) -> None:
    """Print one line to stderr and exit with ``code``."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(code)


def _usage_message(err: Exception) -> str:
    format_message = getattr(err, "format_message", None)
    return str(format_message()) if callable(format_message) else str(err)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with an honest code (see the README's "Exit codes").

    0: the command did what it was asked. 1: an exchange failure or perphedge stopped it (one
    line on stderr saying what and where). 2: bad input. 130: interrupted (Ctrl-C). A bug in
    perphedge is one line naming it, exit 1, its traceback in the crash log.
    """
    args = sys.argv[1:] if argv is None else argv
    try:
        _register_commands()
        code = app(args=args, standalone_mode=False)
    except PerphedgeError as err:
        fail(str(err), err.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        fail("interrupted", INTERRUPTED)
    except typer.Exit as err:
        raise SystemExit(err.exit_code) from None
    except typer.TyperException as err:
        # Usage errors (unknown option, missing value): one line, exit 2 like other bad input.
        fail(" ".join(_usage_message(err).split()), int(getattr(err, "exit_code", 2)))
    except Exception as err:  # a bug: one line here, the traceback to the crash log
        from perphedge.cli.crash import record_crash

        fail(record_crash(err, args), 1)
    # Without standalone mode click *returns* what ``typer.Exit`` carried instead of exiting;
    # typer turns a KeyboardInterrupt inside a command into ``Exit(130)``.
    if code == INTERRUPTED:
        fail("interrupted", INTERRUPTED)
    raise SystemExit(code if isinstance(code, int) else 0)
