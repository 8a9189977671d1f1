"""A process killed after sending an order but before recording its result: on restart,
``perphedge run`` finds the ``pending_submit`` order by client id and records it — the order is
never sent again and the position does not double."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from perphedge.adapters.exchanges.ccxt_client import Credentials, build_async_client
from perphedge.adapters.exchanges.ccxt_venue import BinanceUsdmVenue, RetryPolicy
from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import OrderRow
from perphedge.config.loader import load_config
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.loop import ensure_hedge_row
from perphedge.engine.venue import Market, OrderRequest
from tests.e2e.test_live_cli import BTC, Live, running_live
from tests.integration.local_exchange_fixture import API_KEY, API_SECRET

T0 = 1_704_067_200_000


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with running_live(tmp_path) as state:
        yield state


async def send_directly(url: str) -> None:
    """What the killed process did after recording the intent: fund, configure and send."""
    from pydantic import SecretStr

    client = build_async_client("binance", url, Credentials(SecretStr(API_KEY),
                                                            SecretStr(API_SECRET)), 5_000)
    client.enableRateLimit = False
    venue = BinanceUsdmVenue(client, secrets=(API_KEY, API_SECRET), retry=RetryPolicy.instant())
    try:
        await venue.transfer(Decimal("20020"), to=Market.FUTURES)
        await venue.set_margin_mode(BTC, MarginMode.ISOLATED)
        await venue.set_leverage(BTC, 2)
        await venue.place_order(OrderRequest("ph-btc-1", Market.FUTURES, BTC, Side.SHORT,
                                             Decimal("1.000")))
    finally:
        await venue.close()


def test_restart_after_a_kill_between_send_and_record_does_not_double(live: Live) -> None:
    store = HedgeStore(live.db_url)
    try:
        ensure_hedge_row(store, load_config(live.config).hedges[0], T0)
        store.record_order_intent(OrderRow(
            hedge_id="btc", account="local", client_order_id="ph-btc-1", market="futures",
            symbol=BTC, side="sell", order_type="market", qty_base=Decimal("1.000"),
            price_usdt=None, reduce_only=False, state="pending_submit",
            filled_qty_base=Decimal(0), avg_price_usdt=None, created_ms=T0, updated_ms=T0,
            note="",
        ))
        asyncio.run(send_directly(live.venue.url))
        assert live.position() == Decimal("-1")

        code, out, err = live.cli("run", "--cycles", "1", "--yes")

        assert code == 0, err
        assert "ph-btc-1 (pending_submit) found on the exchange: filled" in out
        assert live.position() == Decimal("-1")  # not -2
        assert [o.client_order_id for o in live.futures_orders()] == ["ph-btc-1"]
        order = store.order("ph-btc-1", "local")
        assert order is not None
        assert (order.state, order.filled_qty_base) == ("filled", Decimal("1.000"))
    finally:
        store.close()
