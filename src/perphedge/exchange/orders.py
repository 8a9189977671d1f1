"""Order and trade records of the local exchange, and client-order-id bookkeeping.

The simulator executes fills; this module remembers what Binance remembers about orders:
ids, client ids, status, executed quantity, average price, and one trade per fill. Binance
requires ``newClientOrderId`` to be unique among a symbol's *open* orders: a duplicate is
refused (USDⓈ-M -4116 "ClientOrderId is duplicated.", spot -2010 "Duplicate order sent."),
while the id of a filled or cancelled order may be used again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from perphedge.domain.money import ZERO
from perphedge.exchange.errors import BinanceApiError, api_error
from perphedge.sim.account import SimFill

__all__ = ["OPEN_STATUSES", "OrderBook", "OrderRecord", "TradeRecord"]

#: Statuses of an order that can still fill.
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
_DECIMAL_FIELDS = ("orig_qty", "price", "executed_qty", "cum_quote")


@dataclass(slots=True)
class OrderRecord:
    """One order as the exchange keeps it. ``market`` is ``futures`` or ``spot``."""

    order_id: int
    client_order_id: str
    market: str
    symbol: str
    side: str
    type: str
    orig_qty: Decimal
    price: Decimal
    time_in_force: str
    reduce_only: bool
    time_ms: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_time_ms: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed_qty if self.executed_qty else ZERO

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in _DECIMAL_FIELDS:
            data[name] = str(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderRecord:
        values = dict(data)
        for name in _DECIMAL_FIELDS:
            values[name] = Decimal(str(values[name]))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One fill of an order, as ``userTrades``/``myTrades`` list it."""

    trade_id: int
    order_id: int
    market: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    realized_pnl: Decimal
    maker: bool
    time_ms: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("price", "qty", "commission", "realized_pnl"):
            data[name] = str(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TradeRecord:
        values = dict(data)
        for name in ("price", "qty", "commission", "realized_pnl"):
            values[name] = Decimal(str(values[name]))
        return cls(**values)


@dataclass(slots=True)
class OrderBook:
    """Every order and trade of the account, with the next ids to hand out."""

    orders: dict[int, OrderRecord] = field(default_factory=dict)
    trades: list[TradeRecord] = field(default_factory=list)
    next_order_id: int = 1_000_001
    next_trade_id: int = 5_000_001

    def new_order(self, **fields: Any) -> OrderRecord:
        """Register an order; refuses a client id already used by an open order of the symbol."""
        client_id = fields.get("client_order_id") or f"perphedge-{self.next_order_id}"
        market, symbol = fields["market"], fields["symbol"]
        for order in self.orders.values():
            if (order.client_order_id == client_id and order.market == market
                    and order.symbol == symbol and order.is_open):
                raise self._duplicate(market)
        fields["client_order_id"] = client_id
        order = OrderRecord(order_id=self.next_order_id, **fields)
        order.update_time_ms = order.time_ms
        self.orders[order.order_id] = order
        self.next_order_id += 1
        return order

    @staticmethod
    def _duplicate(market: str) -> BinanceApiError:
        if market == "spot":
            return BinanceApiError(-2010, "Duplicate order sent.")
        return api_error(-4116)

    def find(
        self, market: str, symbol: str, order_id: str | None, client_id: str | None
    ) -> OrderRecord | None:
        """The order by id, else the latest one with this client id (None when unknown)."""
        if order_id is not None:
            order = self.orders.get(int(order_id)) if order_id.isdigit() else None
            if order is not None and order.market == market and order.symbol == symbol:
                return order
            return None
        for order in reversed(list(self.orders.values())):
            if order.market == market and order.symbol == symbol and (
                order.client_order_id == client_id
            ):
                return order
        return None

    def open_orders(self, market: str, symbol: str | None = None) -> list[OrderRecord]:
        return [
            o for o in self.orders.values()
            if o.market == market and o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def record_fill(self, order: OrderRecord, fill: SimFill, *, maker: bool) -> TradeRecord:
        """Book a fill against ``order``: quantities, status and one trade record."""
        order.executed_qty += fill.qty_base
        order.cum_quote += fill.qty_base * fill.price_usdt
        order.status = "FILLED" if order.executed_qty >= order.orig_qty else "PARTIALLY_FILLED"
        order.update_time_ms = fill.ts_ms
        trade = TradeRecord(
            self.next_trade_id, order.order_id, order.market, order.symbol, order.side,
            fill.price_usdt, fill.qty_base, fill.fee_usdt, fill.realized_pnl_usdt, maker,
            fill.ts_ms,
        )
        self.next_trade_id += 1
        self.trades.append(trade)
        return trade

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders": [o.to_dict() for o in self.orders.values()],
            "trades": [t.to_dict() for t in self.trades],
            "next_order_id": self.next_order_id,
            "next_trade_id": self.next_trade_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderBook:
        orders = [OrderRecord.from_dict(o) for o in data["orders"]]
        return cls(
            {o.order_id: o for o in orders},
            [TradeRecord.from_dict(t) for t in data["trades"]],
            int(data["next_order_id"]),
            int(data["next_trade_id"]),
        )
