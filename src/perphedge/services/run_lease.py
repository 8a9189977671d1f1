"""The run leases of the accounts a process acts for (``perphedge run --yes`` and ``serve``).

All hedges of an account are under one lease: an account's hedges share its wallets, so two
engines on different hedges of one account would still move the same USDT.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from perphedge.adapters.store.lease import LeaseHeld, LeaseLost, LeaseOwner, LeaseStore
from perphedge.config.models import HedgeConfig, PerphedgeConfig, parse_interval_ms
from perphedge.engine.clock import Clock

#: A lease outlives its last renewal by at least this much (and by default 3 intervals).
MIN_DEFAULT_TTL_MS = 30_000


def lease_name(account: str) -> str:
    """The lease of one account.

    >>> lease_name("main")
    'account:main'
    """
    return f"account:{account}"


def lease_ttl_ms(config: PerphedgeConfig, hedges: Iterable[HedgeConfig]) -> int:
    """``[service] lease_ttl``, else 3 × the longest decision interval (at least 30 s)."""
    if config.service.lease_ttl is not None:
        return parse_interval_ms(config.service.lease_ttl)
    longest = max((parse_interval_ms(h.decision_interval) for h in hedges), default=0)
    return max(3 * longest, MIN_DEFAULT_TTL_MS)


class AccountLeases:
    """Take, renew and give up the leases of some accounts, all or none."""

    def __init__(self, store: LeaseStore, accounts: Sequence[str], ttl_ms: int, clock: Clock,
                 owner: LeaseOwner | None = None) -> None:
        self.store = store
        self.names = [lease_name(a) for a in sorted(set(accounts))]
        self.ttl_ms = ttl_ms
        self.clock = clock
        self.owner = owner or LeaseOwner.this_process()
        self.held = False

    @property
    def renew_every_s(self) -> float:
        """Renew three times per time to live: one late renewal does not lose the lease."""
        return self.ttl_ms / 3000

    def acquire(self) -> None:
        """Take every lease, or none (raises :class:`LeaseHeld` naming the holder)."""
        taken: list[str] = []
        try:
            for name in self.names:
                self.store.acquire(name, self.owner, self.clock.now_ms(), self.ttl_ms)
                taken.append(name)
        except LeaseHeld:
            for name in taken:
                self.store.release(name, self.owner)
            raise
        self.held = True

    def renew(self) -> None:
        """Renew every lease; :class:`LeaseLost` when one was taken over."""
        for name in self.names:
            if not self.store.renew(name, self.owner, self.clock.now_ms(), self.ttl_ms):
                self.held = False
                raise LeaseLost(name)

    def release(self) -> None:
        if not self.held:
            return
        for name in self.names:
            self.store.release(name, self.owner)
        self.held = False
