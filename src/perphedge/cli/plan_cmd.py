"""``perphedge plan``: what to open, the margin it needs, where it liquidates, what funding does."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from perphedge.adapters.marketdata.bundled import BundledMarketData, BundledPriceHistory
from perphedge.cli.app import app
from perphedge.domain.types import MarginMode
from perphedge.errors import InputError
from perphedge.parse import (
    non_negative_amount,
    parse_choice,
    parse_decimal,
    positive_amount,
    reported_as_typed,
)
from perphedge.services.plan_service import MAX_FUNDING_RATE, PlanOptions, make_plan
from perphedge.services.plan_view import plan_to_dict
from perphedge.services.ports import MarketData

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def _market(exchange: str, live: bool, exchange_url: str | None = None) -> MarketData:
    if live:
        from perphedge.adapters.exchanges.ccxt_market import CcxtMarketData

        live_market: MarketData = CcxtMarketData(exchange, base_url=exchange_url)
        return live_market
    return BundledMarketData(exchange)


def _funding_rate(text: str) -> Decimal:
    rate = parse_decimal(text, "--funding-rate")
    if abs(rate) >= MAX_FUNDING_RATE:
        raise InputError(
            "--funding-rate", "a fraction per funding interval, e.g. 0.0001 for 0.01 %", text
        )
    return rate


@app.command()
def plan(
    asset: Annotated[str, typer.Option(help="Asset to hedge, e.g. BTC or ETH.")],
    quantity: Annotated[str, typer.Option(help="Quantity held (or to buy), in the asset.")],
    purchase: Annotated[
        bool, typer.Option("--purchase", help="Lock the price of a planned purchase (long hedge).")
    ] = False,
    leverage: Annotated[str, typer.Option(help="Leverage of the hedge position.")] = "2",
    margin_mode: Annotated[str, typer.Option(help="isolated or cross.")] = "isolated",
    price: Annotated[
        str | None, typer.Option(
            help="Entry price in USDT (default: the last bundled mark price; "
                 "`perphedge data latest` says where each data set ends).")
    ] = None,
    usdt_available: Annotated[
        str | None, typer.Option(help="USDT you have for margin; below the need, a self-funded "
                                      "alternative is shown.")
    ] = None,
    funding_rate: Annotated[
        str | None, typer.Option(
            help="Funding rate per interval, e.g. 0.0001 (default: the last bundled; "
                 "`perphedge data latest` says where each data set ends).")
    ] = None,
    exchange: Annotated[str, typer.Option(help="Exchange (ccxt id).")] = "binance",
    live: Annotated[
        bool, typer.Option("--live", help="Fetch specs, brackets, mark and funding via ccxt.")
    ] = False,
    exchange_url: Annotated[
        str | None,
        typer.Option(
            envvar="PERPHEDGE_EXCHANGE_URL",
            help="With --live: send every exchange call to this base URL instead (a local "
            "Binance-compatible exchange or a testnet), e.g. http://127.0.0.1:8080.",
        ),
    ] = None,
    horizon_days: Annotated[
        int, typer.Option(help="Horizon for the historical-move check, in days.")
    ] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Plan a hedge: the order, margin, liquidation price, runway, funding and fees."""
    options = PlanOptions(
        asset=asset,
        quantity=positive_amount(quantity, "--quantity"),
        purchase=purchase,
        leverage=positive_amount(leverage, "--leverage"),
        margin_mode=parse_choice(margin_mode, "--margin-mode", MarginMode),
        price=None if price is None else positive_amount(price, "--price"),
        usdt_available=None if usdt_available is None else non_negative_amount(
            usdt_available, "--usdt-available"),
        funding_rate=None if funding_rate is None else _funding_rate(funding_rate),
        horizon_days=horizon_days,
    )
    market = _market(exchange, live, exchange_url)
    try:
        # The planner's checks (a notional above the largest bracket) name the option with
        # the text the user typed for it.
        with reported_as_typed({"--quantity": quantity, "--leverage": leverage}):
            result = make_plan(options, market, BundledPriceHistory())
    finally:
        close = getattr(market, "close", None)
        if callable(close):  # live clients hold an HTTP session
            close()
    data = plan_to_dict(result)
    data["exchange"] = exchange
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        from rich.console import Console  # only for the table: --json does without rich

        render_plan(data, Console())


#: The funding direction in words ("pay" + "d" printed "payd").
_FUNDING_WORDS = {"receive": "received", "pay": "paid", "none": "none (rate 0)"}


def _row(table: Table, label: str, value: Any, note: str = "") -> None:
    table.add_row(label, "—" if value is None else str(value), note)


def render_plan(d: dict[str, Any], console: Console) -> None:
    """A plan as a table a person reads top to bottom."""
    from rich.table import Table

    table = Table(
        title=f"Hedge plan: {d['exposure_quantity']} {d['asset']} {d['exposure']} "
        f"on {d['exchange']}",
        show_header=False,
    )
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column(style="dim")
    _row(table, "Order", f"{d['side'].upper()} {d['quantity']} {d['symbol']}",
         f"market, {d['margin_mode']} {d['leverage']}x")
    _row(table, "Entry price", d["entry_price"], d["price_source"] +
         (f" at {d['price_time']}" if d["price_time"] else ""))
    _row(table, "Notional", f"{d['notional']} USDT", f"locks {d['locked_value']} USDT of value")
    if d["unhedged_remainder"] != "0":
        _row(table, "Unhedged remainder", f"{d['unhedged_remainder']} {d['asset']}", "lot rounding")
    _row(table, "Initial margin", f"{d['initial_margin']} USDT")
    _row(table, "Maintenance margin", f"{d['maintenance_margin']} USDT",
         f"rate {d['maintenance_margin_rate']}, bracket {d['entry_bracket']}")
    _row(table, "Liquidation price", d["liquidation_price"],
         f"bracket {d['liquidation_bracket']} at the liquidation notional"
         if d["liquidation_bracket"] else "cannot be liquidated")
    _row(table, "Runway", f"{d['runway_pct']} %", "price move to liquidation")
    if d["funding_rate"] is not None:
        _row(table, "Funding rate", d["funding_rate"],
             f"per {d['funding_interval_hours']} h, {d['funding_source']}")
        _row(table, "Funding per day", f"{d['funding_per_day']} USDT",
             f"{_FUNDING_WORDS.get(d['funding_direction'], d['funding_direction'])}, "
             f"{d['funding_annualized_pct']} %/yr of notional")
    _row(table, "Entry fee", f"{d['fees']} USDT", f"taker {d['fee_rate']}")
    move = d["historical_move"]
    if move:
        _row(table, "Worst historical move", f"{move['move_pct']} %",
             f"in {move['horizon_days']} d from {move['from'][:10]} to {move['to'][:10]}")
    console.print(table)
    sf = d.get("self_funded")
    if sf:
        alt = Table(title="Self-funded alternative (no extra USDT)", show_header=False)
        alt.add_column(style="bold")
        alt.add_column(justify="right")
        _row(alt, "Sell spot", f"{sf['sell_quantity']} {d['asset']} for {sf['sell_proceeds']} USDT")
        _row(alt, "Hedge", f"{d['side'].upper()} {sf['hedge_quantity']} {d['symbol']}")
        _row(alt, "Liquidation price", sf["liquidation_price"])
        _row(alt, "Runway", f"{sf['runway_pct']} %")
        console.print(alt)
    for warning in d["warnings"]:
        console.print(f"[yellow]warning[/yellow] {warning['message']}")
