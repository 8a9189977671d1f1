"""Rounds of faults and kills, shared by the CI test and ``scripts/soak.py``.

A round is a few *segments*; each segment (all drawn from the round's seeded ``Random``):

1. maybe changes the spot holding (a deposit, or a sale through the exchange's API),
2. maybe moves the replay on by 1–3 hours (new prices; funding settles every 8 hours),
3. starts ``perphedge run --yes`` through the fault proxy (faults on),
4. SIGKILLs it: right after the next order (or transfer) passed the proxy, on a timer from its
   first request, or during start-up (store opening and migration, market loading).

Then the round ends with faults off and one clean ``perphedge run --cycles 1 --yes`` (repeated
while the engine waits for an order or a transfer in doubt, which a correct engine must do),
and the
invariants (:mod:`tests.fault.invariants`) are checked against the exchange's ledger.
"""

from __future__ import annotations

import random
import subprocess
import time
from dataclasses import dataclass, field
from decimal import Decimal

from tests.fault.invariants import RoundCheck
from tests.fault.world import FaultWorld, settle

__all__ = ["RoundLog", "RoundSpec", "clean_cycle", "run_round"]

#: What the engine prints while an order, or a transfer, is in doubt (it will not act — or
#: not move money of that kind — until it is resolved; a transfer in doubt is settled by the
#: exchange's history, or given up a minute after it was sent).
WAITING = ("waiting for orders", "USDT in doubt")
#: Box-drawing characters of the status table (left out of the clean cycle's lines).
TABLE_CHARS = "│┃━─┏┓┗┛┡┩└┘┌┐├┤┼╇╈╿"


@dataclass(frozen=True)
class RoundSpec:
    """How a round is drawn: its segments and the window of a timed kill (seconds)."""

    segments: int = 4
    kill_after_s: tuple[float, float] = (0.5, 6.0)
    #: How long a new engine may take to send its first request (a loaded machine is slow).
    startup_s: float = 90.0
    #: How long an armed kill waits for its request before the timer kills instead.
    armed_wait_s: float = 8.0
    #: An engine that died by itself (a finding) is started again, as a supervisor would.
    restarts: int = 2
    #: Where kills fall, drawn uniformly: after an order or a transfer passed, on a timer
    #: counted from the engine's first request, or in start-up (before any request).
    kill_points: tuple[str, ...] = ("order", "order", "transfer", "timer", "timer", "startup")
    #: An order in doubt (sent, or not, when the engine died; the exchange does not know it)
    #: makes a correct engine wait before it acts again, and a transfer in doubt before it
    #: moves money of that kind again: clean cycles are repeated, every 5 s, while the
    #: engine says it is waiting, up to this long.
    doubt_wait_s: float = 75.0
    #: Also kill after a request the exchange refused (the engine cannot learn of the refusal:
    #: Binance keeps no record of it, so the order stays in doubt until the engine gives up).
    kill_after_refused: bool = False
    deposit_share: float = 0.4
    sale_share: float = 0.2
    advance_share: float = 0.5


@dataclass
class RoundLog:
    """What a round did and what the check found."""

    number: int
    seed: int
    steps: list[str] = field(default_factory=list)
    clean_exit: int | None = None
    doubt_wait_s: float = 0.0
    clean_out: str = ""
    check: RoundCheck | None = None

    def summary(self) -> str:
        problems = self.check.violations if self.check else []
        lines = [f"round {self.number} (seed {self.seed}): " + "; ".join(self.steps),
                 f"clean cycle exit {self.clean_exit}"
                 + (f" (after waiting {self.doubt_wait_s:.0f}s for an order in doubt)"
                    if self.doubt_wait_s else "")]
        lines += [f"  VIOLATION: {p}" for p in problems]
        if problems:
            lines += [f"  clean cycle: {line.strip()}" for line in self.clean_out.splitlines()
                      if line.strip() and not set(line) & set(TABLE_CHARS)][:20]
        return "\n".join(lines)


def _change_spot(world: FaultWorld, rng: random.Random, spec: RoundSpec) -> str | None:
    draw = rng.random()
    if draw < spec.deposit_share:
        qty = Decimal(rng.randrange(20, 400)) / 1000
        world.deposit(qty)
        return f"deposit {qty}"
    if draw < spec.deposit_share + spec.sale_share:
        held = world.spot_btc()
        qty = min(Decimal(rng.randrange(20, 300)) / 1000, held - Decimal("0.5"))
        if qty > 0:
            world.sell_spot(qty)
            return f"sale {qty}"
    return None


