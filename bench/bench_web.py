"""Web layer speed over a month of hourly cycles, as ratios to the store reads it adds to.

Run ``python bench/bench_web.py`` (``--cycles N``, default 720: 30 days of two hedges). It
fills a store with the real engine on the paper venue (``tests/web/hedge_fixture.py``), then
times, in the same run and in process (FastAPI's TestClient, no network):

* the baseline: what ``status`` read before the accounts existed — per hedge the hedge row, the
  latest snapshot and the funding and fee totals;
* ``GET /api/hedges`` (the accounts of every hedge), ``/fragments/cards`` (the dashboard's
  poll), ``/api/hedges/btc/series`` (every snapshot, walked forward once) and ``/metrics``.

Each figure is the median of several repeats; ratios to the baseline are printed, nothing is
asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from perphedge.web.app import create_app

# The store is filled by the repository's own test fixture (the engine on the paper venue).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.web.hedge_fixture import paper_run


def median_ms(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=720)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run = paper_run(Path(folder), cycles=args.cycles)
        print(f"store: {args.cycles} hourly cycles of 2 hedges in "
              f"{time.perf_counter() - start:.1f} s")
        service = run.service()
        client = TestClient(create_app(service, token=SecretStr("bench")))
        store = service.store

        def baseline() -> None:
            for name in ("btc", "eth"):
                store.hedge(name)
                store.latest_snapshot(name)
                store.funding_total(name)
                store.fees_total(name)

        base = median_ms(baseline, args.repeats)
        print(f"baseline (old status reads, 2 hedges): {base:.2f} ms")
        for path in ("/api/hedges", "/fragments/cards", "/api/hedges/btc/series", "/metrics"):
            ms = median_ms(lambda p=path: client.get(p).raise_for_status(), args.repeats)
            print(f"GET {path:<26} {ms:8.2f} ms  = {ms / base:6.1f} x baseline")
        service.comp.close()


if __name__ == "__main__":
    main()
