"""The REST API over a store the real engine filled: reads, paging, auth, and the controls."""

from __future__ import annotations

from decimal import Decimal

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from perphedge.adapters.store.lease import LeaseOwner, LeaseStore
from perphedge.adapters.store.service_records import ServiceRecords
from perphedge.services.alert_rules import Notice
from perphedge.services.hedge_service import HedgeService
from perphedge.web.app import create_app, own_store
from tests.web.conftest import TOKEN
from tests.web.hedge_fixture import HOUR, PaperRun, run_cycles
from tests.web.uvicorn_server import uvicorn_on_loopback

AUTH = {"Authorization": f"Bearer {TOKEN}"}
FIELDS = ("name", "asset", "state", "spot_quantity", "hedge_quantity", "drift", "mark_price",
          "liquidation_price", "runway_pct", "margin_ratio", "locked_value", "hedged_value",
          "deviation_pct", "unrealized_pnl", "funding_total", "fees_total",
          "effective_locked_price", "last_cycle_at", "lease_holder")


def test_hedges_list_every_hedge_with_the_listed_fields_equal_to_status(
        app: FastAPI, service: HedgeService) -> None:
    client = TestClient(app)
    hedges = client.get("/api/hedges").json()
    assert [h["name"] for h in hedges] == ["btc", "eth"]
    for h in hedges:
        assert set(FIELDS) <= set(h), set(FIELDS) - set(h)
        for key in FIELDS[:-1]:
            assert h[key] is not None, key
    assert hedges == service.status()  # status --json prints the same model
    one = client.get("/api/hedges/btc").json()
    assert one == hedges[0]
    assert Decimal(one["hedge_quantity"]) == Decimal("1.5")
    missing = client.get("/api/hedges/doge")
    assert missing.status_code == 404
    assert "expected a hedge from the config (btc, eth)" in missing.json()["error"]


def test_history_is_paged_and_lists_the_alerts_serve_sent(
        app: FastAPI, run: PaperRun) -> None:
    client = TestClient(app)
    first = client.get("/api/hedges/btc/history", params={"limit": 3}).json()
    second = client.get("/api/hedges/btc/history", params={"limit": 3, "offset": 3}).json()
    assert len(first["decisions"]) == 3
    assert len(second["decisions"]) == 3
    assert {d["id"] for d in first["decisions"]}.isdisjoint(d["id"] for d in second["decisions"])
    assert first["decisions"][-1]["ts_ms"] >= second["decisions"][0]["ts_ms"]
    assert [d["ts_ms"] for d in first["decisions"]] == sorted(
        (d["ts_ms"] for d in first["decisions"]), reverse=True)
    for listed in ("fills", "funding", "margin_moves", "orders"):
        assert first[listed], listed
    assert first["alerts"] == []  # the engine raised none and no `serve` sent any
    assert client.get("/api/hedges/btc/history", params={"limit": 0}).status_code == 422

    # What `serve` sent is listed, from its `alerts` rows, written by its own writer.
    service = run.service()
    records = ServiceRecords(service.store.engine)
    records.record_alert(Notice("runway:btc", "btc", "fire", "btc: runway below 15.00 %",
                                "runway 12.1 %"), 1_704_200_000_000, 0)
    records.record_alert(Notice("x", "eth", "event", "eth: hedge opened", ""), 2, 0)
    records.record_alert(Notice("service:started", None, "event", "perphedge serve started",
                                ""), 3, 0)
    service.comp.close()
    (alert,) = client.get("/api/hedges/btc/history").json()["alerts"]
    assert (alert["code"], alert["message"], alert["source"]) == (
        "fire", "btc: runway below 15.00 %", "notifier")
    assert alert["time"].startswith("2024-01-02T")


def test_the_lease_holder_is_the_process_holding_the_accounts_run_lease(
        app: FastAPI, run: PaperRun) -> None:
    client = TestClient(app)
    assert client.get("/api/hedges/btc").json()["lease_holder"] is None
    leases = LeaseStore(run.service().store.engine)
    owner = LeaseOwner("box", 4242, "abcd")
    now = run.clock.now_ms()
    leases.acquire("account:paper", owner, now, 60_000)
    assert client.get("/api/hedges/btc").json()["lease_holder"] == "box/4242/abcd"
    assert client.get("/api/hedges/eth").json()["lease_holder"] == "box/4242/abcd"
    leases.release("account:paper", owner)
    assert client.get("/api/hedges/btc").json()["lease_holder"] is None
    leases.acquire("account:paper", owner, now - 120_000, 60_000)  # its holder died
    assert client.get("/api/hedges/btc").json()["lease_holder"] is None


def test_series_has_one_point_per_snapshot_with_values_and_costs(app: FastAPI) -> None:
    points = TestClient(app).get("/api/hedges/btc/series").json()["points"]
    assert len(points) == 8
    last = points[-1]
    hedge = TestClient(app).get("/api/hedges/btc").json()
    assert last["hedged_value"] == hedge["hedged_value"]
    assert last["funding_cumulative"] == hedge["funding_total"]
    assert Decimal(last["unhedged_value"]) == Decimal("1.5") * Decimal(last["mark_price"])
    window = TestClient(app).get("/api/hedges/btc/series",
                                 params={"from": "2024-01-01T03:00", "to": "2024-01-01T05:00"})
    assert [p["time"][11:16] for p in window.json()["points"]] == ["03:00", "04:00", "05:00"]
    bad = TestClient(app).get("/api/hedges/btc/series", params={"from": "yesterday-ish"})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("from: expected a UTC date or time such as ")
    assert "'yesterday-ish'" in bad.json()["error"]


