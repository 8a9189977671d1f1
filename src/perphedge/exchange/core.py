"""The local exchange's state machine: one SimAccount, the order book and the replayed market.

Every request first calls :meth:`LocalExchange.sync`, which walks the replay clock forward
through each bar close and funding settlement since the last request, in time order: resting
limit orders fill when a bar trades through their price, a position is liquidated when a
bar's high/low crosses its liquidation price (``SimAccount.liquidation_price``), funding is
settled at its timestamp, and every symbol is marked at the bar's close. State changes are
all made by the simulator; this class only orders them in time and books orders and trades.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.adapters.marketdata.bundled_futures import bundled_delivery_instruments
from perphedge.domain.instrument import Instrument
from perphedge.domain.types import Side
from perphedge.errors import InputError
from perphedge.exchange.auth import ApiKeys, RateLimiter
from perphedge.exchange.book import BookShape, sweep
from perphedge.exchange.errors import BinanceApiError, api_error
from perphedge.exchange.market import BarClose, FundingEvent, ReplayMarket, wall_ms
from perphedge.exchange.orders import OrderBook, OrderRecord
from perphedge.sim.account import LiquidationRecord, SimAccount, SimRejection

__all__ = ["LocalExchange", "rejection_to_api"]

#: Binance's verbatim messages where the simulator words them differently; ccxt matches
#: some of these by message (e.g. -2010 → InsufficientFunds).
_BINANCE_MESSAGES = {
    -2010: "Account has insufficient balance for requested action.",
    -2019: "Margin is insufficient.",
    -2022: "ReduceOnly Order is rejected.",
    -4046: "No need to change margin type.",
    -1111: "Precision is over the maximum defined for this asset.",
}


def rejection_to_api(err: SimRejection) -> BinanceApiError:
    """A simulator rejection as the Binance error the server answers with."""
    return BinanceApiError(err.code, _BINANCE_MESSAGES.get(err.code, err.msg))


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """Settings of one local exchange: keys, request-weight limit, state file."""

    keys: ApiKeys
    weight_per_minute: int = 2400
    state_path: Path | None = None
    #: The synthetic order book orders meet (default: no spread, unlimited depth).
    book: BookShape = field(default_factory=BookShape)


class LocalExchange:
    """One account on a replayed market, safe to call from the server's threads."""

    def __init__(
        self, account: SimAccount, market: ReplayMarket, config: ExchangeConfig,
        book: OrderBook | None = None, last_sync_ms: int | None = None,
    ) -> None:
        self.account = account
        self.market = market
        self.config = config
        self.book = book or OrderBook()
        self.lock = threading.RLock()
        self.limiter = RateLimiter(config.weight_per_minute, wall_ms)
        self.liquidations: list[LiquidationRecord] = []
        #: (ts_ms, symbol, settlement price) of each position delivered at expiry.
        self.deliveries: list[tuple[int, str, Decimal]] = []
        # Set when replay events changed the account, so the server saves even on a GET.
        self.dirty = False
        now = market.clock.now_ms()
        self.last_sync_ms = now if last_sync_ms is None else last_sync_ms
        for symbol in market.paths:
            account.mark(symbol, market.price(symbol, self.last_sync_ms))

    @staticmethod
    def new_account(symbols: list[str]) -> SimAccount:
        """An empty account trading ``symbols`` with the bundled specs and brackets.

        A delivery symbol (``BTCUSDT_260327``) takes its spec and expiry from the bundled
        ``binance_delivery`` list and, as in the backtest, its perpetual's brackets (a stated
        stand-in: no delivery brackets are bundled).
        """
        bundled = BundledMarketData()
        instruments: dict[str, Instrument] = {}
        for s in symbols:
            perp, _, _date = s.partition("_")
            base = perp.removesuffix("USDT")
            if _date:
                listed = {i.symbol: i for i in bundled_delivery_instruments(base)}
                if s not in listed:
                    raise InputError("symbol", f"one of {', '.join(sorted(listed))}", s)
                instruments[s] = listed[s]
            else:
                instruments[s] = bundled.instrument(base)
        specs: Mapping[str, Instrument] = instruments
        return SimAccount(specs, {s: bundled_brackets(s.partition("_")[0]) for s in symbols})

    def instrument(self, symbol: str | None) -> Instrument:
        """The listed contract ``symbol`` (-1121 Invalid symbol otherwise)."""
        instrument = self.account.instruments.get(symbol or "")
        if instrument is None or symbol not in self.market.paths:
            raise api_error(-1121)
        return instrument

    def now_ms(self) -> int:
        return self.market.clock.now_ms()

    # ------------------------------------------------------------------ time
    def sync(self) -> int:
        """Apply every bar close and settlement up to now; return the replay time."""
        with self.lock:
            now = self.market.clock.now_ms()
            if now <= self.last_sync_ms:
                return self.last_sync_ms
            events: list[BarClose | FundingEvent | Delivery] = [
                *self.market.events_between(self.last_sync_ms, now),
                *self._deliveries_between(self.last_sync_ms, now)]
            # Stable sort: at the expiry's time the bar close and settlement come first.
            for event in sorted(events, key=lambda e: e.ts_ms):
                if isinstance(event, BarClose):
                    self._on_bar(event)
                elif isinstance(event, Delivery):
                    self._on_delivery(event)
                else:
                    self._on_funding(event)
            self.dirty = self.dirty or bool(events)
            self.last_sync_ms = now
            return now

    def _on_bar(self, bar: BarClose) -> None:
        for order in self.book.open_orders("futures", bar.symbol) + self.book.open_orders(
            "spot", bar.symbol
        ):
            if order.type == "LIMIT" and _crossed(order, bar):
                self._fill_resting(order, bar.ts_ms)
        self._maybe_liquidate(bar)
        self.account.mark(bar.symbol, bar.close)

    def _fill_resting(self, order: OrderRecord, ts_ms: int) -> None:
        try:
            self.execute(order, order.price, ts_ms, maker=True)
        except SimRejection:
            # Binance expires a resting order it cannot fill (reduce-only that would grow the
            # position, margin gone): it leaves the book without a fill.
            order.status = "EXPIRED"
            order.update_time_ms = ts_ms

    def _maybe_liquidate(self, bar: BarClose) -> None:
        pos = self.account.positions.get(bar.symbol)
        if pos is None or pos.side is None:
            return
        liq = self.account.liquidation_price(bar.symbol)
        if liq is None or liq <= 0:
            return
        if (pos.side is Side.LONG and bar.low <= liq) or (
            pos.side is Side.SHORT and bar.high >= liq
        ):
            record = self.account.liquidate(bar.symbol, liq, bar.ts_ms)
            self.liquidations.append(record)
            order = self.book.new_order(
                client_order_id=f"autoclose-{bar.ts_ms}", market="futures", symbol=bar.symbol,
                side="BUY" if record.side is Side.SHORT else "SELL", type="LIMIT",
                orig_qty=record.qty_base, price=liq, time_in_force="IOC", reduce_only=True,
                time_ms=bar.ts_ms,
            )
            order.executed_qty, order.cum_quote = record.qty_base, record.qty_base * liq
            order.status, order.update_time_ms = "FILLED", bar.ts_ms

    def _deliveries_between(self, after_ms: int, until_ms: int) -> list[Delivery]:
        """Delivery contracts whose expiry falls in ``(after_ms, until_ms]``."""
        return [
            Delivery(inst.expiry_ms, symbol)
            for symbol, inst in self.account.instruments.items()
            if inst.expiry_ms is not None and after_ms < inst.expiry_ms <= until_ms
        ]

    def _on_delivery(self, event: Delivery) -> None:
        """Close any position at the contract's price at expiry (its replayed settlement)."""
        pos = self.account.positions.get(event.symbol)
        if pos is None or pos.qty_base == 0:
            return
        price = self.market.price(event.symbol, event.ts_ms)
        self.account.settle_delivery(event.symbol, price, event.ts_ms)
        self.deliveries.append((event.ts_ms, event.symbol, price))

    def is_delivered(self, symbol: str, ts_ms: int) -> bool:
        """True once ``symbol`` (a delivery contract) has reached its expiry."""
        expiry = self.account.instruments[symbol].expiry_ms
        return expiry is not None and expiry <= ts_ms

    def _on_funding(self, event: FundingEvent) -> None:
        self.account.settle_funding(event.symbol, event.rate, event.mark, event.ts_ms)

    # ------------------------------------------------------------------ execution
    def execute(self, order: OrderRecord, price: Decimal, ts_ms: int, *, maker: bool,
                qty: Decimal | None = None) -> None:
        """Fill ``qty`` (default: all that is left) of ``order`` at ``price``; book the trade."""
        side = Side.LONG if order.side == "BUY" else Side.SHORT
        qty = order.orig_qty - order.executed_qty if qty is None else qty
        if order.market == "futures":
            fill = self.account.futures_trade(
                order.symbol, side, qty, price, ts_ms, reduce_only=order.reduce_only,
                taker=not maker,
            )
        else:
            asset = self.instrument(order.symbol).base
            fill = self.account.spot_trade(asset, side, qty, price, ts_ms)
        self.book.record_fill(order, fill, maker=maker)

    def place(self, order: OrderRecord) -> OrderRecord:
        """Fill a MARKET order, or the marketable part of a LIMIT, against the synthetic book
        (:mod:`perphedge.exchange.book`); the rest of a LIMIT rests.

        A rejected immediate order leaves no trace, as on Binance (the error is the answer).
        """
        if order.market == "futures" and self.is_delivered(order.symbol, order.time_ms):
            del self.book.orders[order.order_id]
            raise api_error(-4108)
        inst = self.instrument(order.symbol)
        filled, price = sweep(
            self.market.price(order.symbol, order.time_ms),
            "asks" if order.side == "BUY" else "bids", order.orig_qty, self.config.book,
            inst.tick_size, inst.lot_step * inst.contract_size,
            None if order.type == "MARKET" else order.price)
        tif = order.time_in_force.upper()
        if tif == "GTX" and filled > 0:  # post-only that would take liquidity
            del self.book.orders[order.order_id]
            raise api_error(-5022)
        if tif == "FOK" and filled < order.orig_qty:
            filled = Decimal(0)  # all or nothing
        if filled == 0:
            return self._expire_unfilled(order) if tif in ("IOC", "FOK") else order
        try:
            self.execute(order, price, order.time_ms, maker=False, qty=filled)
        except SimRejection as err:
            del self.book.orders[order.order_id]
            raise rejection_to_api(err) from None
        return self._expire_unfilled(order) if tif in ("IOC", "FOK") else order

    @staticmethod
    def _expire_unfilled(order: OrderRecord) -> OrderRecord:
        """IOC/FOK: what did not fill at once leaves the book (Binance: EXPIRED)."""
        if order.is_open:
            order.status, order.update_time_ms = "EXPIRED", order.time_ms
        return order


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery contract reaching its expiry at ``ts_ms``."""

    ts_ms: int
    symbol: str


def _crossed(order: OrderRecord, bar: BarClose) -> bool:
    return bar.low <= order.price if order.side == "BUY" else bar.high >= order.price
