"""Carry policies: where to hold the hedge (perpetual or delivery contract), pure like the rest.

All three keep the hedge sized and its leverage in band exactly as ``managed`` does; they add a
choice of *contract*, answered with :class:`~perphedge.planning.hedge_state.Roll` (close the old
contract and open the new one in the same decision) or, for a flat hedge, with an
``AdjustHedge`` that names the contract to open in.

* ``funding-guard`` — managed, plus a watch on the perpetual's trailing funding *cost* for the
  hedge side (mean rate over ``funding_window_days``, annualised). Past
  ``funding_threshold_per_year`` it alerts ``funding_cost_high`` once per crossing, or, with
  ``switch_to_delivery``, rolls into the cheapest listed delivery contract (best carry after
  fees for the side). A delivery hedge near expiry rolls back to the perpetual unless funding is
  still too dear, in which case it rolls into the next contract.
* ``quarterly`` — hedge in the nearest delivery contract with more than
  ``roll_days_before_expiry`` days left; roll into the next listed one when that many days
  remain. With no delivery contract listed it holds the perpetual and says so.
* ``auto`` — choose by carry after fees with :func:`perphedge.domain.carry.recommend`; the held
  contract is left only when another beats it by more than ``carry_margin_per_year``
  (hysteresis: no flapping between two contracts of nearly equal carry).

Carry sign: the one convention of :mod:`perphedge.domain.carry` (positive: the hedger earns);
a funding *cost* is minus the carry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from perphedge.domain.carry import (
    DAY_MS,
    CarryQuote,
    carry_of,
    days_between,
    delivery_quote,
    fee_drag_per_year,
    mean_rate,
    recommend,
    trailing_rates,
)
from perphedge.domain.funding import annualized_rate
from perphedge.domain.money import ZERO
from perphedge.domain.types import ContractKind
from perphedge.planning.hedge_state import (
    Action,
    AdjustHedge,
    Alert,
    ContractQuote,
    HedgeState,
    Roll,
)
from perphedge.planning.policies import ManagedPolicy, Policy, PolicyParams

_MANAGED = ManagedPolicy()


def trailing_funding_per_year(state: HedgeState, window_days: int,
                              as_of_ms: int | None = None) -> Decimal | None:
    """Mean funding rate settled in the trailing window, annualised (paid by longs); None: none.

    Rates of 0.01 % per 8 h for a week are 0.0001 × 3 × 365 = 10.95 %/yr.
    """
    now = state.now_ms if as_of_ms is None else as_of_ms
    rates = trailing_rates(state.funding_settlements, now, window_days)
    if not rates:
        return None
    return annualized_rate(mean_rate(rates), state.funding_interval_hours)


def funding_cost_per_year(state: HedgeState, window_days: int,
                          as_of_ms: int | None = None) -> Decimal | None:
    """Trailing funding *cost* of the hedge side per year (minus its carry); None: no data.

    A long hedge at +0.01 % per 8 h pays 10.95 %/yr; a short one earns it (cost −10.95 %/yr).
    """
    rate = trailing_funding_per_year(state, window_days, as_of_ms)
    return None if rate is None else -carry_of(state.hedge_side, rate)


def days_left(contract: ContractQuote, now_ms: int) -> Decimal:
    """Days from ``now_ms`` to the contract's delivery (a perpetual never expires: 10**6)."""
    if contract.expiry_ms is None:
        return Decimal(10**6)
    return days_between(now_ms, contract.expiry_ms)


def perpetual(state: HedgeState) -> ContractQuote | None:
    """The perpetual among the quoted contracts."""
    return next((c for c in state.contracts if c.kind is ContractKind.PERPETUAL), None)


def tradable_deliveries(state: HedgeState, params: PolicyParams) -> list[ContractQuote]:
    """Delivery contracts with more than the roll window left, nearest expiry first."""
    cut = state.now_ms + params.roll_days_before_expiry * DAY_MS
    listed = [c for c in state.contracts
              if c.expiry_ms is not None and c.expiry_ms > max(cut, state.now_ms)]
    return sorted(listed, key=lambda c: c.expiry_ms or 0)


def carry_quotes(state: HedgeState, params: PolicyParams) -> list[CarryQuote]:
    """Carry after fees of the perpetual (trailing funding) and every tradable delivery."""
    out: list[CarryQuote] = []
    perp = perpetual(state)
    rate = trailing_funding_per_year(state, params.funding_window_days)
    if perp is not None and rate is not None:
        horizon = Decimal(params.carry_horizon_days)
        out.append(CarryQuote(perp.symbol, ContractKind.PERPETUAL, rate,
                              fee_drag_per_year(params.fee_rate, horizon), horizon))
    if state.spot_price > ZERO:
        out.extend(
            delivery_quote(c.symbol, c.price_usdt, state.spot_price,
                           days_left(c, state.now_ms), params.fee_rate)
            for c in tradable_deliveries(state, params)
        )
    return out


def _open_in(state: HedgeState, params: PolicyParams, contract: ContractQuote,
             extra: tuple[Action, ...] = ()) -> tuple[Action, ...]:
    """Open a flat hedge in ``contract``: managed's sizing at that contract's price."""
    there = replace(state, hedge_symbol=contract.symbol, mark_price=contract.price_usdt)
    actions = tuple(
        AdjustHedge(a.delta_qty, contract.symbol)
        if isinstance(a, AdjustHedge) and a.symbol is None else a
        for a in _MANAGED.decide(there, params)
    )
    return (*extra, *actions) if actions else ()


