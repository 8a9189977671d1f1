"""A hand-written in-memory ``Venue`` over ``SimAccount`` for the engine's unit tests.

Orders fill at the current mark; ``answer_lost`` makes the next order reach the account but
lose its answer (an ``AmbiguousOrderError``), as a dropped connection would; ``request_lost``
drops the next order before the account sees it, with the same error. ``sent`` lists
every order that reached the account, so a test can prove nothing was sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.venue import (
    AccountModes,
    FundingPayment,
    MarkAndFunding,
    Market,
    OrderRequest,
    OrderState,
    VenueBalances,
    VenueOrder,
    VenuePosition,
)
from perphedge.errors import AmbiguousOrderError
from perphedge.sim.account import SimAccount

BTC = "BTCUSDT"
T0 = 1_704_067_200_000


@dataclass
class FakeVenue:
    """One simulated account as the engine's ``Venue``."""

    account: SimAccount
    mark: Decimal = Decimal(40000)
    hedge_mode: bool = False
    answer_lost: bool = False
    request_lost: bool = False
    name: str = "fake"
    now_ms: int = T0
    orders: dict[str, VenueOrder] = field(default_factory=dict)
    sent: list[OrderRequest] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    @classmethod
    def with_funds(cls, btc: str = "0", usdt: str = "0") -> FakeVenue:
        bundled = BundledMarketData()
        account = SimAccount({BTC: bundled.instrument("BTC")}, {BTC: bundled_brackets(BTC)})
        venue = cls(account)
        if Decimal(btc) > 0:
            account.deposit("BTC", Decimal(btc), T0)
        if Decimal(usdt) > 0:
            account.deposit("USDT", Decimal(usdt), T0)
        account.mark(BTC, venue.mark)
        return venue

    def set_mark(self, price: str) -> None:
        self.mark = Decimal(price)
        self.account.mark(BTC, self.mark)

    async def instrument(self, symbol: str) -> Instrument:
        return self.account.instruments[symbol]

    async def brackets(self, symbol: str) -> BracketTable:
        return self.account.brackets[symbol]

    async def account_modes(self) -> AccountModes:
        self.calls.append("account_modes")
        return AccountModes(hedge_mode=self.hedge_mode, multi_assets_margin=False)

    async def balances(self) -> VenueBalances:
        return VenueBalances(dict(self.account.spot), self.account.futures_wallet_usdt,
                             self.account.available_usdt())

    async def positions(self) -> list[VenuePosition]:
        out = []
        for pos in self.account.positions.values():
            if pos.qty_base != 0:
                out.append(VenuePosition(
                    pos.symbol, pos.qty_base, pos.entry_price, self.mark, pos.margin_mode,
                    pos.leverage, pos.isolated_margin_usdt,
                    self.account.unrealized_pnl(pos.symbol, self.mark),
                    self.account.liquidation_price(pos.symbol)))
        return out

    async def mark_and_funding(self, symbol: str) -> MarkAndFunding:
        return MarkAndFunding(symbol, self.mark, Decimal("0.0001"), None, self.now_ms)

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        self.calls.append(f"margin_mode {mode.value}")
        if self.account.position(symbol).margin_mode is not mode:
            self.account.set_margin_mode(symbol, mode)

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        self.calls.append(f"leverage {leverage}")
        self.account.set_leverage(symbol, leverage)

    async def place_order(self, request: OrderRequest) -> VenueOrder:
        self.calls.append(f"order {request.client_order_id}")
        if self.request_lost:  # dropped before the exchange saw it
            self.request_lost = False
            raise AmbiguousOrderError("no answer (test)", request.client_order_id)
        if request.market is Market.SPOT:
            fill = self.account.spot_trade("BTC", request.side, request.qty_base, self.mark,
                                           self.now_ms)
        else:
            fill = self.account.futures_trade(request.symbol, request.side, request.qty_base,
                                              self.mark, self.now_ms,
                                              reduce_only=request.reduce_only)
        self.sent.append(request)
        order = VenueOrder(request.client_order_id, str(len(self.sent)), request.symbol,
                           request.side, request.qty_base, request.qty_base, self.mark,
                           OrderState.FILLED, fill.fee_usdt, request.reduce_only, self.now_ms)
        self.orders[request.client_order_id] = order
        if self.answer_lost:
            self.answer_lost = False
            raise AmbiguousOrderError("no answer (test)", request.client_order_id)
        return order

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        self.calls.append(f"fetch {client_order_id}")
        return self.orders.get(client_order_id)

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        return self.orders[client_order_id]

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return []

    async def add_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        self.calls.append(f"add_margin {amount_usdt}")
        self.account.add_margin(symbol, amount_usdt, self.now_ms)

    async def reduce_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        self.calls.append(f"reduce_margin {amount_usdt}")
        self.account.reduce_margin(symbol, amount_usdt, self.now_ms)

    async def transfer(self, amount_usdt: Decimal, *, to: Market) -> None:
        self.calls.append(f"transfer {amount_usdt} {to.value}")
        self.account.transfer(amount_usdt, to=to.value, ts_ms=self.now_ms)

    async def funding_history(self, symbol: str, since_ms: int) -> list[FundingPayment]:
        return [FundingPayment(e.symbol, e.ts_ms, e.amount_usdt) for e in self.account.ledger
                if e.kind == "funding" and e.ts_ms >= since_ms]

    async def close(self) -> None:
        return None

    def position_qty(self) -> Decimal:
        return self.account.position(BTC).qty_base


def test_fake_venue_fills_at_the_mark_and_finds_orders_by_client_id() -> None:
    import asyncio

    venue = FakeVenue.with_funds(usdt="10000")
    venue.account.transfer(Decimal(10000), to="futures", ts_ms=T0)
    request = OrderRequest("ph-x-1", Market.FUTURES, BTC, Side.SHORT, Decimal("0.1"))
    asyncio.run(venue.place_order(request))
    found = asyncio.run(venue.fetch_order(BTC, "ph-x-1"))
    assert found is not None
    assert found.avg_price_usdt == Decimal(40000)
    assert venue.position_qty() == Decimal("-0.1")
