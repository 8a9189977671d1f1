"""The replay state shared by the fast engine and the slow reference: one account, one policy.

Both loops call the same methods here (settle funding, apply exposure changes, decide and
execute, liquidate); they differ only in how they find the liquidation bar. State changes go
through :class:`~perphedge.sim.account.SimAccount` in Decimal. Fills are at the bar close: spot
close for spot, perp close for futures, moved against the trader by ``slippage_bps``.

Capital: a holding starts with the spot and, in the spot wallet, the USDT to open the hedge
(initial margin + taker fee) plus the reserve; a purchase starts with the earmarked USDT
(quantity × first close) plus the reserve. Nothing is added later except exposure changes.
With delivery contracts in the book, the opening price is the dearest contract's first price.

The hedge is held in one contract at a time (``hedge_symbol``); a roll moves it in one
decision (:mod:`.rolls`). Actions become steps through the translation the live engine uses
(:mod:`perphedge.planning.translate`); :mod:`.perform` carries them out on the account.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from perphedge.backtest.contracts import ContractBook
from perphedge.backtest.perform import perform
from perphedge.backtest.replay_state import Piece, PieceLog
from perphedge.backtest.result import ActionEvent, LiquidationEvent
from perphedge.backtest.rolls import settle_delivery
from perphedge.domain.brackets import BracketTable
from perphedge.domain.liquidation import solve_liquidation
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode, Side
from perphedge.planning.hedge_state import Action, Alert, HedgeState
from perphedge.planning.policies import (
    POLICIES,
    PolicyParams,
    exchange_leverage,
    get_policy,
    margin_for,
)
from perphedge.planning.quiet_bands import quiet_alerts
from perphedge.planning.translate import OrderCall, Step, Target, translate
from perphedge.sim.account import SimAccount

if TYPE_CHECKING:
    from perphedge.backtest.spec import BacktestSpec, HistoryLike
    from perphedge.domain.instrument import Instrument

BPS = Decimal(10000)
CENT = Decimal("0.01")
USDT = "USDT"
DAY_MS = 86_400_000
#: Funding history handed to carry policies (their windows are at most this long).
FUNDING_LOOKBACK_MS = 30 * DAY_MS
#: An alert with the same code is raised again at most once a week.
ALERT_REPEAT_MS = 7 * DAY_MS


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _liquidation_at(side: Side, qty_base: Decimal, entry_price: Decimal, table: BracketTable,
                    margin_base: Decimal) -> Decimal | None:
    """The account's liquidation price of a position on a margin base (isolated margin, or
    the cross wallet with no other position)."""
    return solve_liquidation(side, qty_base, entry_price, margin_base, table).price_usdt


def dec(x: float) -> Decimal:
    """A float price as the Decimal of its shortest repr (history prices have ≤ 8 decimals)."""
    return Decimal(repr(float(x)))


@dataclass(slots=True)
class Replay:
    """Mutable replay of one spec over one history."""

    spec: BacktestSpec
    history: HistoryLike
    instrument: Instrument
    account: SimAccount
    params: PolicyParams
    side: Side
    book: ContractBook
    hedge_symbol: str
    target_qty: Decimal = ZERO  # purchase: quantity still to buy
    reserve_left: Decimal = ZERO
    #: The reserve at the start (stated in reports; a purchase values it at face).
    reserve_start: Decimal = ZERO
    locked: Decimal = ZERO
    cost_basis: Decimal = ZERO  # purchase: USDT cost of the quantity to buy, at lock prices
    unhedged_qty: Decimal = ZERO
    unhedged_cash: Decimal = ZERO
    opened_before: bool = False
    rebalances: int = 0
    margin_moves: int = 0
    refusals: int = 0  # orders or spot trades the account refused
    funding_in: Decimal = ZERO
    funding_out: Decimal = ZERO
    rolls: int = 0
    roll_fees: Decimal = ZERO
    deliveries_settled: int = 0
    funding_rates: list[Decimal] = field(default_factory=list)
    actions: list[ActionEvent] = field(default_factory=list)
    liquidations: list[LiquidationEvent] = field(default_factory=list)
    pieces: PieceLog = field(default_factory=PieceLog)
    notes: list[str] = field(default_factory=list)
    # What the last piece was built from: an unchanged account needs no new piece (most
    # decisions change nothing, and building a piece converts a dozen Decimals to floats).
    _snapshot_key: tuple[object, ...] | None = None
    _target: Target | None = None
    #: Decisions in a row with a refused step, and the time of the last refusal (back-off).
    refusals_in_a_row: int = 0
    last_refusal_ms: int = 0
    #: When each alert code was last raised: the same alert at most once per ALERT_REPEAT_MS.
    _alerted: dict[str, int] = field(default_factory=dict)
    #: The state of the last decision when it decided nothing (the engine may then skip the
    #: decisions that would see only the price move inside the policy's quiet band).
    quiet_state: HedgeState | None = None

    @classmethod
    def start(cls, spec: BacktestSpec, history: HistoryLike, instrument: Instrument,
              brackets: BracketTable, book: ContractBook | None = None) -> Replay:
        if book is None:  # the perpetual alone
            book = ContractBook.build(instrument, history.perp_close, history.perp_high,
                                      history.perp_low, None, ())
        # Delivery contracts use the perpetual's bracket table: a stated stand-in (no
        # delivery brackets are bundled).
        account = SimAccount({i.symbol: i for i in book.instruments},
                             {i.symbol: brackets for i in book.instruments}, spec.fees,
                             spec.spot_fee_rate)
        for inst in book.instruments:
            if spec.margin_mode is not MarginMode.CROSS:
                account.set_margin_mode(inst.symbol, spec.margin_mode)
            account.set_leverage(inst.symbol, exchange_leverage(spec.leverage))
        first = book.marks[:, 0]
        price0 = dec(max(float(x) for x in first if x == x))
        spot0 = dec(history.spot_close[0])
        notional = spec.quantity * price0
        params = PolicyParams(
            leverage=spec.leverage, leverage_band=spec.leverage_band,
            hedge_band_pct=spec.hedge_band_pct, rebalance_down=spec.rebalance_down,
            decision_interval_ms=spec.decision_interval_ms, fee_rate=spec.fees.taker_rate,
            roll_days_before_expiry=spec.roll_days_before_expiry,
            switch_to_delivery=spec.switch_to_delivery,
            funding_threshold_per_year=spec.funding_threshold_per_year,
            spot_fee_rate=spec.spot_fee_rate,
        )
        if spec.trigger_up_ratio is not None:
            params = replace(params, trigger_up_ratio=spec.trigger_up_ratio)
        if spec.trigger_down_ratio is not None:
            params = replace(params, trigger_down_ratio=spec.trigger_down_ratio)
        reserve = ZERO
        if spec.policy == "reserve":
            reserve = spec.reserve_usdt if spec.reserve_usdt is not None else (
                notional / spec.leverage)
        t0 = int(history.open_time_ms[0])
        side = Side.LONG if spec.purchase else Side.SHORT
        replay = cls(spec, history, instrument, account, params, side, book, instrument.symbol,
                     reserve_left=reserve, reserve_start=reserve)
        if spec.policy not in POLICIES:  # carry policies read the funding history
            replay.funding_rates = [Decimal(t) for t in history.funding_rate_text]
        if spec.purchase:
            cash = spec.quantity * spot0 + reserve
            replay.target_qty = spec.quantity
            replay.locked = spec.quantity * spot0 + reserve
            replay.cost_basis = spec.quantity * spot0
        else:
            # To the cent above: the holder brings whole cents, enough for the full size.
            cash = margin_for(notional, params).quantize(CENT, rounding=ROUND_CEILING) + reserve
            account.deposit(instrument.base, spec.quantity, t0)
            replay.unhedged_qty = spec.quantity
            replay.locked = spec.quantity * spot0 + cash
        if cash > ZERO:
            account.deposit(USDT, cash, t0)
        replay.unhedged_cash = cash
        return replay

    @property
    def target(self) -> Target:
        """Where translated steps go: the book's contracts, never sliced (no order cap)."""
        if self._target is None:
            self._target = Target(self.instrument.symbol, self.instrument.symbol,
                                  self.instrument, self.spec.margin_mode, None,
                                  {inst.symbol: inst for inst in self.book.instruments},
                                  spot_fee_rate=self.spec.spot_fee_rate)
        return self._target

    # ------------------------------------------------------------------ events
    def settle_funding(self, k: int, i: int) -> None:
        """Settle funding row ``k`` at bar ``i`` (mark: the file's, else the perp close)."""
        h = self.history
        mark = h.funding_mark[k]
        mark_price = dec(h.perp_close[i]) if mark != mark else dec(mark)  # NaN: stand-in
        got = self.account.settle_funding(
            self.instrument.symbol, Decimal(h.funding_rate_text[k]), mark_price,
            int(h.funding_time_ms[k]),
        )
        if got > 0:
            self.funding_in += got
        else:
            self.funding_out -= got

    def change_exposure(self, qty: Decimal, i: int) -> None:
        """The holder adds (qty > 0) or takes away spot; a buyer plans to buy more or less."""
        ts = self._ts(i)
        price = dec(self.history.spot_close[i])
        base = self.instrument.base
        if self.spec.purchase:
            self.target_qty = max(ZERO, self.target_qty + qty)
            cash = qty * price
            if cash > 0:
                self.account.deposit(USDT, cash, ts)
            else:
                cash = -min(-cash, self.account.spot.get(USDT, ZERO) - self.reserve_left)
                if cash < 0:
                    self.account.withdraw(USDT, -cash, ts)
            self.unhedged_cash += cash
            self.locked += cash
            self.cost_basis += cash
        else:
            if qty > 0:
                self.account.deposit(base, qty, ts)
            else:
                qty = -min(-qty, self.account.spot.get(base, ZERO))
                if qty < 0:
                    self.account.withdraw(base, -qty, ts)
            self.unhedged_qty += qty
            self.locked += qty * price
        self.actions.append(ActionEvent(ts, "exposure_change", qty, qty * price, price))

    def mark_of(self, symbol: str, i: int) -> Decimal:
        """``symbol``'s mark at bar ``i`` (the perp close when it has none: flat or delivered)."""
        price = float(self.book.marks[self.book.row(symbol), i])
        return dec(self.history.perp_close[i] if price != price else price)

    def settle_delivery(self, symbol: str, i: int) -> None:
        """Deliver ``symbol`` at bar ``i``'s close (its expiry) at the spot close."""
        settle_delivery(self, symbol, i)

    def _funding_before(self, now_ms: int) -> tuple[tuple[int, Decimal], ...]:
        if not self.funding_rates:
            return ()
        times = self.history.funding_time_ms
        lo, hi = (int(x) for x in np.searchsorted(
            times, (now_ms - FUNDING_LOOKBACK_MS, now_ms), side="right"))
        return tuple(zip(times[lo:hi].tolist(), self.funding_rates[lo:hi], strict=True))

    def state(self, i: int, mark: Decimal | None = None) -> HedgeState:
        """What the policy sees at bar ``i``'s close (``mark``: the hedge contract's, if known)."""
        acct = self.account
        pos = acct.position(self.hedge_symbol)
        spot = acct.spot
        spot_qty = spot.get(self.instrument.base, ZERO)
        spot_usdt = spot.get(USDT, ZERO)
        now = self._ts(i)
        return HedgeState(
            hedge_side=self.side, margin_mode=pos.margin_mode, spot_qty=spot_qty,
            target_exposure_qty=self.target_qty if self.spec.purchase else spot_qty,
            hedge_qty=pos.size_base if pos.side is self.side else ZERO,
            entry_price=pos.entry_price, isolated_margin_usdt=pos.isolated_margin_usdt,
            mark_price=self.mark_of(self.hedge_symbol, i) if mark is None else mark,
            spot_price=dec(self.history.spot_close[i]),
            spot_usdt=spot_usdt, futures_wallet_usdt=acct.futures_wallet_usdt,
            reserve_usdt=min(self.reserve_left, spot_usdt),
            liquidation_price=acct.liquidation_price(self.hedge_symbol),
            opened_before=self.opened_before, hedge_symbol=self.hedge_symbol, now_ms=now,
            contracts=self.book.quotes(i, now) if self.funding_rates or len(
                self.book.instruments) > 1 else (),
            funding_settlements=self._funding_before(now),
            funding_interval_hours=self.instrument.funding_interval_hours or 8,
            lot_step_qty=self.instrument.lot_step * self.instrument.contract_size,
            refusals_in_a_row=self.refusals_in_a_row, last_refusal_ms=self.last_refusal_ms,
            funding_paid_usdt=self.funding_out - self.funding_in,
            locked_value_usdt=self.cost_basis if self.spec.purchase else self.locked,
        )

    def decide(self, i: int) -> None:
        """Run the policy at bar ``i``'s close and execute its actions in order."""
        hedge_mark = None
        for r, inst in enumerate(self.book.instruments):
            price = float(self.book.marks[r, i])
            if price == price:  # not NaN: the contract has a price at this bar
                mark = dec(price)
                self.account.mark(inst.symbol, mark)
                if inst.symbol == self.hedge_symbol:
                    hedge_mark = mark
        state = self.state(i, hedge_mark)
        actions = get_policy(self.spec.policy).decide(state, self.params)
        # Quiet: no actions, or only alerts that read no price (QuietSkip waits until due).
        self.quiet_state = state if all(isinstance(a, Alert) for a in actions) and (
            not actions or {a.code for a in actions if isinstance(a, Alert)}
            <= quiet_alerts(self.spec.policy, state, self.params)) else None
        steps = self.steps(state, actions)
        for step in steps:
            if not perform(self, step, i):
                self._refused(i)
                return
        if any(isinstance(s, OrderCall) for s in steps):
            self.refusals_in_a_row = 0
            if state.hedge_qty == ZERO:
                self._note_short_opening(state, i)

    def _note_short_opening(self, before: HedgeState, i: int) -> None:
        """An opening that fell short of the target says by how much, and why."""
        held = self.account.position(self.hedge_symbol).size_base
        want = self.instrument.round_qty(before.target_exposure_qty)
        if held >= want:
            return
        need = want * before.mark_price * (1 / self.params.leverage + self.params.fee_rate)
        cash = before.spot_usdt + before.futures_wallet_usdt
        self.notes.append(
            f"opened {held} of {want} at {_utc(self._ts(i))}: {want - held} unhedged because "
            f"the cash here ({cash:.2f} USDT) cannot pay the margin and taker fee of the full "
            f"size at {self.params.leverage}x ({need:.2f} USDT)")

    def _refused(self, i: int) -> None:
        """A step was refused: the rest of the decision is dropped and the policy backs off."""
        self.refusals_in_a_row += 1
        self.last_refusal_ms = self._ts(i)
        if self.refusals_in_a_row == 1:
            self.actions.append(ActionEvent(
                self._ts(i), "step_refused", ZERO, ZERO, ZERO,
                f"{self.notes[-1] if self.notes else 'a step was refused'}; the rest of the "
                "decision was dropped and the policy backs off (1, 2, 4 ... decisions)"))

    def effective_price(self) -> Decimal | None:
        """A purchase's effective locked price per unit: the locked cost plus the net funding
        and the fees paid so far, shared over the quantity to buy (None: not a purchase)."""
        if not self.spec.purchase or self.target_qty <= 0:
            return None
        paid = self.funding_out - self.funding_in + self.account.fees_paid_usdt
        return (self.cost_basis + paid) / self.target_qty

    def alert_due(self, code: str, ts_ms: int) -> bool:
        """True when alert ``code`` was not raised in the last week (and records it now)."""
        last = self._alerted.get(code)
        if last is not None and ts_ms - last < ALERT_REPEAT_MS:
            return False
        self._alerted[code] = ts_ms
        return True

    def alert_next_due(self, code: str) -> int | None:
        """When alert ``code`` may be raised again (ms; None: it was never raised, so now)."""
        last = self._alerted.get(code)
        return None if last is None else last + ALERT_REPEAT_MS

    def steps(self, state: HedgeState, actions: tuple[Action, ...]) -> list[Step]:
        """The steps this replay performs for ``actions`` (the live engine's translation)."""
        return translate(actions, state, self.params, self.target)

    def liquidate(self, i: int, price: Decimal) -> None:
        record = self.account.liquidate(self.hedge_symbol, price, self._ts(i))
        # Funding can drive an isolated margin below zero before the price reaches the
        # liquidation price; the trader loses what the margin held, never a negative amount
        # (the exchange's insurance fund covers the rest).
        lost = max(ZERO, record.margin_lost_usdt)
        self.liquidations.append(LiquidationEvent(self._ts(i), price, lost))
        if self.spec.policy == "static":
            self.notes.append(f"liquidated at {price:.2f}; the static hedge stays unhedged")

    def settle_funding_run(self, bars: Sequence[int],
                           funding: Mapping[int, Sequence[int]]) -> list[Decimal]:
        """Settle the funding rows ``funding[bar]`` at each of ``bars`` while nothing else
        changes (a quiet stretch of a one-contract book), recording the pieces :meth:`snapshot`
        would record at each bar; their liquidation prices are solved when first read.

        Returns the net funding each bar received.
        """
        acct = self.account
        pos = acct.position(self.hedge_symbol)
        side = pos.side
        isolated_mode = pos.margin_mode is MarginMode.ISOLATED
        starts: list[int] = []
        usdt: list[float] = []
        base_f: list[float] = []
        received: list[float] = []
        bases: list[Decimal] = []
        nets: list[Decimal] = []
        for bar in bars:
            before = self.funding_in - self.funding_out
            booked = len(acct.ledger)
            for k in funding[bar]:
                self.settle_funding(k, bar)
            nets.append(self.funding_in - self.funding_out - before)
            if len(acct.ledger) == booked:  # flat: nothing booked, so no new piece
                continue
            isolated = sum((p.isolated_margin_usdt for p in acct.positions.values()), ZERO)
            base = pos.isolated_margin_usdt if isolated_mode else acct.futures_wallet_usdt
            starts.append(bar)
            usdt.append(float(acct.spot.get(USDT, ZERO) + acct.futures_wallet_usdt + isolated))
            base_f.append(float(base))
            received.append(float(acct.funding_received_usdt))
            bases.append(base)
        if starts and side is not None:
            self.pieces.extend(
                starts, {"usdt": usdt, "margin_base": base_f, "funding_cum": received}, bases,
                partial(_liquidation_at, side, pos.size_base, pos.entry_price,
                        acct.brackets[self.hedge_symbol]))
            self._snapshot_key = self._state_key()
        return nets

    def _state_key(self) -> tuple[object, ...]:
        return (len(self.account.ledger), self.locked, self.unhedged_qty, self.unhedged_cash,
                self.target_qty, self.cost_basis, self.hedge_symbol)

    def snapshot(self, i: int) -> None:
        """Record the state (as floats) that holds from bar ``i`` on."""
        acct = self.account
        key = self._state_key()
        # A purchase whose quantity is all bought values its unit cost at each bar's price.
        varies = self.spec.purchase and self.target_qty <= 0
        if key == self._snapshot_key and len(self.pieces) and not varies:
            return
        self._snapshot_key = key
        pos = acct.position(self.hedge_symbol)
        isolated = sum((p.isolated_margin_usdt for p in acct.positions.values()), ZERO)
        usdt = acct.spot.get(USDT, ZERO) + acct.futures_wallet_usdt + isolated
        margin_base = (pos.isolated_margin_usdt if pos.margin_mode is MarginMode.ISOLATED
                       else acct.futures_wallet_usdt)
        liq = acct.liquidation_price(self.hedge_symbol)
        unit_cost = float("nan")
        if self.spec.purchase:
            unit_cost = float(self.cost_basis / self.target_qty) if self.target_qty > 0 else (
                float(self.history.spot_close[i]))
        piece = Piece(
            start=i, spot_qty=float(acct.spot.get(self.instrument.base, ZERO)),
            hedge_qty=float(pos.qty_base), entry=float(pos.entry_price), usdt=float(usdt),
            margin_base=float(margin_base), liq=float("nan") if liq is None else float(liq),
            funding_cum=float(acct.funding_received_usdt), fees_cum=float(acct.fees_paid_usdt),
            locked=float(self.locked), unhedged_qty=float(self.unhedged_qty),
            unhedged_cash=float(self.unhedged_cash), unit_cost=unit_cost,
            contract=self.book.row(self.hedge_symbol), target_qty=float(self.target_qty),
        )
        self.pieces.record(piece)

    # ------------------------------------------------------------------ execution
    def _ts(self, i: int) -> int:
        return int(self.history.open_time_ms[i]) + int(self.history.interval_ms)

    def _fill_price(self, close: float, buy: bool) -> Decimal:
        slip = self.spec.slippage_bps / BPS
        return dec(close) * (1 + slip if buy else 1 - slip)
