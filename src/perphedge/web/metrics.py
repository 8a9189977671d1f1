"""``/metrics`` for Prometheus: per-hedge gauges read from the store at each scrape.

A custom collector (prometheus_client's ``Collector``) reads the store when scraped, so
``perphedge web`` alone, with no engine in the process, serves true numbers; the cycle-duration
histogram is the one in-process metric (``perphedge serve`` observes each cycle into
:attr:`WebMetrics.cycle_seconds`). Names carry units; labels are the hedge only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import DecisionRow
from perphedge.services.hedge_history import audit_alerts
from perphedge.services.hedge_models import HedgeView
from perphedge.services.hedge_read import heartbeats_ms, sent_alert_counts

#: Hedge states as numbers for ``perphedge_state`` (the label ``state`` names it too).
STATE_CODES = {"active": 1, "adopting": 2, "paused": 3, "halted": 4, "closed": 5, "new": 0}
_GAUGES = (
    ("runway_pct", "runway_pct", "Percent move of the mark to the liquidation price"),
    ("margin_ratio", "margin_ratio", "Maintenance margin over margin balance (1: liquidation)"),
    ("drift", "drift", "Hedge quantity minus target quantity, in the asset"),
    ("spot_quantity", "spot_quantity", "Spot quantity held, in the asset"),
    ("hedge_quantity", "hedge_quantity", "Hedge (perpetual) quantity, in the asset"),
    ("funding_total_usdt", "funding_total", "Net funding received (negative: paid), USDT"),
    ("fees_total_usdt", "fees_total", "Fees paid, USDT"),
    ("locked_value_usdt", "locked_value", "Hedge size times average entry, USDT"),
    ("hedged_value_usdt", "hedged_value", "Value of the hedged position now, USDT"),
    ("effective_locked_price_usdt", "effective_locked_price",
     "Price per unit locked after funding and fees, USDT"),
)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


class StoreCollector(Collector):
    """Per-hedge gauges and the store's counters, read at each scrape."""

    def __init__(self, store: HedgeStore, views: Callable[[], Sequence[HedgeView]]) -> None:
        self.store = store
        self.views = views

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        views = list(self.views())
        for suffix, field, doc in _GAUGES:
            family = GaugeMetricFamily(f"perphedge_{suffix}", doc, labels=["hedge"])
            for view in views:
                value = _float(getattr(view, field))
                if value is not None:
                    family.add_metric([view.name], value)
            yield family
        state = GaugeMetricFamily("perphedge_state", "Hedge state: " + ", ".join(
            f"{k}={v}" for k, v in STATE_CODES.items()), labels=["hedge", "state"])
        for view in views:
            state.add_metric([view.name, view.state], STATE_CODES.get(view.state, -1))
        yield state
        yield from self._counters([v.name for v in views])

    def _counters(self, names: list[str]) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        errors = CounterMetricFamily("perphedge_exchange_errors",
                                     "Cycles stopped by an exchange error", labels=["hedge"])
        alerts = CounterMetricFamily(
            "perphedge_alerts", "Alerts: raised by the engine (audit log) or sent by serve",
            labels=["hedge", "source"])
        last = GaugeMetricFamily("perphedge_last_cycle_timestamp_seconds",
                                 "Time of the hedge's last cycle, Unix seconds", labels=["hedge"])
        heartbeat = GaugeMetricFamily("perphedge_heartbeat_timestamp_seconds",
                                      "Last heartbeat perphedge serve wrote, Unix seconds",
                                      labels=["hedge"])
        with self.store.session() as s:
            rows = s.execute(select(DecisionRow.hedge_id, DecisionRow.kind, func.count(),
                                    func.max(DecisionRow.ts_ms))
                             .where(DecisionRow.hedge_id.in_(names))
                             .group_by(DecisionRow.hedge_id, DecisionRow.kind)).all()
        counts = {(h, k): (n, ts) for h, k, n, ts in rows}
        sent = sent_alert_counts(self.store)
        beats = heartbeats_ms(self.store)
        for name in names:
            errors.add_metric([name], counts.get((name, "error"), (0, 0))[0])
            alerts.add_metric([name, "engine"],
                              len(audit_alerts(self.store, name, 0, 1_000_000)))
            alerts.add_metric([name, "notifier"], sent.get(name, 0))
            result = counts.get((name, "result"))
            if result is not None:
                last.add_metric([name], result[1] / 1000)
            if name in beats:
                heartbeat.add_metric([name], beats[name] / 1000)
        yield from (errors, alerts, last, heartbeat)


class WebMetrics:
    """The registry served at ``/metrics``: the store collector and the cycle histogram."""

    def __init__(self, store: HedgeStore, views: Callable[[], Sequence[HedgeView]]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(store, views))
        self.cycle_seconds = Histogram(
            "perphedge_cycle_duration_seconds", "Wall time of one engine cycle",
            labelnames=["hedge"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
