"""The engine's clock in the demo: the local exchange's replay time, moved by the engine's waits.

The live engine asks its injected clock for the time and sleeps on it between cycles
(:class:`perphedge.engine.clock.Clock`). Here ``sleep(s)`` moves the exchange's frozen replay
clock forward by ``s`` and then waits on the wall clock only as long as ``speed`` asks, so:

* every cycle sees the market exactly one decision interval later: the same run on any machine;
* ``speed`` (replay ms per wall ms, as in ``perphedge exchange serve``) paces the show;
  ``0`` runs as fast as the engine and the exchange can go;
* the spot events of the scenario happen at their replay times, between two cycles, as a user
  acting while the engine sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from perphedge.exchange.market import ReplayClock

__all__ = ["DemoClock"]

#: Called with (replay ms before, replay ms after) each time the clock moves.
OnAdvance = Callable[[int, int], None]


class DemoClock:
    """A :class:`~perphedge.engine.clock.Clock` over the exchange's replay clock."""

    def __init__(self, replay: ReplayClock, speed: float, on_advance: OnAdvance) -> None:
        if speed < 0:
            raise ValueError(f"speed must be 0 or more replay ms per wall ms, got {speed}")
        self._replay = replay
        self._speed = speed
        self._on_advance = on_advance
        self._start_replay_ms = replay.now_ms()
        self._start_wall_s = time.monotonic()

    def now_ms(self) -> int:
        return self._replay.now_ms()

    async def sleep(self, seconds: float) -> None:
        """Move replay time on by ``seconds``; with a speed, keep pace with the wall clock."""
        before = self._replay.now_ms()
        after = self._replay.advance(int(seconds * 1000))
        self._on_advance(before, after)
        if self._speed > 0:
            # Pace against the start, not per step: slow cycles are caught up, not added up.
            due_s = (after - self._start_replay_ms) / self._speed / 1000
            await asyncio.sleep(max(0.0, due_s - (time.monotonic() - self._start_wall_s)))
        else:
            await asyncio.sleep(0)
