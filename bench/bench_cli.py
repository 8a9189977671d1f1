"""How long a person waits for the CLI: whole processes, against a bare interpreter in the same run.

Run ``python bench/bench_cli.py [--repeats N]``. For each command it starts a fresh process
``python -m perphedge ...`` N times (after one warm-up that fills the OS file cache) and prints
the median and best wall time, the median CPU time (user + system of the child: a fairer figure
on a loaded machine, where wall time includes waiting for a core), and the ratio to the
baseline, a bare ``python -c pass`` measured in the same loop, interleaved, so both see the same
load. Targets (issue #15): ``--help`` and ``plan --json`` under 0.25 s as whole processes.
Nothing is asserted: timings belong here, not in unit tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

TARGET_S = 0.25
COMMANDS: dict[str, list[str]] = {
    "baseline: python -c pass": ["-c", "pass"],
    "perphedge --help": ["-m", "perphedge", "--help"],
    "perphedge plan --asset BTC --quantity 5 --json":
        ["-m", "perphedge", "plan", "--asset", "BTC", "--quantity", "5", "--json"],
}


def _one(args: list[str]) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    repeats = parser.parse_args().repeats
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for args in COMMANDS.values():  # warm-up: the file cache, compiled bytecode
        _one(args)
    for _ in range(repeats):  # interleaved, so a burst of load hits every command alike
        for name, args in COMMANDS.items():
            samples[name].append(_one(args))
    load = os.getloadavg()[0]
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {load:.2f}, {repeats} runs each")
    base = statistics.median(w for w, _ in samples["baseline: python -c pass"])
    print(f"{'command':50} {'median':>8} {'best':>8} {'cpu':>8} {'÷ bare':>7}  target")
    for name, runs in samples.items():
        walls = [w for w, _ in runs]
        median = statistics.median(walls)
        cpu = statistics.median(c for _, c in runs)
        verdict = "" if name.startswith("baseline") else (
            f"< {TARGET_S} s: {'met' if median < TARGET_S else 'NOT met'}")
        print(f"{name:50} {median:8.3f} {min(walls):8.3f} {cpu:8.3f} {median / base:7.1f}  "
              f"{verdict}")


if __name__ == "__main__":
    main()
