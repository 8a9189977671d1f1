"""The simulated exchange account: spot wallet, USDⓈ-M wallet and one-way positions, in Decimal.

One simulator serves the backtest, the in-process paper venue and the local Binance-compatible
HTTP exchange. It has no clock: every state change takes ``ts_ms`` and appends to ``ledger``.
All contract maths comes from :mod:`perphedge.domain` (no formula is written twice here).

Simplifications, stated once: spot fees are charged in USDT on both sides (so base quantities
stay exact); the cross "available balance" is wallet + cross uPnL − cross initial margin at the
last marks; a cross liquidation closes at the liquidation price with no clearance fee.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from perphedge.domain.brackets import BracketTable
from perphedge.domain.fees import BINANCE_USDM_STANDARD, FeeSchedule
from perphedge.domain.funding import funding_received
from perphedge.domain.instrument import Instrument
from perphedge.domain.liquidation import solve_liquidation
from perphedge.domain.margin import initial_margin, unrealized_pnl
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode, Side
from perphedge.errors import InputError
from perphedge.sim import records as r
from perphedge.sim.records import (
    LedgerEntry,
    LiquidationRecord,
    SimFill,
    SimPosition,
    SimRejection,
)
from perphedge.sim.serialize import account_from_dict, account_to_dict

__all__ = [
    "LedgerEntry",
    "LiquidationRecord",
    "SimAccount",
    "SimFill",
    "SimPosition",
    "SimRejection",
]

USDT = "USDT"
#: Binance's default leverage for a symbol nobody configured yet (capped by bracket 1).
DEFAULT_LEVERAGE = 20


class SimAccount:
    """Decimal state of one exchange account: spot wallet, USDⓈ-M wallet, one-way positions.

    No clock: every call that changes state takes ``ts_ms``. Every change appends to ``ledger``.
    """

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        brackets: Mapping[str, BracketTable],
        fees: FeeSchedule = BINANCE_USDM_STANDARD,
        spot_fee_rate: Decimal = Decimal("0.001"),
    ) -> None:
        self.instruments = dict(instruments)
        self.brackets = dict(brackets)
        self.fees = fees
        self.spot_fee_rate = spot_fee_rate
        self.spot: dict[str, Decimal] = {}
        self.futures_wallet_usdt = ZERO
        self.positions: dict[str, SimPosition] = {}
        self.marks: dict[str, Decimal] = {}
        self.ledger: list[LedgerEntry] = []
        self.fees_paid_usdt = ZERO
        self.funding_received_usdt = ZERO
        # Last isolated liquidation price per symbol, keyed by what it depends on: the backtest
        # asks several times per decision while nothing changed (a pure cache, never stale).
        self._liq_memo: dict[str, tuple[tuple[Decimal, Decimal, Decimal], Decimal | None]] = {}

    # ---------------------------------------------------------------- wallets
    def deposit(self, asset: str, amount: Decimal, ts_ms: int, *, to: str = "spot") -> None:
        """Credit ``amount`` of ``asset`` from outside (spot, or USDT straight to futures)."""
        _require_positive("amount", amount)
        if to == "futures":
            if asset != USDT:
                raise SimRejection(r.BAD_PARAMETER, "only USDT can be deposited to futures")
            self.futures_wallet_usdt += amount
        elif to == "spot":
            self.spot[asset] = self.spot.get(asset, ZERO) + amount
        else:
            raise SimRejection(r.BAD_PARAMETER, f"deposit to must be spot or futures, got {to}")
        self.ledger.append(LedgerEntry("deposit", ts_ms, asset, amount, note=to))

    def withdraw(self, asset: str, amount: Decimal, ts_ms: int) -> None:
        """Take ``amount`` of ``asset`` out of the spot wallet (the holder moves it elsewhere)."""
        _require_positive("amount", amount)
        if self.spot.get(asset, ZERO) < amount:
            raise SimRejection(r.SPOT_BALANCE_INSUFFICIENT, "Account has insufficient balance")
        self.spot[asset] -= amount
        self.ledger.append(LedgerEntry("withdrawal", ts_ms, asset, -amount))

    def transfer(self, amount_usdt: Decimal, *, to: str, ts_ms: int) -> None:
        """Move USDT between the spot wallet and the USDⓈ-M wallet (``to`` = futures | spot)."""
        _require_positive("amount", amount_usdt)
        if to == "futures":
            if self.spot.get(USDT, ZERO) < amount_usdt:
                raise SimRejection(r.TRANSFER_BALANCE_INSUFFICIENT, "Balance is insufficient")
            self.spot[USDT] -= amount_usdt
            self.futures_wallet_usdt += amount_usdt
        elif to == "spot":
            if min(self.futures_wallet_usdt, self.available_usdt()) < amount_usdt:
                raise SimRejection(r.TRANSFER_BALANCE_INSUFFICIENT, "Balance is insufficient")
            self.futures_wallet_usdt -= amount_usdt
            self.spot[USDT] = self.spot.get(USDT, ZERO) + amount_usdt
        else:
            raise SimRejection(r.BAD_PARAMETER, f"transfer to must be futures or spot, got {to}")
        self.ledger.append(LedgerEntry("transfer", ts_ms, USDT, amount_usdt, note=f"to {to}"))

    def available_usdt(self) -> Decimal:
        """Cross wallet + cross uPnL − cross initial margin, at the last marks."""
        total = self.futures_wallet_usdt
        for pos in self.positions.values():
            if pos.margin_mode is MarginMode.CROSS and pos.qty_base != ZERO:
                mark = self._last_mark(pos)
                total += self._upnl(pos, mark)
                total -= initial_margin(pos.size_base * mark, Decimal(pos.leverage))
        return total

    # ---------------------------------------------------------------- settings
    def position(self, symbol: str) -> SimPosition:
        """The symbol's position (flat with Binance's defaults if never touched)."""
        pos = self.positions.get(symbol)
        if pos is None:
            self._instrument(symbol)
            lev = min(DEFAULT_LEVERAGE, int(self.brackets[symbol].brackets[0].max_leverage))
            pos = SimPosition(symbol, ZERO, ZERO, MarginMode.CROSS, lev, ZERO)
            self.positions[symbol] = pos
        return pos

    def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """Switch isolated/cross; refused with an open position, -4046 when unchanged."""
        pos = self.position(symbol)
        if pos.margin_mode is mode:
            raise SimRejection(r.NO_NEED_TO_CHANGE_MARGIN_TYPE, "No need to change margin type.")
        if pos.qty_base != ZERO:
            raise SimRejection(
                r.POSITION_EXISTS_MARGIN_TYPE,
                "Margin type cannot be changed if there exists position.",
            )
        pos.margin_mode = mode

    def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set the leverage: 1 .. the bracket maximum for the position's notional."""
        pos = self.position(symbol)
        notional = pos.size_base * self._last_mark(pos) if pos.qty_base != ZERO else ZERO
        max_lev = self._max_leverage(symbol, notional)
        if isinstance(leverage, bool) or not 1 <= leverage <= max_lev:
            raise SimRejection(r.LEVERAGE_INVALID, f"Leverage {leverage} is not valid")
        pos.leverage = leverage

    # ---------------------------------------------------------------- trading
    def spot_trade(
        self, asset: str, side: Side, qty_base: Decimal, price_usdt: Decimal, ts_ms: int
    ) -> SimFill:
        """Buy (LONG) or sell (SHORT) ``asset`` for USDT; the fee is charged in USDT."""
        _require_positive("quantity", qty_base)
        _require_positive("price", price_usdt)
        notional = qty_base * price_usdt
        fee = notional * self.spot_fee_rate
        usdt = self.spot.get(USDT, ZERO)
        held = self.spot.get(asset, ZERO)
        if side is Side.LONG:
            if usdt < notional + fee:
                raise SimRejection(r.SPOT_BALANCE_INSUFFICIENT, "Account has insufficient balance")
            change = -(notional + fee)
            self.spot[asset] = held + qty_base
        else:
            if held < qty_base:
                raise SimRejection(r.SPOT_BALANCE_INSUFFICIENT, "Account has insufficient balance")
            change = notional - fee
            self.spot[asset] = held - qty_base
        self.spot[USDT] = usdt + change
        self.fees_paid_usdt += fee
        fill = SimFill(ts_ms, f"{asset}{USDT}", side, qty_base, price_usdt, fee, ZERO, "spot")
        self.ledger.append(
            LedgerEntry("fill", ts_ms, asset, change, side.sign * qty_base, price_usdt, fee, "spot")
        )
        return fill

    def futures_trade(
        self,
        symbol: str,
        side: Side,
        qty_base: Decimal,
        price_usdt: Decimal,
        ts_ms: int,
        *,
        reduce_only: bool = False,
        taker: bool = True,
    ) -> SimFill:
        """Execute a market-style futures order at ``price_usdt`` (one-way mode).

        Opening or adding takes ``added notional / leverage`` from the wallet into the isolated
        margin (isolated) or reserves it (cross); reducing returns realised PnL and the released
        share of isolated margin. Flipping through zero is allowed unless ``reduce_only``.
        """
        instrument = self._instrument(symbol)
        self._check_quantity(instrument, qty_base)
        _require_positive("price", price_usdt)
        pos = self.position(symbol)
        opposite = pos.qty_base != ZERO and (pos.qty_base > 0) != (side is Side.LONG)
        close_qty = min(qty_base, pos.size_base) if opposite else ZERO
        open_qty = qty_base - close_qty
        if reduce_only and open_qty > ZERO:
            raise SimRejection(r.REDUCE_ONLY_REJECT, "ReduceOnly Order is rejected.")
        if open_qty > ZERO:
            self._check_opening(instrument, pos, qty_base, open_qty, price_usdt)
        saved = (pos.qty_base, pos.entry_price, pos.isolated_margin_usdt, self.futures_wallet_usdt)
        fee = self.fees.fee(qty_base * price_usdt, taker=taker)
        realized = self._close_part(pos, close_qty, price_usdt) if close_qty > ZERO else ZERO
        if open_qty > ZERO:
            self._open_part(pos, side, open_qty, price_usdt)
        self.futures_wallet_usdt -= fee
        if open_qty > ZERO and self.available_usdt() < ZERO:
            pos.qty_base, pos.entry_price, pos.isolated_margin_usdt = saved[:3]
            self.futures_wallet_usdt = saved[3]
            raise SimRejection(r.MARGIN_INSUFFICIENT, "Margin is insufficient.")
        self.fees_paid_usdt += fee
        self.ledger.append(LedgerEntry(
            "fill", ts_ms, symbol, realized - fee, side.sign * qty_base, price_usdt, fee,
            "futures reduce-only" if reduce_only else "futures",
        ))
        return SimFill(ts_ms, symbol, side, qty_base, price_usdt, fee, realized, "futures")

    def _check_quantity(self, instrument: Instrument, qty_base: Decimal) -> None:
        if not qty_base.is_finite() or qty_base <= ZERO or qty_base < instrument.min_qty:
            raise SimRejection(r.QTY_INVALID, f"Quantity {qty_base} is invalid")
        if instrument.round_qty(qty_base) != qty_base:
            raise SimRejection(
                r.BAD_PRECISION, "Precision is over the maximum defined for this asset."
            )
        if instrument.max_qty is not None and qty_base > instrument.max_qty:
            raise SimRejection(
                r.QTY_ABOVE_MAX, f"Quantity greater than max quantity {instrument.max_qty}"
            )

    def _check_opening(
        self, instrument: Instrument, pos: SimPosition, qty_base: Decimal, open_qty: Decimal,
        price_usdt: Decimal,
    ) -> None:
        try:
            instrument.check_order(qty_base, price_usdt)
        except InputError as exc:
            raise SimRejection(
                r.NOTIONAL_TOO_SMALL,
                f"Order's notional must be no smaller than {instrument.min_notional}",
            ) from exc
        remaining = pos.size_base if pos.side is not None and open_qty == qty_base else ZERO
        notional_after = (remaining + open_qty) * price_usdt
        if pos.leverage > self._max_leverage(pos.symbol, notional_after):
            raise SimRejection(
                r.MAX_POSITION_AT_LEVERAGE,
                "Exceeded the maximum allowable position at current leverage.",
            )

    def _close_part(self, pos: SimPosition, close_qty: Decimal, price: Decimal) -> Decimal:
        side = pos.side
        assert side is not None  # noqa: S101  -- only called with an open position
        realized = unrealized_pnl(side, close_qty, pos.entry_price, price)
        if pos.margin_mode is MarginMode.ISOLATED:
            released = pos.isolated_margin_usdt * close_qty / pos.size_base
            if close_qty == pos.size_base:
                released = pos.isolated_margin_usdt
            pos.isolated_margin_usdt -= released
            self.futures_wallet_usdt += released
        self.futures_wallet_usdt += realized
        pos.qty_base -= side.sign * close_qty
        if pos.qty_base == ZERO:
            pos.entry_price = ZERO
        return realized

    def _open_part(self, pos: SimPosition, side: Side, open_qty: Decimal, price: Decimal) -> None:
        size = pos.size_base
        pos.entry_price = (size * pos.entry_price + open_qty * price) / (size + open_qty)
        pos.qty_base += side.sign * open_qty
        if pos.margin_mode is MarginMode.ISOLATED:
            margin = initial_margin(open_qty * price, Decimal(pos.leverage))
            self.futures_wallet_usdt -= margin
            pos.isolated_margin_usdt += margin

    # ---------------------------------------------------------------- margin
    def add_margin(self, symbol: str, amount_usdt: Decimal, ts_ms: int) -> None:
        """Move USDT from the wallet into an open isolated position's margin."""
        pos = self._isolated_open(symbol)
        _require_positive("amount", amount_usdt)
        if self.available_usdt() < amount_usdt:
            raise SimRejection(r.MARGIN_INSUFFICIENT, "Margin is insufficient.")
        self.futures_wallet_usdt -= amount_usdt
        pos.isolated_margin_usdt += amount_usdt
        self.ledger.append(LedgerEntry("margin_add", ts_ms, symbol, amount_usdt))

    def max_removable_margin(self, symbol: str) -> Decimal:
        """Isolated margin that may leave: down to the initial margin at the last mark."""
        pos = self._isolated_open(symbol)
        mark = self._last_mark(pos)
        floor = initial_margin(pos.size_base * mark, Decimal(pos.leverage))
        return min(pos.isolated_margin_usdt, self.margin_balance(symbol, mark) - floor)

    def reduce_margin(self, symbol: str, amount_usdt: Decimal, ts_ms: int) -> None:
        """Move margin back to the wallet, down to the initial margin at the current mark."""
        pos = self._isolated_open(symbol)
        _require_positive("amount", amount_usdt)
        removable = self.max_removable_margin(symbol)
        if amount_usdt > removable:
            raise SimRejection(
                r.MARGIN_REDUCE_INSUFFICIENT,
                f"Margin is insufficient: at most {max(removable, ZERO)} can be removed",
            )
        pos.isolated_margin_usdt -= amount_usdt
        self.futures_wallet_usdt += amount_usdt
        self.ledger.append(LedgerEntry("margin_remove", ts_ms, symbol, amount_usdt))

    def _isolated_open(self, symbol: str) -> SimPosition:
        pos = self.position(symbol)
        if pos.margin_mode is not MarginMode.ISOLATED or pos.qty_base == ZERO:
            raise SimRejection(r.NO_ISOLATED_POSITION, f"No isolated position on {symbol}")
        return pos

    # ---------------------------------------------------------------- funding, marks, risk
    def settle_funding(
        self, symbol: str, rate: Decimal, mark_price: Decimal, ts_ms: int
    ) -> Decimal:
        """Settle one funding payment; returns USDT received (negative: paid); 0 when flat."""
        pos = self.position(symbol)
        side = pos.side
        if side is None:
            return ZERO
        received = funding_received(side, pos.size_base, mark_price, rate)
        if pos.margin_mode is MarginMode.ISOLATED:
            pos.isolated_margin_usdt += received
        else:
            self.futures_wallet_usdt += received
        self.funding_received_usdt += received
        self.ledger.append(LedgerEntry(
            "funding", ts_ms, symbol, received, pos.qty_base, mark_price, note=str(rate)
        ))
        return received

    def mark(self, symbol: str, mark_price: Decimal) -> None:
        """Remember the last mark of ``symbol`` (for cross maths, equity and margin limits)."""
        self.marks[symbol] = mark_price

    def unrealized_pnl(self, symbol: str, mark_price: Decimal) -> Decimal:
        return self._upnl(self.position(symbol), mark_price)

    def maintenance_margin(self, symbol: str, mark_price: Decimal) -> Decimal:
        """Maintenance margin of the position at ``mark_price`` (bracket by notional)."""
        pos = self.position(symbol)
        return self.brackets[symbol].maintenance_margin(pos.size_base * mark_price)

    def margin_balance(self, symbol: str, mark_price: Decimal) -> Decimal:
        """Isolated: isolated margin + uPnL. Cross: wallet + every cross uPnL."""
        pos = self.position(symbol)
        if pos.margin_mode is MarginMode.ISOLATED:
            return pos.isolated_margin_usdt + self._upnl(pos, mark_price)
        total = self.futures_wallet_usdt + self._upnl(pos, mark_price)
        for other in self._other_cross(symbol):
            total += self._upnl(other, self._last_mark(other))
        return total

    def liquidation_price(self, symbol: str) -> Decimal | None:
        """Binance's liquidation price of the position; None when flat or never liquidated."""
        pos = self.position(symbol)
        side = pos.side
        if side is None:
            return None
        if pos.margin_mode is MarginMode.ISOLATED:
            key = (pos.qty_base, pos.entry_price, pos.isolated_margin_usdt)
            memo = self._liq_memo.get(symbol)
            if memo is not None and memo[0] == key:
                return memo[1]
            price = solve_liquidation(
                side, pos.size_base, pos.entry_price, pos.isolated_margin_usdt,
                self.brackets[symbol],
            ).price_usdt
            self._liq_memo[symbol] = (key, price)
            return price
        other_mm = ZERO
        other_upnl = ZERO
        for other in self._other_cross(symbol):
            mark = self._last_mark(other)
            other_mm += self.brackets[other.symbol].maintenance_margin(other.size_base * mark)
            other_upnl += self._upnl(other, mark)
        return solve_liquidation(
            side, pos.size_base, pos.entry_price, self.futures_wallet_usdt, self.brackets[symbol],
            other_maint_margin_usdt=other_mm, other_unrealized_pnl_usdt=other_upnl,
        ).price_usdt

    def liquidate(self, symbol: str, price_usdt: Decimal, ts_ms: int) -> LiquidationRecord:
        """Force-close the position as the exchange does and record what was lost."""
        pos = self.position(symbol)
        side = pos.side
        if side is None:
            raise SimRejection(r.BAD_PARAMETER, f"No position on {symbol} to liquidate")
        size = pos.size_base
        if pos.margin_mode is MarginMode.ISOLATED:
            lost = pos.isolated_margin_usdt
            pos.isolated_margin_usdt = ZERO
        else:
            pnl = unrealized_pnl(side, size, pos.entry_price, price_usdt)
            self.futures_wallet_usdt += pnl
            lost = -pnl
        pos.qty_base = ZERO
        pos.entry_price = ZERO
        record = LiquidationRecord(ts_ms, symbol, side, size, price_usdt, lost, pos.margin_mode)
        self.ledger.append(
            LedgerEntry("liquidation", ts_ms, symbol, -lost, side.sign * size, price_usdt)
        )
        return record

    def settle_delivery(self, symbol: str, price_usdt: Decimal, ts_ms: int) -> Decimal:
        """Close a delivery contract's position at its settlement price; returns realised PnL.

        No trading fee is charged (a stated simplification); the isolated margin returns to the
        wallet with the PnL. A short 2 @ 100,000 settled at 98,000 realises +4,000 USDT.
        """
        pos = self.position(symbol)
        if pos.side is None:
            return ZERO
        _require_positive("price", price_usdt)
        qty = pos.qty_base
        realized = self._close_part(pos, pos.size_base, price_usdt)
        self.marks[symbol] = price_usdt
        self.ledger.append(LedgerEntry("delivery", ts_ms, symbol, realized, -qty, price_usdt))
        return realized

    def equity_usdt(self, prices: Mapping[str, Decimal]) -> Decimal:
        """Spot at ``prices[asset]`` + futures wallet + isolated margins + uPnL at the marks."""
        total = self.futures_wallet_usdt
        for asset, qty in self.spot.items():
            if qty == ZERO:
                continue
            if asset == USDT:
                total += qty
            elif asset in prices:
                total += qty * prices[asset]
            else:
                raise InputError("prices", f"a price for {asset}", sorted(prices))
        for pos in self.positions.values():
            total += pos.isolated_margin_usdt
            if pos.qty_base != ZERO:
                base = self.instruments[pos.symbol].base
                mark = self.marks.get(pos.symbol, prices.get(base, pos.entry_price))
                total += self._upnl(pos, mark)
        return total

    # ---------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, object]:
        """JSON-safe state (Decimals as strings), for the paper venue's persistence."""
        return account_to_dict(self)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, object],
        instruments: Mapping[str, Instrument],
        brackets: Mapping[str, BracketTable],
    ) -> SimAccount:
        account = cls(instruments, brackets)
        account_from_dict(account, data)
        return account

    # ---------------------------------------------------------------- helpers
    def _instrument(self, symbol: str) -> Instrument:
        instrument = self.instruments.get(symbol)
        if instrument is None or symbol not in self.brackets:
            raise SimRejection(r.BAD_PARAMETER, f"Invalid symbol {symbol}")
        return instrument

    def _max_leverage(self, symbol: str, notional: Decimal) -> int:
        try:
            return int(self.brackets[symbol].max_leverage(notional))
        except InputError:
            return 0

    def _last_mark(self, pos: SimPosition) -> Decimal:
        return self.marks.get(pos.symbol, pos.entry_price)

    def _other_cross(self, symbol: str) -> list[SimPosition]:
        return [
            p for p in self.positions.values()
            if p.symbol != symbol and p.margin_mode is MarginMode.CROSS and p.qty_base != ZERO
        ]

    @staticmethod
    def _upnl(pos: SimPosition, mark: Decimal) -> Decimal:
        side = pos.side
        if side is None:
            return ZERO
        return unrealized_pnl(side, pos.size_base, pos.entry_price, mark)


def _require_positive(name: str, value: Decimal) -> None:
    if not value.is_finite() or value <= ZERO:
        raise SimRejection(r.BAD_PARAMETER, f"'{name}' must be positive, was {value}")
