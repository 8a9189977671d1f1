"""The dashboard at ``/``: Jinja2 pages and fragments, a little JavaScript, plotly charts.

No build step: the page is rendered here; ``static/dashboard.js`` polls the fragments and the
series, draws the charts with the ``plotly.min.js`` that ships inside the plotly package (served
from there, so the page works offline), and sends pause/resume with the token the user typed
(kept in the tab's ``sessionStorage`` only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import SecretStr

from perphedge.services.hedge_history import history_page
from perphedge.services.hedge_models import HedgeView
from perphedge.services.hedge_service import HedgeService
from perphedge.services.hedge_view import iso
from perphedge.services.status_format import funding_text, lot_step, money, percent, quantity, ratio
from perphedge.web.auth import require

HERE = Path(__file__).resolve().parent
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
#: Runway (percent move to liquidation) at which the gauge is full.
RUNWAY_FULL_PCT = 50

templates = Jinja2Templates(directory=HERE / "templates")


def when(iso_time: str | None) -> str:
    """An ISO time as ``2024-01-01 08:00 UTC`` (short enough for a phone's card).

    >>> when("2024-01-01T08:00:00+00:00"), when(None)
    ('2024-01-01 08:00 UTC', '—')
    """
    return f"{iso_time[:10]} {iso_time[11:16]} UTC" if iso_time else "—"


def when_ms(ts_ms: object) -> str:
    """Unix milliseconds as :func:`when` shows them."""
    return when(iso(ts_ms)) if isinstance(ts_ms, int) else "—"


templates.env.filters.update(money=money, percent=percent, ratio=ratio, when=when,
                             when_ms=when_ms)


def card(view: HedgeView) -> dict[str, Any]:
    """What a card shows: the view, its rounded texts and the runway gauge's fill."""
    lot = lot_step(view.asset)
    runway = float(view.runway_pct) if view.runway_pct is not None else 0.0
    return {
        "view": view, "funding": funding_text(view),
        "qty": {k: quantity(getattr(view, k), lot)
                for k in ("spot_quantity", "hedge_quantity", "target_quantity", "drift")},
        "gauge_pct": max(0.0, min(100.0, runway / RUNWAY_FULL_PCT * 100)),
        "gauge_level": "low" if runway < 10 else "mid" if runway < 25 else "ok",
    }


def dashboard_router(service: HedgeService, token: SecretStr | None, *, open_reads: bool,
                     poll_seconds: float) -> APIRouter:
    """``/``, its fragments and its static files."""
    router = APIRouter(include_in_schema=False)
    read_guard = require(token, when=not open_reads)

    @router.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        cards = [card(v) for v in service.views()] if open_reads else []
        return templates.TemplateResponse(request, "index.html", {
            "cards": cards, "open_reads": open_reads, "poll_ms": int(poll_seconds * 1000),
            "token_set": token is not None})

    @router.get("/fragments/cards", response_class=HTMLResponse,
                dependencies=[Depends(read_guard)])
    def cards(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "cards.html",
                                           {"cards": [card(v) for v in service.views()]})

    @router.get("/fragments/hedges/{name}/log", response_class=HTMLResponse,
                dependencies=[Depends(read_guard)])
    def decision_log(request: Request, name: str) -> HTMLResponse:
        service.comp.hedge(name)
        page = history_page(service.store, name, 0, 30)
        return templates.TemplateResponse(request, "log.html", {"page": page})

    @router.get("/static/plotly.min.js")
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    @router.get("/static/{filename}")
    def static(filename: str) -> FileResponse:
        if filename not in STATIC:
            raise HTTPException(404, detail=f"no static file {filename!r}")
        return FileResponse(HERE / "static" / filename, media_type=STATIC[filename])

    return router
