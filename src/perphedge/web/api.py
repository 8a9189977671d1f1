"""The REST API under ``/api``: hedges with their accounts, history, series, and the controls.

Reads call the store-only services; pause and resume call the hedge service's own methods (its
compare-and-set state changes); close runs the engine's close, as a dry run unless
``confirm=true``. Every route answers one of the shared pydantic models.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import SecretStr

from perphedge.parse import parse_time_ms
from perphedge.services.hedge_history import MAX_PAGE, history_page
from perphedge.services.hedge_models import CloseAnswer, HedgeView, HistoryPage, Series, StateChange
from perphedge.services.hedge_read import HedgeIdentity, series
from perphedge.services.hedge_service import HedgeService
from perphedge.web.auth import require


def identity(service: HedgeService, name: str) -> HedgeIdentity:
    """The configured hedge ``name`` (an InputError naming the known ones: 404)."""
    hedge = service.comp.hedge(name)
    return HedgeIdentity(hedge.name, hedge.asset, hedge.kind)


def _time_ms(text: str | None, field: str) -> int | None:
    """A ``from``/``to`` query value (ISO 8601, UTC if no zone, or Unix ms); absent or empty:
    no bound."""
    return None if text is None or not text.strip() else parse_time_ms(text, field,
                                                                       epoch_ms=True)


def api_router(service: HedgeService, token: SecretStr | None, *, open_reads: bool,
               cycle_lock: asyncio.Lock | None = None) -> APIRouter:
    """The ``/api`` routes over ``service``; mutations always need the token."""
    read = [Depends(require(token, when=not open_reads))]
    write = [Depends(require(token))]
    router = APIRouter(prefix="/api", tags=["hedges"])
    # Sync routes run in a thread pool; the store queues audit rows per instance, so the
    # state changes that write them go one at a time.
    writing = threading.Lock()

    @router.get("/hedges", dependencies=read)
    def hedges() -> list[HedgeView]:
        """Every configured hedge as of its last cycle, with its accounts."""
        return service.views()

    @router.get("/hedges/{name}", dependencies=read)
    def hedge(name: str) -> HedgeView:
        """One hedge as of its last cycle, with its accounts."""
        (view,) = service.views([name])
        return view

    @router.get("/hedges/{name}/history", dependencies=read)
    def history(name: str, offset: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> HistoryPage:
        """Decisions (with reasons), orders, fills, funding, margin moves and alerts; paged."""
        identity(service, name)
        return history_page(service.store, name, offset, limit)

    @router.get("/hedges/{name}/series", dependencies=read)
    def hedge_series(name: str, from_: Annotated[str | None, Query(alias="from")] = None,
                     to: str | None = None) -> Series:
        """Snapshots over time with hedged and unhedged value, cumulative funding and fees."""
        return series(service.store, identity(service, name), _time_ms(from_, "from"),
                      _time_ms(to, "to"))

    @router.post("/hedges/{name}/pause", dependencies=write)
    def pause(name: str) -> StateChange:
        """Kill switch: the engine acts on the hedge no more until resumed."""
        with writing:
            return StateChange(hedge=name, state=service.pause(name))

    @router.post("/hedges/{name}/resume", dependencies=write)
    def resume(name: str) -> StateChange:
        """Act on the hedge again (a halted hedge first adopts the exchange's position)."""
        with writing:
            return StateChange(hedge=name, state=service.resume(name))

    @router.post("/hedges/{name}/close", dependencies=write)
    async def close(name: str, confirm: bool = False, sell_spot: bool = False) -> CloseAnswer:
        """Unwind with reduce-only orders: the exact orders as a dry run; sent with confirm."""
        identity(service, name)
        acting = HedgeService(replace(service.comp, send=confirm, _venues={}))
        # Beside a serving engine: between its cycles, never interleaved with one (that engine
        # holds the account's run lease); alone over a store: under the lease, so a service
        # running the account elsewhere makes it a conflict (409) rather than a race.
        async with cycle_lock or contextlib.nullcontext():
            report = await acting.close(name, sell_spot=sell_spot,
                                        take_lease=cycle_lock is None)
        orders = [line.removeprefix("would ") for line in report.lines
                  if line.startswith("would ") or "client id" in line]
        return CloseAnswer(hedge=name, sent=confirm, status=report.status, orders=orders,
                           lines=list(report.lines))

    return router
