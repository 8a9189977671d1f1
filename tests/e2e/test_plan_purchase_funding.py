"""``plan --purchase`` warns up front what a long hedge paid in funding in history."""

from __future__ import annotations

import json
import re

from tests.conftest import run_cli


def test_a_purchase_plan_warns_with_the_median_and_worst_funding_of_its_horizon() -> None:
    result = run_cli("plan", "--asset", "BTC", "--quantity", "5", "--purchase", "--price",
                     "90000", "--horizon-days", "90", "--json")
    assert result.returncode == 0, result.stderr
    (warning,) = [w for w in json.loads(result.stdout)["warnings"]
                  if w["code"] == "purchase_funding"]
    found = re.search(r"over 90 days .* median ([\d.]+) % .* at worst ([\d.]+) % \(([\d.]+) "
                      r"USDT", warning["message"])
    assert found is not None, warning["message"]
    median, worst, worst_usdt = (float(x) for x in found.groups())
    assert 0 < median < worst
    assert abs(worst_usdt - 450000 * worst / 100) < 1  # of the planned notional


def test_a_holding_plan_has_no_purchase_funding_warning() -> None:
    result = run_cli("plan", "--asset", "BTC", "--quantity", "5", "--price", "90000", "--json")
    assert result.returncode == 0, result.stderr
    codes = [w["code"] for w in json.loads(result.stdout)["warnings"]]
    assert "purchase_funding" not in codes