def _one_engine(world: FaultWorld, how: str, delay: float, spec: RoundSpec) -> str:
    """Start an engine and kill it as drawn; what happened, in a few words."""
    engine = world.start_engine()
    if how == "startup":  # in start-up: opening (or migrating) the store, loading markets
        settle(delay / 2)
        outcome = f"kill in start-up at {delay / 2:.1f}s"
    elif not world.wait_until_talking(engine, spec.startup_s):
        outcome = "died in start-up" if not engine.alive() else "silent in start-up"
        if engine.alive():
            world.unexpected_exits.append(f"{engine.name} sent no request in "
                                          f"{spec.startup_s:.0f}s")
    elif how == "timer":
        settle(delay)
        outcome = f"kill at {delay:.1f}s"
    else:
        world.arm(engine, how, accepted_only=not spec.kill_after_refused)
        killed = world.wait_armed_kill(engine, spec.armed_wait_s)
        world.disarm()
        outcome = (f"kill after {how} (HTTP {world.last_kill_status})" if killed
                   else f"no {how} in {spec.armed_wait_s:.0f}s")
    if engine.process.poll() != -9:
        world.kill(engine)  # an engine that already died is recorded as a finding
    return outcome if engine.process.returncode == -9 else f"died ({engine.process.returncode})"


def _segment(world: FaultWorld, rng: random.Random, spec: RoundSpec,
             deadline: float | None) -> str:
    done = [s for s in (_change_spot(world, rng, spec),) if s]
    if rng.random() < spec.advance_share:
        hours = rng.randint(1, 3)
        world.advance_hours(hours)
        done.append(f"+{hours}h")
    how = rng.choice(spec.kill_points)
    delay = rng.uniform(*spec.kill_after_s)
    for _ in range(1 + spec.restarts):
        outcome = _one_engine(world, how, delay, spec)
        done.append(outcome)
        if not outcome.startswith("died") or _past(deadline):
            break
    return " ".join(done)


def clean_cycle(world: FaultWorld, doubt_wait_s: float
                ) -> tuple[subprocess.CompletedProcess[str], float]:
    """Faults off, one clean cycle, repeated every 5 s (up to ``doubt_wait_s``) while the
    engine waits for an order or a transfer in doubt; and how long that took (0: at once)."""
    clean = world.clean_cycle()
    started = time.monotonic()
    while _waiting(clean.stdout) and time.monotonic() - started < doubt_wait_s:
        settle(5.0)
        clean = world.clean_cycle()
    waited = time.monotonic() - started
    return clean, waited if _waiting(clean.stdout) or waited > 1 else 0.0


def _waiting(stdout: str) -> bool:
    return any(text in stdout for text in WAITING)


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def run_round(world: FaultWorld, number: int, seed: int, spec: RoundSpec,
              deadline: float | None = None) -> RoundLog:
    """One round of segments, then faults off, a clean cycle and the check.

    ``deadline`` (``time.monotonic()``): no new segment or restart starts after it (the
    round still ends with its clean cycle and check).
    """
    rng = random.Random(f"round|{seed}|{number}")  # noqa: S311 -- a seeded, reproducible draw
    log = RoundLog(number, seed)
    world.proxy.enabled = True
    for _ in range(spec.segments):
        if _past(deadline):
            log.steps.append("time is up")
            break
        log.steps.append(_segment(world, rng, spec, deadline))
    clean, log.doubt_wait_s = clean_cycle(world, spec.doubt_wait_s)
    log.clean_exit, log.clean_out = clean.returncode, clean.stdout
    log.check = world.check()
    failed = [line.strip() for line in clean.stdout.splitlines()
              if line.strip().endswith((": error", ": refused"))]
    if failed and clean.returncode == 0:
        log.check.violations.append(f"clean cycle printed {failed[0]!r} and exited 0")
    if clean.returncode != 0:
        tail = (clean.stderr.strip() or clean.stdout.strip())[-300:]
        log.check.violations.append(f"clean cycle exited {clean.returncode}: {tail}")
    return log
