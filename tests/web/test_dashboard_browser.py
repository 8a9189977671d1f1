"""The dashboard in a real headless Chromium: live numbers equal to the API, charts drawn,
pause and resume from the page with the token (refused without), and a phone-sized screen."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, Route, expect
from pydantic import SecretStr

from perphedge.services.hedge_service import HedgeService
from perphedge.services.status_format import money
from perphedge.web.app import create_app
from tests.web.browser import chromium
from tests.web.conftest import TOKEN
from tests.web.hedge_fixture import HOUR, PaperRun, run_cycles
from tests.web.uvicorn_server import uvicorn_on_loopback

CARD_FIELDS = ("runway_pct", "liquidation_price", "spot_quantity", "hedge_quantity", "drift",
               "mark_price", "margin_ratio", "locked_value", "hedged_value", "deviation_pct",
               "effective_locked_price", "funding_total", "fees_total")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def site(app: FastAPI) -> Iterator[str]:
    with uvicorn_on_loopback(app) as url:
        yield url


#: Requests a page tried beyond 127.0.0.1, per page (each test asserts its pages made none).
OUTSIDE: dict[Page, list[str]] = {}


def offline_page(browser: Browser, width: int = 1280, height: int = 900) -> Page:
    """A page whose requests beyond 127.0.0.1 are refused and recorded in :data:`OUTSIDE`."""
    page = browser.new_page(viewport={"width": width, "height": height})
    outside = OUTSIDE.setdefault(page, [])

    def guard(route: Route) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    return page


@pytest.fixture(autouse=True)
def works_offline() -> Iterator[None]:
    """Every page a test opened asked nothing of the internet (plotly, Swagger UI: local)."""
    OUTSIDE.clear()
    yield
    assert {url for urls in OUTSIDE.values() for url in urls} == set()
    for page in OUTSIDE:
        page.close()


def open_page(browser: Browser, url: str, width: int = 1280, height: int = 900) -> Page:
    page = offline_page(browser, width, height)
    page.goto(url + "/")
    expect(page.locator("article.card")).to_have_count(2)
    return page


def test_every_hedge_shows_the_api_numbers_and_its_charts_and_updates_live(
        browser: Browser, site: str, run: PaperRun, tmp_path: Path) -> None:
    page = open_page(browser, site)
    for hedge in httpx.get(f"{site}/api/hedges", timeout=10).json():
        card = page.locator(f"#hedge-{hedge['name']}")
        expect(card.locator("[data-field=state]")).to_have_text(hedge["state"])
        for field in CARD_FIELDS:
            cell = card.locator(f"[data-field={field}]")
            assert Decimal(cell.get_attribute("data-value") or "nan") == Decimal(hedge[field])
        expect(card.locator("[data-field=hedged_value]")).to_have_text(
            money(Decimal(hedge["hedged_value"])))
        for chart in ("value", "price", "costs"):
            drawn = card.locator(f"#chart-{chart}-{hedge['name']} .main-svg .scatterlayer .trace")
            expect(drawn).to_have_count(2)
        expect(card.locator("table.decisions tbody tr").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    # The engine runs another hour: the page shows the new cycle without a reload.
    last_cycle = page.locator("#hedge-btc [data-field=last_cycle_at]")
    before = last_cycle.get_attribute("data-value")
    run.clock.advance_ms(HOUR)
    run.replay.advance(HOUR)
    run_cycles(run, ["btc"], 1)
    after = httpx.get(f"{site}/api/hedges/btc", timeout=10).json()["last_cycle_at"]
    assert after != before
    expect(last_cycle).to_have_attribute("data-value", after, timeout=10_000)
    expect(last_cycle).to_have_text(f"{after[:10]} {after[11:16]} UTC")


def test_pause_and_resume_from_the_page_need_the_token(
        browser: Browser, site: str, service: HedgeService) -> None:
    page = open_page(browser, site)
    pause = page.locator("#hedge-btc button[data-action=pause]")
    pause.click()
    expect(page.locator("#message")).to_have_text("enter the API token first")
    page.fill("#token", "not-the-token")
    page.click("#token-form button")
    pause.click()
    expect(page.locator("#message")).to_contain_text("pause refused (401)")
    assert service.store.hedge_state("btc") == "active"

    page.fill("#token", TOKEN)
    page.click("#token-form button")
    pause.click()
    expect(page.locator("#message")).to_have_text("btc: paused")
    expect(page.locator("#hedge-btc [data-field=state]")).to_have_text("paused")
    assert service.store.hedge_state("btc") == "paused"
    assert page.evaluate("sessionStorage.getItem('perphedge.token')") == TOKEN

    page.locator("#hedge-btc button[data-action=resume]").click()
    expect(page.locator("#hedge-btc [data-field=state]")).to_have_text("active")
    assert service.store.hedge_state("btc") == "active"


def test_on_a_phone_the_cards_fit_without_horizontal_scroll(
        browser: Browser, site: str, tmp_path: Path) -> None:
    page = open_page(browser, site, 390, 844)
    expect(page.locator("#chart-value-btc .main-svg").first).to_be_visible()
    page.wait_for_timeout(300)  # plotly's responsive resize
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for box in (c.bounding_box() for c in page.locator("article.card").all()):
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)


def test_beyond_loopback_the_page_shows_the_hedges_once_the_token_is_given(
        browser: Browser, service: HedgeService) -> None:
    guarded = create_app(service, token=SecretStr(TOKEN), open_reads=False, poll_seconds=1)
    with uvicorn_on_loopback(guarded) as url:
        page = offline_page(browser)
        page.goto(url + "/")
        expect(page.locator("#cards p.empty")).to_contain_text("enter the API token")
        expect(page.locator("#message")).to_contain_text("401")
        assert page.locator("article.card").count() == 0
        page.fill("#token", TOKEN)
        page.click("#token-form button")
        expect(page.locator("article.card")).to_have_count(2)
        expect(page.locator("#chart-value-eth .main-svg").first).to_be_visible()


def test_the_openapi_docs_render_offline(browser: Browser, site: str) -> None:
    page = offline_page(browser)
    page.goto(site + "/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator(".opblock")).to_have_count(7)
