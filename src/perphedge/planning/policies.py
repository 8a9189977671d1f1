"""Hedge policies: pure ``decide(state, params) -> actions``, shared by backtest and live.

* ``static`` — the naive recipe: open once (hedge = exposure, isolated at the leverage), never
  adjust, never top up. After a liquidation it stays unhedged.
* ``managed`` — locks the value with no outside capital. A short hedge trades only when it
  must: when leverage passes the upper trigger (``trigger_up_ratio`` × target) it sells spot
  and cuts the hedge by the same lot-rounded quantity, back to the target; only far below
  (``trigger_down_ratio`` × target) does it buy back, sized to the margin Binance lets leave
  (never unrealised profit), growing the hedge before buying the spot so a refused hedge
  order can never leave the holding under-hedged. A long hedge (a purchase) keeps its margin
  between the same triggers from the cash, never holds more than the cash can buy, and
  alerts when the funding it paid passes ``funding_alert_share`` of the locked value. After a
  refused step it backs off (1, 2, 4 … decisions) instead of repeating it every hour. See
  :func:`rebalance_qty` for the arithmetic and docs/backtest.md for the evidence behind the
  defaults.
* ``reserve`` — static plus margin top-ups from a USDT reserve when leverage passes the upper
  band; it also follows exposure changes. Alerts ``reserve_exhausted`` once when it runs dry.

Executors clip transfers and margin moves to what is actually free, so sizes here may ignore
fees by a hair.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal
from typing import Protocol

from perphedge.domain.money import HUNDRED, ONE, ZERO
from perphedge.domain.types import MarginMode, Side
from perphedge.errors import InputError
from perphedge.planning.hedge_state import (
    Action,
    AddMargin,
    AdjustHedge,
    Alert,
    BuySpot,
    HedgeState,
    RemoveMargin,
    SellSpot,
    Transfer,
)
from perphedge.planning.lock_sizing import (
    backing_off,
    down_move_qty,
    removable_margin,
    round_lot,
)

HOUR_MS = 3_600_000
HALF = Decimal("0.5")
CENT = Decimal("0.01")
#: A purchase's hedge is cut to what the cash can buy once it exceeds that by this much (%):
#: each cut costs only the taker fee on the cut, and a wider band is a bet on the excess.
LONG_CAP_BAND_PCT = Decimal("0.5")


@dataclass(frozen=True, slots=True)
class PolicyParams:
    """Leverage target and bands, the decision interval (ms) and the reserve (USDT)."""

    leverage: Decimal
    leverage_band: tuple[Decimal, Decimal] | None = None
    hedge_band_pct: Decimal = Decimal(2)
    rebalance_down: bool = True
    reserve_usdt: Decimal | None = None
    decision_interval_ms: int = HOUR_MS
    fee_rate: Decimal = Decimal("0.0005")
    # Carry policies (funding-guard, quarterly, auto); the three above ignore these.
    funding_threshold_per_year: Decimal = Decimal("0.10")
    funding_window_days: int = 7
    switch_to_delivery: bool = False
    roll_days_before_expiry: int = 7
    carry_margin_per_year: Decimal = Decimal("0.02")
    carry_horizon_days: int = 90
    # Managed policy triggers (used when ``leverage_band`` is None), as multiples of the
    # target: chosen from the parameter sweep in docs/backtest.md.
    trigger_up_ratio: Decimal = Decimal("1.25")
    trigger_down_ratio: Decimal = Decimal(0)  # 0: never buy back (the sweep: churn)
    spot_fee_rate: Decimal = Decimal("0.001")
    funding_alert_share: Decimal = Decimal("0.10")

    def __post_init__(self) -> None:
        if not self.leverage.is_finite() or self.leverage <= 0:
            raise InputError("leverage", "a number greater than 0", str(self.leverage))
        low, high = self.band
        if not low <= self.leverage <= high:
            raise InputError("leverage_band", f"a band around {self.leverage}", (low, high))
        if self.hedge_band_pct < 0 or self.decision_interval_ms <= 0:
            raise InputError("policy", "a band of 0 % or more and a positive interval", self)
        if self.funding_window_days < 1 or self.roll_days_before_expiry < 0:
            raise InputError("policy", "a funding window of 1 day or more and roll days of 0 "
                             "or more", (self.funding_window_days, self.roll_days_before_expiry))
        if self.carry_margin_per_year < 0 or self.carry_horizon_days < 1:
            raise InputError("policy", "a carry margin of 0 or more and a horizon of 1 day or "
                             "more", (self.carry_margin_per_year, self.carry_horizon_days))

    @property
    def triggers(self) -> tuple[Decimal, Decimal]:
        """(down, up) leverage at which the managed policy trades: the band when one is given,
        else the target times ``trigger_down_ratio`` and ``trigger_up_ratio``."""
        if self.leverage_band is not None:
            return self.leverage_band
        return self.leverage * self.trigger_down_ratio, self.leverage * self.trigger_up_ratio

    @property
    def band(self) -> tuple[Decimal, Decimal]:
        """(low, high) effective leverage; default target ± 0.5, never below 1."""
        if self.leverage_band is not None:
            return self.leverage_band
        return max(ONE, self.leverage - HALF), self.leverage + HALF


def exchange_leverage(leverage: Decimal) -> int:
    """The integer leverage to set on the exchange: ⌈leverage⌉, at least 1.

    A fractional target (1.5x) is reached by opening at 2x and adding the difference as margin.

    >>> exchange_leverage(Decimal("1.5"))
    2
    """
    return max(1, int(leverage.to_integral_value(rounding=ROUND_CEILING)))


def margin_for(notional_usdt: Decimal, params: PolicyParams) -> Decimal:
    """USDT to bring to futures to open ``notional_usdt``: notional / leverage + taker fee."""
    return notional_usdt / params.leverage + notional_usdt * params.fee_rate


def top_up_for_fraction(notional_usdt: Decimal, leverage: Decimal) -> Decimal:
    """Margin to add after opening at ⌈L⌉ so the position holds notional / L.

    >>> top_up_for_fraction(Decimal(300), Decimal("1.5"))
    Decimal('50')
    """
    return notional_usdt / leverage - notional_usdt / Decimal(exchange_leverage(leverage))


def rebalance_qty(state: HedgeState, leverage: Decimal) -> Decimal:
    """Quantity x to sell (x > 0) or buy (x < 0) on spot, cutting (growing) the hedge by x.

    Short hedge of H at mark P with margin balance M, spot sold at Ps: after selling x and
    adding the proceeds as margin, leverage is (H − x)·P / (M + x·Ps). Setting it to L::

        x = (H·P − L·M) / (P + L·Ps)

    Worked example: 5 BTC hedged at 2x from 90,000 (M = 225,000); the price rises to 120,000
    (M = 75,000, leverage 8). x = (600,000 − 150,000) / (120,000 + 240,000) = 1.25 BTC: sell
    1.25 BTC for 150,000 USDT, add it as margin (M = 225,000) and cut the hedge to 3.75 BTC,
    equal to the 3.75 BTC left: leverage 3.75·120,000 / 225,000 = 2.

    >>> from perphedge.domain.types import MarginMode, Side
    >>> s = HedgeState(Side.SHORT, MarginMode.ISOLATED, Decimal(5), Decimal(5), Decimal(5),
    ...     Decimal(90000), Decimal(225000), Decimal(120000), Decimal(120000), Decimal(0),
    ...     Decimal(0), Decimal(0), None)
    >>> rebalance_qty(s, Decimal(2))
    Decimal('1.25')
    """
    notional = state.hedge_qty * state.mark_price
    return (notional - leverage * state.margin_balance_usdt) / (
        state.mark_price + leverage * state.spot_price
    )


class Policy(Protocol):
    """A hedge policy: pure, stateless; everything it needs is in the state and params."""

    @property
    def name(self) -> str:
        """The policy's name as the CLI spells it."""
        ...

    def decide(self, state: HedgeState, params: PolicyParams) -> tuple[Action, ...]:
        """The actions to take now, in execution order (empty: nothing to do)."""
        ...


