"""The unified ccxt venue on OKX: the real ``ccxt.async_support.okx`` against a loopback OKX v5.

The server (``tests/fakes/okx_v5.py``) answers in OKX's shape over perphedge's simulator, so
fills, margin, funding and positions are real, and sizes cross the wire in contracts of
0.01 BTC. The venue is built as the engine builds it: ``open_ccxt_venue("okx", url, creds)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from pydantic import SecretStr

from perphedge.adapters.exchanges.ccxt_client import Credentials, credentials_from_env
from perphedge.adapters.exchanges.ccxt_venue import CcxtVenue, RetryPolicy, open_ccxt_venue
from perphedge.adapters.store.repository import HedgeStore
from perphedge.config.models import HedgeConfig
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.loop import HedgeEngine
from perphedge.engine.venue import Market, OrderRequest, OrderState, Venue, VenueOrder
from perphedge.errors import AmbiguousOrderError, TerminalExchangeError
from perphedge.exchange.market import PricePath, ReplayClock, ReplayMarket
from tests.fakes.okx_v5 import OkxV5Fake, okx_exchange, serve_okx
from tests.fakes.okx_v5_rows import INST_ID, SIM_SYMBOL, sim_instrument

KEY, SECRET, PHRASE = "okx-test-key-3c1d", "okx-test-secret-77ab", "okx-test-phrase-5e"
CREDS = Credentials(SecretStr(KEY), SecretStr(SECRET), SecretStr(PHRASE))
HOUR_MS = 3_600_000
T0_MS = 1_704_067_200_000
BTC = "BTCUSDT"  # the engine's id; the venue maps it to BTC-USDT-SWAP
_T = TypeVar("_T")


@contextmanager
def okx(spot: dict[str, str], closes: list[str] | None = None) -> Iterator[OkxV5Fake]:
    """OKX on a scripted BTC path (hourly, 40,000 unless told), funding every 8 h."""
    clock = ReplayClock(T0_MS + HOUR_MS, speed=0)
    path = PricePath.scripted(SIM_SYMBOL, HOUR_MS, T0_MS, closes or ["40000"] * 48,
                              [(T0_MS + 8 * HOUR_MS * k, "0.0001") for k in range(1, 6)])
    exchange = okx_exchange(ReplayMarket({SIM_SYMBOL: path}, clock),
                            {asset: Decimal(qty) for asset, qty in spot.items()})
    with serve_okx(exchange, api_key=KEY, secret=SECRET, passphrase=PHRASE,
                   tier_price=Decimal(40000)) as fake:
        yield fake


def venue_on(fake: OkxV5Fake, creds: Credentials = CREDS) -> CcxtVenue:
    venue = open_ccxt_venue("okx", fake.url, creds, retry=RetryPolicy.instant(2),
                            timeout_ms=3_000)
    assert isinstance(venue, CcxtVenue)
    venue._client.enableRateLimit = False  # a loopback server: no throttle needed
    return venue


def run(fake: OkxV5Fake, body: Callable[[Any], Awaitable[_T]]) -> _T:
    async def main() -> _T:
        venue = venue_on(fake)
        try:
            return await body(venue)
        finally:
            await venue.close()

    return asyncio.run(main())


def short(cid: str, qty: str, **kwargs: Any) -> OrderRequest:
    return OrderRequest(cid, Market.FUTURES, BTC, Side.SHORT, Decimal(qty), **kwargs)


def test_every_port_method_against_okx_v5(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def body(v: Any) -> None:
        seen["instrument"] = await v.instrument(BTC)
        seen["brackets"] = await v.brackets(BTC)
        seen["modes"] = await v.account_modes()
        seen["mark"] = await v.mark_and_funding(BTC)
        await v.transfer(Decimal("20000"), to=Market.FUTURES)
        seen["funded"] = await v.balances()
        await v.set_margin_mode(BTC, MarginMode.ISOLATED)
        await v.set_leverage(BTC, 3)
        seen["opened"] = await v.place_order(short("ph-btc-1", "0.5"))
        seen["by_id"] = await v.fetch_order(BTC, "ph-btc-1")
        (seen["short"],) = await v.positions()
        seen["short_margin"] = fake.exchange.account.position(SIM_SYMBOL).isolated_margin_usdt
        await v.add_margin(BTC, Decimal("100"))
        (seen["topped"],) = await v.positions()
        await v.reduce_margin(BTC, Decimal("40.5"))
        (seen["reduced"],) = await v.positions()
        await v.place_order(short("ph-btc-2", "0.1", order_type="limit",
                                  price_usdt=Decimal("45000")))
        seen["open"] = await v.open_orders(BTC)
        seen["canceled"] = await v.cancel_order(BTC, "ph-btc-2")
        fake.exchange.market.clock.set(T0_MS + 9 * HOUR_MS)  # past the 8 h settlement
        seen["funding"] = await v.funding_history(BTC, T0_MS)
        await v.place_order(OrderRequest("ph-btc-3", Market.FUTURES, BTC, Side.LONG,
                                         Decimal("0.5"), reduce_only=True))
        seen["close"] = await v.fetch_order(BTC, "ph-btc-3")
        seen["flat"] = await v.positions()
        seen["unknown"] = await v.fetch_order(BTC, "ph-never-sent")
        await v.transfer(Decimal("1000"), to=Market.SPOT)
        seen["end"] = await v.balances()

    with okx({"USDT": "50000", "BTC": "1.5"}) as fake:
        run(fake, body)
        orders = [r.params[0] for r in fake.requests("POST", "/api/v5/trade/batch-orders")]
        leverage = fake.requests("POST", "/api/v5/account/set-leverage")[-1].params
        transfers = [r.params for r in fake.requests("POST", "/api/v5/asset/transfer")]
        margins = [r.params for r in fake.requests("POST",
                                                   "/api/v5/account/position/margin-balance")]
        bills = fake.requests("GET", "/api/v5/account/bills-archive")[-1].params

    # Specs: the simulator's contract, lot step in contracts, minimum in BTC; tiers converted
    # from contracts back to the simulator's USDT brackets at the 40,000 mark.
    assert seen["instrument"] == sim_instrument()
    assert seen["brackets"].brackets == fake.exchange.account.brackets[SIM_SYMBOL].brackets
    assert (seen["modes"].hedge_mode, seen["mark"].mark_price_usdt) == (False, Decimal(40000))
    assert (seen["mark"].funding_rate, seen["mark"].next_funding_ms) == (
        Decimal("0.0001"), T0_MS + 8 * HOUR_MS)
    # Funding account (6) → trading account (18); the balances read both.
    assert [(t["from"], t["to"], t["amt"]) for t in transfers] == [
        ("6", "18", "20000"), ("18", "6", "1000")]
    funded = seen["funded"]
    assert funded.spot == {"BTC": Decimal("1.5"), "USDT": Decimal("30000")}
    assert funded.futures_wallet_usdt == funded.futures_available_usdt == Decimal("20000")
    # Leverage is set for the isolated mode; the order carries it as tdMode, sized in contracts.
    assert (leverage["mgnMode"], leverage["lever"], leverage["instId"]) == ("isolated", 3, INST_ID)
    assert {k: orders[0][k] for k in ("clOrdId", "sz", "side", "tdMode", "ordType")} == {
        "clOrdId": "phZbtcZ1", "sz": "50", "side": "sell", "tdMode": "isolated",
        "ordType": "market"}
    assert orders[-1]["reduceOnly"] is True
    by_id = seen["by_id"]
    assert (by_id.client_order_id, by_id.exchange_order_id) == (
        "ph-btc-1", seen["opened"].exchange_order_id)
    assert (by_id.state, by_id.side, by_id.filled_qty_base) == (
        OrderState.FILLED, Side.SHORT, Decimal("0.5"))
    assert (by_id.avg_price_usdt, by_id.fee_usdt) == (Decimal(40000), Decimal(10))
    pos = seen["short"]
    assert (pos.symbol, pos.qty_base, pos.margin_mode, pos.leverage) == (
        BTC, Decimal("-0.5"), MarginMode.ISOLATED, 3)
    assert pos.isolated_margin_usdt == seen["short_margin"]  # OKX's string, not a float
    assert seen["topped"].isolated_margin_usdt - pos.isolated_margin_usdt == 100
    assert seen["topped"].isolated_margin_usdt - seen["reduced"].isolated_margin_usdt == (
        Decimal("40.5"))
    assert seen["topped"].liquidation_price_usdt > pos.liquidation_price_usdt
    assert [(m["type"], m["amt"]) for m in margins] == [("add", "100"), ("reduce", "40.5")]
    (resting,) = seen["open"]
    assert (resting.client_order_id, resting.qty_base, resting.state) == (
        "ph-btc-2", Decimal("0.1"), OrderState.SUBMITTED)
    assert seen["canceled"].state is OrderState.CANCELED
    # Short 0.5 BTC at 40,000 receives 0.0001 × 20,000 = 2 USDT; OKX was asked from T0 on.
    assert [(p.ts_ms, p.amount_usdt) for p in seen["funding"]] == [
        (T0_MS + 8 * HOUR_MS, Decimal(2))]
    assert (bills["type"], bills["begin"]) == ("8", str(T0_MS))
    close = seen["close"]
    assert (close.state, close.reduce_only, close.side) == (OrderState.FILLED, True, Side.LONG)
    assert (seen["flat"], seen["unknown"]) == ([], None)
    # Funding +2, fees 2 × 10: the wallet after the round trip, 1,000 of it moved back.
    assert seen["end"].futures_wallet_usdt == Decimal(20000 - 20 + 2 - 1000)
    assert seen["end"].spot["USDT"] == Decimal(31000)


def test_an_order_accepted_but_unanswered_is_found_by_client_id_not_resent() -> None:
    async def body(v: CcxtVenue) -> VenueOrder | None:
        await v.transfer(Decimal("10000"), to=Market.FUTURES)
        fake.drop_after_handling.add("/api/v5/trade/batch-orders")
        with pytest.raises(AmbiguousOrderError) as caught:
            await v.place_order(short("ph-btc-7", "0.2"))
        assert caught.value.client_order_id == "ph-btc-7"
        return await v.fetch_order(BTC, "ph-btc-7")

    with okx({"USDT": "50000"}) as fake:
        found = run(fake, body)
        assert len(fake.requests("POST", "/api/v5/trade/batch-orders")) == 1
        assert len(fake.exchange.book.orders) == 1
    assert found is not None
    assert (found.state, found.filled_qty_base) == (OrderState.FILLED, Decimal("0.2"))


def test_refusals_are_terminal_with_okx_codes_and_keys_are_checked() -> None:
    async def body(v: Any) -> list[str]:
        out = []
        for request in (short("ph-btc-1", "0.1", reduce_only=True),  # nothing to reduce
                        short("ph-btc-2", "0.1")):  # no USDT in the trading account
            with pytest.raises(TerminalExchangeError) as caught:
                await v.place_order(request)
            assert not isinstance(caught.value, AmbiguousOrderError)
            out.append(str(caught.value))
        with pytest.raises(TerminalExchangeError, match=r"InsufficientFunds.*58350"):
            await v.transfer(Decimal("1"), to=Market.SPOT)
        return out

    with okx({"USDT": "100"}) as fake:
        reduce_only, no_margin = run(fake, body)
        assert fake.exchange.book.orders == {}
        wrong = Credentials(SecretStr(KEY), SecretStr(SECRET), SecretStr("not-the-phrase"))

        async def with_wrong_phrase() -> None:
            venue = venue_on(fake, wrong)
            try:
                await venue.balances()
            finally:
                await venue.close()

        with pytest.raises(TerminalExchangeError, match=r"AuthenticationError.*50105") as auth:
            asyncio.run(with_wrong_phrase())
    assert "51169" in reduce_only
    assert "InsufficientFunds" in no_margin
    assert "51008" in no_margin
    assert "not-the-phrase" not in str(auth.value)
    assert SECRET not in str(auth.value)


def test_a_passphrase_comes_from_the_environment_and_okx_needs_one() -> None:
    creds = credentials_from_env({"PERPHEDGE_API_KEY": KEY, "PERPHEDGE_API_SECRET": SECRET,
                                  "PERPHEDGE_API_PASSPHRASE": PHRASE})
    assert creds is not None
    assert creds.passphrase is not None
    assert creds.passphrase.get_secret_value() == PHRASE
    with okx({"USDT": "100"}) as fake:
        assert run(fake, lambda v: v.balances()).spot == {"USDT": Decimal(100)}
        no_phrase = Credentials(SecretStr(KEY), SecretStr(SECRET))

        async def without() -> None:
            venue = venue_on(fake, no_phrase)
            try:
                await venue.balances()
            finally:
                await venue.close()

        with pytest.raises(TerminalExchangeError, match="password"):
            asyncio.run(without())


def test_the_engine_hedges_a_spot_balance_on_okx(tmp_path: Path) -> None:
    hedge = HedgeConfig.model_validate({
        "name": "btc", "account": "main", "asset": "BTC", "exposure": {"source": "balance"},
        "policy": "managed", "leverage": 2, "margin_mode": "isolated",
        "instrument": "BTC/USDT:USDT"})

    async def main(fake: OkxV5Fake) -> list[str]:
        venue = venue_on(fake)
        store = HedgeStore(f"sqlite:///{tmp_path / 'store.db'}")
        port = cast("Venue", venue)  # the unified venue's declared type lacks nothing used
        engine = HedgeEngine(hedge, port, store, LiveExecutor(port, store, "main"),
                             ManualClock(T0_MS))
        account, statuses = fake.exchange.account, []

        async def cycle() -> Decimal:
            report = await engine.cycle()
            statuses.append(report.status)
            assert report.status != "error", report.lines
            await engine.cycle()  # the next cycle settles what the last one sent
            return sum((p.qty_base for p in await venue.positions()), Decimal(0))

        try:
            assert await cycle() == Decimal("-1")
            account.deposit("BTC", Decimal("0.5"), T0_MS)
            assert await cycle() == Decimal("-1.5")
            account.withdraw("BTC", Decimal("0.7"), T0_MS)  # a partial sale
            assert await cycle() == Decimal("-0.8")
            account.withdraw("BTC", Decimal("0.8"), T0_MS)  # sold out: close
            assert await cycle() == 0
            rows = store.orders("btc")
            assert all(o.state == "filled" for o in rows), rows
            assert [o.reduce_only for o in rows] == [False, False, True, True]
        finally:
            store.close()
            await venue.close()
        return statuses

    with okx({"USDT": "40000", "BTC": "1"}) as fake:
        statuses = asyncio.run(main(fake))
        sent = [r.params[0] for r in fake.requests("POST", "/api/v5/trade/batch-orders")]
    assert statuses == ["acted"] * 4
    assert [(o["side"], o["sz"], o["tdMode"], o["reduceOnly"]) for o in sent] == [
        ("sell", "100", "isolated", False), ("sell", "50", "isolated", False),
        ("buy", "70", "isolated", True), ("buy", "80", "isolated", True)]
