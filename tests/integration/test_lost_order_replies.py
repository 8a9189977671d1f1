"""An order the exchange accepted whose reply is lost is read back by client id, not rejected.

The live engine (Binance venue, real async ccxt client) trades on the local exchange through a
proxy (``cutting_proxy``) that forwards ``POST /fapi/v1/order`` and then spoils the answer: the
reply cut mid-body (ccxt raises a plain ``ExchangeError``, the case issue #10 found recorded as
``rejected``), a 503 page, an HTML page with status 200, garbled JSON. Each time the order is
filled on the exchange, sent once, recorded ``filled`` with its price and fee, and the next
cycle finds the position where the records say it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from perphedge.adapters.exchanges.ccxt_client import Credentials, build_async_client
from perphedge.adapters.exchanges.ccxt_venue import BinanceUsdmVenue, RetryPolicy
from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import FillRow
from perphedge.config.models import HedgeConfig
from perphedge.domain.types import Side
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.loop import CycleReport, HedgeEngine
from perphedge.engine.venue import Market, OrderRequest, OrderState
from perphedge.errors import AmbiguousOrderError, OrderRefusedError
from perphedge.exchange.core import LocalExchange
from tests.integration.cutting_proxy import MODES, CuttingProxy, cutting_proxy
from tests.integration.local_exchange_fixture import (
    API_KEY,
    API_SECRET,
    HOUR_MS,
    T0_MS,
    local_exchange,
)

CREDS = Credentials(SecretStr(API_KEY), SecretStr(API_SECRET))
ORDER = ("POST", "/fapi/v1/order")


@dataclass
class Rig:
    exchange: LocalExchange
    proxy: CuttingProxy
    engine: HedgeEngine
    venue: BinanceUsdmVenue
    store: HedgeStore
    runner: asyncio.Runner

    def cycle(self) -> CycleReport:
        return self.runner.run(self.engine.cycle())

    def position(self) -> Decimal:
        with self.exchange.lock:
            self.exchange.sync()
            return self.exchange.account.position("BTCUSDT").qty_base

    def deposit_btc(self, qty: str) -> None:
        with self.exchange.lock:
            self.exchange.account.deposit("BTC", Decimal(qty), T0_MS)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    hedge = HedgeConfig.model_validate({
        "name": "btc", "account": "local", "asset": "BTC", "exposure": {"source": "balance"},
        "policy": "managed", "leverage": 2, "margin_mode": "isolated"})
    with local_exchange(spot_usdt="100000") as lx, cutting_proxy(lx.url) as proxy, \
            asyncio.Runner() as runner:
        client = build_async_client("binance", proxy.url, CREDS, timeout_ms=5_000)
        client.enableRateLimit = False
        venue = BinanceUsdmVenue(client, secrets=(API_KEY, API_SECRET),
                                 retry=RetryPolicy.instant())
        store = HedgeStore(f"sqlite:///{tmp_path / 'store.db'}")
        engine = HedgeEngine(hedge, venue, store, LiveExecutor(venue, store, "local"),
                             ManualClock(T0_MS + HOUR_MS))
        try:
            yield Rig(lx.exchange, proxy, engine, venue, store, runner)
        finally:
            store.close()
            runner.run(venue.close())


def test_a_filled_order_whose_reply_is_lost_is_recorded_filled_never_rejected(rig: Rig) -> None:
    held = Decimal(0)
    for number, mode in enumerate(MODES, start=1):
        rig.deposit_btc("0.5")
        held += Decimal("0.5")
        rig.proxy.spoil(*ORDER, mode)
        sent_before = rig.proxy.count(*ORDER)

        report = rig.cycle()

        assert report.status == "acted", (mode, report.lines)
        assert any("resolved by client id" in line for line in report.lines), report.lines
        assert rig.proxy.count(*ORDER) == sent_before + 1, mode  # sent once, never again
        assert rig.position() == -held, mode
        order = rig.store.order(f"ph-btc-{number}", "local")
        assert order is not None
        assert (order.state, order.filled_qty_base) == ("filled", Decimal("0.5")), mode
        assert order.avg_price_usdt == Decimal(40000)
        assert rig.store.count(FillRow) == number  # one fill per order, none twice
        after = rig.cycle()
        assert after.status == "idle", (mode, after.lines)  # the records match the exchange
    assert all(o.state == "filled" for o in rig.store.orders("btc"))
    assert rig.store.fees_total("btc") > 0  # read back with the order: its fee too


def test_a_documented_refusal_is_rejected_and_anything_else_is_read_back(rig: Rig) -> None:
    async def body() -> tuple[str, str]:
        venue = rig.venue
        # No USDT in the futures wallet: Binance answers -2019, a refusal the table lists.
        with pytest.raises(OrderRefusedError) as refused:
            await venue.place_order(OrderRequest(
                "ph-x-1", Market.FUTURES, "BTCUSDT", Side.SHORT, Decimal("0.1")))
        await venue.transfer(Decimal("10000"), to=Market.FUTURES)
        rig.proxy.spoil(*ORDER, "cut")
        with pytest.raises(AmbiguousOrderError) as lost:
            await venue.place_order(OrderRequest(
                "ph-x-2", Market.FUTURES, "BTCUSDT", Side.SHORT, Decimal("0.1")))
        found = await venue.fetch_order("BTCUSDT", "ph-x-2")
        assert found is not None
        assert (found.state, found.filled_qty_base) == (OrderState.FILLED, Decimal("0.1"))
        return refused.value.reason, str(lost.value)

    reason, lost = rig.runner.run(body())
    assert reason == "binance -2019: margin is insufficient"
    assert "ph-x-2" not in reason
    assert "place order ph-x-2 on binanceusdm" in lost


def test_a_cancel_whose_reply_is_lost_is_read_back_by_client_id(rig: Rig) -> None:
    async def body() -> list[tuple[str, OrderState, OrderState]]:
        venue, out = rig.venue, []
        await venue.transfer(Decimal("10000"), to=Market.FUTURES)
        for mode in MODES:
            cid = f"ph-x-{mode}"
            resting = await venue.place_order(OrderRequest(
                cid, Market.FUTURES, "BTCUSDT", Side.SHORT, Decimal("0.1"),
                order_type="limit", price_usdt=Decimal("50000")))
            rig.proxy.spoil("DELETE", "/fapi/v1/order", mode)
            cancelled = await venue.cancel_order("BTCUSDT", cid)
            out.append((mode, resting.state, cancelled.state))
        return out

    states = rig.runner.run(body())
    assert states == [(m, OrderState.SUBMITTED, OrderState.CANCELED) for m in MODES]
    assert rig.proxy.count("DELETE", "/fapi/v1/order") == len(MODES)  # each cancel sent once
