"""Quiet bands: the hedge marks inside which a policy would decide nothing.

A backtest decides at every decision bar, and almost every decision decides nothing. After a
decision that returned no actions, :func:`quiet_band` names the band of the hedge contract's mark
inside which the policy would again return no actions, as long as only the mark, the spot price
and the time change (the account otherwise as it is). The backtest engine then jumps to the first
decision bar whose mark leaves the band (``backtest/quiet_skip.py: QuietSkip``).

Each band is the policy's own triggers solved for the mark; None (decide every time) whenever
the answer is not simple. For a fixed mark, every condition here holds on a set of margin bases
(isolated margin or futures wallet) and funding paid that is monotone (an interval's end), so a
band taken at both ends of a range of margins holds for every margin between: the engine relies
on that to carry a band through funding settlements. A narrower band is always safe.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from perphedge.domain.money import HUNDRED, ONE, ZERO
from perphedge.domain.types import MarginMode, Side
from perphedge.planning.hedge_state import HedgeState
from perphedge.planning.lock_sizing import backing_off
from perphedge.planning.policies import LONG_CAP_BAND_PCT, PolicyParams

#: A quiet band is narrowed by this share at each end: the policy compares Decimals rounded to
#: 28 digits, the backtest compares float marks; a narrower band is always safe.
QUIET_MARGIN = Decimal("1e-9")
INFINITY = Decimal("Infinity")
LOWEST_MARK = Decimal("1e-8")  # prices have at most 8 decimals: a mark is at least this
QuietBand = tuple[Decimal, Decimal]


def leverage_band(state: HedgeState, low: Decimal | None, high: Decimal) -> QuietBand | None:
    """Marks at which the hedge's effective leverage stays in ``[low, high]`` (None: none).

    For a fixed position of H at entry E on a margin base M (isolated margin, or the futures
    wallet in cross), the margin balance is ``B(P) = a + s·H·P`` with ``a = M − s·H·E`` and
    s = +1 (long) or −1 (short); leverage ``H·P / B(P)`` is monotone in P while ``B > 0``, so
    each trigger solved for P bounds one side: ``H·P·(1 − s·u) ≤ u·a`` for ``lev ≤ u`` (and
    ``≥`` for a lower trigger), and ``s·H·P > −a`` for a balance above zero.

    >>> from perphedge.domain.types import MarginMode, Side
    >>> s = HedgeState(Side.SHORT, MarginMode.ISOLATED, Decimal(5), Decimal(5), Decimal(5),
    ...     Decimal(90000), Decimal(225000), Decimal(90000), Decimal(90000), Decimal(0),
    ...     Decimal(0), Decimal(0), None)
    >>> lo, hi = leverage_band(s, None, Decimal("2.5"))
    >>> lo, round(hi)  # 2.5x at P: 5·P = 2.5·(675,000 − 5·P)
    (Decimal('1.000000001E-8'), 96429)
    """
    h = state.hedge_qty
    if h <= ZERO:
        return None
    sign = state.hedge_side.sign
    base = (state.isolated_margin_usdt if state.margin_mode is MarginMode.ISOLATED
            else state.futures_wallet_usdt)
    a = base - sign * h * state.entry_price
    lo, hi = LOWEST_MARK, INFINITY
    # The balance above zero: s·H·P > −a.
    if sign > 0:
        lo = max(lo, -a / h)
    elif a <= ZERO:
        return None
    else:
        hi = min(hi, a / h)
    for level, at_most in ((high, True), (low, False)):
        if level is None:
            continue
        c = h * (1 - sign * level)
        bound = level * a
        if c == ZERO:
            if (bound > ZERO) if at_most else (bound < ZERO):  # strict: no knife edge
                continue
            return None
        x = bound / c
        if (c > ZERO) == at_most:
            hi = min(hi, x)
        else:
            lo = max(lo, x)
    lo, hi = lo * (1 + QUIET_MARGIN), hi * (1 - QUIET_MARGIN)
    if not lo <= state.mark_price <= hi:
        return None
    return lo, hi


def _exposure_quiet(state: HedgeState, params: PolicyParams) -> bool:
    """:func:`_follow_exposure` does nothing, whatever the price (it does not read one)."""
    gap = state.target_exposure_qty - state.hedge_qty
    return (abs(gap) <= state.target_exposure_qty * params.hedge_band_pct / HUNDRED
            and state.hedge_qty > ZERO)


def static_quiet_band(state: HedgeState, params: PolicyParams) -> QuietBand | None:
    """Static never acts once opened (or with nothing to hedge), whatever the price."""
    if state.opened_before or state.hedge_qty > ZERO or state.target_exposure_qty <= ZERO:
        return LOWEST_MARK, INFINITY
    return None


def managed_quiet_band(state: HedgeState, params: PolicyParams) -> QuietBand | None:
    """The managed policy holds still while its leverage stays between the triggers (and, for
    a purchase, while the cash covers the hedge and its cap keeps the hedge in band).

    None (decide every time) for a flat hedge, while a refused step waits (the wait ends with
    time), when the hedge is out of its exposure band, or when a purchase's funding alert is due.
    """
    if state.hedge_qty <= ZERO:
        return None
    if backing_off(state.refusals_in_a_row, state.last_refusal_ms, state.now_ms,
                   params.decision_interval_ms):
        return None
    down, up = params.triggers
    low = down if params.rebalance_down and down > ZERO else None
    if state.hedge_side is Side.LONG:
        return _managed_long_band(state, params, low, up)
    if not _exposure_quiet(state, params):
        return None
    return leverage_band(state, low, up)


def _managed_long_band(state: HedgeState, params: PolicyParams, low: Decimal | None,
                       up: Decimal) -> QuietBand | None:
    """:func:`perphedge.planning.policies.managed_long` returns nothing for these marks.

    With equity ``D + H·P`` (``D`` = spot USDT + futures wallet + isolated margin − H·E): the
    hedge is not cut while ``H·P ≤ b·(D + H·P)``; its target ``min(T, cap)``, with
    ``cap = round_lot(equity / P) = round_lot(H + D/P)``, stays within the exposure band of H
    while ``H + D/P`` stays in ``[ceil_lot(H / (1 + q)), H / (1 − q)]`` (q the band share).
    The funding alert does not depend on the mark: it is named by :func:`quiet_alerts`.
    """
    band = leverage_band(state, low, up)
    if band is None:
        return None
    lo, hi = band
    h, lot = state.hedge_qty, state.lot_step_qty
    isolated = state.isolated_margin_usdt if state.margin_mode is MarginMode.ISOLATED else ZERO
    d = state.spot_usdt + state.futures_wallet_usdt + isolated - h * state.entry_price
    b = ONE + LONG_CAP_BAND_PCT / HUNDRED
    lo = max(lo, -b * d / (h * (b - 1)))  # not cut: H·P·(b − 1) ≥ −b·D
    q = params.hedge_band_pct / HUNDRED
    t_lo = h / (1 + q)
    if lot > ZERO:
        t_lo = (t_lo / lot).to_integral_value(rounding=ROUND_CEILING) * lot
    t_hi = h / (1 - q) if q < 1 else INFINITY
    if state.target_exposure_qty < t_lo:
        return None
    # The policy computes equity / P in 28 digits: keep a slack off the lot-rounding edges.
    slack = max(lot, h) * QUIET_MARGIN
    bounds = [_share_bounds(d, t_lo - h + slack, at_least=True)]  # H + D/P ≥ t_lo
    if state.target_exposure_qty > t_hi:
        bounds.append(_share_bounds(d, t_hi - h - slack, at_least=False))  # H + D/P ≤ t_hi
    for bound in bounds:
        if bound is None:
            return None
        lo, hi = max(lo, bound[0]), min(hi, bound[1])
    lo, hi = lo * (1 + QUIET_MARGIN), hi * (1 - QUIET_MARGIN)
    if not lo <= state.mark_price <= hi:
        return None
    return lo, hi


def _share_bounds(d: Decimal, g: Decimal, *, at_least: bool) -> QuietBand | None:
    """Marks P > 0 with ``d / P ≥ g`` (``at_least``) or ``d / P ≤ g``; None when there are none.

    >>> _share_bounds(Decimal(10), Decimal(2), at_least=True)  # P ≤ 5
    (Decimal('0'), Decimal('5'))
    >>> _share_bounds(Decimal(-10), Decimal(-2), at_least=False)  # P ≤ 5
    (Decimal('0'), Decimal('5'))
    """
    if d == ZERO:
        holds = g <= ZERO if at_least else g >= ZERO
        return (ZERO, INFINITY) if holds else None
    sign = 1 if at_least else -1
    if sign * g <= ZERO and (d > ZERO) == at_least:
        return ZERO, INFINITY  # d/P has the sign that always satisfies it
    if (d > ZERO) != (g > ZERO) or g == ZERO:
        return None  # d/P never reaches across zero
    x = d / g
    # d/P ≥ g ⟺ P ≤ d/g when d, g > 0, P ≥ d/g when both < 0 (and the other way for ≤).
    return (ZERO, x) if (d > ZERO) == at_least else (x, INFINITY)


def reserve_quiet_band(state: HedgeState, params: PolicyParams) -> QuietBand | None:
    """The reserve policy holds still below its upper band (always, once the reserve is gone),
    and, flat after a liquidation, while it has no cash to reopen with."""
    if state.hedge_qty <= ZERO:
        cash = max(ZERO, state.spot_usdt - state.reserve_usdt) + state.reserve_usdt
        if (state.opened_before and cash <= ZERO) or state.target_exposure_qty <= ZERO:
            return LOWEST_MARK, INFINITY  # nothing to reopen with (or nothing to hedge)
        return None
    if not _exposure_quiet(state, params):
        return None
    if state.reserve_usdt <= ZERO:
        return LOWEST_MARK, INFINITY
    return leverage_band(state, None, params.band[1])


#: Per policy: ``quiet_band(state, params) -> (mark_lo, mark_hi) | None``. If nothing but the
#: time, the spot price and the hedge contract's mark (within the band) changes, the policy's
#: ``decide`` returns no actions but the alerts :func:`quiet_alerts` names. Policies not listed
#: (the carry policies) always decide.
QUIET_BANDS = {
    "static": static_quiet_band,
    "managed": managed_quiet_band,
    "reserve": reserve_quiet_band,
}


def quiet_band(policy: str, state: HedgeState, params: PolicyParams) -> QuietBand | None:
    """The band of hedge marks inside which ``policy`` would do nothing (None: unknown)."""
    band = QUIET_BANDS.get(policy)
    return None if band is None else band(state, params)


def quiet_alerts(policy: str, state: HedgeState, params: PolicyParams) -> frozenset[str]:
    """Codes of the alerts ``decide`` returns inside the quiet band (they read no price): a
    managed purchase's ``funding_cost_high`` once the funding paid passes its share of the
    locked value. A backtest raises an alert at most once a week, so until it is due again
    such a decision changes nothing."""
    if (policy == "managed" and state.hedge_side is Side.LONG
            and state.locked_value_usdt > ZERO and state.funding_paid_usdt
            / state.locked_value_usdt >= params.funding_alert_share):
        return frozenset({"funding_cost_high"})
    return frozenset()
