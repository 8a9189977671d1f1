"""How well do the hedges lock the value? The whole grid on the bundled history, per cell.

Run ``python bench/hedge_quality.py`` (about 5 minutes on 2 cores). The grid: BTC and ETH,
each continuous span of hourly data (no hole longer than 3 days), a run from every 1st of the
month to the end of its span, leverage 1/2/3, short (a holding) and purchase (long), for the
chosen policies (default: managed). Per cell it prints: starts, runs liquidated, the deviation
from the locked value excluding funding (lowest and highest over the runs), runs that stayed
within ±0.5 %, fees as % of the starting value (median and worst), net funding as % of the
starting value (median and worst), rebalances (median and most) and refused orders (runs with
any, and in all). The targets of issue #13 are printed beside the figures, never asserted.

Pick a subset for quick iteration: ``--asset BTC --leverage 2 --side short --policy managed
--every 3`` (every 3rd start). ``--workers`` processes (default 2); ``--json FILE`` writes
every run's figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.adapters.marketdata.history import MarketHistory, load_history
from perphedge.backtest.engine import run_backtest
from perphedge.backtest.spec import BacktestSpec

DAY_MS = 86_400_000
HOLE_MS = 3 * DAY_MS
MIN_RUN_MS = 7 * DAY_MS  # a start needs a week of data after it
QUANTITY = {"BTC": Decimal(5), "ETH": Decimal(5)}  # the 5 coins
BAND_PCT = 0.5
FEE_TARGET_PCT = 0.5

_HISTORY: dict[str, MarketHistory] = {}


@dataclass(frozen=True, slots=True)
class Task:
    """One run of the grid."""

    asset: str
    span: int
    leverage: str
    side: str
    policy: str
    start_ms: int
    end_ms: int
    up: str | None = None
    down: str | None = None


def _history(asset: str) -> MarketHistory:
    if asset not in _HISTORY:
        _HISTORY[asset] = load_history(asset)
    return _HISTORY[asset]


def spans(history: MarketHistory) -> list[tuple[int, int]]:
    """(first bar open, data end) of each stretch with funding and no hole over 3 days."""
    t = history.open_time_ms
    first_funding = int(history.funding_time_ms[0])
    cuts = np.flatnonzero(np.diff(t) > HOLE_MS)
    bounds = [0, *(int(k) + 1 for k in cuts), t.shape[0]]
    out = []
    for a, b in itertools.pairwise(bounds):
        start = max(int(t[a]), first_funding)
        end = int(t[b - 1]) + int(history.interval_ms)
        if end - start > MIN_RUN_MS:
            out.append((start, end))
    return out


def month_starts(start_ms: int, end_ms: int) -> list[int]:
    """Every 1st of the month (00:00 UTC) from ``start_ms`` on with a week of data after it."""
    moment = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    if (moment.day, moment.hour, moment.minute) != (1, 0, 0):
        year, month = divmod(moment.month, 12)
        moment = datetime(moment.year + year, month + 1, 1, tzinfo=UTC)
    out = []
    while (ms := int(moment.timestamp() * 1000)) + MIN_RUN_MS <= end_ms:
        out.append(ms)
        year, month = divmod(moment.month, 12)
        moment = datetime(moment.year + year, month + 1, 1, tzinfo=UTC)
    return out


def tasks(args: argparse.Namespace) -> list[Task]:
    out = []
    for asset in args.asset:
        for k, (start, end) in enumerate(spans(_history(asset))):
            for s in month_starts(start, end)[::args.every]:
                for lev in args.leverage:
                    for side in args.side:
                        for policy in args.policy:
                            out.append(Task(asset, k, lev, side, policy, s, end,
                                            args.up, args.down))
    return out


def run(task: Task) -> dict[str, Any]:
    """One run's figures (floats; the grid is a measurement, not accounting)."""
    history = _history(task.asset)
    instrument = BundledMarketData().instrument(task.asset)
    spec = BacktestSpec(asset=task.asset, quantity=QUANTITY[task.asset],
                        purchase=task.side == "purchase", policy=task.policy,
                        leverage=Decimal(task.leverage), start_ms=task.start_ms,
                        end_ms=task.end_ms,
                        trigger_up_ratio=None if task.up is None else Decimal(task.up),
                        trigger_down_ratio=None if task.down is None else Decimal(task.down))
    part = history.slice(task.start_ms, task.end_ms)
    r = run_backtest(spec, part, instrument, bundled_brackets(instrument.symbol))
    start = float(r.value_start)
    return {
        "asset": task.asset, "span": task.span, "leverage": task.leverage, "side": task.side,
        "policy": task.policy, "start_ms": task.start_ms, "end_ms": r.end_ms,
        "liquidated": bool(r.liquidations), "dev_min": float(r.deviation_min_pct),
        "dev_max": float(r.deviation_max_pct), "fees_pct": float(r.fees_pct),
        "funding_pct": float(r.funding_total) / start * 100 if start else 0.0,
        "rebalances": r.rebalances, "refusals": r.refusals,
    }


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m")


