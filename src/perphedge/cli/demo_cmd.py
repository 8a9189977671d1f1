"""``perphedge demo``: the live engine keeps a hedge alive on a local exchange; no account."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from perphedge.cli.app import app, fail
from perphedge.errors import InputError, PerphedgeError
from perphedge.parse import output_file, output_folder

if TYPE_CHECKING:
    from perphedge.adapters.notify.apprise_notifier import AppriseNotifier
    from perphedge.services.alert_rules import Notice


class DeliveryFailed(PerphedgeError):
    """The demo's alerts did not all reach the ``--alerts`` channel (exit 1)."""

    def __init__(self, channel: str, error: str) -> None:
        super().__init__(f"--alerts: not every alert reached {channel}: {error}")


@app.command()
def demo(
    speed: Annotated[float | None, typer.Option(
        help="Replay ms per wall ms (default 360000: six months in about 45 s; 0: as fast as "
             "the engine goes).")] = None,
    fast: Annotated[bool, typer.Option(
        "--fast", help="Daily decisions, no pacing: the same story in a few seconds.")] = False,
    report: Annotated[Path | None, typer.Option(
        help="Where to write the HTML report (default: demo-report.html in the workdir).")] = None,
    workdir: Annotated[Path | None, typer.Option(
        help="Folder for the demo's config and store (default: a new temporary folder).")] = None,
    alerts: Annotated[str | None, typer.Option(
        "--alerts", metavar="URL",
        help="Also send the alerts `perphedge serve` would have sent to this Apprise URL "
             "(json://host/path, mailto://…, tgram://…).")] = None,
) -> None:
    """Run the live engine on a local exchange replaying the 2023-10 → 2024-03 BTC rally.

    No account, keys or internet: the exchange runs in this process on 127.0.0.1.

    A spot deposit and a spot sale happen on the way; ends with a summary and an HTML report.
    """
    from perphedge.demo.runner import DEFAULT_SPEED, run_demo

    pace = speed if speed is not None else (0.0 if fast else DEFAULT_SPEED)
    if pace < 0:
        raise InputError("--speed", "0 or more replay ms per wall ms", pace)
    if not math.isfinite(pace):
        raise InputError("--speed", "a finite number of replay ms per wall ms", str(pace))
    if workdir is not None:
        output_folder(workdir, "--workdir")
    if report is not None:  # the demo creates the report's folder
        output_file(report, "--report")
    notifier = _notifier(alerts)  # a bad URL is refused before anything runs
    console = Console(highlight=False)
    console.print("[bold]perphedge demo[/bold]: a local Binance-compatible exchange replays "
                  "real BTC history; the live engine hedges 2 BTC through ccxt against it.")
    folder = workdir.resolve() if workdir is not None else None
    outcome = run_demo(console, fast=fast, speed=pace, workdir=folder,
                       report_path=None if report is None else report.resolve())
    console.print(f"report: {outcome.report_path}")
    console.print(f"config and store: {outcome.files.config_path}, {outcome.files.store_path}")
    console.print(f"look back: perphedge history demo-btc --config {outcome.files.config_path}")
    _show_alerts(console, outcome.alerts, notifier)
    if outcome.liquidations:
        # The demo's promise is a hedge that survives: a liquidation is a failure (exit 1).
        fail(f"demo: the hedge was liquidated {outcome.liquidations} time(s); see the report", 1)


def _notifier(url: str | None) -> AppriseNotifier | None:
    if url is None:
        return None
    from perphedge.adapters.notify.apprise_notifier import AppriseNotifier

    try:
        return AppriseNotifier([url])
    except InputError as err:
        raise InputError("--alerts", err.expected, err.got) from None


def _show_alerts(console: Console, sent: list[tuple[int, Notice]],
                 notifier: AppriseNotifier | None) -> None:
    """List the alerts the service would have sent; send them with ``--alerts``."""
    from datetime import UTC, datetime

    from perphedge.demo.alerts import send_all

    console.print(f"alerts `perphedge serve` would have sent: {len(sent)}")
    for ts_ms, notice in sent:
        stamp = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        console.print(f"  {stamp}  {notice.title}: {notice.body}", markup=False)
    if notifier is None or not sent:
        return
    deliveries = send_all(sent, notifier)
    failed = [d for d in deliveries if not d.ok]
    channel = notifier.channels[0]
    console.print(f"sent to {channel}: {len(deliveries) - len(failed)} of {len(deliveries)}")
    if failed:
        raise DeliveryFailed(channel, failed[-1].error)
