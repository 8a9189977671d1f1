"""The HTML report is one offline file with four charts; the PNG beside it is a real PNG."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import numpy as np

from perphedge.reporting import extreme_indices
from perphedge.reporting.html_report import CHART_TITLES, render_html, write_report
from tests.unit.test_backtest_view import synthetic_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_is_self_contained_with_plotly_inline_and_all_four_charts(
    tmp_path: Path,
) -> None:
    results = [synthetic_result("static", liquidated=True), synthetic_result("managed")]
    files = write_report(tmp_path / "out.html", results, quantity=Decimal("5"),
                         caveats=["Perpetual bars before 2019-09-08 are spot stand-ins."])
    page = files.html_path.read_text(encoding="utf-8")
    script_sources = re.findall(r"<script[^>]*\bsrc\s*=\s*[\"']?([^\"' >]+)", page, re.I)
    assert script_sources == []
    assert not re.search(r"<link[^>]+href=[\"']?https?://", page, re.I)
    assert "plotly.js v" in page  # the bundle's own banner: the library is inline
    for title in CHART_TITLES:
        assert title in page, title
    assert "BTC hedge backtest: 5 BTC holding, 2023-01-01 to 2023-03-25" in page
    assert "was liquidated on 2023-02-11" in page
    assert "Perpetual bars before 2019-09-08 are spot stand-ins." in page
    assert "spot stands in for the perpetual before 2019-09-08" in page  # result notes
    assert files.html_bytes == files.html_path.stat().st_size


def test_png_of_the_main_chart_is_written_next_to_the_page(tmp_path: Path) -> None:
    files = write_report(tmp_path / "report.html", [synthetic_result(liquidated=True)])
    assert files.png_path == tmp_path / "report.png"
    data = files.png_path.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1100, 550)


def test_long_series_are_thinned_so_the_page_stays_small(tmp_path: Path) -> None:
    small = render_html([synthetic_result(n=2_000)], max_points=500)
    large = render_html([synthetic_result(n=60_000)], max_points=500)
    # Thirty times the bars, nearly the same page: the charts carry about 500 points each.
    assert len(large) < len(small) * 1.1


def test_thinning_keeps_the_extremes_of_every_series() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=100_000)
    b = np.where(rng.random(100_000) < 0.5, np.nan, rng.normal(size=100_000))
    idx = extreme_indices(100_000, [a, b], max_points=1_000)
    assert len(idx) <= 1_000
    assert np.all(np.diff(idx) > 0)
    for values in (a, b):
        assert int(np.nanargmax(values)) in idx
        assert int(np.nanargmin(values)) in idx
    assert idx[0] == 0
    assert idx[-1] == 99_999
    assert extreme_indices(10, [a[:10]], max_points=1_000).tolist() == list(range(10))
