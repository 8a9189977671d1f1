"""Backtest speed and memory: a year of one-minute bars, measured against baselines in one run.

Run ``python bench/bench_backtest.py`` (``--quick``: a 30-day reference slice). It
measures, in this order and in the same process run:

1. the vectorised engine (``perphedge.backtest.engine.run_backtest``) on a deterministic
   synthetic year of one-minute bars (525,600 bars, seeded GBM with a rally, funding every 8 h):
   simulation time and bars per second, best of several repeats;
2. the plain bar-by-bar Python loop of the same model (``perphedge.backtest.reference``) on the
   same year (``--quick``: on 30 days, extrapolated linearly, stated in the output), and
   whether both give the same end value, funding, rebalances and liquidations;
3. the wall time of the whole command ``python -m perphedge backtest ...`` on the bundled data;
4. the peak resident memory (``ru_maxrss``) of a child process that builds the synthetic year
   and runs the engine on it, and of one that only imports the same modules (the baseline).

Ratios are printed against the baselines measured here; targets are printed beside the figures
and never asserted (timings belong in this script, not in unit tests).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.adapters.marketdata.history import MarketHistory
from perphedge.backtest import reference
from perphedge.backtest.engine import run_backtest
from perphedge.backtest.spec import BacktestSpec
from perphedge.domain.types import MarginMode

MINUTE_MS = 60_000
BARS_PER_YEAR = 365 * 24 * 60
START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
FUNDING_EVERY_MS = 8 * 3_600_000
TARGET_SIM_S = 0.3
TARGET_CMD_S = 1.0
TARGET_RSS_MB = 300.0
TARGET_MINUTE_S = 1.5  # issue #15: a year with a decision every minute
TARGET_DECISION_US = 3.0
CLI_ARGS = ("backtest", "--asset", "BTC", "--quantity", "5", "--start", "2023-01-01",
            "--leverage", "2", "--policy", "managed", "--json")


def synthetic_year(n: int = BARS_PER_YEAR, seed: int = 20240101) -> MarketHistory:
    """One-minute bars: GBM at 60 %/yr volatility with a +80 % rally in months 4 to 6."""
    rng = np.random.default_rng(seed)
    sigma = 0.60 / np.sqrt(BARS_PER_YEAR)
    drift = np.zeros(n)
    rally = slice(n // 4, n // 2)
    drift[rally] = np.log(1.8) / (rally.stop - rally.start)  # the squeeze a static short fears
    log_ret = drift + rng.normal(0.0, sigma, n)
    close = 42_000.0 * np.exp(np.cumsum(log_ret))
    open_ = np.concatenate(([42_000.0], close[:-1]))
    wick = np.abs(rng.normal(0.0, sigma, (2, n)))
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    basis = 1.0 + rng.normal(0.0002, 0.0002, n)  # perpetual a touch above spot
    times = START_MS + np.arange(n, dtype=np.int64) * MINUTE_MS
    funding_times = np.arange(START_MS, int(times[-1]) + MINUTE_MS, FUNDING_EVERY_MS,
                              dtype=np.int64)
    rates = np.round(rng.normal(0.0001, 0.00008, funding_times.shape[0]), 8)
    at = (funding_times - START_MS) // MINUTE_MS
    return MarketHistory(
        asset="BTC", interval_ms=MINUTE_MS, open_time_ms=times,
        spot_open=open_, spot_high=high, spot_low=low, spot_close=close,
        perp_high=high * basis, perp_low=low * basis, perp_close=close * basis,
        perp_is_real=np.ones(n, dtype=np.bool_),
        funding_time_ms=funding_times, funding_rate=rates,
        funding_rate_text=tuple(f"{r:.8f}" for r in rates.tolist()),
        funding_mark=close[np.minimum(at, n - 1)] * basis[np.minimum(at, n - 1)],
        sources=("synthetic: seeded GBM, 60 %/yr volatility, +80 % rally in months 4-6",),
    )


def spec_for(
    history: MarketHistory, policy: str = "managed", decision_interval_ms: int = 3_600_000
) -> BacktestSpec:
    """5 BTC held, 2x isolated short, decisions every hour (default), over the whole history."""
    return BacktestSpec(
        asset="BTC", quantity=Decimal(5), purchase=False, policy=policy,
        leverage=Decimal(2), margin_mode=MarginMode.ISOLATED,
        decision_interval_ms=decision_interval_ms, exposure_changes=(),
        start_ms=int(history.open_time_ms[0]), end_ms=history.end_ms,
    )


def _market() -> tuple[Any, Any]:
    instrument = BundledMarketData().instrument("BTC")
    return instrument, bundled_brackets(instrument.symbol)


def _best(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), times


def reference_float(spec: BacktestSpec, history: MarketHistory, instrument: Any,
                    brackets: Any) -> Any:
    """The reference loop with its per-bar liquidation check in float: the fair baseline.

    :func:`perphedge.backtest.reference.run_reference` turns every bar's extreme into a Decimal
    (it is the oracle, exact by design); timing the engine against it flatters the engine. This
    is the same bar-by-bar loop over the same replay, comparing floats, as a plain bar loop
    written for speed would.
    """
    from perphedge.backtest.engine import EventPlan, process_events, window
    from perphedge.backtest.replay import Replay
    from perphedge.backtest.series_build import build_result

    h = window(history, spec.start_ms, spec.end_ms)
    plan = EventPlan.build(spec, h)
    replay = Replay.start(spec, h, instrument, brackets)
    events = set(plan.events)
    short = not spec.purchase
    adverse = (h.perp_high if short else h.perp_low).tolist()
    symbol = instrument.symbol
    level = float("nan")
    for i, extreme in enumerate(adverse):
        if i > 0:
            lp = replay.account.liquidation_price(symbol)
            if lp is not None:
                level = float(lp)
                if (extreme >= level) if short else (extreme <= level):
                    replay.liquidate(i, lp)
                    replay.snapshot(i)
        if i in events:
            process_events(replay, plan, i)
    return build_result(replay, plan.stand_in_marks)


def _same(a: Any, b: Any) -> bool:
    """Every field of two BacktestResults equal, the series element by element."""
    import dataclasses

    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "series":
            for s in dataclasses.fields(x):
                u, v = getattr(x, s.name), getattr(y, s.name)
                if (u is None) != (v is None) or (
                        u is not None and not np.array_equal(u, v, equal_nan=True)):
                    return False
        elif x != y:
            return False
    return True


def _child_rss_mb(simulate: bool) -> tuple[float, float, float]:
    """Peak RSS (MB) of a fresh interpreter: imports only, or building and simulating the year.

    Returns (VmHWM MB, ru_maxrss MB, wall seconds from spawn to exit: the whole process).
    Linux keeps ``ru_maxrss`` across fork and exec, so a child
    started by this (large) process reports at least the parent's size; ``VmHWM`` in
    ``/proc/self/status`` belongs to the child's own address space and is the figure to trust.
    """
    code = (
        "import re, resource, sys; sys.path.insert(0, 'bench'); import bench_backtest as b; "
        + ("h = b.synthetic_year(); i, br = b._market(); "
           "b.run_backtest(b.spec_for(h), h, i, br); " if simulate else "")
        + "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()); "
        "print(hwm.group(1) if hwm else -1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=600)
    wall_s = time.perf_counter() - t0
    hwm_kib, maxrss_kib = out.stdout.split()[-2:]
    return int(hwm_kib) / 1024, int(maxrss_kib) / 1024, wall_s  # Linux reports KiB


def _cli_seconds(repeats: int) -> tuple[float, list[float]]:
    def once() -> None:
        subprocess.run([sys.executable, "-m", "perphedge", *CLI_ARGS], capture_output=True,
                       check=True, timeout=120)
    once()  # warm the OS file cache and Python's bytecode cache
    return _best(once, repeats)


def _numpy_row(history: MarketHistory, instrument: Any, brackets: Any,
               repeats: int) -> tuple[float, float, bool]:
    """Best-of times of the NumPy model and of the engine (static, hourly), and their agreement."""
    import numpy_model

    spec = spec_for(history, policy="static")
    market = numpy_model.market_from(instrument, brackets, spec.fees.taker_rate)
    qty, lev = float(spec.quantity), float(spec.leverage)
    model: list[Any] = []
    np_s, _ = _best(lambda: model.append(numpy_model.run_on(history, qty, lev, market)), repeats)
    run_backtest(spec, history, instrument, brackets)  # warm-up
    engine: list[Any] = []
    eng_s, _ = _best(lambda: engine.append(run_backtest(spec, history, instrument, brackets)),
                     repeats)
    return np_s, eng_s, numpy_model.agrees(model[0], engine[0])


def main() -> None:
    """Measure, print a table and a JSON line for the record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller reference slice")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    t0 = time.perf_counter()
    history = synthetic_year()
    build_s = time.perf_counter() - t0
    instrument, brackets = _market()
    spec = spec_for(history)
    n = len(history)
    run_backtest(spec, history, instrument, brackets)  # warm-up: first-call imports, caches
    sim_s, sim_all = _best(lambda: run_backtest(spec, history, instrument, brackets),
                           args.repeats)
    daily = spec_for(history, decision_interval_ms=86_400_000)
    daily_s, _ = _best(lambda: run_backtest(daily, history, instrument, brackets), args.repeats)
    minutely = spec_for(history, decision_interval_ms=MINUTE_MS)
    minute_s, _ = _best(lambda: run_backtest(minutely, history, instrument, brackets), 1)
    per_decision_us = (minute_s - daily_s) / (n - 365) * 1e6  # the decisions' share
    # Baseline in the same run: the same minute year running the policy at every decision bar
    # (no quiet-band skipping); both must give the same result.
    every_result: list[Any] = []
    every_s, _ = _best(lambda: every_result.append(run_backtest(
        minutely, history, instrument, brackets, skip_quiet=False)), 1)
    every_us = (every_s - daily_s) / (n - 365) * 1e6
    skip_agrees = _same(run_backtest(minutely, history, instrument, brackets), every_result[0])

    # The reference runs the whole year (about 4 s); --quick times 30 days and extrapolates.
    ref_bars = 30 * 24 * 60 if args.quick else n
    part = history.slice(int(history.open_time_ms[0]),
                         int(history.open_time_ms[0]) + ref_bars * MINUTE_MS)
    ref_result: list[Any] = []
    ref_s, _ = _best(lambda: ref_result.append(
        reference.run_reference(spec_for(part), part, instrument, brackets)), 1)
    ref_year_s = ref_s * n / ref_bars
    float_result: list[Any] = []
    float_s, _ = _best(lambda: float_result.append(
        reference_float(spec, history, instrument, brackets)), 1)
    engine_result = run_backtest(spec, history, instrument, brackets)
    float_agrees = (float_result[0].value_end == engine_result.value_end
                    and len(float_result[0].liquidations) == len(engine_result.liquidations))
    agree = args.quick or (
        ref_result[0].value_end == engine_result.value_end
        and ref_result[0].funding_total == engine_result.funding_total
        and ref_result[0].rebalances == engine_result.rebalances
        and len(ref_result[0].liquidations) == len(engine_result.liquidations))

    np_s, engine_static_s, np_agrees = _numpy_row(history, instrument, brackets, args.repeats)

    cli_s, cli_all = _cli_seconds(3)
    runs = [_child_rss_mb(simulate=True) for _ in range(3)]
    rss_sim, maxrss_sim, _ = runs[0]
    whole_s = min(r[2] for r in runs)
    rss_base, maxrss_base, base_s = _child_rss_mb(simulate=False)

    figures = {
        "python": platform.python_version(), "machine": platform.machine(), "bars": n,
        "data_build_s": round(build_s, 3),
        "engine_s": round(sim_s, 4), "engine_runs_s": [round(t, 4) for t in sim_all],
        "engine_bars_per_s": round(n / sim_s), "engine_daily_decisions_s": round(daily_s, 4),
        "engine_minute_decisions_s": round(minute_s, 3),
        "decision_us": round(per_decision_us, 2),
        "engine_minute_every_decision_s": round(every_s, 3),
        "decision_every_us": round(every_us, 2), "skip_quiet_speedup": round(every_s / minute_s, 1),
        "skip_quiet_equal": skip_agrees,
        "whole_process_s": round(whole_s, 3), "interpreter_and_imports_s": round(base_s, 3),
        "reference_slice_bars": ref_bars, "reference_slice_s": round(ref_s, 3),
        "reference_year_s_extrapolated": round(ref_year_s, 2),
        "reference_extrapolated": bool(args.quick), "engine_equals_reference": agree,
        "speedup_vs_reference": round(ref_year_s / sim_s, 1),
        "float_loop_s": round(float_s, 3), "speedup_vs_float_loop": round(float_s / sim_s, 2),
        "engine_equals_float_loop": float_agrees,
        "numpy_model_s": round(np_s, 4), "engine_static_hourly_s": round(engine_static_s, 4),
        "engine_over_numpy": round(engine_static_s / np_s, 2), "engine_equals_numpy": np_agrees,
        "command_s": round(cli_s, 3), "command_runs_s": [round(t, 3) for t in cli_all],
        "peak_rss_mb": round(rss_sim, 1), "baseline_rss_mb": round(rss_base, 1),
        "ru_maxrss_mb": round(maxrss_sim, 1), "ru_maxrss_baseline_mb": round(maxrss_base, 1),
    }
    print(f"synthetic year: {n:,} one-minute bars (built in {build_s:.2f} s)")
    print(f"engine        {sim_s:8.4f} s  {n / sim_s:14,.0f} bars/s   target < {TARGET_SIM_S} s"
          f"  {'OK' if sim_s < TARGET_SIM_S else 'MISSED'}  (median "
          f"{statistics.median(sim_all):.4f} s of {args.repeats})")
    how = (f"timed on {ref_bars:,} bars: {ref_s:.2f} s, extrapolated to the year"
           if args.quick else "the whole year")
    print(f"engine (1d)   {daily_s:8.4f} s  {n / daily_s:14,.0f} bars/s   same year, decisions "
          "once a day instead of every hour")
    print(f"engine (1m)   {minute_s:8.3f} s  a decision every minute: "
          f"{per_decision_us:.2f} µs a decision (the 1m run less the 1d run, per decision)   "
          f"target < {TARGET_MINUTE_S} s, ≤ {TARGET_DECISION_US} µs  "
          f"{'OK' if minute_s < TARGET_MINUTE_S else 'MISSED'}")
    print(f"  every bar   {every_s:8.3f} s  the same run with every decision run (skip_quiet=False,"
          f" the baseline): {every_us:.2f} µs a decision; skipping quiet decisions "
          f"{every_s / minute_s:.1f} x faster, {'same' if skip_agrees else 'DIFFERENT'} result")
    print(f"whole process {whole_s:8.3f} s  (fresh interpreter: imports, build the year, simulate,"
          f" exit; {base_s:.3f} s of it is the interpreter and imports)   target < {TARGET_CMD_S} s"
          f"  {'OK' if whole_s < TARGET_CMD_S else 'MISSED'}")
    print(f"reference     {ref_year_s:8.2f} s  {ref_bars / ref_s:14,.0f} bars/s   ({how}; "
          f"{'same' if agree else 'DIFFERENT'} end value, funding, rebalances, liquidations)")
    print(f"float loop    {float_s:8.2f} s  {n / float_s:14,.0f} bars/s   (the same bar loop, "
          f"liquidation checked in float: the fair baseline; "
          f"{'same' if float_agrees else 'DIFFERENT'} end value and liquidations)")
    print(f"speed-up      {ref_year_s / sim_s:8.1f} x engine vs the Decimal reference loop, "
          f"{float_s / sim_s:.2f} x vs the float loop")
    print(f"numpy model   {np_s:8.4f} s  the static hedge as NumPy segment jumps (bench/numpy_model"
          f".py); engine, static, hourly decisions {engine_static_s:.4f} s: "
          f"{engine_static_s / np_s:.2f} x the model   target engine within 2 x  "
          f"{'OK' if engine_static_s <= 2 * np_s else 'MISSED'}  "
          f"({'same' if np_agrees else 'DIFFERENT'} end value, funding, fees, liquidations)")
    print(f"CLI           {cli_s:8.3f} s  python -m perphedge {' '.join(CLI_ARGS)}   "
          "(bundled real data, 2023-2026 hourly: a different, larger job; for information)")
    print(f"peak memory   {rss_sim:8.1f} MB (child: data + engine; {rss_base:.1f} MB for the "
          f"imports alone, +{rss_sim - rss_base:.1f} MB, x{rss_sim / rss_base:.2f})   "
          f"target < {TARGET_RSS_MB:.0f} MB  {'OK' if rss_sim < TARGET_RSS_MB else 'MISSED'}")
    print(f"              (VmHWM; ru_maxrss says {maxrss_sim:.1f} / {maxrss_base:.1f} MB, "
          "inflated by this parent's size, which Linux carries into children)")
    print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())
