"""Seams of the bundled history (docs/data.md): stale bars repaired, no basis jump at a stitch."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from perphedge.adapters.marketdata.history import load_history

HOUR = 3_600_000
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_bundled_data.py"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_bundled_data", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_flat_spot_bar_and_the_bar_before_a_spot_outage_are_stale(build: ModuleType) -> None:
    t = ms("2020-12-21T12:00")
    label = "x"
    spot = {t: ((60320, 60772, 59590, 60320), label),          # traded, next bar normal
            t + HOUR: ((60321, 60882, 60200, 60831), label),   # trading stops in this hour
            t + 2 * HOUR: ((60831, 60831, 60831, 60831), label)}  # flat: nothing traded
    perp = {t: ((0, 0, 0, 60373), label), t + HOUR: ((0, 0, 0, 61271), label),
            t + 2 * HOUR: ((0, 0, 0, 61938), label)}
    assert build._stale_spot(spot, perp) == [t + HOUR, t + 2 * HOUR]


def test_a_one_bar_perp_spike_is_an_outlier_and_a_lasting_move_is_not(
        build: ModuleType) -> None:
    t = ms("2024-10-28T20:00")
    spot = {t + k * HOUR: ((0, 0, 0, 254400), "s") for k in range(4)}
    perp = {t: ((0, 0, 0, 254350), "p"), t + HOUR: ((0, 0, 0, 251892), "p"),
            t + 2 * HOUR: ((0, 0, 0, 254340), "p"), t + 3 * HOUR: ((0, 0, 0, 254345), "p")}
    assert build._perp_outliers(spot, perp, HOUR) == [t + HOUR]
    lasting = {**perp, t + 2 * HOUR: ((0, 0, 0, 251900), "p")}
    assert build._perp_outliers(spot, lasting, HOUR) == []


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_the_binance_spot_outage_of_2020_12_21_leaves_no_basis_jump(asset: str) -> None:
    # Before: spot froze at the halt (ETH 608.31 while the perp traded 619.38) and the
    # perpetual stood in for the missing hours unscaled: the basis jumped 0.6 % and back.
    h = load_history(asset, start_ms=ms("2020-12-21T10:00"), end_ms=ms("2020-12-21T20:00"))
    basis = h.perp_close / h.spot_close - 1
    assert np.all(np.abs(np.diff(basis)) < 0.002)
    assert 608.31 not in h.spot_close[2:6].tolist()


@pytest.mark.parametrize("asset", ["BTC", "ETH"])
def test_the_end_of_the_2020_perpetual_bars_is_no_basis_jump(asset: str) -> None:
    # Before: ETH switched from the real perpetual to spot at 2020-12-30 01:00 (-0.46 ..
    # -0.66 % for a hedge); now the stand-in carries the last real basis on.
    h = load_history(asset, start_ms=ms("2020-12-29T20:00"), end_ms=ms("2020-12-30T06:00"))
    assert h.perp_is_real[0]
    assert not h.perp_is_real[-1]
    basis = h.perp_close / h.spot_close - 1
    assert np.all(np.abs(np.diff(basis)) < 0.001)
