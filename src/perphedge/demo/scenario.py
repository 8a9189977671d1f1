"""What the demo replays: the window of real history, the starting account and the spot events.

Pure values. The default scenario is the 2023-10 → 2024-03 BTC rally (about 27,000 → 73,000
USDT on the bundled Binance history): a holder of 2 BTC and 30,000 USDT hedges at 2x isolated
with the ``managed`` policy. Half-way a miner's payout of 0.5 BTC arrives in the spot wallet,
and later the holder sells 0.8 BTC on spot; the engine must follow both. ``fast`` keeps the
same story with daily decisions instead of every four hours, for tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from perphedge.config.models import parse_interval_ms
from perphedge.errors import InputError

__all__ = ["Scenario", "SpotEvent", "default_scenario", "due_events", "utc_ms"]


def utc_ms(day: str) -> int:
    """A UTC date as epoch milliseconds.

    >>> utc_ms("2024-01-01")
    1704067200000
    """
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class SpotEvent:
    """Something the holder does on spot, outside perphedge, at replay time ``ts_ms``.

    ``deposit``: ``qty_base`` of the asset arrives in the spot wallet (written into the
    exchange's account state: Binance has no API that deposits). ``sale``: the holder sells
    ``qty_base`` through the exchange's spot API (``POST /api/v3/order``).
    """

    ts_ms: int
    kind: Literal["deposit", "sale"]
    qty_base: Decimal
    why: str

    def __post_init__(self) -> None:
        if not self.qty_base.is_finite() or self.qty_base <= 0:
            raise InputError("event qty_base", "a quantity greater than 0", str(self.qty_base))


@dataclass(frozen=True, slots=True)
class Scenario:
    """The replay window, the starting account and the hedge's settings."""

    asset: str
    start_ms: int
    end_ms: int
    spot_qty: Decimal
    spot_usdt: Decimal
    decision_interval: str
    leverage: int
    policy: str
    events: tuple[SpotEvent, ...]

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise InputError("scenario end", f"a time after {self.start_ms}", self.end_ms)
        if any(not self.start_ms < e.ts_ms < self.end_ms for e in self.events):
            raise InputError("scenario events", "times inside the window", self.events)

    @property
    def step_ms(self) -> int:
        """Replay time between two engine cycles."""
        return parse_interval_ms(self.decision_interval)

    @property
    def cycles(self) -> int:
        """Cycles from the start to the end of the window (the first at the start).

        >>> default_scenario(fast=True).cycles  # 183 days, both ends
        184
        """
        return (self.end_ms - self.start_ms) // self.step_ms + 1


def default_scenario(*, fast: bool = False) -> Scenario:
    """The BTC rally of 2023-10 → 2024-03, every 4 h (``fast``: every day)."""
    return Scenario(
        asset="BTC",
        start_ms=utc_ms("2023-10-01"),
        end_ms=utc_ms("2024-04-01"),
        spot_qty=Decimal(2),
        spot_usdt=Decimal(30_000),
        decision_interval="1d" if fast else "4h",
        leverage=2,
        policy="managed",
        events=(
            SpotEvent(utc_ms("2023-12-15"), "deposit", Decimal("0.5"),
                      "a miner's payout arrives in the spot wallet"),
            SpotEvent(utc_ms("2024-02-20"), "sale", Decimal("0.8"),
                      "the holder sells part of the coins on spot"),
        ),
    )


def due_events(events: tuple[SpotEvent, ...], after_ms: int, until_ms: int) -> list[SpotEvent]:
    """Events in ``(after_ms, until_ms]``, oldest first.

    >>> s = default_scenario()
    >>> [e.kind for e in due_events(s.events, s.start_ms, s.end_ms)]
    ['deposit', 'sale']
    """
    return sorted((e for e in events if after_ms < e.ts_ms <= until_ms), key=lambda e: e.ts_ms)