def _expiring(state: HedgeState, params: PolicyParams) -> ContractQuote | None:
    """The held delivery contract when it is inside the roll window, else None."""
    held = state.contract(state.hedge_symbol)
    if held is None or held.expiry_ms is None or state.hedge_qty == ZERO:
        return None
    if days_left(held, state.now_ms) > params.roll_days_before_expiry:
        return None
    return held


@dataclass(frozen=True, slots=True)
class QuarterlyPolicy:
    """Hedge in the nearest delivery contract; roll into the next before expiry."""

    name: str = "quarterly"

    def decide(self, state: HedgeState, params: PolicyParams) -> tuple[Action, ...]:
        front = next(iter(tradable_deliveries(state, params)), None)
        perp = perpetual(state)
        target = front or perp
        if state.hedge_qty == ZERO:
            if target is None:
                return _MANAGED.decide(state, params)
            note = () if front else (_no_delivery(),)
            return _open_in(state, params, target, note)
        held = state.contract(state.hedge_symbol)
        # A held contract that is no longer quoted has left its rolled series (the CME
        # second-month chain): roll out of it as out of an expiring one.
        moving = held is None or _expiring(state, params) is not None or (
            held.kind is ContractKind.PERPETUAL and front is not None)
        if moving and target is not None and target.symbol != state.hedge_symbol:
            roll: tuple[Action, ...] = (Roll(state.hedge_symbol, target.symbol, state.hedge_qty),)
            return roll if front else (*roll, _no_delivery())
        return _MANAGED.decide(state, params)


def _no_delivery() -> Alert:
    return Alert("no_delivery_contract",
                 "no delivery contract is listed beyond the roll window; hedging in the "
                 "perpetual")


def _best(state: HedgeState, quotes: list[CarryQuote]) -> ContractQuote | None:
    if not quotes:
        return None
    return state.contract(recommend(state.hedge_side, quotes).choice.symbol)


@dataclass(frozen=True, slots=True)
class FundingGuardPolicy:
    """Managed, plus an alert (or a roll into delivery) when funding costs too much."""

    name: str = "funding-guard"

    def decide(self, state: HedgeState, params: PolicyParams) -> tuple[Action, ...]:
        managed = _MANAGED.decide(state, params)
        cost = funding_cost_per_year(state, params.funding_window_days)
        dear = cost is not None and cost > params.funding_threshold_per_year
        deliveries = [q for q in carry_quotes(state, params)
                      if q.kind is ContractKind.DELIVERY]
        expiring = _expiring(state, params)
        if expiring is not None:
            perp = perpetual(state)
            back = _best(state, deliveries) if dear else perp
            target = back or perp
            if target is None:
                return managed
            return (Roll(expiring.symbol, target.symbol, state.hedge_qty),)
        held = state.contract(state.hedge_symbol)
        in_perp = held is None or held.kind is ContractKind.PERPETUAL
        if not (dear and in_perp and state.hedge_qty > ZERO):
            return managed
        cheapest = _best(state, deliveries)
        if params.switch_to_delivery and cheapest is not None:
            return (Roll(state.hedge_symbol, cheapest.symbol, state.hedge_qty),)
        before = funding_cost_per_year(state, params.funding_window_days,
                                       state.now_ms - params.decision_interval_ms)
        if before is not None and before > params.funding_threshold_per_year:
            return managed  # already alerted when it crossed
        assert cost is not None  # noqa: S101  -- dear implies a cost
        alert = Alert("funding_cost_high",
                      f"the {state.hedge_side.value} hedge's funding over "
                      f"{params.funding_window_days} days costs {_pct(cost)} %/yr, above "
                      f"{_pct(params.funding_threshold_per_year)} %/yr")
        return (alert, *managed)


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).quantize(Decimal('0.01'))}"


@dataclass(frozen=True, slots=True)
class AutoPolicy:
    """Hold the contract with the best carry after fees, with hysteresis."""

    name: str = "auto"

    def decide(self, state: HedgeState, params: PolicyParams) -> tuple[Action, ...]:
        quotes = carry_quotes(state, params)
        if state.hedge_qty == ZERO:
            best = _best(state, quotes) or perpetual(state)
            return _MANAGED.decide(state, params) if best is None else (
                _open_in(state, params, best))
        expiring = _expiring(state, params)
        if expiring is not None:
            target = _best(state, quotes) or perpetual(state)
            if target is not None and target.symbol != expiring.symbol:
                return (Roll(expiring.symbol, target.symbol, state.hedge_qty),)
            return _MANAGED.decide(state, params)
        if quotes and state.contract(state.hedge_symbol) is not None:
            rec = recommend(state.hedge_side, quotes, current=state.hedge_symbol,
                            margin_per_year=params.carry_margin_per_year)
            if rec.switch:
                return (Roll(state.hedge_symbol, rec.choice.symbol, state.hedge_qty),)
        return _MANAGED.decide(state, params)


CARRY_POLICIES: dict[str, Policy] = {
    "funding-guard": FundingGuardPolicy(),
    "quarterly": QuarterlyPolicy(),
    "auto": AutoPolicy(),
}
