"""``/metrics`` parses with prometheus_client's own parser and equals the API's numbers."""

from __future__ import annotations

from decimal import Decimal

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from perphedge.adapters.store.service_records import Heartbeat, ServiceRecords
from perphedge.services.alert_rules import Notice
from perphedge.services.hedge_service import HedgeService

GAUGES = {"perphedge_runway_pct": "runway_pct", "perphedge_margin_ratio": "margin_ratio",
          "perphedge_drift": "drift", "perphedge_spot_quantity": "spot_quantity",
          "perphedge_hedge_quantity": "hedge_quantity",
          "perphedge_funding_total_usdt": "funding_total",
          "perphedge_fees_total_usdt": "fees_total"}


def scrape(app: FastAPI) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = TestClient(app).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_per_hedge_gauges_equal_the_api(app: FastAPI) -> None:
    samples = scrape(app)
    for hedge in TestClient(app).get("/api/hedges").json():
        label = (("hedge", hedge["name"]),)
        for metric, field in GAUGES.items():
            assert samples[metric][label] == float(Decimal(hedge[field])), (metric, hedge["name"])
        state = samples["perphedge_state"][(("hedge", hedge["name"]), ("state", "active"))]
        assert state == 1
        assert samples["perphedge_exchange_errors_total"][label] == 0
        assert samples["perphedge_alerts_total"][(*label, ("source", "engine"))] == 0
        assert samples["perphedge_alerts_total"][(*label, ("source", "notifier"))] == 0
        assert samples["perphedge_last_cycle_timestamp_seconds"][label] > 1.7e9


def test_errors_alerts_heartbeat_and_cycle_durations_are_counted(
        app: FastAPI, service: HedgeService) -> None:
    service.store.record_decision("btc", 1_704_100_000_000, "error", {"error": "timeout"})
    records = ServiceRecords(service.store.engine)  # what `serve` writes, by its own writer
    for n in (1, 2):
        records.record_alert(Notice(f"k{n}", "btc", "event", f"btc: {n}", ""), n, 0)
    records.record_alert(Notice("service:started", None, "event", "started", ""), 3, 0)
    records.beat(Heartbeat("btc", 1_704_067_200_000, "ok", 0, "box/1/ab", ""))
    app.state.metrics.cycle_seconds.labels("btc").observe(0.02)
    app.state.metrics.cycle_seconds.labels("btc").observe(0.3)

    samples = scrape(app)
    assert samples["perphedge_exchange_errors_total"][(("hedge", "btc"),)] == 1
    alerts = samples["perphedge_alerts_total"]
    assert alerts[(("hedge", "btc"), ("source", "notifier"))] == 2
    assert alerts[(("hedge", "eth"), ("source", "notifier"))] == 0
    assert alerts[(("hedge", "btc"), ("source", "engine"))] == 1  # the failed cycle
    assert samples["perphedge_heartbeat_timestamp_seconds"] == {(("hedge", "btc"),): 1_704_067_200}
    assert samples["perphedge_cycle_duration_seconds_count"][(("hedge", "btc"),)] == 2
    assert samples["perphedge_cycle_duration_seconds_bucket"][
        (("hedge", "btc"), ("le", "0.025"))] == 1
