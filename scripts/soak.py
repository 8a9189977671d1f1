"""The long fault soak: rounds of injected exchange faults and SIGKILLs of ``perphedge run``
(≥ 1,000 faults, ≥ 100 kills by default), then two engines on one store, without and with
faults. Bounded in time; prints the figures (and writes them as JSON with ``--json``).

    PYTHONPATH=src python scripts/soak.py --seed 20261202 --json soak.json

Each round ends with faults off, one clean cycle and the invariants of ``tests/fault`` checked
against the exchange's own ledger; every violation is printed with its round and seed.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fault.proxy import FaultPlan
from tests.fault.rounds import RoundSpec, clean_cycle, run_round
from tests.fault.world import (
    LOT_STEP,
    SYMBOL,
    Engine,
    FaultWorld,
    describe_world,
    fault_world,
)

WEIGHTS = {"drop_after": 1.0, "status_5xx_before": 1.0, "status_5xx_after": 1.0,
           "rate_limit_429": 0.7, "ban_418": 0.3, "cut_mid_body": 1.0, "html_200": 1.0,
           "empty_list_200": 0.7, "empty_object_200": 0.7, "truncated_json_200": 1.0,
           "delay_past_timeout": 0.1}
#: Violation text → figure it counts in (first match wins).
CATEGORIES = (
    ("traceback in", "tracebacks"), ("exited by itself", "engine deaths"),
    ("clean cycle exited", "clean cycles failing"), ("refusal(s) recorded", "halts"),
    ("hedge state is", "hedges left halted"), ("position ", "positions off target"),
    ("unknown to the store", "orders unknown to the store"), ("sent ", "client ids sent twice"),
    ("left ", "orders left unresolved"), ("fill of", "fills lost/duplicated"),
    ("fee of", "fees differing"), ("funding", "funding lost/duplicated"),
    ("transfer", "transfers lost/duplicated"), ("liquidation", "liquidations"),
    ("order ", "order states differing"),
)


def category(violation: str) -> str:
    for needle, name in CATEGORIES:
        if needle in violation:
            return name
    return "other"


def over_hedged(world: FaultWorld) -> Decimal:
    """How far the short exceeds the spot holding (0 when it does not)."""
    ex = world.venue.exchange
    with ex.lock:
        short = -ex.account.position(SYMBOL).qty_base
        spot = ex.account.spot.get("BTC", Decimal(0))
    return max(Decimal(0), short - spot)


def rounds_phase(workdir: Path, args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    plan = FaultPlan(seed=args.seed, rate=args.rate, per_method={"POST": args.post_rate},
                     weights=WEIGHTS)
    # An engine that dies by itself is started again (up to 8 times) until the segment's kill:
    # on a build whose engine dies of garbled replies, kills still add up.
    spec = RoundSpec(segments=5, kill_after_s=(1.5, 8.0), armed_wait_s=6.0, restarts=8,
                     kill_after_refused=True)
    # Once the kills are reached: long-lived engines (killed on a timer) for the faults.
    endurance = RoundSpec(segments=3, kill_after_s=(20.0, 40.0), restarts=30,
                          kill_points=("timer",))
    found: Counter[str] = Counter()
    examples: dict[str, str] = {}
    doubled = rounds = in_doubt = 0
    last: dict[str, Any] = {}
    with fault_world(workdir, plan, hours=24 * 40) as world:
        while time.monotonic() < deadline and (
                world.kills < args.kills or world.proxy.injected < args.faults):
            rounds += 1
            long_lived = world.kills >= args.kills
            log = run_round(world, rounds, args.seed, endurance if long_lived else spec,
                            deadline)
            print(log.summary(), flush=True)
            assert log.check is not None
            last = log.check.figures
            for v in log.check.violations:
                found[category(v)] += 1
                examples.setdefault(category(v), f"round {rounds}: {v}")
            doubled += over_hedged(world) >= LOT_STEP
            in_doubt += log.doubt_wait_s > 0
            print(f"  so far: {describe_world(world)}", flush=True)
        figures = describe_world(world)
    return {"rounds": rounds, **figures, "rounds_ending_over_hedged": doubled,
            "rounds_waiting_for_an_order_or_transfer_in_doubt": in_doubt,
            "violations": dict(found), "first_of_each": examples,
            "ledger_last_round": {k: str(v) for k, v in last.items()}}


def _supervise(world: FaultWorld, engines: list[Engine]) -> list[str]:
    """Start again every engine that ended (as a supervisor would); how each ended."""
    ended = []
    for i, engine in enumerate(engines):
        if not engine.alive():
            last = engine.err.read_text(errors="replace").strip().splitlines()[-1:]
            ended.append(f"{engine.name} exit {engine.process.returncode}: {''.join(last)}")
            engines[i] = world.start_engine()
    return ended


def two_engines_phase(workdir: Path, args: argparse.Namespace, *, faults: bool,
                      seconds: float) -> dict[str, Any]:
    """Two ``perphedge run`` on one store while the holder's spot changes every few seconds.

    The second starts once the first has spoken to the exchange (the store exists then:
    starting both on a new store at once loses one to the migration, see docs/faults.md);
    an engine that ends is started again, so two keep running.
    """
    plan = FaultPlan(seed=args.seed + 1, rate=args.rate if faults else 0.0,
                     per_method={"POST": args.post_rate if faults else 0.0}, weights=WEIGHTS)
    rng = random.Random(f"two|{args.seed}|{faults}")  # noqa: S311 -- a seeded, reproducible draw
    changes = overshoots = 0
    worst = Decimal(0)
    ended: list[str] = []
    with fault_world(workdir, plan) as world:
        world.proxy.enabled = faults
        engines = [world.start_engine()]
        world.wait_until_talking(engines[0], 90)
        engines.append(world.start_engine())
        world.wait_until_talking(engines[1], 90)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if rng.random() < 0.7:
                world.deposit(Decimal(rng.randrange(20, 300)) / 1000)
            elif world.spot_btc() > Decimal(1):
                world.sell_spot(Decimal(rng.randrange(20, 200)) / 1000)
            changes += 1
            time.sleep(4)
            gap = over_hedged(world)
            overshoots += gap >= LOT_STEP
            worst = max(worst, gap)
            ended += _supervise(world, engines)
        world.stop_all()
        check = world.check()  # before the clean cycle: what the two engines left
        orders = check.figures["orders_exchange"]
        # As in a round: repeated while the engine waits for an order or transfer in doubt.
        clean, waited = clean_cycle(world, RoundSpec().doubt_wait_s)
        after = world.check()
    return {"faults": faults, "spot_changes": changes, "futures_orders": orders,
            "samples_over_hedged": overshoots, "worst_over_hedge_btc": str(worst),
            "engines_ended_and_restarted": len(ended), "how_engines_ended": ended[:10],
            "violations_before_clean_cycle": check.violations,
            "clean_cycle_exit": clean.returncode,
            "clean_cycle_waited_for_doubt_s": round(waited),
            "violations_after_clean_cycle": after.violations,
            "faults_by_kind": dict(world.proxy.counts)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--kills", type=int, default=100, help="kills to reach (default 100)")
    parser.add_argument("--faults", type=int, default=1000, help="faults to reach")
    parser.add_argument("--rate", type=float, default=0.15, help="fault probability per request")
    parser.add_argument("--post-rate", type=float, default=0.3, help="… per POST request")
    parser.add_argument("--max-minutes", type=float, default=30.0, help="bound on the rounds")
    parser.add_argument("--two-engine-seconds", type=float, default=60.0)
    parser.add_argument("--two-engines-only", action="store_true",
                        help="skip the rounds (repeat the two-engine phases alone)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--workdir", type=Path,
                        help="keep stores, configs and engine outputs here (default: a temp dir)")
    args = parser.parse_args()
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        print(f"--workdir: expected a new or empty folder, got {args.workdir}", file=sys.stderr)
        return 2
    # A SIGTERM unwinds like Ctrl-C, so every engine process started is killed on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="perphedge-soak-") as tmp:
        root = args.workdir or Path(tmp)
        for name in ("rounds", "two", "two-faults"):
            (root / name).mkdir(parents=True)
        result: dict[str, Any] = {"seed": args.seed}
        result["rounds"] = {"violations": {}} if args.two_engines_only else rounds_phase(
            root / "rounds", args, started + args.max_minutes * 60)
        result["two_engines"] = two_engines_phase(root / "two", args, faults=False,
                                                  seconds=args.two_engine_seconds)
        result["two_engines_with_faults"] = two_engines_phase(
            root / "two-faults", args, faults=True, seconds=args.two_engine_seconds)
    result["minutes"] = round((time.monotonic() - started) / 60, 1)
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    bad = sum(result["rounds"]["violations"].values()) + sum(
        len(r["violations_after_clean_cycle"]) + r["samples_over_hedged"]
        for r in (result["two_engines"], result["two_engines_with_faults"]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
