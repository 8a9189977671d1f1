"""From cycle reports (and the store's funding rows) to the facts the alert rules judge."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import FundingRow
from perphedge.config.loader import parse_config
from perphedge.engine.loop import CycleReport, ensure_hedge_row
from perphedge.planning.hedge_state import AddMargin, AdjustHedge, SellSpot, Transfer
from perphedge.services.cycle_facts import FactsTracker
from tests.unit.test_policies import short_state

D = Decimal
CONFIG = parse_config({
    "accounts": {"main": {"exchange": "binanceusdm"}},
    "hedges": [{"name": "btc", "account": "main", "asset": "BTC", "kind": "purchase",
                "exposure": {"source": "declared", "quantity": "5"}, "drift_band_pct": "2"}],
})
HEDGE = CONFIG.hedges[0]


def report(ts: int, status: str = "idle", **kw: object) -> CycleReport:
    state = short_state("100000", **kw)  # type: ignore[arg-type]
    return CycleReport("btc", ts, status, state=state,
                       figures={"runway_pct": D("42.0"), "margin_ratio": None})


def test_counters_events_and_funding_from_the_store(tmp_path: Path) -> None:
    store = HedgeStore(f"sqlite:///{tmp_path / 's.db'}")
    try:
        ensure_hedge_row(store, HEDGE, 1)
        for ts in (1, 2, 3):  # paid 50 USDT at each of three settlements
            store.record_funding(FundingRow(hedge_id="btc", symbol="BTCUSDT", ts_ms=ts,
                                            rate=None, amount_usdt=D(-50)))
        tracker = FactsTracker(store, [HEDGE])

        opened = report(10, "acted", hedge="0")
        opened.state = short_state("100000")  # after acting: 5 BTC hedged
        opened.actions = (Transfer(D(250000), "futures"), AdjustHedge(D(-5)))
        first = tracker.after(HEDGE, opened)
        assert first.opened
        assert first.rescues == ()  # funding a new hedge's margin is not a rescue

        saved = report(20, "acted")
        saved.actions = (SellSpot(D("0.123456789")), AddMargin(D("1234.567")))
        second = tracker.after(HEDGE, saved)
        assert not second.opened
        assert second.rescues == ("sold 0.12345679 BTC of spot to fund the margin",
                                  "added 1,234.57 USDT of margin to the position")
        # 50 USDT per 8 h on 500,000 notional: 0.01 % × 1095 = 10.95 %/yr paid.
        assert second.funding_cost_pct_per_year == D("10.95")
        # A purchase: 150 USDT paid of 450,000 locked (5 × 90,000 entry).
        assert second.funding_paid_pct_of_locked is not None
        assert round(second.funding_paid_pct_of_locked, 4) == D("0.0333")

        drifted = [tracker.after(HEDGE, report(30 + i, hedge="4.5")) for i in range(2)]
        assert [f.drifted_cycles for f in drifted] == [1, 2]
        assert drifted[0].drift_pct == D(-10)
        failing = [tracker.after(HEDGE, CycleReport("btc", 40 + i, "error", ["exchange error"]))
                   for i in range(3)]
        assert [f.failing_cycles for f in failing] == [1, 2, 3]
        assert not failing[0].observed
        assert failing[0].runway_pct is None
        assert tracker.after(HEDGE, report(50)).failing_cycles == 0
    finally:
        store.close()
