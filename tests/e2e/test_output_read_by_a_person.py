"""What a person reads: words spelled out, help without noise, a report whose tables fit.

The report is opened in a real browser (Debian chromium through Playwright) at a narrow
window, and every table must end inside the page.
"""

from __future__ import annotations

import re
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import pytest

from perphedge.cli.app import main
from perphedge.reporting.html_report import write_report
from tests.unit.test_backtest_view import synthetic_result

CHROMIUM = Path("/usr/bin/chromium")


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code: object = 0
    try:
        main(list(argv))
    except SystemExit as done:  # --version exits; --help returns
        code = done.code
    assert code in (0, None)
    return capsys.readouterr().out


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _out(capsys, "--version").strip() == f"perphedge {version('perphedge')}"


def test_help_shows_no_type_on_flags_and_keeps_bracketed_words(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    text = _out(capsys, "status", "--help")
    assert "<bool>" not in text
    assert "[store] url" in text
    assert re.search(r"--db\s+TEXT", text)  # options that take a value keep their type


@pytest.mark.parametrize(("rate", "word"), [("0.0001", "received"), ("-0.0001", "paid"),
                                           ("0", "none")])
def test_the_funding_row_spells_the_direction(
    rate: str, word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["plan", "--asset", "BTC", "--quantity", "1", "--funding-rate", rate])
    row = next(x for x in capsys.readouterr().out.splitlines() if "Funding per day" in x)
    assert f"│ {word}" in row, row
    assert "payd" not in row
    assert "noned" not in row


def test_a_reserve_backtest_states_its_starting_reserve(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["backtest", "--asset", "BTC", "--quantity", "1", "--start", "2024-01-01", "--end",
          "2024-01-15", "--policy", "reserve", "--reserve", "5000"])
    out = capsys.readouterr().out
    assert re.search(r"Reserve set aside at start\s*│\s*5000\.00 USDT", out), out


def test_no_liquidation_is_not_styled_as_an_alarm(tmp_path: Path) -> None:
    files = write_report(tmp_path / "r.html", [synthetic_result("managed"),
                                               synthetic_result("static", liquidated=True)])
    page = files.html_path.read_text(encoding="utf-8")
    row = re.search(r"<tr><td>Liquidations</td>(.*?)</tr>", page)
    assert row is not None
    cells = re.findall(r"<td( class=\"[^\"]*\")?>(.*?)</td>", row.group(1))
    assert cells[0] == ("", "none")  # plain, not red
    assert "liq" in cells[1][0]  # the liquidation itself is flagged


def test_the_reports_tables_fit_a_narrow_window(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    results = [synthetic_result(p, liquidated=p == "static")
               for p in ("static", "managed", "reserve")]
    files = write_report(tmp_path / "r.html", results, quantity=Decimal(5))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 720, "height": 900})
            page.goto(files.html_path.as_uri())
            overflow = page.evaluate(
                "() => { const edge = document.querySelector('main')"
                ".getBoundingClientRect().right;"
                " return [...document.querySelectorAll('table')]"
                ".map(t => t.getBoundingClientRect().right - edge); }")
        finally:
            browser.close()
    assert overflow
    assert max(overflow) <= 1, overflow