def cells(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (asset, span, policy, side, leverage): the grid's figures."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["asset"], r["span"], r["policy"], r["side"], float(r["leverage"]))
        groups.setdefault(key, []).append(r)
    out = []
    for key in sorted(groups):
        g = groups[key]
        fees = [r["fees_pct"] for r in g]
        funding = [r["funding_pct"] for r in g]
        out.append({
            "asset": key[0], "from": _day(min(r["start_ms"] for r in g)),
            "to": _day(max(r["start_ms"] for r in g)), "policy": key[2], "side": key[3],
            "leverage": g[0]["leverage"], "starts": len(g),
            "liquidated": sum(r["liquidated"] for r in g),
            "dev_min": min(r["dev_min"] for r in g), "dev_max": max(r["dev_max"] for r in g),
            "within": sum(r["dev_min"] >= -BAND_PCT and r["dev_max"] <= BAND_PCT for r in g),
            "fees_median": statistics.median(fees), "fees_worst": max(fees),
            "funding_median": statistics.median(funding), "funding_worst": min(funding),
            "rebalances_median": statistics.median(r["rebalances"] for r in g),
            "rebalances_most": max(r["rebalances"] for r in g),
            "refused_runs": sum(r["refusals"] > 0 for r in g),
            "refusals": sum(r["refusals"] for r in g),
        })
    return out


HEADER = ("| asset | starts (1st of month) | policy | side | L | starts | liquidated | "
          "deviation ex funding, % | within ±0.5 % | fees % median / worst | "
          "funding % median / worst | rebalances median / most | refused: runs / orders |")


def table(cs: list[dict[str, Any]]) -> str:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for c in cs:
        lines.append(
            f"| {c['asset']} | {c['from']} → {c['to']} | {c['policy']} | {c['side']} | "
            f"{c['leverage']} | {c['starts']} | {c['liquidated']} | "
            f"{c['dev_min']:+.2f} … {c['dev_max']:+.2f} | {c['within']} | "
            f"{c['fees_median']:.2f} / {c['fees_worst']:.2f} | "
            f"{c['funding_median']:+.1f} / {c['funding_worst']:+.1f} | "
            f"{c['rebalances_median']:g} / {c['rebalances_most']} | "
            f"{c['refused_runs']} / {c['refusals']} |")
    return "\n".join(lines)


def verdict(cs: list[dict[str, Any]]) -> list[str]:
    """Each cell against the issue's targets (short: 0 liquidations, ±0.5 %, fees < 0.5 %;
    purchase: 0 liquidations)."""
    out = []
    for c in cs:
        name = f"{c['asset']} {c['from']} {c['policy']} {c['side']} {c['leverage']}x"
        misses = []
        if c["liquidated"]:
            misses.append(f"{c['liquidated']} liquidated")
        if c["side"] == "short":
            if c["within"] < c["starts"]:
                misses.append(f"{c['starts'] - c['within']} runs outside ±0.5 %")
            if c["fees_worst"] >= FEE_TARGET_PCT:
                misses.append(f"worst fees {c['fees_worst']:.2f} %")
        out.append(f"{name}: {'met' if not misses else 'NOT met: ' + ', '.join(misses)}")
    return out


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--asset", nargs="+", default=["BTC", "ETH"], choices=["BTC", "ETH"])
    p.add_argument("--leverage", nargs="+", default=["1", "2", "3"])
    p.add_argument("--side", nargs="+", default=["short", "purchase"],
                   choices=["short", "purchase"])
    p.add_argument("--policy", nargs="+", default=["managed"])
    p.add_argument("--every", type=int, default=1, help="take every Nth start only")
    p.add_argument("--up", help="managed: upper trigger as a multiple of the leverage")
    p.add_argument("--down", help="managed: lower trigger as a multiple of the leverage "
                                  "(0: never buy back)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", dest="json_path", help="write every run's figures here")
    return p.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse(argv)
    todo = tasks(args)
    began = time.perf_counter()
    # Longest runs first keeps both workers busy to the end.
    todo.sort(key=lambda t: t.start_ms - t.end_ms)
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        rows = list(pool.map(run, todo, chunksize=4))
    cs = cells(rows)
    print(table(cs))
    print()
    print("\n".join(verdict(cs)))
    print(f"\n{len(rows)} runs in {time.perf_counter() - began:.0f} s "
          f"({args.workers} workers)")
    if args.json_path:
        with open(args.json_path, "w") as handle:
            json.dump({"cells": cs, "runs": rows}, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
