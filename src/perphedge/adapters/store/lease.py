"""Run leases in the store: one process at a time acts for an account.

A lease is a row (``leases``) taken and renewed with compare-and-set statements that every
database SQLAlchemy speaks the same way:

* take: ``INSERT`` the row; if it exists, ``UPDATE … WHERE name = ? AND (holder = me OR
  expires_ms < now)`` — one row changed means the lease is ours;
* renew: ``UPDATE … WHERE name = ? AND holder = me`` — no row changed means it was lost;
* release: ``DELETE … WHERE name = ? AND holder = me``.

A holder that dies (kill -9) stops renewing; once ``expires_ms`` has passed, the next process
takes the lease over. Sooner when the holder ran beside us: a holder whose token says it lived
in this machine's boot and PID namespace (:func:`local_fingerprint`) and whose process is gone
is taken over at once, again by compare-and-set on its holder value — a restart after a crash
need not wait out the time to live, and a holder on another machine is never judged by our
process table. Times are the processes' own clocks (UTC milliseconds): the lease's
time to live must dwarf any clock difference between the machines sharing a store.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from sqlalchemy import Engine, Table, case, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from perphedge.adapters.store.schema import LeaseRow
from perphedge.errors import PerphedgeError

_leases = cast(Table, LeaseRow.__table__)


@dataclass(frozen=True, slots=True)
class LeaseOwner:
    """This process, as a lease names it: host, pid and a random token (pids are reused)."""

    host: str
    pid: int
    token: str

    @property
    def holder(self) -> str:
        return f"{self.host}/{self.pid}/{self.token}"

    @classmethod
    def this_process(cls) -> LeaseOwner:
        return cls(socket.gethostname(), os.getpid(),
                   f"{local_fingerprint()}.{secrets.token_hex(4)}")


def local_fingerprint() -> str:
    """This boot of this machine and this PID namespace: where our PIDs mean something.

    Two containers share the boot but not the PID namespace; two machines share neither.
    Empty when the system does not say (then no holder is ever judged by its PID).
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return hashlib.sha256(f"{boot}|{namespace}".encode()).hexdigest()[:12]


def _process_gone(pid: int) -> bool:
    """True when no process ``pid`` runs here (a zombie, killed but not yet reaped, is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # another user's process: alive
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        return stat.rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _fingerprint(token: str) -> str:
    return token.split(".", 1)[0] if "." in token else ""


def died_here(lease: Lease, owner: LeaseOwner) -> bool:
    """``owner`` (this process) and the lease's holder share this boot and PID namespace, and
    the holder's process is gone."""
    parts = lease.holder.split("/")
    theirs = _fingerprint(parts[-1]) if len(parts) == 3 else ""
    here = local_fingerprint()
    return bool(here) and _fingerprint(owner.token) == here == theirs and _process_gone(lease.pid)


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease row as read back."""

    name: str
    holder: str
    host: str
    pid: int
    acquired_ms: int
    renewed_ms: int
    expires_ms: int

    def describe(self, now_ms: int) -> str:
        """'host h, pid 12, since 2026-12-02 17:40:01 UTC (expires in 25 s)'."""
        since = datetime.fromtimestamp(self.acquired_ms / 1000, tz=UTC)
        left_s = max(0, (self.expires_ms - now_ms + 999) // 1000)
        return (f"host {self.host}, pid {self.pid}, since {since:%Y-%m-%d %H:%M:%S} UTC "
                f"(expires in {left_s} s unless renewed)")


class LeaseHeld(PerphedgeError):
    """Another live process holds the lease: this one must not act (CLI exit 1)."""

    def __init__(self, lease: Lease, now_ms: int) -> None:
        self.lease = lease
        what = lease.name.replace(":", " ", 1)
        super().__init__(f"{what} is already run by another perphedge process: "
                         f"{lease.describe(now_ms)}")


class LeaseLost(PerphedgeError):
    """Our lease was taken over (we failed to renew it in time): stop acting at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"the lease on {name.replace(':', ' ', 1)} was lost (not renewed before "
                         "it expired and taken over): stopping without acting further")


class LeaseStore:
    """Take, renew and release leases in the store's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def acquire(self, name: str, owner: LeaseOwner, now_ms: int, ttl_ms: int) -> Lease:
        """Take the lease (or keep ours); raise :class:`LeaseHeld` if another holds it."""
        values = {"holder": owner.holder, "host": owner.host, "pid": owner.pid,
                  "renewed_ms": now_ms, "expires_ms": now_ms + ttl_ms}
        try:
            with self.engine.begin() as c:
                c.execute(insert(_leases).values(name=name, acquired_ms=now_ms, **values))
        except IntegrityError:
            with self.engine.begin() as c:
                taken = c.execute(
                    update(_leases)
                    .where(_leases.c.name == name,
                           or_(_leases.c.holder == owner.holder, _leases.c.expires_ms < now_ms))
                    .values(acquired_ms=case((_leases.c.holder == owner.holder,
                                              _leases.c.acquired_ms), else_=now_ms),
                            **values)
                ).rowcount
            if taken != 1:
                current = self.current(name)
                if current is None:
                    return self.acquire(name, owner, now_ms, ttl_ms)  # released meanwhile
                taken_over = died_here(current, owner) and self._take_from(
                    current, name, values, now_ms)
                if not taken_over:
                    raise LeaseHeld(current, now_ms) from None
        lease = self.current(name)
        assert lease is not None  # noqa: S101  -- just written in a committed transaction
        return lease

    def _take_from(self, dead: Lease, name: str, values: dict[str, object],
                   now_ms: int) -> bool:
        """Take the lease of a holder that died here, if no one else took it first."""
        with self.engine.begin() as c:
            return bool(c.execute(
                update(_leases).where(_leases.c.name == name, _leases.c.holder == dead.holder)
                .values(acquired_ms=now_ms, **values)
            ).rowcount == 1)

    def renew(self, name: str, owner: LeaseOwner, now_ms: int, ttl_ms: int) -> bool:
        """Push the expiry on; False when the lease is no longer ours."""
        with self.engine.begin() as c:
            changed = c.execute(
                update(_leases).where(_leases.c.name == name, _leases.c.holder == owner.holder)
                .values(renewed_ms=now_ms, expires_ms=now_ms + ttl_ms)
            ).rowcount
        return bool(changed == 1)

    def release(self, name: str, owner: LeaseOwner) -> None:
        """Give the lease up (only if still ours): the next process need not wait for expiry."""
        with self.engine.begin() as c:
            c.execute(delete(_leases).where(_leases.c.name == name,
                                            _leases.c.holder == owner.holder))

    def current(self, name: str) -> Lease | None:
        with self.engine.connect() as c:
            row = c.execute(select(_leases).where(_leases.c.name == name)).one_or_none()
        if row is None:
            return None
        return Lease(row.name, row.holder, row.host, int(row.pid), int(row.acquired_ms),
                     int(row.renewed_ms), int(row.expires_ms))

    def all(self) -> list[Lease]:
        with self.engine.connect() as c:
            rows = c.execute(select(_leases).order_by(_leases.c.name)).all()
        return [Lease(r.name, r.holder, r.host, int(r.pid), int(r.acquired_ms),
                      int(r.renewed_ms), int(r.expires_ms)) for r in rows]
