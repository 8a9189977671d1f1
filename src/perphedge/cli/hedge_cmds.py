"""``perphedge open | run | status | close | history | pause | resume``: live hedging.

``open``, ``run`` and ``close`` are dry runs unless ``--yes``: they read the account, then print
exactly the orders (with their client ids) and transfers they would send, and send nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from perphedge.cli.app import app, fail
from perphedge.config.models import PerphedgeConfig
from perphedge.engine.loop import CycleReport
from perphedge.errors import InputError
from perphedge.services.compose import compose
from perphedge.services.hedge_models import HedgeView
from perphedge.services.hedge_service import HedgeService
from perphedge.services.hedge_view import report_dict
from perphedge.services.status_format import status_lines

T = TypeVar("T")

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="Config file (default: $PERPHEDGE_CONFIG or the user config dir).")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Store URL, overriding the config's [store] url (sqlite:///… or "
    "postgresql://…).")]
YesOpt = Annotated[bool, typer.Option("--yes", help="Really send orders (default: dry run).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]

DRY_RUN_NOTE = "DRY RUN: nothing is sent; add --yes to send these."


def _service(config: Path | None, db: str | None, *, send: bool = False) -> HedgeService:
    return HedgeService(compose(config, db, send=send))


def _run(service: HedgeService, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(make())
    except InputError as err:
        raise _config_key(err, service.comp.config) from None
    finally:
        service.comp.close()


def _config_key(err: InputError, config: PerphedgeConfig) -> InputError:
    """A market the exchange does not list is the config's fault: name the hedge's key."""
    if err.field != "symbol":
        return err
    for index, hedge in enumerate(config.hedges):
        if hedge.asset.upper() in str(err.got).upper():
            exchange = config.accounts[hedge.account].exchange
            key, given = ((f"hedges[{index}].instrument", hedge.instrument) if hedge.instrument
                          else (f"hedges[{index}].asset", hedge.asset))
            return InputError(key, f"an asset with a USDT-margined perpetual on {exchange}",
                              given)
    return err


def _print_report(console: Console, report: CycleReport, send: bool) -> None:
    lines = report.lines
    if report.status == "error":
        lines = lines[:-1]  # the error itself: one line on stderr (see ``_finish``)
        if not lines:
            return
    console.print(f"[bold]{report.hedge_id}[/bold]: {report.status}")
    for line in lines:
        style = "red" if line.startswith(("REFUSED", "ALERT")) else ""
        console.print(f"  {line}", style=style, markup=False, highlight=False)
    if not send and any(x.startswith("would ") for x in report.lines):
        console.print(DRY_RUN_NOTE)


def _problems(command: str, reports: list[CycleReport]) -> str | None:
    """One line naming each hedge whose cycle was refused or failed, or None."""
    stopped = [f"{r.hedge_id}: {command} stopped, {r.problem or r.status}" for r in reports
               if r.status in ("refused", "error")]
    return "; ".join(stopped) if stopped else None


def _finish(command: str, reports: list[CycleReport]) -> None:
    """Exit 1 with one line on stderr when a hedge's (last) cycle was refused or failed."""
    problem = _problems(command, reports)
    if problem is not None:
        fail(problem, 1)


@app.command("open")
def open_(hedge: Annotated[str, typer.Argument(help="Hedge name from the config.")],
          yes: YesOpt = False, config: ConfigOpt = None, db: DbOpt = None,
          as_json: JsonOpt = False) -> None:
    """Open a hedge: set margin mode and leverage, then place the orders the policy asks for."""
    service = _service(config, db, send=yes)
    report = _run(service, lambda: service.open(hedge))
    if as_json:
        typer.echo(json.dumps(report_dict(report), indent=2))
    else:
        _print_report(Console(), report, yes)
    _finish("open", [report])


def _status_table(views: list[HedgeView], title: str) -> Table:
    """One column per hedge, one row per figure (fits a terminal with several hedges)."""
    table = Table(title=title)
    table.add_column("", style="bold")
    for view in views:
        table.add_column(view.name, justify="right")
    columns = [status_lines(view) for view in views]
    for i, (label, _) in enumerate(columns[0] if columns else []):
        table.add_row(label, *(lines[i][1] for lines in columns))
    return table


