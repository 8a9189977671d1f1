"""The hedge services over the composition root, with a fake venue and a manual clock."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from perphedge.config.models import PerphedgeConfig
from perphedge.engine.clock import ManualClock
from perphedge.engine.loop import CycleReport
from perphedge.engine.venue import Venue
from perphedge.errors import InputError
from perphedge.services.compose import Composition, compose
from perphedge.services.hedge_service import HedgeService
from tests.unit.test_engine_fake_venue import BTC, T0, FakeVenue

CONFIG = """
[accounts.main]
exchange = "binanceusdm"

[[hedges]]
name = "btc"
account = "main"
asset = "BTC"
exposure = { source = "sum", parts = [{ source = "balance" },
                                      { source = "declared", quantity = "0.5" }] }
decision_interval = "30s"
"""


def service(tmp_path: Path, venue: FakeVenue, *, send: bool = True) -> HedgeService:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")

    def factory(account: str, config: PerphedgeConfig) -> Venue:
        return venue

    comp: Composition = compose(path, f"sqlite:///{tmp_path / 's.db'}", send=send,
                                clock=ManualClock(T0), venue_factory=factory)
    return HedgeService(comp)


def test_run_cycles_on_the_decision_interval_and_status_reports_the_hedge(
    tmp_path: Path,
) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="40000")
    svc = service(tmp_path, venue)
    seen: list[tuple[int, str]] = []

    def on_cycle(n: int, reports: list[CycleReport]) -> None:
        seen.append((n, reports[0].status))

    asyncio.run(svc.run([], cycles=3, on_cycle=on_cycle))

    assert seen == [(1, "acted"), (2, "idle"), (3, "idle")]
    assert svc.comp.clock.now_ms() == T0 + 2 * 30_000  # two waits between three cycles
    assert venue.position_qty() == Decimal("-1.500")  # balance 1 + declared 0.5
    (row,) = svc.status()
    assert Decimal(row["hedge_quantity"]) == Decimal("1.5")
    assert Decimal(row["target_quantity"]) == Decimal("1.5")
    assert row["state"] == "active"
    assert Decimal(row["runway_pct"]) > 0
    assert Decimal(row["margin_ratio"]) > 0
    assert Decimal(row["fees_total"]) == Decimal("30")  # 0.05 % of 60,000


def test_pause_then_resume_and_a_halted_hedge_resumes_by_adopting(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="40000")
    svc = service(tmp_path, venue)
    assert svc.pause("btc") == "paused"
    assert svc.resume("btc") == "active"
    svc.store.set_hedge_state("btc", "halted", T0)
    assert svc.resume("btc") == "adopting"
    kinds = [d.kind for d in svc.store.decisions("btc")]
    assert kinds[:3] == ["resume", "resume", "pause"]


def test_an_unknown_hedge_names_the_configured_ones(tmp_path: Path) -> None:
    svc = service(tmp_path, FakeVenue.with_funds())
    with pytest.raises(InputError, match=r"HEDGE: expected a hedge from the config \(btc\)"):
        asyncio.run(svc.open("eth"))


def test_history_lists_orders_decisions_and_margin_moves(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="40000")
    svc = service(tmp_path, venue)
    asyncio.run(svc.open("btc"))

    history = svc.history("btc")

    assert [o["client_order_id"] for o in history["orders"]] == ["ph-btc-1"]
    assert history["orders"][0]["state"] == "filled"
    assert [m["kind"] for m in history["margin_moves"]] == ["transfer_futures"]
    assert {d["kind"] for d in history["decisions"]} == {"decision", "result"}
    assert venue.account.position(BTC).qty_base == Decimal("-1.500")
