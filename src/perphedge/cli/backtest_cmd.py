"""``perphedge backtest``: replay a hedge on real history; compare policies; sweep start dates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from perphedge.adapters.compute import runner_for
from perphedge.backtest.exposure import parse_exposure
from perphedge.cli.app import app
from perphedge.domain.types import MarginMode
from perphedge.errors import InputError
from perphedge.parse import (
    HOUR_MS,
    non_negative_amount,
    output_file,
    parse_choice,
    parse_interval_ms,
    parse_time_ms,
    parse_timeframe,
    positive_amount,
    reported_as_typed,
)
from perphedge.services.backtest_service import (
    BacktestOptions,
    BacktestRun,
    DeliveryData,
    ProgressCallback,
    run_backtests,
    run_sweep,
)
from perphedge.services.backtest_view import (
    compare_to_dict,
    instruments_comparison,
    result_to_dict,
    sweep_to_dict,
)

#: (label, key, unit) rows of the summary table, top to bottom.
_ROWS = (
    ("Hedged value at start", "value_start", "USDT"),
    ("Hedged value at end", "value_end", "USDT"),
    ("Hedged value, min", "value_min", "USDT"),
    ("Hedged value, max", "value_max", "USDT"),
    ("Unhedged value at start", "unhedged_start", "USDT"),
    ("Unhedged value at end", "unhedged_end", "USDT"),
    ("Unhedged value, min", "unhedged_min", "USDT"),
    ("Unhedged value, max", "unhedged_max", "USDT"),
    ("Funding received", "funding_received", "USDT"),
    ("Funding paid", "funding_paid", "USDT"),
    ("Fees", "fees_total", "USDT"),
    ("Rebalances", "rebalances", ""),
    ("Margin moves", "margin_moves", ""),
    ("Final spot quantity", "final_spot_quantity", ""),
    ("Final hedge quantity", "final_hedge_quantity", ""),
)


@contextmanager
def _progress_bar(label: str) -> Iterator[ProgressCallback]:
    """A rich bar on stderr (stdout stays clean for --json), drawn only on a terminal.

    Redrawn on each update rather than by rich's refresh thread: a sweep forks its worker
    processes while the bar is up, and a fork should not copy a thread holding a lock.
    """
    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True, disable=not console.is_terminal,
        auto_refresh=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, refresh=True)

        yield update


@app.command()
def backtest(
    asset: Annotated[str, typer.Option(help="Asset to hedge: BTC or ETH (bundled history).")],
    quantity: Annotated[str, typer.Option(help="Quantity held (or to buy), in the asset.")],
    start: Annotated[str, typer.Option(
        help="First day or time, UTC: 2024-01-01 or 2024-01-01T08:00.")],
    end: Annotated[
        str | None, typer.Option(
            help="Day (or time) after the last, UTC (default: the last hourly bar; "
                 "`perphedge data latest` says where each data set ends).")
    ] = None,
    leverage: Annotated[str, typer.Option(help="Leverage of the hedge position.")] = "2",
    policy: Annotated[
        str, typer.Option(help="static (open and hold), managed (rebalance, keep margin), "
                               "reserve (top up margin from a USDT reserve); carry policies: "
                               "funding-guard, quarterly (delivery contracts), auto.")
    ] = "static",
    purchase: Annotated[
        bool, typer.Option("--purchase", help="Lock the price of a planned purchase (long hedge).")
    ] = False,
    compare: Annotated[
        bool, typer.Option("--compare", help="Run every policy on the same data, side by side.")
    ] = False,
    starts: Annotated[
        str | None, typer.Option(help="monthly: a run from every month's start date (a sweep).")
    ] = None,
    horizon_days: Annotated[
        int | None, typer.Option(help="Sweep run length in days (default 180; with --end and "
                                      "no horizon, each run goes to --end).")
    ] = None,
    decision_interval: Annotated[
        str, typer.Option(help="How often the policy decides: 1h, 4h, 1d ...")
    ] = "1h",
    margin_mode: Annotated[str, typer.Option(help="isolated or cross.")] = "isolated",
    reserve: Annotated[
        str | None, typer.Option(help="USDT set aside for margin top-ups (reserve policy).")
    ] = None,
    add_daily: Annotated[
        str | None, typer.Option(help="Quantity added to the holding every day, e.g. 0.1.")
    ] = None,
    sell: Annotated[
        list[str] | None, typer.Option(help="Spot sold on a day: QTY@YYYY-MM-DD (repeatable).")
    ] = None,
    exposure_csv: Annotated[
        str | None, typer.Option(help="CSV of exposure changes (see docs/backtest.md).")
    ] = None,
    data_path: Annotated[
        str | None,
        typer.Option("--data", help="Your own history (CSV/Parquet, see docs/data.md) instead "
                                    "of the bundled one."),
    ] = None,
    data_interval: Annotated[
        str, typer.Option(help="Bar interval of --data: 1m, 5m, 15m, 1h, 4h or 1d.")
    ] = "1h",
    compare_instruments: Annotated[
        bool, typer.Option("--compare-instruments",
                           help="Perpetual (managed) vs quarterly delivery contracts, side by "
                                "side (plus --policy if it is auto or funding-guard).")
    ] = False,
    delivery_data: Annotated[
        str, typer.Option("--delivery-data",
                          help="--compare-instruments against: binance (the USDⓈ-M "
                               "quarterlies, 2025-09 .. 2026-04) or cme (the CME second-month "
                               "chain, 2019-12 .. 2021-05; a caveated stand-in, see "
                               "docs/backtest.md).")
    ] = "binance",
    roll_days: Annotated[
        int, typer.Option(help="Carry policies: roll a delivery hedge this many days before "
                               "expiry.")
    ] = 7,
    switch_to_delivery: Annotated[
        bool, typer.Option("--switch-to-delivery",
                           help="funding-guard: roll into delivery instead of only alerting.")
    ] = False,
    funding_threshold: Annotated[
        str, typer.Option(help="funding-guard: trailing 7-day funding cost that triggers, "
                               "%/yr.")
    ] = "10",
    workers: Annotated[
        int | None, typer.Option(help="Sweep: worker processes on this machine (default: one "
                                      "per core).")
    ] = None,
    cluster: Annotated[
        str | None, typer.Option(help="Sweep: run on this Dask cluster instead, e.g. "
                                      "tcp://10.0.0.5:8786 (see docs/performance.md).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write an offline HTML report here (and a .png beside).")
    ] = None,
) -> None:
    """Replay a hedge on real history: value locked, funding, fees, liquidations."""
    if starts is not None and starts != "monthly":
        raise InputError("--starts", "monthly", starts)
    options = BacktestOptions(
        asset=asset, quantity=positive_amount(quantity, "--quantity"),
        start_ms=parse_time_ms(start, "--start"),
        end_ms=None if end is None else parse_time_ms(end, "--end"),
        leverage=positive_amount(leverage, "--leverage"), policy=policy,
        purchase=purchase, compare=compare, horizon_days=horizon_days,
        decision_interval_ms=parse_interval_ms(decision_interval, "--decision-interval",
                                               min_ms=HOUR_MS, multiple_of_ms=HOUR_MS),
        margin_mode=parse_choice(margin_mode, "--margin-mode", MarginMode),
        reserve_usdt=None if reserve is None else non_negative_amount(reserve, "--reserve"),
        exposure=parse_exposure(add_daily=add_daily, sells=sell or (),
                                csv_path=Path(exposure_csv) if exposure_csv else None),
        data=None if data_path is None else Path(data_path),
        data_interval_ms=parse_timeframe(data_interval, "--data-interval"),
        compare_instruments=compare_instruments, roll_days=roll_days,
        switch_to_delivery=switch_to_delivery,
        funding_threshold=non_negative_amount(funding_threshold, "--funding-threshold") / 100,
        delivery_data=parse_choice(delivery_data, "--delivery-data", DeliveryData),
    )
    if report is not None:
        output_file(report, "--report")
    # The checks that need the data name an option with the text the user typed for it.
    typed = reported_as_typed({"--quantity": quantity, "--start": start, "--end": end,
                               "--delivery-data": delivery_data})
    if starts is not None:
        runner = runner_for(workers, cluster)
        with _progress_bar("sweep") as progress, typed:
            sweep = run_sweep(options, progress, runner)
        data = sweep_to_dict(sweep)
        if as_json:
            typer.echo(json.dumps(data, indent=2))
        else:
            render_sweep(data, Console())
        return
    if workers is not None or cluster is not None:
        raise InputError("--workers" if workers is not None else "--cluster",
                         "--starts monthly (only a sweep has independent runs to spread)",
                         workers if workers is not None else cluster)
    with _progress_bar("backtest") as progress, typed:
        run = run_backtests(options, progress)
    written = _write_report(report, run) if report is not None else None
    if as_json:
        several = compare or compare_instruments
        out = compare_to_dict(run.results, quantity=run.quantity) if several else \
            result_to_dict(run.results[0], quantity=run.quantity)
        if compare_instruments:
            out["instruments"] = instruments_comparison(run.results)
        out["sources"] = list(run.sources)
        if written:
            out["report"] = written
        typer.echo(json.dumps(out, indent=2))
    else:
        render_run(run, Console())
        if written:
            Console().print(f"report: {written['html']} ({written['html_bytes']} bytes), "
                            f"chart: {written['png']}")


def _write_report(path: Path, run: BacktestRun) -> dict[str, Any]:
    # Imported here: plotly and matplotlib take ~0.5 s to import, paid only when asked for.
    from perphedge.reporting.html_report import write_report

    files = write_report(path, run.results, quantity=run.quantity, caveats=run.sources,
                         instruments=run.compare_instruments)
    return {"html": str(files.html_path), "png": str(files.png_path),
            "html_bytes": files.html_bytes}


def render_run(run: BacktestRun, console: Console) -> None:
    """Every policy's figures in one table (one column per policy), then the verdict."""
    from perphedge.services.backtest_view import verdict

    ds = [result_to_dict(r, quantity=run.quantity) for r in run.results]
    first = ds[0]
    table = Table(
        title=f"Backtest: {first['quantity']} {first['asset']} "
        f"{'purchase' if first['purchase'] else 'holding'}, {first['start'][:10]} to "
        f"{first['end'][:10]}, {first['leverage']}x {first['side']}",
    )
    table.add_column("", style="bold")
    for d in ds:
        table.add_column(d["policy"], justify="right")
    if any(d["reserve_start"] != "0.00" for d in ds):
        table.add_row("Reserve set aside at start", *(f"{d['reserve_start']} USDT" for d in ds))
    for label, key, unit in _ROWS:
        table.add_row(label, *(f"{d[key]} {unit}".strip() for d in ds))
        if key == "unhedged_max":  # how well the value was locked, right under the values
            table.add_row("Deviation from locked", *(
                f"{d['deviation_min_pct']} .. {d['deviation_max_pct']} %" for d in ds))
            table.add_row("  with funding", *(
                f"{d['deviation_min_with_funding_pct']} .. "
                f"{d['deviation_max_with_funding_pct']} %" for d in ds))
    table.add_row("Liquidations", *(
        "[red]" + "\n".join(f"{e['time'][:16].replace('T', ' ')} at {e['price']}, "
                            f"lost {e['margin_lost']}" for e in d["liquidations"]) + "[/red]"
        if d["liquidations"] else "none" for d in ds))
    console.print(table)
    console.print(verdict(run.results))
    if run.compare_instruments:
        render_instruments(instruments_comparison(run.results), console)
    for source in run.sources:
        console.print(f"[dim]data: {source}[/dim]")


