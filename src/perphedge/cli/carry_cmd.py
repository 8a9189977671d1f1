"""``perphedge carry``: what a hedge earns or costs per year on the perpetual vs quarterlies."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from perphedge.adapters.marketdata.bundled_futures import (
    BundledCarrySource,
    CcxtCarrySource,
    ccxt_client,
)
from perphedge.cli.app import app
from perphedge.errors import InputError
from perphedge.parse import non_negative_amount, parse_day
from perphedge.services.carry_service import FUNDING_BASES, CarryOptions, CarrySource, compare_carry
from perphedge.services.carry_view import carry_to_dict


def _source(exchange: str, live: bool, exchange_url: str | None) -> CarrySource:
    if exchange != "binance":
        raise InputError("--exchange", "binance (quarterlies are Binance USDⓈ-M)", exchange)
    if exchange_url is not None and not live:
        raise InputError("--exchange-url", "to be used with --live", exchange_url)
    if live:
        return CcxtCarrySource(ccxt_client(exchange_url), lambda: int(time.time() * 1000))
    return BundledCarrySource()


@app.command()
def carry(
    asset: Annotated[str, typer.Option(help="Asset to hedge, e.g. BTC.")],
    as_of: Annotated[
        str | None, typer.Option(
            help="UTC day YYYY-MM-DD of the bundled closes (default: the last day with "
                 "quarterly closes and funding; "
                 "`perphedge data latest` says where each data set ends).")
    ] = None,
    funding_basis: Annotated[
        str, typer.Option(help=f"Funding estimate for the perpetual: {', '.join(FUNDING_BASES)}.")
    ] = "30d",
    horizon_days: Annotated[
        int, typer.Option(help="Days the perpetual's open and close fees are spread over.")
    ] = 90,
    margin_pct: Annotated[
        str, typer.Option(help="Hysteresis: %/yr the best must beat --current by to switch.")
    ] = "0.5",
    current: Annotated[
        str | None, typer.Option(help="Symbol held now, e.g. BTCUSDT (enables hysteresis).")
    ] = None,
    exchange: Annotated[str, typer.Option(help="Exchange (ccxt id).")] = "binance",
    live: Annotated[
        bool, typer.Option("--live", help="Read funding and quarterly prices now via ccxt.")
    ] = False,
    exchange_url: Annotated[
        str | None, typer.Option(help="Send --live requests to this base URL.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compare the carry of the perpetual and each quarterly, for a short and a long hedge."""
    day = None if as_of is None else parse_day(as_of, "--as-of")
    options = CarryOptions(asset=asset, as_of=day, funding_basis=funding_basis,
                           horizon_days=horizon_days,
                           margin_pct=non_negative_amount(margin_pct, "--margin-pct"),
                           current=current)
    data = carry_to_dict(compare_carry(options, _source(exchange, live, exchange_url)))
    data["exchange"] = exchange
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        render_carry(data, Console())


def _or_dash(value: Any, places: int | None = None) -> str:
    """A JSON decimal string for the table: rounded to ``places`` (the JSON keeps 4)."""
    if value is None:
        return "—"
    return str(value) if places is None else f"{Decimal(value):.{places}f}"


def render_carry(d: dict[str, Any], console: Console) -> None:
    """The comparison as a table, then the funding behind the perpetual row and the advice."""
    table = Table(
        show_edge=False,
        title=f"Carry of a {d['asset']} hedge on {d['exchange']} at {d['as_of']} "
        f"(spot {d['spot_price']}, {d['spot_source']})",
        caption="Rate: annualised funding (perpetual) or basis (quarterly). Short/Long: carry of "
        "a short or long hedge, %/yr of notional, positive = the hedger earns, after taker fees "
        f"{d['taker_fee_rate']} to open and close (quarterlies held to delivery, the "
        f"perpetual over {d['perpetual_horizon_days']} d; its funding: {d['funding_basis']} mean)",
    )
    # Short headers and an unwrapped symbol keep the table whole in an 80-column terminal.
    table.add_column("Instrument", style="bold", no_wrap=True)
    table.add_column("Price", justify="right", no_wrap=True, min_width=8)
    for name in ("Basis %", "Days left", "Rate %/yr", "Fees %/yr", "Short %/yr",
                 "Long %/yr"):
        table.add_column(name, justify="right")
    for r in d["rows"]:
        table.add_row(
            r["symbol"], _or_dash(r["price"], 1), _or_dash(r["basis_pct"], 2),
            _or_dash(r["days_to_expiry"], 1),
            *(_or_dash(r[k], 2) for k in ("paid_by_longs_pct_per_year", "fees_pct_per_year",
                                          "carry_short_pct_per_year", "carry_long_pct_per_year")),
        )
    console.print(table)
    funding = Table(title=f"Funding of the perpetual (per {d['funding_interval_hours']} h)")
    funding.add_column("Window", style="bold")
    funding.add_column("Rate per interval", justify="right")
    funding.add_column("Annualised %", justify="right")
    funding.add_column("Settlements", justify="right")
    for f in d["funding"]:
        funding.add_row(f["window"], f["rate_per_interval"], f["annualized_pct"],
                        str(f["settlements"]))
    console.print(funding)
    for side in ("short", "long"):
        rec = d["recommendation"][side]
        console.print(f"[bold]{side.capitalize()} hedge:[/bold] {rec['choice']} — {rec['reason']}")
    console.print(f"[dim]source: {d['source']}[/dim]")
