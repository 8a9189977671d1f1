"""The web application factory: API, dashboard and ``/metrics`` over one hedge service.

``perphedge web`` serves it alone over a store; ``perphedge serve --http`` mounts the same app
next to the engine (one call: ``create_app(own_store(service), token=resolve_api_token(),
open_reads=is_loopback(host))``, then run it with uvicorn in serve's event loop).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr

from perphedge.adapters.store.repository import HedgeStore
from perphedge.errors import ExchangeError, InputError, PerphedgeError
from perphedge.services.hedge_service import HedgeService
from perphedge.web.api import api_router
from perphedge.web.auth import require
from perphedge.web.dashboard import dashboard_router
from perphedge.web.metrics import WebMetrics

log = logging.getLogger(__name__)


def own_store(service: HedgeService) -> HedgeService:
    """The same hedges and database through a store object of the web's own.

    A store object queues the engine's audit rows until its next write (so a decision and its
    first order share one commit); a pause from a web thread through the engine's own store
    object would write them early. Next to a running engine, give the app this copy.
    """
    comp = replace(service.comp, store=HedgeStore(service.store.url), _venues={})
    return HedgeService(comp)


def _status_of(err: PerphedgeError) -> int:
    if isinstance(err, InputError):
        return 404 if err.field == "HEDGE" else 400
    if isinstance(err, ExchangeError):
        return 502
    # The hedge is not in a state that allows it (stopped, changed meanwhile): a conflict.
    return 409


def create_app(service: HedgeService, *, token: SecretStr | None, open_reads: bool = True,
               poll_seconds: float = 5.0, cycle_lock: asyncio.Lock | None = None) -> FastAPI:
    """The app over ``service``: reads open when ``open_reads`` (loopback), writes need ``token``.

    Next to a serving engine, ``cycle_lock`` is the lock its cycles hold: a close waits for it.

    The returned app's ``state.metrics`` holds the registry and the cycle histogram that a
    serving engine observes into.
    """
    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from files inside the
    # fastapi-offline package, not from a CDN, so the docs work on a machine with no internet.
    app = FastAPIOffline(title="perphedge", version="1",
                         summary="See and steer running hedges.")
    metrics = WebMetrics(service.store, service.views)
    app.state.metrics = metrics

    @app.exception_handler(PerphedgeError)
    async def perphedge_error(_request: Request, err: PerphedgeError) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=_status_of(err))

    @app.exception_handler(Exception)
    async def bug(_request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error in the web layer")
        return JSONResponse({"error": f"internal error ({type(err).__name__})"}, status_code=500)

    app.include_router(api_router(service, token, open_reads=open_reads, cycle_lock=cycle_lock))
    app.include_router(dashboard_router(service, token, open_reads=open_reads,
                                        poll_seconds=poll_seconds))

    read_guard = require(token, when=not open_reads)

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(read_guard)])
    def scrape() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
