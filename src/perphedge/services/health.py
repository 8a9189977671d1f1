"""``perphedge health``: what is wrong with the service, one line per problem (none: healthy).

Read from the store only (no exchange call): a hedge that is active must have a heartbeat no
older than ``max_age``, its last cycle must not have failed or been refused, and it must not
be halted. Paused and closed hedges are left alone.
"""

from __future__ import annotations

from perphedge.adapters.store.service_records import ServiceRecords
from perphedge.services.compose import Composition

LEFT_ALONE = ("paused", "closed")


def age_text(ms: int) -> str:
    """A duration for people.

    >>> age_text(372_000)
    '6m12s'
    >>> age_text(4_000)
    '4s'
    """
    seconds = max(0, ms // 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def problems(comp: Composition, max_age_ms: int, now_ms: int) -> list[str]:
    """One line per problem of the configured hedges."""
    records = ServiceRecords(comp.store.engine)
    out: list[str] = []
    for hedge in comp.config.hedges:
        row = comp.store.hedge(hedge.name)
        if row is not None and row.state in LEFT_ALONE:
            continue
        if row is not None and row.state == "halted":
            out.append(f"{hedge.name}: halted (perphedge refused to act; see `perphedge history "
                       f"{hedge.name}`, then `perphedge resume {hedge.name}`)")
        beat = records.heartbeat(hedge.name)
        if beat is None:
            out.append(f"{hedge.name}: no heartbeat: `perphedge serve` has never run it")
            continue
        age = now_ms - beat.ts_ms
        if age > max_age_ms:
            out.append(f"{hedge.name}: last heartbeat {age_text(age)} ago (max "
                       f"{age_text(max_age_ms)}): is `perphedge serve` running?")
        if beat.status == "error":
            out.append(f"{hedge.name}: the exchange failed the last {beat.failing_cycles} "
                       f"cycle(s): {beat.detail[:300]}")
        elif beat.status == "refused" and (row is None or row.state != "halted"):
            out.append(f"{hedge.name}: the last cycle was refused: {beat.detail[:300]}")
    return out