def _free_cash(state: HedgeState) -> Decimal:
    return max(ZERO, state.spot_usdt - state.reserve_usdt)


def _grow(state: HedgeState, params: PolicyParams, qty: Decimal, cash: Decimal) -> list[Action]:
    """Grow the hedge by ``qty``, bringing its margin from ``cash`` (spot USDT) first."""
    if qty <= ZERO:
        return []
    notional = qty * state.mark_price
    # Up to the cent: a transfer rounded down to 1e-8 would leave the order a hair short of
    # margin, and the exchange would cut it by a lot (4.999 of 5).
    need = margin_for(notional, params).quantize(CENT, rounding=ROUND_CEILING)
    wallet = state.futures_wallet_usdt if state.margin_mode is MarginMode.ISOLATED else ZERO
    out: list[Action] = []
    if need > wallet and cash > ZERO:
        out.append(Transfer(min(need - wallet, cash), "futures"))
    out.append(AdjustHedge(qty))
    extra = top_up_for_fraction(notional, params.leverage)
    if extra > ZERO and state.margin_mode is MarginMode.ISOLATED:
        out.append(AddMargin(extra))
    return out


def _self_funded_grow(state: HedgeState, params: PolicyParams, gap: Decimal) -> list[Action]:
    """Grow a short hedge by ``gap``; sell spot to fund the margin the cash cannot cover.

    Selling s leaves the hedge to grow by gap − s; its margin (gap − s)·P/L must equal the
    cash W plus s·Ps: s = (gap·P/L − W) / (Ps + P/L).
    """
    price = state.mark_price
    cash = _free_cash(state) + (
        state.futures_wallet_usdt if state.margin_mode is MarginMode.ISOLATED else ZERO
    )
    per_unit = price / params.leverage + price * params.fee_rate
    sell = (gap * per_unit - cash) / (state.spot_price + per_unit)
    if sell <= ZERO:
        return _grow(state, params, gap, _free_cash(state))
    out: list[Action] = [SellSpot(sell), Transfer(_free_cash(state) + sell * state.spot_price,
                                                  "futures")]
    grown = replace(state, spot_qty=state.spot_qty - sell)
    out.extend(_grow(grown, params, gap - sell, ZERO))
    return out