def test_pause_and_resume_need_the_bearer_token_and_change_the_store(
        app: FastAPI, service: HedgeService) -> None:
    client = TestClient(app)
    assert client.post("/api/hedges/btc/pause").status_code == 401
    wrong = client.post("/api/hedges/btc/pause", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert service.store.hedge_state("btc") == "active"

    answer = client.post("/api/hedges/btc/pause", headers=AUTH)
    assert answer.status_code == 200
    assert answer.json() == {"hedge": "btc", "state": "paused"}
    assert service.store.hedge_state("btc") == "paused"
    assert client.post("/api/hedges/btc/resume", headers=AUTH).json()["state"] == "active"
    assert service.store.hedge_state("btc") == "active"


def test_close_is_a_dry_run_listing_the_orders_and_sends_only_with_confirm(
        app: FastAPI, run: PaperRun) -> None:
    client = TestClient(app)
    assert client.post("/api/hedges/btc/close").status_code == 401
    dry = client.post("/api/hedges/btc/close", headers=AUTH)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["sent"] is False
    (order,) = body["orders"]
    assert order.startswith("futures market BUY 1.5 BTCUSDT reduce-only (client id ph-btc-")
    position = run.venue.exchange.account.position("BTCUSDT").qty_base
    assert position == Decimal("-1.5")  # nothing sent

    sent = client.post("/api/hedges/btc/close", headers=AUTH, params={"confirm": "true"}).json()
    assert sent["sent"] is True
    assert run.venue.exchange.account.position("BTCUSDT").qty_base == 0
    assert client.get("/api/hedges/btc").json()["state"] == "closed"


def test_a_confirmed_close_is_a_conflict_while_another_process_runs_the_account(
        app: FastAPI, run: PaperRun) -> None:
    client = TestClient(app)
    leases = LeaseStore(run.service().store.engine)
    owner = LeaseOwner("box", 4242, "abcd")
    leases.acquire("account:paper", owner, run.clock.now_ms(), 60_000)

    refused = client.post("/api/hedges/btc/close", headers=AUTH, params={"confirm": "true"})

    assert refused.status_code == 409, refused.text
    assert "account paper is already run by another perphedge process" in refused.json()["error"]
    assert "pid 4242" in refused.json()["error"]
    assert run.venue.exchange.account.position("BTCUSDT").qty_base == Decimal("-1.5")
    assert client.post("/api/hedges/btc/close", headers=AUTH).status_code == 200  # a dry run
    leases.release("account:paper", owner)
    sent = client.post("/api/hedges/btc/close", headers=AUTH, params={"confirm": "true"})
    assert sent.json()["sent"] is True
    assert run.venue.exchange.account.position("BTCUSDT").qty_base == 0
    assert LeaseStore(run.service().store.engine).current("account:paper") is None  # given back


def test_reads_need_the_token_when_not_on_loopback(service: HedgeService) -> None:
    client = TestClient(create_app(service, token=SecretStr(TOKEN), open_reads=False))
    for path in ("/api/hedges", "/api/hedges/btc/series", "/metrics", "/fragments/cards"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=AUTH).status_code == 200, path
    page = client.get("/").text  # the page itself holds no numbers until the token is given
    assert "enter the API token to see the hedges" in page
    assert 'class="card"' not in page


def test_the_openapi_docs_list_every_route(app: FastAPI) -> None:
    client = TestClient(app)
    assert client.get("/docs").status_code == 200
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert document["paths"]["/api/hedges/{name}/pause"]["post"]["security"] == [
        {"HTTPBearer": []}]
    paths = set(document["paths"])
    assert {"/api/hedges", "/api/hedges/{name}", "/api/hedges/{name}/history",
            "/api/hedges/{name}/series", "/api/hedges/{name}/pause",
            "/api/hedges/{name}/resume", "/api/hedges/{name}/close"} <= paths


def test_a_real_uvicorn_server_on_loopback_serves_reads_and_guards_writes(
        app: FastAPI, service: HedgeService) -> None:
    with uvicorn_on_loopback(app) as url:
        hedges = httpx.get(f"{url}/api/hedges", timeout=10).json()
        assert [h["name"] for h in hedges] == ["btc", "eth"]
        assert httpx.post(f"{url}/api/hedges/eth/pause", timeout=10).status_code == 401
        answer = httpx.post(f"{url}/api/hedges/eth/pause", headers=AUTH, timeout=10)
        assert answer.json()["state"] == "paused"
        assert service.store.hedge_state("eth") == "paused"


def test_a_refused_cycle_is_an_alert_and_counted(app: FastAPI, run: PaperRun) -> None:
    run.venue.hedge_mode = True  # Binance hedge mode: the engine refuses and halts the hedge
    run.clock.advance_ms(HOUR)
    run_cycles(run, ["eth"], 1)
    client = TestClient(app)
    (alert,) = client.get("/api/hedges/eth/history").json()["alerts"]
    assert alert["code"] == "refused"
    assert "hedge mode" in alert["message"]
    assert client.get("/api/hedges/btc/history").json()["alerts"] == []
    assert client.get("/api/hedges/eth").json()["state"] == "halted"
    assert 'perphedge_alerts_total{hedge="eth",source="engine"} 1.0' in client.get("/metrics").text
    # Resuming a halted hedge adopts what the exchange shows (the service decides).
    resumed = client.post("/api/hedges/eth/resume", headers=AUTH).json()
    assert resumed == {"hedge": "eth", "state": "adopting"}


def test_next_to_an_engine_the_app_gets_a_store_object_of_its_own(service: HedgeService) -> None:
    web = own_store(service)
    try:
        assert web.store is not service.store
        assert web.store.url == service.store.url
        assert web.comp.config is service.comp.config
        assert [v.name for v in web.views()] == ["btc", "eth"]
    finally:
        web.comp.close()
