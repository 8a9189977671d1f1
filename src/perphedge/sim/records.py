"""Values the simulated exchange produces: fills, positions, ledger entries, rejections.

Re-exported by :mod:`perphedge.sim.account`; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.money import ZERO, plain
from perphedge.domain.types import MarginMode, Side
from perphedge.errors import TerminalExchangeError

# Binance error codes the simulator answers with (names as in Binance's error-code list).
MARGIN_INSUFFICIENT = -2019
REDUCE_ONLY_REJECT = -2022
MAX_POSITION_AT_LEVERAGE = -2027
NOTIONAL_TOO_SMALL = -4164
NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
POSITION_EXISTS_MARGIN_TYPE = -4048
QTY_INVALID = -4003
QTY_ABOVE_MAX = -4005
BAD_PRECISION = -1111
LEVERAGE_INVALID = -4028
SPOT_BALANCE_INSUFFICIENT = -2010
TRANSFER_BALANCE_INSUFFICIENT = -2018
MARGIN_REDUCE_INSUFFICIENT = -4050
NO_ISOLATED_POSITION = -4051
BAD_PARAMETER = -1102

#: Ledger kinds, one per kind of state change.
LEDGER_KINDS = frozenset(
    {"fill", "funding", "margin_add", "margin_remove", "transfer", "liquidation", "deposit",
     "withdrawal", "delivery"}
)


class SimRejection(TerminalExchangeError):
    """The simulated exchange refused a request; ``code`` is Binance's error code.

    Handled like any terminal exchange error: the engine records it and does not retry; the
    local exchange server answers it as Binance's ``{"code": ..., "msg": ...}`` body.
    """

    def __init__(self, code: int, msg: str) -> None:
        self.code = code
        self.msg = msg
        super().__init__(f"{code}: {msg}")


@dataclass(frozen=True, slots=True)
class SimFill:
    """One execution. ``side`` LONG is a buy, SHORT a sell; ``market`` is spot or futures."""

    ts_ms: int
    symbol: str
    side: Side
    qty_base: Decimal
    price_usdt: Decimal
    fee_usdt: Decimal
    realized_pnl_usdt: Decimal
    market: str

    @property
    def notional_usdt(self) -> Decimal:
        return self.qty_base * self.price_usdt


@dataclass(slots=True)
class SimPosition:
    """A one-way position and the symbol's settings (kept while flat, as Binance keeps them).

    ``qty_base`` is signed: > 0 long, < 0 short, 0 flat. ``isolated_margin_usdt`` is the
    position's own wallet in isolated mode (0 in cross mode).
    """

    symbol: str
    qty_base: Decimal
    entry_price: Decimal
    margin_mode: MarginMode
    leverage: int
    isolated_margin_usdt: Decimal

    @property
    def side(self) -> Side | None:
        if self.qty_base == ZERO:
            return None
        return Side.LONG if self.qty_base > 0 else Side.SHORT

    @property
    def size_base(self) -> Decimal:
        return abs(self.qty_base)

    def to_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "qty_base": plain(self.qty_base),
            "entry_price": plain(self.entry_price),
            "margin_mode": self.margin_mode.value,
            "leverage": self.leverage,
            "isolated_margin_usdt": plain(self.isolated_margin_usdt),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SimPosition:
        return cls(
            symbol=str(data["symbol"]),
            qty_base=Decimal(str(data["qty_base"])),
            entry_price=Decimal(str(data["entry_price"])),
            margin_mode=MarginMode(str(data["margin_mode"])),
            leverage=int(str(data["leverage"])),
            isolated_margin_usdt=Decimal(str(data["isolated_margin_usdt"])),
        )


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One change of account state.

    ``symbol`` holds the futures symbol or the spot asset; ``amount_usdt`` is the USDT that
    moved, signed from the account's side (fill: wallet change = realised PnL − fee for
    futures, quote change for spot; funding: received; liquidation: −margin lost).
    """

    kind: str
    ts_ms: int
    symbol: str
    amount_usdt: Decimal
    qty_base: Decimal = ZERO
    price: Decimal = ZERO
    fee_usdt: Decimal = ZERO
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "ts_ms": self.ts_ms,
            "symbol": self.symbol,
            "amount_usdt": plain(self.amount_usdt),
            "qty_base": plain(self.qty_base),
            "price": plain(self.price),
            "fee_usdt": plain(self.fee_usdt),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> LedgerEntry:
        return cls(
            kind=str(data["kind"]),
            ts_ms=int(str(data["ts_ms"])),
            symbol=str(data["symbol"]),
            amount_usdt=Decimal(str(data["amount_usdt"])),
            qty_base=Decimal(str(data["qty_base"])),
            price=Decimal(str(data["price"])),
            fee_usdt=Decimal(str(data["fee_usdt"])),
            note=str(data["note"]),
        )


@dataclass(frozen=True, slots=True)
class LiquidationRecord:
    """A forced close: ``margin_lost_usdt`` is what the account lost with the position.

    Isolated: the whole isolated margin. Cross: the realised loss at the liquidation price.
    """

    ts_ms: int
    symbol: str
    side: Side
    qty_base: Decimal
    price_usdt: Decimal
    margin_lost_usdt: Decimal
    margin_mode: MarginMode
