"""The alerts ``perphedge serve`` would have sent during the demo, from the same rules.

Each cycle's report goes through the service's own facts and rules
(:mod:`perphedge.services.cycle_facts`, :mod:`perphedge.services.alert_rules`) on the replay
clock; the demo prints them as they happen and, with ``--alerts URL``, sends them at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from perphedge.adapters.store.repository import HedgeStore
from perphedge.config.models import HedgeConfig
from perphedge.engine.loop import CycleReport
from perphedge.services.alert_rules import AlertRules, Holding, Notice, evaluate
from perphedge.services.cycle_facts import FactsTracker
from perphedge.services.notifier import Delivery, Notifier

#: Six months replayed hourly: a condition that holds is repeated weekly, not every hour.
DEMO_RULES = AlertRules(repeat_every_ms=7 * 86_400_000)


@dataclass
class DemoAlerts:
    """Alerts of the demo's hedges, as the service would have sent them."""

    store: HedgeStore
    hedges: Sequence[HedgeConfig]
    rules: AlertRules = DEMO_RULES
    sent: list[tuple[int, Notice]] = field(default_factory=list)
    _holding: dict[str, dict[str, Holding]] = field(default_factory=dict)
    _facts: FactsTracker = field(init=False)

    def __post_init__(self) -> None:
        # Before the first cycle: the hedge's opening is then an event like any other.
        self._facts = FactsTracker(self.store, self.hedges)

    def after_cycle(self, reports: Sequence[CycleReport]) -> list[Notice]:
        """The notices of one cycle (kept in :attr:`sent`)."""
        by_name = {h.name: h for h in self.hedges}
        out: list[Notice] = []
        for report in reports:
            facts = self._facts.after(by_name[report.hedge_id], report)
            notices, holding = evaluate(facts, self.rules,
                                        self._holding.get(report.hedge_id, {}))
            self._holding[report.hedge_id] = holding
            self.sent += [(report.ts_ms, n) for n in notices]
            out += notices
        return out


def send_all(sent: Sequence[tuple[int, Notice]], notifier: Notifier) -> list[Delivery]:
    """Send every alert, stamped with its replay time; each channel's result per alert."""
    deliveries: list[Delivery] = []
    for ts_ms, notice in sent:
        stamp = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        deliveries += notifier.send(f"[demo {stamp}] {notice.title}", notice.body)
    return deliveries
