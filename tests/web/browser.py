"""Headless Debian Chromium driven by Playwright (never `playwright install`).

When ``/usr/bin/chromium`` is missing the project's own script installs it
(``scripts/install_test_system_deps.sh``, root and apt-get needed), as the PostgreSQL fixture
installs PostgreSQL.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = Path(__file__).resolve().parents[2] / "scripts" / "install_test_system_deps.sh"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def ensure_chromium() -> Path:
    """The system Chromium, installed by the project's script when missing."""
    if not CHROMIUM.exists():
        subprocess.run(["sh", str(INSTALL)], check=False, capture_output=True)
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} not found: run {INSTALL} (Debian package chromium)")
    return CHROMIUM


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for one ``with`` block."""
    path = ensure_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(path), args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