@app.command()
def run(hedges: Annotated[list[str] | None, typer.Argument(help="Hedges (default: all).")] = None,
        cycles: Annotated[int | None, typer.Option(help="Stop after N cycles.")] = None,
        yes: YesOpt = False, config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Keep hedges aligned: observe → plan → execute → record, every decision interval.

    Exits 1 when the last cycle of a hedge was refused or failed.
    """
    service = _service(config, db, send=yes)
    console = Console()
    if not yes:
        console.print(DRY_RUN_NOTE)
    with Live(_status_table(service.views(hedges or []), "perphedge run"), console=console,
              auto_refresh=False) as live:

        def on_cycle(n: int, reports: list[CycleReport]) -> None:
            for report in reports:
                _print_report(live.console, report, yes)
            live.update(_status_table(service.views(hedges or []), f"perphedge run: cycle {n}"),
                        refresh=True)

        reports = _run(service, lambda: service.run(hedges or [], cycles, on_cycle,
                                                    freeze_heap=True))
    _finish("run", reports)  # scripts see that the last cycle could not act


@app.command()
def status(config: ConfigOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Each hedge as of its last cycle: quantities, drift, liquidation, runway, PnL, totals."""
    service = _service(config, db)
    try:
        views = service.views()
    finally:
        service.comp.close()
    if as_json:
        typer.echo(json.dumps([v.model_dump(mode="json") for v in views], indent=2))
    else:
        Console().print(_status_table(views, "perphedge status"))


@app.command()
def close(hedge: Annotated[str, typer.Argument(help="Hedge name from the config.")],
          sell_spot: Annotated[bool, typer.Option(
              "--sell-spot", help="Sell the hedged spot together with the unwind.")] = False,
          yes: YesOpt = False, config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Unwind a hedge with reduce-only orders (and sell its spot with --sell-spot)."""
    service = _service(config, db, send=yes)
    report = _run(service, lambda: service.close(hedge, sell_spot=sell_spot))
    _print_report(Console(), report, yes)
    _finish("close", [report])


@app.command()
def history(hedge: Annotated[str, typer.Argument(help="Hedge name from the config.")],
            config: ConfigOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The hedge's decisions (newest first), orders, funding payments and margin moves."""
    service = _service(config, db)
    try:
        data = service.history(hedge)
    finally:
        service.comp.close()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console = Console()
    orders = Table(title=f"{hedge}: orders")
    columns = ("client_order_id", "market", "side", "quantity", "reduce_only", "state", "filled",
               "avg_price")
    for col in columns:
        orders.add_column(col.replace("_", " "), no_wrap=col == "client_order_id")
    for o in data["orders"]:
        orders.add_row(*("—" if o[c] is None else str(o[c]) for c in columns))
    console.print(orders)
    log = Table(title=f"{hedge}: decisions (newest first)")
    log.add_column("time")
    log.add_column("kind")
    log.add_column("what")
    for d in data["decisions"][:30]:
        what = d.get("calls") or d.get("lines") or d.get("error") or ""
        log.add_row(d["time"], d["kind"], "; ".join(what) if isinstance(what, list) else what)
    console.print(log)
    console.print(f"funding payments: {len(data['funding'])}, margin moves: "
                  f"{len(data['margin_moves'])}")


@app.command()
def pause(hedge: Annotated[str, typer.Argument(help="Hedge name from the config.")],
          config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Kill switch: the loop will not act on this hedge until `perphedge resume`."""
    service = _service(config, db)
    try:
        state = service.pause(hedge)
    finally:
        service.comp.close()
    typer.echo(f"{hedge}: {state}")


@app.command()
def resume(hedge: Annotated[str, typer.Argument(help="Hedge name from the config.")],
           config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Act on the hedge again (a halted hedge adopts the position the exchange shows)."""
    service = _service(config, db)
    try:
        state = service.resume(hedge)
    finally:
        service.comp.close()
    typer.echo(f"{hedge}: {state}")
