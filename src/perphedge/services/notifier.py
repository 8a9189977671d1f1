"""The notifier port: send a titled message to every configured channel, say how each went.

Implementations: :class:`perphedge.adapters.notify.apprise_notifier.AppriseNotifier` (any
Apprise URL) and hand-written fakes in tests. A notifier never raises for a failing channel:
it reports the failure, and the alert center records it and tries again later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one channel took one message; ``channel`` is the masked URL (no token in it)."""

    index: int
    channel: str
    ok: bool
    error: str = ""

    def describe(self) -> str:
        return f"{self.channel}: ok" if self.ok else f"{self.channel}: failed ({self.error})"


class Notifier(Protocol):
    """Channels messages go to (masked for showing) and a blocking send to them."""

    @property
    def channels(self) -> list[str]:
        """Each channel's URL with its tokens masked, in configured order."""
        ...

    def send(self, title: str, body: str, only: Sequence[int] | None = None) -> list[Delivery]:
        """Send to every channel (or to the channels at ``only``); blocking, never raises."""
        ...
