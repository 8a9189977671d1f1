"""End to end: the Binance venue over the real async ccxt client against the local exchange.

The local exchange (``perphedge.exchange``) speaks Binance's USDⓈ-M and spot REST API over the
account simulator, so a whole hedge round trip runs here: fund the futures wallet, set the
margin mode and leverage, open a short with a client id, read it back by that id, move
isolated margin, and close it with a reduce-only order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from pydantic import SecretStr

from perphedge.adapters.exchanges.ccxt_client import Credentials, build_async_client
from perphedge.adapters.exchanges.ccxt_venue import BinanceUsdmVenue, RetryPolicy
from perphedge.domain.instrument import Instrument
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.venue import (
    AccountModes,
    MarkAndFunding,
    Market,
    OrderRequest,
    OrderState,
    VenueBalances,
    VenueOrder,
    VenuePosition,
)
from tests.integration.local_exchange_fixture import API_KEY, API_SECRET, local_exchange

CREDS = Credentials(SecretStr(API_KEY), SecretStr(API_SECRET))
BTC = "BTCUSDT"


def _venue(url: str) -> BinanceUsdmVenue:
    client = build_async_client("binance", url, CREDS, timeout_ms=5_000)
    client.enableRateLimit = False  # a loopback server; ccxt's throttle would only slow us
    return BinanceUsdmVenue(client, secrets=(API_KEY, API_SECRET), retry=RetryPolicy.instant())


@dataclass
class RoundTrip:
    """What the venue reported at each step of the round trip."""

    modes: AccountModes
    instrument: Instrument
    mark: MarkAndFunding
    spot: Decimal
    funded: VenueBalances
    opened: VenueOrder
    open_by_id: VenueOrder | None
    short: list[VenuePosition]
    topped_up: list[VenuePosition]
    reduced: list[VenuePosition]
    close_by_id: VenueOrder | None
    flat: list[VenuePosition]
    unknown: VenueOrder | None
    end: VenueBalances


async def _round_trip(venue: BinanceUsdmVenue) -> RoundTrip:
    modes = await venue.account_modes()
    instrument = await venue.instrument(BTC)
    mark = await venue.mark_and_funding(BTC)
    spot = await venue.spot_price(BTC)

    await venue.transfer(Decimal("10000"), to=Market.FUTURES)
    funded = await venue.balances()
    await venue.set_margin_mode(BTC, MarginMode.ISOLATED)
    await venue.set_margin_mode(BTC, MarginMode.ISOLATED)  # the exchange answers -4046: success
    await venue.set_leverage(BTC, 5)

    opened = await venue.place_order(
        OrderRequest("ph-e2e-open", Market.FUTURES, BTC, Side.SHORT, Decimal("0.100"))
    )
    open_by_id = await venue.fetch_order(BTC, "ph-e2e-open")
    short = await venue.positions()
    await venue.add_margin(BTC, Decimal("100"))
    topped_up = await venue.positions()
    await venue.reduce_margin(BTC, Decimal("40.5"))
    reduced = await venue.positions()

    await venue.place_order(OrderRequest(
        "ph-e2e-close", Market.FUTURES, BTC, Side.LONG, Decimal("0.100"), reduce_only=True,
    ))
    close_by_id = await venue.fetch_order(BTC, "ph-e2e-close")
    flat = await venue.positions()
    unknown = await venue.fetch_order(BTC, "ph-never-sent")
    await venue.transfer(Decimal("1000"), to=Market.SPOT)
    return RoundTrip(
        modes, instrument, mark, spot, funded, opened, open_by_id, short, topped_up, reduced,
        close_by_id, flat, unknown, await venue.balances(),
    )


def test_a_short_opened_by_client_id_is_read_back_topped_up_and_closed_reduce_only() -> None:
    async def main() -> RoundTrip:
        with local_exchange() as running:
            venue = _venue(running.url)
            try:
                return await _round_trip(venue)
            finally:
                await venue.close()

    seen = asyncio.run(main())
    assert (seen.modes.hedge_mode, seen.modes.multi_assets_margin) == (False, False)
    assert seen.mark.mark_price_usdt == Decimal("40000")
    assert seen.spot == Decimal("40000")  # GET /api/v3/ticker/price: spot trades at the path
    assert seen.instrument.symbol == BTC

    assert seen.funded.futures_wallet_usdt == Decimal("10000")
    assert seen.funded.spot["USDT"] == Decimal("90000")

    by_id = seen.open_by_id
    assert by_id is not None
    assert by_id.client_order_id == "ph-e2e-open"
    assert by_id.exchange_order_id == seen.opened.exchange_order_id
    assert by_id.state is OrderState.FILLED
    assert by_id.side is Side.SHORT
    assert by_id.filled_qty_base == Decimal("0.1")
    assert by_id.avg_price_usdt == Decimal("40000")
    assert by_id.fee_usdt > 0  # from the order's userTrades commission

    (short,) = seen.short
    assert short.qty_base == Decimal("-0.1")
    assert (short.margin_mode, short.leverage) == (MarginMode.ISOLATED, 5)
    (topped,) = seen.topped_up
    (reduced,) = seen.reduced
    assert topped.isolated_margin_usdt - short.isolated_margin_usdt == Decimal("100")
    assert topped.isolated_margin_usdt - reduced.isolated_margin_usdt == Decimal("40.5")
    assert short.liquidation_price_usdt is not None
    assert topped.liquidation_price_usdt is not None
    assert topped.liquidation_price_usdt > short.liquidation_price_usdt  # more room for a short

    close = seen.close_by_id
    assert close is not None
    assert close.state is OrderState.FILLED
    assert close.reduce_only is True
    assert seen.flat == []
    assert seen.unknown is None
    assert seen.end.spot["USDT"] == Decimal("91000")


def test_a_spot_order_sent_before_a_restart_is_found_by_client_id() -> None:
    """The venue routes the ids it sent to spot from memory; a restarted process (killed
    right after a rebalance's spot sale) must still find the sale, not call it never sent."""
    async def main() -> tuple[VenueOrder | None, VenueOrder | None]:
        with local_exchange() as running:
            sender, restarted = _venue(running.url), _venue(running.url)
            try:
                await sender.place_order(OrderRequest(
                    "ph-e2e-spot", Market.SPOT, BTC, Side.LONG, Decimal("0.01")))
                found = await restarted.fetch_order(BTC, "ph-e2e-spot")
                never = await restarted.fetch_order(BTC, "ph-e2e-never")
                return found, never
            finally:
                await sender.close()
                await restarted.close()

    found, never = asyncio.run(main())
    assert found is not None
    assert (found.state, found.filled_qty_base) == (OrderState.FILLED, Decimal("0.01"))
    assert found.fee_usdt > 0  # from the spot trades' commission (GET /api/v3/myTrades)
    assert never is None
