"""From a cycle's report (and what earlier cycles showed) to the facts the alert rules judge.

Counters that span cycles (exchange failures in a row, cycles with the drift outside its band)
and the hedge's last quantity and state live here, in the service process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import FundingRow
from perphedge.config.models import HedgeConfig
from perphedge.domain.money import ZERO
from perphedge.engine.loop import CycleReport
from perphedge.planning.carry_policies import funding_cost_per_year
from perphedge.planning.hedge_state import AddMargin, AdjustHedge, HedgeState, SellSpot, Transfer
from perphedge.services.alert_rules import CycleFacts

HUNDRED = Decimal(100)
#: Funding settlements (newest) the cost is averaged over when the policy reads none itself.
FUNDING_WINDOW_SETTLEMENTS = 21  # a week of 8-hourly settlements
FUNDING_WINDOW_DAYS = 7


@dataclass
class _Memory:
    failing: int = 0
    drifted: int = 0
    qty: Decimal | None = None
    state: str | None = None


def drift_pct(state: HedgeState) -> Decimal | None:
    """How far the hedge is off its target, in % of the target (None without a target)."""
    if state.target_exposure_qty <= 0:
        return None
    return (state.hedge_qty - state.target_exposure_qty) / state.target_exposure_qty * HUNDRED


def rescues(report: CycleReport, asset: str) -> tuple[str, ...]:
    """Margin moved or spot sold to keep an open hedge alive (not the funding of a new order)."""
    grows = any(isinstance(a, AdjustHedge) for a in report.actions)
    out: list[str] = []
    for action in report.actions:
        if isinstance(action, AddMargin):
            out.append(f"added {_usdt(action.amount)} USDT of margin to the position")
        elif isinstance(action, SellSpot):
            out.append(f"sold {action.qty.quantize(Decimal('1e-8'))} {asset} of spot to fund "
                       "the margin")
        elif isinstance(action, Transfer) and action.to == "futures" and (
                action.from_reserve or not grows):
            source = "the reserve" if action.from_reserve else "spot"
            out.append(f"moved {_usdt(action.amount)} USDT from {source} to the futures wallet")
    return tuple(out)


def _usdt(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01')):,}"


class FactsTracker:
    """Per hedge: what the last cycles showed."""

    def __init__(self, store: HedgeStore, hedges: Sequence[HedgeConfig]) -> None:
        self.store = store
        self._memory: dict[str, _Memory] = {}
        for hedge in hedges:
            snap = store.latest_snapshot(hedge.name)
            row = store.hedge(hedge.name)
            self._memory[hedge.name] = _Memory(
                qty=None if snap is None else snap.hedge_qty_base,
                state=None if row is None else row.state)

    def after(self, hedge: HedgeConfig, report: CycleReport) -> CycleFacts:
        """The facts of ``report``; updates the counters."""
        mem = self._memory.setdefault(hedge.name, _Memory())
        row = self.store.hedge(hedge.name)
        state_now = None if row is None else row.state
        mem.failing = mem.failing + 1 if report.status == "error" else 0
        observed = report.state is not None
        drift = None if report.state is None else drift_pct(report.state)
        if observed:
            outside = drift is not None and abs(drift) > hedge.drift_band_pct
            mem.drifted = mem.drifted + 1 if outside else 0
        qty = report.state.hedge_qty if report.state is not None else None
        acted = report.status == "acted"
        facts = CycleFacts(
            hedge_id=hedge.name, ts_ms=report.ts_ms, status=report.status, state=state_now,
            lines=tuple(report.lines), observed=observed, failing_cycles=mem.failing,
            drifted_cycles=mem.drifted, drift_pct=drift,
            runway_pct=report.figures.get("runway_pct") if observed else None,
            funding_cost_pct_per_year=self._funding_cost(hedge, report.state),
            funding_paid_pct_of_locked=self._paid_share(hedge, report.state),
            opened=acted and not mem.qty and bool(qty),
            closed=state_now == "closed" and mem.state not in (None, "closed"),
            rescues=rescues(report, hedge.asset.upper()) if acted and mem.qty else (),
        )
        if qty is not None:
            mem.qty = qty
        mem.state = state_now
        return facts

    def _funding_cost(self, hedge: HedgeConfig, state: HedgeState | None) -> Decimal | None:
        """Trailing funding cost of the hedge, % per year (> 0: it pays); None: not known."""
        if state is None or state.hedge_qty <= 0:
            return None
        from_rates = funding_cost_per_year(state, FUNDING_WINDOW_DAYS)
        if from_rates is not None:
            return from_rates * HUNDRED
        with self.store.session() as s:
            amounts = list(s.scalars(
                select(FundingRow.amount_usdt).where(FundingRow.hedge_id == hedge.name)
                .order_by(FundingRow.ts_ms.desc()).limit(FUNDING_WINDOW_SETTLEMENTS)))
        if not amounts or state.notional_usdt <= 0:
            return None
        per_settlement = -sum(amounts, ZERO) / len(amounts) / state.notional_usdt
        per_year = Decimal(365 * 24) / Decimal(state.funding_interval_hours)
        return per_settlement * per_year * HUNDRED

    def _paid_share(self, hedge: HedgeConfig, state: HedgeState | None) -> Decimal | None:
        """A purchase: funding paid so far, % of the value locked (None for a holding)."""
        if hedge.kind != "purchase" or state is None or state.hedge_qty <= 0:
            return None
        locked = state.hedge_qty * state.entry_price
        paid = -self.store.funding_total(hedge.name)
        return None if locked <= 0 else paid / locked * HUNDRED