def _follow_exposure(state: HedgeState, params: PolicyParams, target: Decimal,
                     hedge: Decimal, self_funded: bool) -> list[Action]:
    """Bring the hedge back to the target when it drifted out of the band."""
    gap = target - hedge
    if abs(gap) <= target * params.hedge_band_pct / HUNDRED and hedge > ZERO:
        return []
    if gap < ZERO:
        return [AdjustHedge(gap)]
    if self_funded and state.hedge_side is Side.SHORT:
        return _self_funded_grow(state, params, gap)
    return _grow(state, params, gap, _free_cash(state))


def _rebalance_short(state: HedgeState, params: PolicyParams, x: Decimal) -> list[Action]:
    hedge = state.hedge_qty
    isolated = state.margin_mode is MarginMode.ISOLATED
    if x > ZERO:
        x = min(x, hedge)
        proceeds = x * state.spot_price
        out: list[Action] = [SellSpot(x), Transfer(proceeds, "futures"), AdjustHedge(-x)]
        if isolated:
            # Cutting the hedge releases its share of the margin balance to the wallet: re-add it.
            out.append(AddMargin(proceeds + state.margin_balance_usdt * x / hedge))
        return out
    y = -x
    cost = y * state.spot_price
    grow_margin = y * state.mark_price / Decimal(exchange_leverage(params.leverage))
    out = []
    if isolated:
        out.append(RemoveMargin(cost + grow_margin))
    out += [Transfer(cost, "spot"), BuySpot(y), AdjustHedge(y)]
    return out


def _rebalance_long(state: HedgeState, params: PolicyParams) -> list[Action]:
    """Long hedge: the other leg is cash, so only margin moves; the hedge stays on target."""
    wanted = state.notional_usdt / params.leverage
    delta = wanted - state.margin_balance_usdt
    isolated = state.margin_mode is MarginMode.ISOLATED
    if delta > ZERO:
        out: list[Action] = [Transfer(delta, "futures")]
        return [*out, AddMargin(delta)] if isolated else out
    back: list[Action] = [RemoveMargin(-delta)] if isolated else []
    return [*back, Transfer(-delta, "spot")]


