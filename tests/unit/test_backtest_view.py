"""The backtest summary as plain data: JSON shape, decimal strings, ISO times, the verdict."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import numpy as np

from perphedge.backtest.result import (
    ActionEvent,
    BacktestResult,
    BacktestSeries,
    LiquidationEvent,
)
from perphedge.services.backtest_view import (
    compare_to_dict,
    iso,
    result_to_dict,
    verdict,
    worst_deviation_pct,
)

HOUR_MS = 3_600_000
START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
DECIMAL_STRING = re.compile(r"^-?\d+(\.\d+)?$")


def synthetic_result(
    policy: str = "static", *, n: int = 2_000, liquidated: bool = False, seed: int = 7
) -> BacktestResult:
    """A run built from a seeded random walk: the shape the engine returns, numbers made up."""
    rng = np.random.default_rng(seed)
    ts = START_MS + np.arange(n, dtype=np.int64) * HOUR_MS
    price = 16_500.0 * np.exp(np.cumsum(rng.normal(0.0004, 0.006, n)))
    unhedged = 5.0 * price
    locked = np.full(n, unhedged[0])
    hedged = locked + rng.normal(0.0, 150.0, n)
    liq_price = np.where(np.arange(n) < n // 2, price[0] * 1.5, np.nan)
    leverage = np.where(np.isnan(liq_price), np.nan, 2.0 * price / price[0])
    series = BacktestSeries(
        ts_ms=ts, price=price, mark=price * 1.0002, hedged_value=hedged,
        unhedged_value=unhedged, locked_value=locked, liquidation_price=liq_price,
        funding_cum=np.cumsum(rng.normal(0.5, 1.0, n)), fees_cum=np.linspace(41.25, 80.0, n),
        effective_leverage=leverage, spot_qty=np.full(n, 5.0), hedge_qty=np.full(n, -5.0),
    )
    liquidations = (
        (LiquidationEvent(int(ts[n // 2]), Decimal("24749.1"), Decimal("41250.005")),)
        if liquidated else ()
    )
    actions = (
        ActionEvent(int(ts[0]), "open", Decimal("-5"), Decimal("41250"), Decimal("16500")),
        ActionEvent(int(ts[100]), "margin_add", Decimal("0"), Decimal("5000"),
                    Decimal("19000"), "top up from reserve"),
    )
    return BacktestResult(
        asset="BTC", policy=policy, leverage=Decimal("2"), purchase=False,
        start_ms=int(ts[0]), end_ms=int(ts[-1]) + HOUR_MS,
        value_start=Decimal("82500.004"), value_end=Decimal("82411.2"),
        value_min=Decimal("81000"), value_max=Decimal("83000.5"),
        unhedged_start=Decimal("82500"), unhedged_end=Decimal("120000"),
        unhedged_min=Decimal("80000"), unhedged_max=Decimal("125000"),
        deviation_min_pct=Decimal("-1.8349"), deviation_max_pct=Decimal("0.6"),
        deviation_min_with_funding_pct=Decimal("-1.5"),
        deviation_max_with_funding_pct=Decimal("0.9"),
        funding_received=Decimal("1200.129"), funding_paid=Decimal("300"),
        fees_total=Decimal("80"), rebalances=3, margin_moves=1,
        final_spot_qty=Decimal("5"), final_hedge_qty=Decimal("0") if liquidated
        else Decimal("-5.000"),
        liquidations=liquidations, actions=actions, series=series,
        notes=("spot stands in for the perpetual before 2019-09-08",),
    )


def test_summary_has_every_documented_key_with_money_as_cent_strings() -> None:
    data = result_to_dict(synthetic_result(liquidated=True), quantity=Decimal("5"))
    for key in ("policy", "leverage", "start", "end", "liquidations", "value_start",
                "value_end", "value_min", "value_max", "deviation_min_pct",
                "deviation_max_pct", "funding_total", "fees_total", "rebalances",
                "final_spot_quantity", "final_hedge_quantity"):
        assert key in data, key
    assert data["value_start"] == "82500.00"
    assert data["funding_total"] == "900.13"
    assert data["funding_received"] == "1200.13"
    assert data["deviation_min_pct"] == "-1.83"
    assert data["final_hedge_quantity"] == "0"
    assert data["leverage"] == "2"
    assert data["quantity"] == "5"
    for key in ("value_start", "value_end", "value_min", "value_max", "funding_total",
                "fees_total", "deviation_min_pct", "deviation_max_pct"):
        assert isinstance(data[key], str)
        assert DECIMAL_STRING.match(data[key]), (key, data[key])


def test_liquidations_carry_iso_time_price_and_margin_lost() -> None:
    result = synthetic_result(liquidated=True)
    (liq,) = result_to_dict(result)["liquidations"]
    assert liq == {
        "time": iso(result.liquidations[0].ts_ms),
        "price": "24749.10",
        "margin_lost": "41250.00",
    }
    assert liq["time"].endswith("Z")
    assert result_to_dict(result)["start"] == "2023-01-01T00:00:00Z"


def test_summary_is_json_serialisable_and_actions_are_opt_in() -> None:
    result = synthetic_result()
    assert "actions" not in result_to_dict(result)
    with_log = result_to_dict(result, with_actions=True)
    assert [a["kind"] for a in with_log["actions"]] == ["open", "margin_add"]
    assert with_log["actions"][1]["amount"] == "5000.00"
    json.dumps(with_log)


def test_compare_wraps_every_policy_in_results() -> None:
    data = compare_to_dict([synthetic_result("static", liquidated=True),
                            synthetic_result("managed")])
    assert [r["policy"] for r in data["results"]] == ["static", "managed"]
    assert data["results"][0]["liquidated"] is True
    assert data["results"][1]["liquidations"] == []


def test_verdict_names_the_liquidation_and_the_band_of_the_survivor() -> None:
    text = verdict([synthetic_result("static", liquidated=True), synthetic_result("managed")])
    # Bar 1000 of hourly bars from 2023-01-01 is on 2023-02-11.
    assert "The 2x static short was liquidated on 2023-02-11 at 24749.10 USDT" in text
    assert "The 2x managed short held, staying within 1.83 % of the locked value" in text
    assert worst_deviation_pct(synthetic_result()) == Decimal("1.8349")


def test_sweep_summary_counts_liquidated_runs_and_keeps_the_worst_start() -> None:
    from perphedge.services.backtest_service import (
        Sweep,
        SweepRow,
        monthly_starts,
        summarise,
    )
    from perphedge.services.backtest_view import sweep_to_dict

    starts = monthly_starts(START_MS, START_MS + 100 * 24 * HOUR_MS)
    assert [iso(s)[:10] for s in starts] == ["2023-01-01", "2023-02-01", "2023-03-01",
                                             "2023-04-01"]
    rows = [
        SweepRow("static", starts[0], starts[1], starts[0] + HOUR_MS, Decimal("80.5"),
                 Decimal("10.005"), Decimal("41.3")),
        SweepRow("static", starts[1], starts[2], None, Decimal("0.03"), Decimal("-2"),
                 Decimal("41.3")),
        SweepRow("managed", starts[0], starts[1], None, Decimal("0.2"), Decimal("12"),
                 Decimal("100")),
    ]
    sweep = Sweep("BTC", Decimal(5), Decimal(2), 30, tuple(rows),
                  summarise(rows, ("static", "managed", "reserve")), ("a source",))
    data = sweep_to_dict(sweep)
    static, managed = data["summary"]
    assert static == {"policy": "static", "runs": 2, "liquidated": 1,
                      "worst_deviation_pct": "80.5", "worst_start": "2023-01-01T00:00:00Z",
                      "funding_total": "8.00", "fees_total": "82.60"}
    assert managed["liquidated"] == 0
    assert data["rows"][0]["liquidated"] == "2023-01-01T01:00:00Z"
    assert data["rows"][1]["liquidated"] is None
    json.dumps(data)


def test_monthly_starts_keep_the_day_and_move_late_days_to_the_28th() -> None:
    from perphedge.parse import parse_time_ms as parse_date
    from perphedge.services.backtest_service import monthly_starts

    starts = monthly_starts(parse_date("2023-01-31", "--start"), parse_date("2023-04-30", "x"))
    assert [iso(s)[:10] for s in starts] == ["2023-01-31", "2023-02-28", "2023-03-28",
                                             "2023-04-28"]
