"""``perphedge demo --fast --alerts json://…``: the alerts the service would have sent are
printed and arrive at a loopback webhook; a bad URL is refused before the demo runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.e2e.receivers import webhook

pytestmark = pytest.mark.slow


def test_the_demo_prints_and_sends_its_alerts(tmp_path: Path) -> None:
    with webhook() as (url, inbox):
        done = run_cli("demo", "--fast", "--workdir", str(tmp_path / "demo"), "--alerts", url,
                       timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        out = " ".join(done.stdout.split())
        count = int(out.split("alerts `perphedge serve` would have sent: ")[1].split()[0])
        assert count >= 2
        assert "demo-btc: hedge opened" in out
        assert "demo-btc: acted to save the hedge: sold" in out
        assert f"sent to {url}: {count} of {count}" in out
        titles = inbox.titles()
    assert len(titles) == count
    assert titles[0].startswith("[demo 2023-")
    assert titles[0].endswith("demo-btc: hedge opened")


def test_a_bad_alerts_url_is_refused_before_the_demo_runs(tmp_path: Path) -> None:
    done = run_cli("demo", "--fast", "--workdir", str(tmp_path / "demo"), "--alerts",
                   "nosuchservice://SECRET", timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --alerts: expected a URL Apprise supports")
    assert "SECRET" not in done.stderr
    assert not (tmp_path / "demo").exists()