@dataclass(frozen=True, slots=True)
class StaticPolicy:
    """Open once, never adjust, never top up."""

    name: str = "static"

    def decide(self, state: HedgeState, params: PolicyParams) -> tuple[Action, ...]:
        if state.opened_before or state.hedge_qty > ZERO or state.target_exposure_qty <= ZERO:
            return ()
        return tuple(_grow(state, params, state.target_exposure_qty, _free_cash(state)))


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    """Lock the value: trade only past the triggers, both legs by the same lot-rounded qty."""

    name: str = "managed"

    def decide(self, state: HedgeState, params: PolicyParams) -> tuple[Action, ...]:
        target = state.target_exposure_qty
        if state.hedge_qty == ZERO:
            if backing_off(state.refusals_in_a_row, state.last_refusal_ms, state.now_ms,
                           params.decision_interval_ms):
                return ()
            return tuple(_follow_exposure(state, params, target, ZERO, self_funded=True))
        if state.hedge_side is Side.LONG:
            return tuple(managed_long(state, params))
        return tuple(managed_short(state, params))


def managed_short(state: HedgeState, params: PolicyParams) -> list[Action]:
    """A holding's hedge: cut past the upper trigger, buy back only far below, else follow."""
    down, up = params.triggers
    lev = state.effective_leverage
    waiting = backing_off(state.refusals_in_a_row, state.last_refusal_ms, state.now_ms,
                          params.decision_interval_ms)
    if lev is not None and lev > up:
        over = state.hedge_qty - state.target_exposure_qty
        if over > state.target_exposure_qty * params.hedge_band_pct / HUNDRED:
            # Above the holding (a rebalance whose cut was lost after its spot sale, or the
            # holder sold): cutting the excess lowers the leverage too, and selling more spot
            # first would leave the hedge as far above the holding as before.
            return [AdjustHedge(-over)]
        x = round_lot(min(rebalance_qty(state, params.leverage), state.hedge_qty),
                      state.lot_step_qty)
        return _rebalance_short(state, params, x) if x > ZERO else []
    if waiting:
        return []  # only the safety cut above runs while a refused step waits
    if lev is not None and params.rebalance_down and lev < down:
        return _buy_back(state, params)
    return _follow_exposure(state, params, state.target_exposure_qty, state.hedge_qty,
                            self_funded=True)


def _buy_back(state: HedgeState, params: PolicyParams) -> list[Action]:
    """Grow the hedge and buy the spot by the same quantity, paid from removable margin.

    The hedge leg goes first: if the exchange refuses it, the executor stops (live and
    backtest alike) before the spot is bought, so the holding is never under-hedged.
    """
    lx = exchange_leverage(params.leverage)
    isolated = state.margin_mode is MarginMode.ISOLATED
    free = removable_margin(state.isolated_margin_usdt, state.margin_balance_usdt,
                            state.notional_usdt, lx) if isolated else (
        state.futures_wallet_usdt + state.unrealized_pnl_usdt - state.notional_usdt / lx)
    y = down_move_qty(-rebalance_qty(state, params.leverage), free, state.spot_price,
                      state.mark_price, lx, params.fee_rate, params.spot_fee_rate,
                      state.lot_step_qty)
    if y <= ZERO:
        return []
    spot_cost = y * state.spot_price * (1 + params.spot_fee_rate) + CENT
    hedge_cost = y * state.mark_price * (1 / Decimal(lx) + params.fee_rate)
    out: list[Action] = [RemoveMargin(spot_cost + hedge_cost)] if isolated else []
    return [*out, AdjustHedge(y), Transfer(spot_cost, "spot"), BuySpot(y)]


