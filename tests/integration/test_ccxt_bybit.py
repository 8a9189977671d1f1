"""The unified ccxt venue on Bybit: the real ``ccxt.async_support.bybit`` against a loopback
Bybit v5 server (``tests/fakes/bybit_v5.py``) over perphedge's simulator, as a Unified
Trading Account. Every port method, orders by client id (``orderLinkId``), an ambiguous send,
terminal refusals, and one engine run that opens, follows and closes a hedge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr

from perphedge.adapters.exchanges.ccxt_client import Credentials
from perphedge.adapters.exchanges.ccxt_venue import CcxtVenue, RetryPolicy, open_ccxt_venue
from perphedge.adapters.store.repository import HedgeStore
from perphedge.config.models import HedgeConfig
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.loop import HedgeEngine
from perphedge.engine.venue import Market, OrderRequest, OrderState
from perphedge.errors import AmbiguousOrderError, TerminalExchangeError
from perphedge.exchange.market import PricePath, ReplayClock, ReplayMarket
from tests.fakes.bybit_v5 import BybitV5, serve_bybit_v5

KEY, SECRET = "bybit-test-key-5d1e", "bybit-test-secret-8b7c"
T0, HOUR = 1_704_067_200_000, 3_600_000
BTC = "BTCUSDT"
_T = TypeVar("_T")


@pytest.fixture
def bybit() -> Iterator[BybitV5]:
    """A UTA holding 1 BTC and 30,000 USDT; BTC at 40,000, +0.01 % funding every 8 h."""
    clock = ReplayClock(T0 + HOUR, speed=0)
    funding = [(T0 + h * HOUR, "0.0001") for h in range(8, 48, 8)]
    market = ReplayMarket({BTC: PricePath.scripted(BTC, HOUR, T0, ["40000"] * 48, funding)},
                          clock)
    with serve_bybit_v5(market, {"BTC": Decimal("1"), "USDT": Decimal("30000")}, T0 + HOUR,
                        KEY, SECRET) as server:
        yield server


def run(server: BybitV5, body: Callable[[CcxtVenue], Awaitable[_T]],
        secret: str = SECRET) -> _T:
    async def main() -> _T:
        venue = open_ccxt_venue("bybit", server.url,
                                Credentials(SecretStr(KEY), SecretStr(secret)),
                                retry=RetryPolicy.instant(), timeout_ms=3_000)
        assert isinstance(venue, CcxtVenue)
        venue._client.enableRateLimit = False  # a loopback server: no throttle needed
        try:
            return await body(venue)
        finally:
            await venue.close()

    return asyncio.run(main())


def order(cid: str, side: Side, qty: str, **kw: Any) -> OrderRequest:
    return OrderRequest(cid, Market.FUTURES, BTC, side, Decimal(qty), **kw)


def test_reads_specs_tiers_funding_and_one_unified_wallet(bybit: BybitV5) -> None:
    async def body(v: CcxtVenue) -> tuple[Any, ...]:
        return (await v.instrument(BTC), await v.brackets(BTC), await v.account_modes(),
                await v.balances(), await v.mark_and_funding(BTC), await v.positions())

    inst, table, modes, balances, mark, positions = run(bybit, body)
    assert (inst.symbol, inst.tick_size, inst.lot_step, inst.min_qty) == (
        BTC, Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
    assert inst.min_notional == 5
    assert inst.funding_interval_hours == 8  # instruments-info fundingInterval: 480 minutes
    assert (modes.hedge_mode, modes.multi_assets_margin) == (False, False)
    # One UNIFIED wallet: the 30,000 USDT is margin once, not spot cash as well.
    assert balances.spot == {"BTC": Decimal("1")}
    assert balances.futures_wallet_usdt == balances.futures_available_usdt == Decimal("30000")
    assert bybit.last("GET", "/v5/account/wallet-balance")["accountType"] == "UNIFIED"
    assert bybit.paths().count("GET /v5/account/wallet-balance") == 1
    assert (mark.mark_price_usdt, mark.funding_rate) == (Decimal("40000"), Decimal("0.0001"))
    assert mark.next_funding_ms == T0 + 8 * HOUR
    assert positions == []
    # Bybit's risk limits as brackets: the derived maintenance amount is Bybit's mmDeduction,
    # and the maintenance margin has no jump at any tier edge.
    rows = bybit.account.risk_limit_rows()
    assert [b.notional_cap_usdt for b in table.brackets] == [
        Decimal(r["riskLimitValue"]) for r in rows]
    assert [b.maint_amount_usdt for b in table.brackets[1:]] == [
        Decimal(r["mmDeduction"]) for r in rows[1:]]
    for lower, upper in zip(table.brackets, table.brackets[1:], strict=False):
        edge = upper.notional_floor_usdt
        assert lower.maintenance_margin(edge) == upper.maintenance_margin(edge)
    # Only what the port needs: linear markets, no currency list, the UTA check once.
    assert "GET /v5/asset/coin/query-info" not in bybit.paths()
    assert {p["category"] for m, path, p in bybit.requests
            if path == "/v5/market/instruments-info"} == {"linear"}
    assert bybit.paths().count("GET /v5/user/query-api") == 1


def test_an_isolated_short_by_client_id_margin_moves_a_cancel_and_a_reduce_only_close(
        bybit: BybitV5) -> None:
    async def body(v: CcxtVenue) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        await v.set_margin_mode(BTC, MarginMode.ISOLATED)
        await v.set_margin_mode(BTC, MarginMode.ISOLATED)  # already set: success
        await v.set_leverage(BTC, 2)
        await v.set_leverage(BTC, 2)  # Bybit's 110043 "not modified": success
        seen["sent"] = await v.place_order(order("ph-bybit-1", Side.SHORT, "0.5"))
        seen["by_id"] = await v.fetch_order(BTC, "ph-bybit-1")
        seen["short"] = await v.positions()
        await v.add_margin(BTC, Decimal("100"))
        seen["topped"] = await v.positions()
        await v.reduce_margin(BTC, Decimal("40.5"))
        seen["reduced"] = await v.positions()
        await v.place_order(order("ph-bybit-2", Side.LONG, "0.1", order_type="limit",
                                  price_usdt=Decimal("30000")))
        seen["resting"] = await v.open_orders(BTC)
        seen["canceled"] = await v.cancel_order(BTC, "ph-bybit-2")
        await v.transfer(Decimal("500"), to=Market.SPOT)  # one wallet: nothing to move
        await v.place_order(order("ph-bybit-3", Side.LONG, "0.5", reduce_only=True))
        seen["close"] = await v.fetch_order(BTC, "ph-bybit-3")
        seen["flat"] = await v.positions()
        seen["unknown"] = await v.fetch_order(BTC, "ph-never-sent")
        seen["end"] = await v.balances()
        return seen

    seen = run(bybit, body)
    create = bybit.last("POST", "/v5/order/create")
    assert (create["orderLinkId"], create["reduceOnly"], create["side"]) == (
        "ph-bybit-3", True, "Buy")
    assert bybit.last("POST", "/v5/account/set-margin-mode") == {
        "setMarginMode": "ISOLATED_MARGIN"}
    # The create reply is Bybit's sparse {orderId, orderLinkId}: the venue reads the order back
    # by its orderLinkId (realtime, then history), with the fill and the fee (cumExecFee:
    # 0.055 % taker of 20,000).
    first = bybit.paths().index("POST /v5/order/create")
    assert bybit.paths()[first + 1: first + 3] == ["GET /v5/order/realtime",
                                                   "GET /v5/order/history"]
    assert seen["sent"] == seen["by_id"]
    by_id = seen["by_id"]
    assert (by_id.client_order_id, by_id.exchange_order_id) == (
        "ph-bybit-1", seen["sent"].exchange_order_id)
    assert (by_id.state, by_id.filled_qty_base, by_id.avg_price_usdt, by_id.fee_usdt) == (
        OrderState.FILLED, Decimal("0.5"), Decimal("40000"), Decimal("11"))
    (short,) = seen["short"]
    assert (short.qty_base, short.margin_mode, short.leverage) == (
        Decimal("-0.5"), MarginMode.ISOLATED, 2)
    assert short.isolated_margin_usdt == Decimal("10000")  # 20,000 notional at 2x
    (topped,), (reduced,) = seen["topped"], seen["reduced"]
    assert topped.isolated_margin_usdt - short.isolated_margin_usdt == Decimal("100")
    assert topped.isolated_margin_usdt - reduced.isolated_margin_usdt == Decimal("40.5")
    assert topped.liquidation_price_usdt > short.liquidation_price_usdt  # more room
    assert bybit.last("POST", "/v5/position/add-margin")["margin"] == "-40.5"
    (resting,) = seen["resting"]
    assert (resting.client_order_id, resting.state) == ("ph-bybit-2", OrderState.SUBMITTED)
    assert seen["canceled"].state is OrderState.CANCELED
    assert bybit.last("POST", "/v5/order/cancel")["orderLinkId"] == "ph-bybit-2"
    assert "POST /v5/asset/transfer/inter-transfer" not in bybit.paths()
    close = seen["close"]
    assert (close.state, close.reduce_only, close.side) == (OrderState.FILLED, True, Side.LONG)
    assert seen["flat"] == []
    assert seen["unknown"] is None
    fees = Decimal("11") + Decimal("11")  # open and close at 40,000, taker both times
    assert seen["end"].futures_wallet_usdt == Decimal("30000") - fees
    assert seen["end"].spot == {"BTC": Decimal("1")}


def test_an_order_whose_reply_was_lost_is_found_by_its_client_id_not_sent_twice(
        bybit: BybitV5) -> None:
    bybit.drop_after_accept.add("ph-bybit-lost")

    async def body(v: CcxtVenue) -> Any:
        with pytest.raises(AmbiguousOrderError) as lost:
            await v.place_order(order("ph-bybit-lost", Side.SHORT, "0.2"))
        assert lost.value.client_order_id == "ph-bybit-lost"
        return await v.fetch_order(BTC, "ph-bybit-lost")

    found = run(bybit, body)
    assert found is not None
    assert (found.state, found.filled_qty_base) == (OrderState.FILLED, Decimal("0.2"))
    assert bybit.paths().count("POST /v5/order/create") == 1
    assert len(bybit.account.exchange.book.orders) == 1
    assert bybit.account.sim.positions[BTC].qty_base == Decimal("-0.2")


@pytest.mark.parametrize(("request_", "code"), [
    (order("ph-too-big", Side.SHORT, "20"), r"InsufficientFunds.*110007"),  # 800,000 notional
    (order("ph-nothing", Side.LONG, "0.1", reduce_only=True), r"InvalidOrder.*110017"),
])
def test_refusals_are_terminal_and_carry_bybits_code(
        bybit: BybitV5, request_: OrderRequest, code: str) -> None:
    with pytest.raises(TerminalExchangeError, match=code):
        run(bybit, lambda v: v.place_order(request_))
    assert bybit.account.exchange.book.orders == {}


def test_a_wrong_secret_is_refused_by_the_signature_check(bybit: BybitV5) -> None:
    wrong = SECRET[::-1]
    with pytest.raises(TerminalExchangeError, match=r"AuthenticationError.*10004"):
        run(bybit, lambda v: v.positions(), secret=wrong)
    assert run(bybit, lambda v: v.positions()) == []  # the right one is accepted


def test_funding_history_is_positive_when_received(bybit: BybitV5) -> None:
    run(bybit, lambda v: v.place_order(order("ph-bybit-f", Side.SHORT, "0.5")))
    bybit.account.exchange.market.clock.set(T0 + 17 * HOUR)  # two settlements pass
    payments = run(bybit, lambda v: v.funding_history(BTC, T0))
    # A short receives a positive rate: 0.0001 × 0.5 × 40,000 = 2 USDT each time.
    assert sorted((p.ts_ms, p.amount_usdt) for p in payments) == [
        (T0 + 8 * HOUR, Decimal("2")), (T0 + 16 * HOUR, Decimal("2"))]
    assert bybit.last("GET", "/v5/execution/list")["execType"] == "Funding"


def _hedge() -> HedgeConfig:
    return HedgeConfig.model_validate({
        "name": "btc", "account": "main", "asset": "BTC", "exposure": {"source": "balance"},
        "policy": "managed", "leverage": 2, "margin_mode": "isolated"})


def test_the_engine_opens_follows_and_closes_a_hedge_on_bybit(
        bybit: BybitV5, tmp_path: Path) -> None:
    sim = bybit.account.sim

    def spot(change: str) -> None:
        """The holder deposits (with USDT for the margin: the wallet is one) or sells BTC."""
        with bybit.account.exchange.lock:
            amount = Decimal(change)
            if amount > 0:
                sim.deposit("BTC", amount, T0 + HOUR)
                sim.deposit("USDT", amount * 40_000, T0 + HOUR, to="futures")
            else:
                sim.withdraw("BTC", -amount, T0 + HOUR)

    def short() -> Decimal:
        pos = sim.positions.get(BTC)
        return ZERO if pos is None else pos.qty_base

    async def main() -> list[tuple[str, Decimal]]:
        venue = open_ccxt_venue("bybit", bybit.url, Credentials(SecretStr(KEY), SecretStr(SECRET)),
                                retry=RetryPolicy.instant(), timeout_ms=3_000)
        assert isinstance(venue, CcxtVenue)
        venue._client.enableRateLimit = False
        store = HedgeStore(f"sqlite:///{tmp_path / 'store.db'}")
        engine = HedgeEngine(_hedge(), venue, store, LiveExecutor(venue, store, "main"),
                             ManualClock(T0 + HOUR))
        steps = []
        try:
            for change in ("0", "0.5", "-0.7", "-0.8"):
                if change != "0":
                    spot(change)
                report = await engine.cycle()
                steps.append((report.status, short()))
            steps.append(((await engine.cycle()).status, short()))
        finally:
            await venue.close()
            store.close()
        return steps

    steps = asyncio.run(main())
    assert steps == [("acted", Decimal("-1")), ("acted", Decimal("-1.5")),
                     ("acted", Decimal("-0.8")), ("acted", ZERO), ("idle", ZERO)]
    creates = [p for m, path, p in bybit.requests if path == "/v5/order/create"]
    assert [(p["side"], p["reduceOnly"]) for p in creates] == [
        ("Sell", False), ("Sell", False), ("Buy", True), ("Buy", True)]
    assert len({p["orderLinkId"] for p in creates}) == 4
    assert sim.position(BTC).margin_mode is MarginMode.ISOLATED
    assert "POST /v5/asset/transfer/inter-transfer" not in bybit.paths()