#: (header, key) columns of the perpetual-vs-delivery table.
_INSTRUMENT_COLUMNS = (
    ("policy", "policy"), ("deviation %", "deviation"), ("vs locked", "result_vs_locked"),
    ("funding", "funding_total"), ("basis+other", "basis_and_other_pnl"),
    ("fees", "fees_total"), ("roll fees", "roll_fees"), ("rolls", "rolls"),
)


def render_instruments(d: dict[str, Any], console: Console) -> None:
    """Perpetual vs delivery contracts: what each hedge cost, split into its parts (USDT)."""
    table = Table(title="Perpetual vs delivery contracts (USDT; deviation with funding)")
    for header, _ in _INSTRUMENT_COLUMNS:
        table.add_column(header, justify="left" if header == "policy" else "right")
    for row in d["rows"]:
        cells = {**row, "deviation": f"{row['deviation_min_pct']} .. {row['deviation_max_pct']}",
                 "policy": f"{row['policy']} ({', '.join(row['contracts_held'])})"}
        table.add_row(*(str(cells[key]) for _, key in _INSTRUMENT_COLUMNS))
    console.print(table)
    if d["verdict"]:
        console.print(d["verdict"])


def render_sweep(d: dict[str, Any], console: Console) -> None:
    """Per policy: runs, liquidations, worst deviation, funding and fees; then each start."""
    horizon = f"{d['horizon_days']} days" if d["horizon_days"] else "to --end"
    table = Table(title=f"Sweep: {d['quantity']} {d['asset']}, {d['leverage']}x, monthly starts, "
                        f"each run {horizon}")
    for name in ("policy", "runs", "liquidated", "worst deviation", "worst start",
                 "funding", "fees"):
        table.add_column(name, justify="left" if name == "policy" else "right")
    for s in d["summary"]:
        table.add_row(s["policy"], str(s["runs"]), str(s["liquidated"]),
                      f"{s['worst_deviation_pct']} %", s["worst_start"][:10],
                      s["funding_total"], s["fees_total"])
    console.print(table)
    rows = Table(title="Each start: liquidation day, or worst deviation from locked")
    rows.add_column("start")
    policies = [s["policy"] for s in d["summary"]]
    for p in policies:
        rows.add_column(p, justify="right")
    by_start: dict[str, dict[str, str]] = {}
    for r in d["rows"]:
        cell = f"[red]liq {r['liquidated'][:10]}[/red]" if r["liquidated"] else \
            f"{r['worst_deviation_pct']} %"
        by_start.setdefault(r["start"][:10], {})[r["policy"]] = cell
    for day, cells in by_start.items():
        rows.add_row(day, *(cells.get(p, "") for p in policies))
    console.print(rows)
