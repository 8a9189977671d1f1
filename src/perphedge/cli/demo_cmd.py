"""``perphedge demo``: the live engine keeps a hedge alive on a local exchange; no account."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from perphedge.cli.app import app
from perphedge.errors import InputError
from perphedge.parse import output_file, output_folder


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
    console = Console(highlight=False)
    console.print("[bold]perphedge demo[/bold]: a local Binance-compatible exchange replays "
                  "real BTC history; the live engine hedges 2 BTC through ccxt against it.")
    folder = workdir.resolve() if workdir is not None else None
    outcome = run_demo(console, fast=fast, speed=pace, workdir=folder,
                       report_path=None if report is None else report.resolve())
    console.print(f"report: {outcome.report_path}")
    console.print(f"config and store: {outcome.files.config_path}, {outcome.files.store_path}")
    console.print(f"look back: perphedge history demo-btc --config {outcome.files.config_path}")
    if outcome.liquidations:
        raise typer.Exit(1)