def managed_long(state: HedgeState, params: PolicyParams) -> list[Action]:
    """A purchase's hedge: never more than the cash can buy; margin kept between triggers.

    Holding more than the owner's USDT can buy would be a leveraged bet, and funding paid
    drains that USDT; capping the hedge at ``equity / mark`` keeps the account leverage near
    1, so the long cannot be liquidated without a fall of almost 100 % in one bar.
    """
    out: list[Action] = []
    equity = state.equity_usdt
    band = ONE + LONG_CAP_BAND_PCT / HUNDRED
    paid = state.funding_paid_usdt
    share = paid / state.locked_value_usdt if state.locked_value_usdt > ZERO else ZERO
    if state.notional_usdt > equity * band:
        keep = round_lot(max(ZERO, equity) / state.mark_price, state.lot_step_qty)
        cut = state.hedge_qty - keep
        if cut > ZERO:
            out.append(AdjustHedge(-cut))
            reason = (f"funding paid {paid:.2f} USDT, {share * HUNDRED:.1f} % of the locked "
                      "value" if share >= params.funding_alert_share else
                      "the cash no longer covers the hedge")
            out.append(Alert("hedge_reduced", f"long hedge cut by {cut} to {keep}, what the "
                             f"cash can buy: {reason}; no delivery contract is used by the "
                             "managed policy (funding-guard with switch_to_delivery rolls "
                             "into one where listed)"))
            return out
    if share >= params.funding_alert_share:
        out.append(Alert("funding_cost_high", f"the long hedge has paid {paid:.2f} USDT of "
                         f"funding, {share * HUNDRED:.1f} % of the locked value"))
    down, up = params.triggers
    lev = state.effective_leverage
    if lev is not None and (lev > up or (params.rebalance_down and lev < down)):
        return out + _rebalance_long(state, params)
    if backing_off(state.refusals_in_a_row, state.last_refusal_ms, state.now_ms,
                   params.decision_interval_ms):
        return out
    cap = round_lot(max(ZERO, equity) / state.mark_price, state.lot_step_qty)
    return out + _follow_exposure(state, params, min(state.target_exposure_qty, cap),
                                  state.hedge_qty, self_funded=False)


@dataclass(frozen=True, slots=True)
class ReservePolicy:
    """Static plus top-ups from a USDT reserve when leverage passes the upper band."""

    name: str = "reserve"

    def decide(self, state: HedgeState, params: PolicyParams) -> tuple[Action, ...]:
        target = state.target_exposure_qty
        if state.hedge_qty == ZERO:
            if state.opened_before:
                return self._reopen(state, params)
            return tuple(_grow(state, params, target, _free_cash(state)))
        lev = state.effective_leverage
        high = params.band[1]
        if lev is not None and lev > high and state.reserve_usdt > ZERO:
            wanted = state.notional_usdt / params.leverage - state.margin_balance_usdt
            amount = min(wanted, state.reserve_usdt)
            out: list[Action] = [Transfer(amount, "futures", from_reserve=True)]
            if state.margin_mode is MarginMode.ISOLATED:
                out.append(AddMargin(amount))
            if amount >= state.reserve_usdt:
                out.append(Alert("reserve_exhausted",
                                 f"the margin reserve is used up ({amount:.2f} USDT added last)"))
            return tuple(out)
        return tuple(_follow_exposure(state, params, target, state.hedge_qty, self_funded=False))

    @staticmethod
    def _reopen(state: HedgeState, params: PolicyParams) -> tuple[Action, ...]:
        """After a liquidation: reopen what the reserve can carry."""
        cash = _free_cash(state) + state.reserve_usdt
        per_unit = margin_for(state.mark_price, params)
        qty = min(state.target_exposure_qty, cash / per_unit)
        if qty <= ZERO:
            return ()
        out = _grow(state, params, qty, cash)
        return tuple(
            Transfer(a.amount, a.to, from_reserve=True) if isinstance(a, Transfer) else a
            for a in out
        )


POLICIES: dict[str, Policy] = {
    "static": StaticPolicy(),
    "managed": ManagedPolicy(),
    "reserve": ReservePolicy(),
}


def _carry_policies() -> dict[str, Policy]:
    # Imported on first use: the carry policies build on ManagedPolicy defined here.
    from perphedge.planning.carry_policies import CARRY_POLICIES

    return dict(CARRY_POLICIES)


def policy_names() -> tuple[str, ...]:
    """Every policy name: static, managed, reserve, then the carry policies."""
    return (*POLICIES, *_carry_policies())


def get_policy(name: str) -> Policy:
    """The policy called ``name`` (static, managed, reserve, funding-guard, quarterly, auto)."""
    policy = POLICIES.get(name) or _carry_policies().get(name)
    if policy is None:
        raise InputError("--policy", f"one of {', '.join(policy_names())}", name)
    return policy
