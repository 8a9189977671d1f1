"""The paper venue: the ``Venue`` port in process, over one ``SimAccount`` and a replayed market.

No HTTP, no ccxt: rehearsals and benchmarks call the simulator directly. The venue wraps the
local exchange's core (:class:`perphedge.exchange.core.LocalExchange`), which is *one*
``SimAccount``, a :class:`~perphedge.exchange.market.ReplayMarket` (a scripted path or the
bundled real history) and the order book. Reusing that core, rather than a second state
machine, means the paper venue and the local exchange apply bar closes, funding settlements,
liquidations and resting fills in exactly the same way; only the wire format is missing.

Semantics, as the port documents them and the ccxt Binance venue implements them:

* a client order id that was already used returns the order recorded under it: never a second
  fill (Binance only refuses ids of *open* orders; the engine relies on the stricter rule);
* rejections are the simulator's Binance codes (``SimRejection``/``BinanceApiError``, both
  ``TerminalExchangeError``): reduce-only that would grow (-2022), margin (-2019), ...;
* ``futures_wallet_usdt`` is Binance's ``walletBalance``: the cross wallet plus every isolated
  margin; ``futures_available_usdt`` is what a new position or a transfer may use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.money import ZERO
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
from perphedge.exchange.auth import ApiKeys
from perphedge.exchange.core import ExchangeConfig, LocalExchange
from perphedge.exchange.errors import api_error
from perphedge.exchange.listing import contract_types
from perphedge.exchange.market import ReplayMarket
from perphedge.exchange.orders import OrderRecord
from perphedge.exchange.state import open_exchange, save_state
from perphedge.paper.ledger_reads import PaperLedgerReads
from perphedge.sim import records
from perphedge.sim.account import SimAccount, SimRejection

__all__ = ["PaperVenue", "paper_exchange"]

T = TypeVar("T")

#: The order book's status words → the port's order states (as the ccxt venue maps Binance's).
_STATES = {
    "NEW": OrderState.SUBMITTED,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "CANCELED": OrderState.CANCELED,
    "EXPIRED": OrderState.CANCELED,
}


def paper_exchange(market: ReplayMarket, deposits: Mapping[str, Decimal],
                   start_ms: int | None = None, state_path: Path | None = None) -> LocalExchange:
    """An in-process exchange on ``market`` with ``deposits`` in its spot wallet.

    No keys and no request-weight limit: nothing reaches it over the network. With
    ``state_path`` the account, orders and replay time are saved there after every call and
    an existing file is resumed, so a restarted rehearsal continues where it stopped.
    """
    start = market.clock.now_ms() if start_ms is None else start_ms
    config = ExchangeConfig(ApiKeys({}), weight_per_minute=0, state_path=state_path)
    return open_exchange(market, config, dict(deposits), start)


class PaperVenue(PaperLedgerReads):
    """One simulated account as the engine's ``Venue``; every call syncs the replay first."""

    name = "paper"

    def __init__(self, exchange: LocalExchange, *, hedge_mode: bool = False) -> None:
        self.exchange = exchange
        # Binance's dual-side mode cannot be simulated; the flag lets a rehearsal check that
        # the engine refuses it.
        self.hedge_mode = hedge_mode

    # ------------------------------------------------------------------ plumbing
    def _synced(self, call: Callable[[], T]) -> T:
        """Run ``call`` under the exchange lock after applying the replay up to now."""
        with self.exchange.lock:
            self.exchange.sync()
            try:
                return call()
            finally:
                path = self.exchange.config.state_path
                if path is not None:
                    save_state(self.exchange, path)

    @property
    def _account(self) -> SimAccount:
        return self.exchange.account

    def _mark(self, symbol: str) -> Decimal:
        return self.exchange.market.price(symbol, self.exchange.last_sync_ms)

    # ------------------------------------------------------------------ specs and reads
    async def instrument(self, symbol: str) -> Instrument:
        return self.exchange.instrument(symbol)

    async def delivery_contracts(self, asset: str) -> list[Instrument]:
        """Quarterlies on ``asset`` open for trading now, nearest expiry first.

        The ``ListsDeliveries`` port, answered as the local exchange lists them (the current
        and next quarter; an expired one is settling and takes no orders).
        """
        def read() -> list[Instrument]:
            listed = [inst for symbol, inst in self._account.instruments.items()
                      if symbol in self.exchange.market.paths]
            kinds = contract_types(listed, self.exchange.last_sync_ms)
            out = [inst for inst in listed
                   if inst.expiry_ms is not None and inst.base == asset.upper()
                   and kinds[inst.symbol][1] == "TRADING"]
            return sorted(out, key=lambda inst: inst.expiry_ms or 0)

        return self._synced(read)

    async def brackets(self, symbol: str) -> BracketTable:
        self.exchange.instrument(symbol)
        return self._account.brackets[symbol]

    async def account_modes(self) -> AccountModes:
        return AccountModes(hedge_mode=self.hedge_mode, multi_assets_margin=False)

    async def balances(self) -> VenueBalances:
        def read() -> VenueBalances:
            account = self._account
            isolated = sum((p.isolated_margin_usdt for p in account.positions.values()), ZERO)
            spot = {asset: qty for asset, qty in account.spot.items() if qty != 0}
            return VenueBalances(spot, account.futures_wallet_usdt + isolated,
                                 max(account.available_usdt(), ZERO))

        return self._synced(read)

    async def positions(self) -> list[VenuePosition]:
        def read() -> list[VenuePosition]:
            account = self._account
            out = []
            for pos in account.positions.values():
                if pos.qty_base == 0:
                    continue
                mark = self._mark(pos.symbol)
                out.append(VenuePosition(
                    pos.symbol, pos.qty_base, pos.entry_price, mark, pos.margin_mode,
                    pos.leverage, pos.isolated_margin_usdt,
                    account.unrealized_pnl(pos.symbol, mark),
                    account.liquidation_price(pos.symbol)))
            return out

        return self._synced(read)

    async def mark_and_funding(self, symbol: str) -> MarkAndFunding:
        def read() -> MarkAndFunding:
            self.exchange.instrument(symbol)
            now = self.exchange.last_sync_ms
            next_ms, rate = self.exchange.market.next_funding(symbol, now)
            return MarkAndFunding(symbol, self._mark(symbol), rate if next_ms else None,
                                  next_ms or None, now)

        return self._synced(read)

    async def spot_price(self, symbol: str) -> Decimal:
        """The ``ReadsSpotPrice`` port: the price a spot order on ``symbol`` fills at now (the
        local exchange trades spot at the replayed price of the asset's perpetual)."""
        def read() -> Decimal:
            return self._mark(self.exchange.instrument(symbol).symbol)

        return self._synced(read)

    async def funding_rates(self, symbol: str, since_ms: int) -> list[tuple[int, Decimal]]:
        """The ``ReadsFundingRates`` port: the replayed perpetual's settlements from
        ``since_ms`` up to the replay clock, as the local exchange's ``/fapi/v1/fundingRate``
        serves them."""
        def read() -> list[tuple[int, Decimal]]:
            self.exchange.instrument(symbol)
            return [(e.ts_ms, e.rate) for e in self.exchange.market.settled(
                symbol, self.exchange.last_sync_ms) if e.ts_ms >= since_ms]

        return self._synced(read)

    async def funding_history(self, symbol: str, since_ms: int) -> list[FundingPayment]:
        def read() -> list[FundingPayment]:
            return [FundingPayment(e.symbol, e.ts_ms, e.amount_usdt)
                    for e in self._account.ledger
                    if e.kind == "funding" and e.symbol == symbol and e.ts_ms >= since_ms]

        return self._synced(read)

    # ------------------------------------------------------------------ settings
    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """Idempotent: the simulator's -4046 "No need to change margin type." is success."""
        def write() -> None:
            try:
                self._account.set_margin_mode(symbol, mode)
            except SimRejection as err:
                if err.code != records.NO_NEED_TO_CHANGE_MARGIN_TYPE:
                    raise

        self._synced(write)

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        self._synced(lambda: self._account.set_leverage(symbol, leverage))

    # ------------------------------------------------------------------ orders
    async def place_order(self, request: OrderRequest) -> VenueOrder:
        """Fill a market order now (a limit order may rest); a known client id is not resent."""
        return self._synced(lambda: self._place(request))

    def _place(self, request: OrderRequest) -> VenueOrder:
        market = request.market.value
        existing = self._find(request.client_order_id, market)
        if existing is not None:
            return self._venue_order(existing)
        if request.market is Market.SPOT and request.reduce_only:
            raise api_error(-1106, param="reduceOnly")
        instrument = self.exchange.instrument(request.symbol)
        order = self.exchange.book.new_order(
            client_order_id=request.client_order_id, market=market, symbol=instrument.symbol,
            side=request.side.order_side.upper(), type=request.order_type.upper(),
            orig_qty=request.qty_base, price=request.price_usdt or ZERO,
            time_in_force="GTC", reduce_only=request.reduce_only,
            time_ms=self.exchange.last_sync_ms,
        )
        self.exchange.place(order)  # a rejection removes the order and raises
        return self._venue_order(order)

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        def read() -> VenueOrder | None:
            order = self._find(client_order_id, None, symbol)
            return None if order is None else self._venue_order(order)

        return self._synced(read)

    async def cancel_order(self, symbol: str, client_order_id: str) -> VenueOrder:
        def write() -> VenueOrder:
            order = self._find(client_order_id, None, symbol)
            if order is None or not order.is_open:
                raise api_error(-2011)
            order.status, order.update_time_ms = "CANCELED", self.exchange.last_sync_ms
            return self._venue_order(order)

        return self._synced(write)

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        def read() -> list[VenueOrder]:
            return [self._venue_order(o)
                    for o in self.exchange.book.open_orders("futures", symbol)]

        return self._synced(read)

    def _find(self, client_order_id: str, market: str | None,
              symbol: str | None = None) -> OrderRecord | None:
        """The latest order with this client id (futures before spot when ``market`` is None)."""
        markets = (market,) if market is not None else ("futures", "spot")
        for wanted in markets:
            for order in reversed(self.exchange.book.orders.values()):
                if (order.client_order_id == client_order_id and order.market == wanted
                        and (symbol is None or order.symbol == symbol)):
                    return order
        return None

    def _venue_order(self, order: OrderRecord) -> VenueOrder:
        fee = sum((t.commission for t in self.exchange.book.trades
                   if t.order_id == order.order_id), ZERO)
        return VenueOrder(
            client_order_id=order.client_order_id, exchange_order_id=str(order.order_id),
            symbol=order.symbol, side=Side.LONG if order.side == "BUY" else Side.SHORT,
            qty_base=order.orig_qty, filled_qty_base=order.executed_qty,
            avg_price_usdt=order.avg_price if order.executed_qty else None,
            state=_STATES.get(order.status, OrderState.UNKNOWN), fee_usdt=fee,
            reduce_only=order.reduce_only, ts_ms=order.update_time_ms,
        )

    # ------------------------------------------------------------------ money movements
    async def add_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        self._synced(lambda: self._account.add_margin(symbol, amount_usdt,
                                                      self.exchange.last_sync_ms))

    async def reduce_margin(self, symbol: str, amount_usdt: Decimal) -> None:
        self._synced(lambda: self._account.reduce_margin(symbol, amount_usdt,
                                                         self.exchange.last_sync_ms))

    async def transfer(self, amount_usdt: Decimal, *, to: Market) -> None:
        self._synced(lambda: self._account.transfer(amount_usdt, to=to.value,
                                                    ts_ms=self.exchange.last_sync_ms))

    async def close(self) -> None:
        """Nothing to release: no connection was opened."""
