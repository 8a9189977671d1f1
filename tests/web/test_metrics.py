"""``/metrics`` parses with prometheus_client's own parser and equals the API's numbers."""

from __future__ import annotations

from decimal import Decimal

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

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
        assert samples["perphedge_alerts_total"][label] == 0
        assert samples["perphedge_last_cycle_timestamp_seconds"][label] > 1.7e9


def test_errors_alerts_heartbeat_and_cycle_durations_are_counted(
        app: FastAPI, service: HedgeService) -> None:
    service.store.record_decision("btc", 1_704_100_000_000, "error", {"error": "timeout"})
    with service.store.engine.begin() as c:
        c.execute(text("CREATE TABLE alerts (id INTEGER PRIMARY KEY, hedge_id TEXT, ts_ms BIGINT,"
                       " message TEXT)"))
        c.execute(text("INSERT INTO alerts (hedge_id, ts_ms, message) VALUES ('btc', 1, 'a'),"
                       " ('btc', 2, 'b')"))
        c.execute(text("CREATE TABLE heartbeats (id INTEGER PRIMARY KEY, ts_ms BIGINT)"))
        c.execute(text("INSERT INTO heartbeats (ts_ms) VALUES (1704067200000)"))
    app.state.metrics.cycle_seconds.labels("btc").observe(0.02)
    app.state.metrics.cycle_seconds.labels("btc").observe(0.3)

    samples = scrape(app)
    assert samples["perphedge_exchange_errors_total"][(("hedge", "btc"),)] == 1
    assert samples["perphedge_alerts_total"][(("hedge", "btc"),)] == 2
    assert samples["perphedge_alerts_total"][(("hedge", "eth"),)] == 0
    assert samples["perphedge_heartbeat_timestamp_seconds"][()] == 1_704_067_200
    assert samples["perphedge_cycle_duration_seconds_count"][(("hedge", "btc"),)] == 2
    assert samples["perphedge_cycle_duration_seconds_bucket"][
        (("hedge", "btc"), ("le", "0.025"))] == 1
