"""``perphedge backtest`` as a user runs it, on the bundled real BTC history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

BASE = ("backtest", "--asset", "BTC", "--quantity", "5", "--start", "2023-01-01",
        "--end", "2023-07-01", "--leverage", "2")


def _json(*args: str) -> dict[str, object]:
    result = run_cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_static_2x_short_from_2023_is_liquidated_in_the_rally() -> None:
    data = _json("backtest", "--asset", "BTC", "--quantity", "5", "--start", "2023-01-01",
                 "--leverage", "2", "--policy", "static")
    assert data["policy"] == "static"
    assert data["start"] == "2023-01-01T00:00:00Z"
    liquidations = data["liquidations"]
    assert isinstance(liquidations, list)
    assert liquidations, "a 2x static short from 16.5k must be liquidated by BTC's 2023-24 rally"
    first = liquidations[0]
    assert first["time"].endswith("Z")
    assert float(first["price"]) > 16_500 * 1.3
    assert float(first["margin_lost"]) > 0
    for key in ("value_start", "value_end", "value_min", "value_max", "deviation_min_pct",
                "deviation_max_pct", "funding_total", "fees_total", "final_spot_quantity",
                "final_hedge_quantity"):
        assert isinstance(data[key], str), key
    assert isinstance(data["rebalances"], int)


def test_managed_2x_hedge_over_the_same_period_is_never_liquidated() -> None:
    data = _json("backtest", "--asset", "BTC", "--quantity", "5", "--start", "2023-01-01",
                 "--leverage", "2", "--policy", "managed")
    assert data["policy"] == "managed"
    assert data["liquidations"] == []
    assert data["final_spot_quantity"] != "0"


def test_compare_prints_every_policy_and_a_readable_summary(tmp_path: Path) -> None:
    data = _json(*BASE, "--compare")
    results = data["results"]
    assert isinstance(results, list)
    assert [r["policy"] for r in results] == ["static", "managed", "reserve"]
    text = run_cli(*BASE, "--compare", "--report", str(tmp_path / "r.html"))
    assert text.returncode == 0, text.stderr
    for word in ("Hedged value at start", "Unhedged value, min", "Deviation from locked",
                 "Funding received", "Liquidations", "static", "managed", "reserve"):
        assert word in text.stdout, word
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Hedged vs unhedged value" in page
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_monthly_sweep_counts_liquidations_per_policy() -> None:
    data = _json("backtest", "--asset", "BTC", "--quantity", "5", "--start", "2023-01-01",
                 "--end", "2023-12-31", "--horizon-days", "60", "--starts", "monthly",
                 "--compare")
    summary = {s["policy"]: s for s in data["summary"]}
    assert set(summary) == {"static", "managed", "reserve"}
    assert summary["static"]["runs"] == len([r for r in data["rows"]
                                             if r["policy"] == "static"]) > 6
    assert summary["static"]["liquidated"] >= summary["managed"]["liquidated"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--start", "2010-01-01"), "--start"),
        (("--start", "2023-01-01", "--end", "2031-01-01"), "--end"),
        (("--start", "2023-03-01", "--end", "2023-01-01"), "--end"),
        (("--start", "2023-01-01", "--policy", "yolo"), "--policy"),
        (("--start", "01/02/2023"), "--start"),
        (("--start", "2023-01-01", "--leverage", "0"), "--leverage"),
    ],
)
def test_bad_input_is_one_line_naming_the_option_and_exit_2(
    args: tuple[str, ...], option: str
) -> None:
    result = run_cli("backtest", "--asset", "BTC", "--quantity", "5", *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {option}:"), lines[0]
