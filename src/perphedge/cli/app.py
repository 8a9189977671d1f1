"""The ``perphedge`` command: one Typer app; each command lives in its own module.

The command modules are imported only when their command runs (or its ``--help`` is asked):
``perphedge --help`` lists the commands from :data:`COMMANDS` and imports none of them, so it
does not pay for SQLAlchemy, ccxt, NumPy or plotly. pip keeps its command summaries in a table
the same way; ``tests/unit/test_cli_lazy.py`` checks the table against the commands themselves.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from perphedge.errors import PerphedgeError

#: command name -> (module that registers it on ``app``, the summary ``--help`` shows).
COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("perphedge.cli.plan_cmd",
             "Plan a hedge: the order, margin, liquidation price, runway, funding and fees."),
    "backtest": ("perphedge.cli.backtest_cmd",
                 "Replay a hedge on real history: value locked, funding, fees, liquidations."),
    "carry": ("perphedge.cli.carry_cmd",
              "Compare the carry of the perpetual and each quarterly, for a short and a long "
              "hedge."),
    "demo": ("perphedge.cli.demo_cmd",
             "Run the live engine on a local exchange replaying the 2023-10 → 2024-03 BTC "
             "rally."),
    "init": ("perphedge.cli.init_cmd",
             "Write a commented example configuration to edit (API keys stay out of it)."),
    "open": ("perphedge.cli.hedge_cmds",
             "Open a hedge: set margin mode and leverage, then place the orders the policy "
             "asks for."),
    "run": ("perphedge.cli.hedge_cmds",
            "Keep hedges aligned: observe → plan → execute → record, every decision interval."),
    "status": ("perphedge.cli.hedge_cmds",
               "Each hedge as of its last cycle: quantities, drift, liquidation, runway, PnL, "
               "totals."),
    "close": ("perphedge.cli.hedge_cmds",
              "Unwind a hedge with reduce-only orders (and sell its spot with --sell-spot)."),
    "history": ("perphedge.cli.hedge_cmds",
                "The hedge's decisions (newest first), orders, funding payments and margin "
                "moves."),
    "pause": ("perphedge.cli.hedge_cmds",
              "Kill switch: the loop will not act on this hedge until `perphedge resume`."),
    "resume": ("perphedge.cli.hedge_cmds",
               "Act on the hedge again (a halted hedge adopts the position the exchange "
               "shows)."),
    "serve": ("perphedge.cli.serve_cmd",
              "Run the configured hedges unattended, each on its decision interval, until "
              "SIGTERM."),
    "health": ("perphedge.cli.serve_cmd",
               "Exit 0 when every active hedge's heartbeat is fresh and none is halted or "
               "failing."),
    "alerts": ("perphedge.cli.serve_cmd", "Alert channels (alerts.urls in the config)."),
    "web": ("perphedge.cli.web_cmd",
            "Serve the dashboard (/), the REST API (/api, /docs) and /metrics over the store."),
    "export": ("perphedge.cli.export_cmd",
               "Write a hedge's daily accounts and every fill, funding payment and transfer."),
    "exchange": ("perphedge.cli.exchange_cmd",
                 "A local Binance-compatible USDⓈ-M and spot exchange."),
    "data": ("perphedge.cli.data_cmd",
             "Market history: download it through ccxt, see where it is kept."),
}


class LazyCommands(TyperGroup):
    """A command group that imports a command's module only when that command is used."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name][0])
            self.commands.update(_click_commands(names={cmd_name}))
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(_summaries().items()))


def _summaries() -> dict[str, str]:
    return {name: summary for name, (_, summary) in COMMANDS.items()}


#: The exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130

app = typer.Typer(
    name="perphedge",
    help="Lock the value of crypto holdings with USDT-margined perpetuals; keep the hedge alive.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=LazyCommands,
)


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


def _click_commands(names: set[str] | None = None) -> dict[str, Any]:
    """The click commands registered on ``app`` so far (those named in ``names``, or all)."""
    from typer.main import get_command_from_info, get_group_from_info

    out: dict[str, Any] = {}
    for info in app.registered_commands:
        command = get_command_from_info(info, pretty_exceptions_short=app.pretty_exceptions_short,
                                        rich_markup_mode=app.rich_markup_mode)
        if command.name is not None and (names is None or command.name in names):
            out[command.name] = command
    for group in app.registered_groups:
        if names is None or group.name in names:
            out[str(group.name)] = get_group_from_info(
                group, pretty_exceptions_short=app.pretty_exceptions_short,
                rich_markup_mode=app.rich_markup_mode, suggest_commands=app.suggest_commands)
    return out


def register_all_commands() -> None:
    """Import every command module (for tests and tools that inspect every command)."""
    for module, _ in COMMANDS.values():
        importlib.import_module(module)


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
    # perphedge does no linear algebra (its array passes are element-wise), so OpenBLAS's thread
    # pool only costs start-up: 40-80 ms of every command that loads NumPy on this machine.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        code = app(args=args, standalone_mode=False)
    except PerphedgeError as err:
        fail(str(err), err.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        fail("interrupted", INTERRUPTED)
    except typer.Exit as err:
        raise SystemExit(err.exit_code) from None
    except click.ClickException as err:
        # Usage errors (unknown option, missing value): one line, exit 2 like other bad input.
        fail(" ".join(_usage_message(err).split()), int(getattr(err, "exit_code", 2)))
    except Exception as err:  # a bug: one line here, the traceback to the crash log
        from perphedge.cli.crash import record_crash

        fail(record_crash(err, args), 1)
    # Without standalone mode click *returns* what ``typer.Exit`` carried instead of exiting;
    # typer turns a KeyboardInterrupt inside a command into ``Exit(130)``.
    if code == INTERRUPTED:
        fail("interrupted", INTERRUPTED)
    if isinstance(code, int) and code != 0:
        raise SystemExit(code)
