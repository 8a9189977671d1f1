"""Carry on one real day of the bundled data, recomputed by hand: BTC at the 2026-03-19 close.

Inputs (bundled; the day's bar closes 2026-03-20 00:00 UTC, the carry instant):

* spot (Binance BTCUSDT daily close, from the quarterly source): 69,930.0
* BTCUSDT_260327 close 69,985.1, delivery 2026-03-27 08:00 UTC → 7 d 8 h = 22/3 days
* BTCUSDT_260626 close 70,360.5, delivery 2026-06-26 08:00 UTC → 98 d 8 h = 295/3 days
* BTCUSDT funding, the 90 settlements in (2026-02-18 00:00, 2026-03-20 00:00]: sum −0.00054547
  (checked below against the second source, gravestone-data, in ``shared/data``)
* taker fee 0.05 % (Binance USDⓈ-M standard), two fills per round trip

Arithmetic (carry for a short hedge, per year, positive = the hedger earns):

* perpetual, 30-day mean: −0.00054547 / 90 × 3 × 365 = −0.00054547 × 12.1666… = −0.66366 %;
  fees over 90 days: 2 × 0.0005 × 365 / 90 = 0.40556 %; short −1.06921 %, long +0.25810 %
* 260626: basis 430.5 / 69,930 = 0.615616 %; × 365 / (295/3) = 2.28508 %;
  fees 2 × 0.0005 × 365 / (295/3) = 1.095 / 295 = 0.37119 %; short +1.91390 %, long −2.65627 %
* 260327: basis 55.1 / 69,930 = 0.078793 %; × 365 / (22/3) = 3.92175 %;
  fees 1.095 / 22 = 4.97727 %; short −1.05553 %, long −8.89902 %

A short hedge is cheapest in 260626: 1.91390 − (−1.06921) = 2.98311 %/yr better than the
perpetual.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from perphedge.adapters.marketdata.bundled_futures import (
    BundledCarrySource,
    bundled_delivery_instruments,
    bundled_quarterlies,
)
from perphedge.domain.types import ContractKind, Side
from perphedge.errors import InputError
from perphedge.services.carry_service import CarryOptions, CarryReport, compare_carry

TOL = Decimal("1e-9")
AS_OF_MS = 1_773_964_800_000  # 2026-03-20T00:00:00Z


@pytest.fixture(scope="module")
def report() -> CarryReport:
    return compare_carry(CarryOptions(asset="BTC", as_of=date(2026, 3, 19)), BundledCarrySource())


def _close(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) < TOL


def test_the_day_reads_the_real_closes(report: CarryReport) -> None:
    m = report.market
    assert m.as_of_ms == AS_OF_MS
    assert m.spot_price == Decimal("69930.0")
    assert [(d.symbol, d.price) for d in m.deliveries] == [
        ("BTCUSDT_260327", Decimal("69985.1")), ("BTCUSDT_260626", Decimal("70360.5"))]
    assert [r.days_to_expiry for r in report.rows[1:]] == [
        Decimal(22) / 3, Decimal(295) / 3]


def test_perpetual_carry_matches_the_hand_arithmetic(report: CarryReport) -> None:
    thirty = next(a for a in report.funding if a.label == "30d")
    assert thirty.settlements == 90
    assert thirty.rate_per_interval * 90 == Decimal("-0.00054547")
    perp = report.rows[0].quote
    fees = Decimal(2) * Decimal("0.0005") * 365 / 90
    assert _close(perp.fee_drag_per_year, fees)
    assert _close(perp.carry(Side.SHORT), Decimal("-0.00054547") * 1095 / 90 - fees)
    assert _close(perp.carry(Side.LONG), Decimal("0.00054547") * 1095 / 90 - fees)
    assert round(perp.carry(Side.SHORT) * 100, 5) == Decimal("-1.06921")
    assert round(perp.carry(Side.LONG) * 100, 5) == Decimal("0.25810")


def test_quarterly_carry_matches_the_hand_arithmetic(report: CarryReport) -> None:
    q0327, q0626 = (r.quote for r in report.rows[1:])
    assert _close(q0626.paid_by_longs_per_year, Decimal("430.5") * 365 * 3 / (69930 * 295))
    assert _close(q0626.fee_drag_per_year, Decimal("1.095") / 295)
    assert round(q0626.carry(Side.SHORT) * 100, 5) == Decimal("1.91390")
    assert round(q0626.carry(Side.LONG) * 100, 5) == Decimal("-2.65627")
    assert _close(q0327.paid_by_longs_per_year, Decimal("55.1") * 365 * 3 / (69930 * 22))
    assert round(q0327.carry(Side.SHORT) * 100, 5) == Decimal("-1.05553")
    assert round(q0327.carry(Side.LONG) * 100, 5) == Decimal("-8.89902")


def test_recommendations_of_the_day(report: CarryReport) -> None:
    short, long = report.recommendations
    assert (short.side, short.choice.symbol) == (Side.SHORT, "BTCUSDT_260626")
    assert "2.98 %/yr better than BTCUSDT" in short.reason
    assert (long.side, long.choice.symbol) == (Side.LONG, "BTCUSDT")


def test_the_30_day_funding_sum_agrees_with_the_second_source(shared_data: Path) -> None:
    path = shared_data / "funding" / "binance_BTCUSDT_ETHUSDT_funding_8h_2026-01-12_2026-03-20.csv"
    with path.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["symbol"] == "BTCUSDT"]
    window = [Decimal(r["funding_rate"]) for r in rows
              if AS_OF_MS - 30 * 86_400_000 < round(int(r["funding_time_ms"]) / 3.6e6) * 3_600_000
              <= AS_OF_MS]
    assert len(window) == 90
    assert sum(window) == Decimal("-0.00054547")


def test_hysteresis_from_the_perpetual_on_the_real_day() -> None:
    # 260626 beats the perpetual by 2.98 %/yr for a short: a 3 % margin keeps the perpetual.
    kept = compare_carry(CarryOptions(asset="BTC", as_of=date(2026, 3, 19), current="BTCUSDT",
                                      margin_pct=Decimal(3)), BundledCarrySource())
    assert (kept.recommendations[0].choice.symbol, kept.recommendations[0].switch) == (
        "BTCUSDT", False)
    moved = compare_carry(CarryOptions(asset="BTC", as_of=date(2026, 3, 19), current="BTCUSDT",
                                       margin_pct=Decimal("2.9")), BundledCarrySource())
    assert moved.recommendations[0].choice.symbol == "BTCUSDT_260626"
    assert moved.recommendations[0].switch


def test_every_bundled_quarterly_has_its_instrument_row_with_the_same_expiry() -> None:
    specs = {i.symbol: i for i in bundled_delivery_instruments("BTC")}
    closes = bundled_quarterlies("BTC")
    assert {c.symbol for c in closes} == set(specs)
    for c in closes:
        spec = specs[c.symbol]
        assert spec.expiry_ms == c.expiry_ms
        assert spec.kind is ContractKind.DELIVERY
        assert (spec.tick_size, spec.lot_step, spec.min_notional) == (
            Decimal("0.1"), Decimal("0.001"), Decimal(100))
        assert c.open_time_ms < c.expiry_ms


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (CarryOptions(asset="DOGE"), "--asset: expected one of BTC, ETH"),
        (CarryOptions(asset="ETH"), "--asset: expected BTC"),
        (CarryOptions(asset="BTC", as_of=date(2024, 1, 1)),
         "--as-of: expected a date from 2025-09-26"),
        (CarryOptions(asset="BTC", funding_basis="1y"), "--funding-basis: expected one of"),
        (CarryOptions(asset="BTC", horizon_days=0), "--horizon-days"),
        (CarryOptions(asset="BTC", current="XYZ"), "--current: expected one of BTCUSDT"),
    ],
)
def test_bad_input_names_the_option(options: CarryOptions, needle: str) -> None:
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        compare_carry(options, BundledCarrySource())
