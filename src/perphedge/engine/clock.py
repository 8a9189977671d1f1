"""The engine's clock, injected: the live wall clock and a manual one for tests and replays.

The engine never calls ``time.time`` or ``asyncio.sleep`` itself; it asks its clock, so a test
(or a replay of recorded days) can run many cycles in no wall time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Now in UTC milliseconds, and a way to wait."""

    def now_ms(self) -> int:
        """Milliseconds since the epoch (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (a manual clock just moves its time on)."""
        ...


class LiveClock:
    """The wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to (or when the engine sleeps on it).

    >>> clock = ManualClock(1_000)
    >>> clock.advance_ms(500)
    >>> clock.now_ms()
    1500
    """

    def __init__(self, start_ms: int = 1_704_067_200_000) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance_ms(self, delta_ms: int) -> None:
        if delta_ms < 0:
            raise ValueError(f"a clock only moves forward, got {delta_ms} ms")
        self._now_ms += delta_ms

    async def sleep(self, seconds: float) -> None:
        self.advance_ms(int(seconds * 1000))
        await asyncio.sleep(0)  # still yield, as a real sleep would
