"""``perphedge data``: market history on disk (download through ccxt, where it is kept)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from perphedge.cli.app import app
from perphedge.errors import InputError
from perphedge.parse import parse_time_ms, to_ms

if TYPE_CHECKING:
    from perphedge.adapters.marketdata.ccxt_download import DatasetReport

# ccxt_download (and ccxt, ~0.4 s to import) is imported inside the commands that need it, so
# that every other command starts fast.

data_app = typer.Typer(help="Market history: download it through ccxt, see where it is kept.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


def _iso(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "—"
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


@data_app.command()
def download(
    symbol: Annotated[str, typer.Option(help="ccxt symbol of the perpetual, e.g. BTC/USDT:USDT.")],
    since: Annotated[str, typer.Option(help=(
        "First day or time (UTC unless an offset is given), e.g. 2024-01-01 or "
        "2024-01-01T08:00."))],
    until: Annotated[str | None, typer.Option(help=(
        "End (UTC, exclusive): a date, a time or now (default: now)."))] = None,
    exchange: Annotated[str, typer.Option(help="Exchange (ccxt id).")] = "binance",
    timeframe: Annotated[str, typer.Option(help="Bar length, e.g. 1h or 1d.")] = "1h",
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to keep the files (default: "
                                  "$PERPHEDGE_DATA_DIR or the user data dir).")
    ] = None,
    exchange_url: Annotated[
        str | None, typer.Option(help="Send every API call to this base URL instead.")
    ] = None,
) -> None:
    """Download bars, mark-price bars and funding as Parquet; a rerun adds only what is new."""
    from perphedge.adapters.exchanges.ccxt_client import build_client
    from perphedge.adapters.marketdata.ccxt_download import Downloader, DownloadSpec, data_dir

    now = datetime.now(tz=UTC)
    since_ms = parse_time_ms(since, "--since", now=now)
    client = build_client(exchange, exchange_url)
    until_ms = parse_time_ms(until, "--until", now=now) if until else to_ms(now)
    if until_ms <= since_ms:
        raise InputError("--until", f"a time after --since ({since})", until or "now")
    spec = DownloadSpec(symbol=symbol, since_ms=since_ms, until_ms=until_ms, timeframe=timeframe)
    console = Console(stderr=True)
    columns = (TextColumn("{task.description:<12}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn())
    bar = Progress(*columns, console=console, transient=True)
    tasks: dict[str, TaskID] = {}

    def on_progress(name: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()  # only once data flows, so an early error prints one clean line
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=max(total, 1))
        bar.update(tasks[name], completed=done if total else 1)

    try:
        reports = Downloader(client, exchange, data_dir(directory), on_progress).download(spec)
    finally:
        if tasks:  # stopping a bar that never started would still print a blank line
            bar.stop()
    _render(reports, Console())


def _render(reports: list[DatasetReport], console: Console) -> None:
    table = Table(title="Downloaded")
    for column in ("dataset", "new rows", "rows", "from (UTC)", "to (UTC)"):
        table.add_column(column, justify="right" if "rows" in column else "left")
    for r in reports:
        table.add_row(r.name, str(r.new_rows), str(r.total_rows), _iso(r.first_ms),
                      _iso(r.last_ms))
    console.print(table)
    if reports:
        # Plain text so that a long path is never wrapped or cut by the table.
        typer.echo(f"saved in {reports[0].path.parent}")


@data_app.command("dir")
def show_dir(
    directory: Annotated[Path | None, typer.Option("--dir", help="Override, as for download.")]
    = None,
) -> None:
    """Print the folder downloads go to."""
    from perphedge.adapters.marketdata.ccxt_download import data_dir

    typer.echo(str(data_dir(directory)))


@data_app.command("latest")
def latest(
    asset: Annotated[str, typer.Option(help="Asset of the bundled data.")] = "BTC",
) -> None:
    """Where each bundled data set ends: "the latest data" of plan, carry and backtest."""
    from perphedge.adapters.marketdata.latest_data import latest_bundled

    table = Table(title=f"Latest bundled {asset.upper()} data, per command")
    for column in ("command", "ends (UTC)", "data set"):
        table.add_column(column)
    for row in latest_bundled(asset):
        table.add_row(row.command, _iso(row.last_ms), row.data_set)
    Console().print(table)
    typer.echo("Each command defaults to the end of its own data set; give a date "
               "(--as-of, --end, --price) to compare them on the same day.")
