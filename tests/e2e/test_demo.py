"""``perphedge demo --fast`` as a new user runs it: the live engine keeps the hedge on the local
exchange through a deposit and a sale, ends without liquidation, writes a report, and its store
holds what the engine did."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import FillRow, FundingRow, MarginMoveRow, SnapshotRow
from perphedge.demo.scenario import default_scenario
from tests.conftest import run_cli

HEDGE = "demo-btc"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("demo")
    done = run_cli("demo", "--fast", "--workdir", str(folder), "--report",
                   str(folder / "out" / "demo.html"), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, folder


def _row(stdout: str, label: str) -> str:
    line = next(x for x in stdout.splitlines() if label in x)
    return line.split("│")[2].strip()


def test_the_summary_shows_both_spot_events_followed_and_no_liquidation(
        demo_run: tuple[str, Path]) -> None:
    stdout, _ = demo_run

    assert "perphedge demo: summary" in stdout
    assert _row(stdout, "Liquidations") == "none"
    assert "+0.5 BTC deposited on spot" in stdout
    assert "-0.8 BTC sold on spot" in stdout
    assert _row(stdout, "Engine cycles") == str(default_scenario(fast=True).cycles)
    # The engine's records and the exchange's ledger agree on the funding received.
    store_funding, ledger_funding = re.findall(r"[\d,]+\.\d\d", _row(stdout, "Funding received"))
    assert store_funding == ledger_funding
    assert Decimal(store_funding.replace(",", "")) > 1000


def test_the_hedged_value_stays_near_the_locked_value(demo_run: tuple[str, Path]) -> None:
    stdout, _ = demo_run
    low, high, _end = (Decimal(x) for x in re.findall(
        r"-?\d+\.\d\d", _row(stdout, "Deviation from locked, before funding")))

    # BTC went 27k → 71k; unhedged, the holding nearly doubled. Hedged, it barely moved.
    assert Decimal(-2) < low <= high < Decimal(2)


def test_the_report_is_written_where_asked_and_its_path_printed(
        demo_run: tuple[str, Path]) -> None:
    stdout, folder = demo_run
    report = folder / "out" / "demo.html"

    assert f"report: {report}" in stdout.replace("\n", "")
    page = report.read_text(encoding="utf-8")
    assert "Orders the engine sent" in page
    assert "ph-demo-btc-1" in page
    assert page.count('class="chart"') == 4


def test_the_store_holds_orders_with_client_ids_fills_funding_and_snapshots(
        demo_run: tuple[str, Path]) -> None:
    _, folder = demo_run
    store = HedgeStore(f"sqlite:///{folder / 'demo.db'}")
    try:
        orders = store.orders(HEDGE)
        with store.session() as s:
            fills = s.scalars(select(FillRow)).all()
            funding = s.scalars(select(FundingRow)).all()
            moves = s.scalars(select(MarginMoveRow)).all()
            snapshots = s.scalars(select(SnapshotRow)).all()
    finally:
        store.close()

    assert orders
    assert all(re.fullmatch(r"ph-demo-btc-\d+", o.client_order_id) for o in orders)
    assert len({o.client_order_id for o in orders}) == len(orders)
    assert len(fills) == sum(1 for o in orders if o.state == "filled")
    assert len(funding) > 100  # three settlements a day for six months
    assert {m.kind for m in moves} >= {"margin_add", "transfer_futures"}
    assert len(snapshots) == default_scenario(fast=True).cycles
    futures = [o for o in orders if o.market == "futures" and o.state == "filled"]
    assert any(o.reduce_only and o.side == "buy" for o in futures)  # the sale was followed


def test_the_config_names_the_key_variables_and_holds_no_key(demo_run: tuple[str, Path]) -> None:
    _, folder = demo_run
    text = (folder / "config.toml").read_text(encoding="utf-8")

    assert 'api_key_env = "PERPHEDGE_DEMO_API_KEY"' in text
    assert not re.search(r"^\s*(api_key|secret|api_secret)\s*=", text, re.MULTILINE)
    assert 'url = "http://127.0.0.1:' in text


def test_a_negative_speed_is_one_line_and_exit_2_before_anything_starts(tmp_path: Path) -> None:
    done = run_cli("demo", "--speed", "-1", "--workdir", str(tmp_path / "never"))

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --speed: expected 0 or more replay ms per wall ms, got -1.0"]
    assert not (tmp_path / "never").exists()
