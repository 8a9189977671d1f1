"""History pages: a policy's alerts come from the audit log when no alerts table exists."""

from __future__ import annotations

from pathlib import Path

from perphedge.services.hedge_history import history_page
from tests.unit.test_accounts import T0, seeded_store


def test_alert_actions_and_failed_cycles_are_alerts_newest_first_and_paged(
        tmp_path: Path) -> None:
    store = seeded_store(tmp_path)
    try:
        store.record_decision("btc", T0 + 10, "decision", {"actions": [
            {"type": "Alert", "code": "reserve_exhausted", "message": "reserve used up"},
            {"type": "AdjustHedge", "delta_qty": "0.1"}]})
        store.record_decision("btc", T0 + 20, "error", {"error": "exchange timed out"})
        store.record_decision("btc", T0 + 30, "decision", {"actions": []})

        page = history_page(store, "btc")
        assert [(a["code"], a["message"]) for a in page.alerts] == [
            ("error", "exchange timed out"), ("reserve_exhausted", "reserve used up")]
        assert [a["code"] for a in history_page(store, "btc", 1, 1).alerts] == [
            "reserve_exhausted"]
        idle = next(d for d in page.decisions if d["ts_ms"] == T0 + 30)
        assert idle["reasons"] == ["nothing to do"]
        acted = next(d for d in page.decisions if d["ts_ms"] == T0 + 10)
        assert acted["reasons"] == ["Alert: code reserve_exhausted, message reserve used up",
                                    "AdjustHedge: delta_qty 0.1"]
    finally:
        store.close()
