"""Use case: replay a hedge on real history (``perphedge backtest``): one policy, all, or a sweep.

Options arrive as typed values (the CLI parses the user's text with ``perphedge.parse`` at the
edge). The checks that need the data or the contract (a start in a hole, selling more than is
held, a quantity above the contract's largest order) and those across options are made here,
each error naming its CLI option. The history is loaded once and sliced per run; the engine
does the simulation. A sweep of monthly start dates reports, per policy, how often the hedge
was liquidated, its worst deviation from the locked value, and the funding and fees it met.
Progress is reported through an optional callback so a CLI can draw a bar and a web layer a
percentage; nothing here draws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path

import numpy as np

from perphedge.adapters.compute import InProcess, JobRunner
from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.adapters.marketdata.bundled_futures import (
    bundled_cme_second_month,
    bundled_delivery_instruments,
    bundled_quarterlies,
    cme_instrument,
)
from perphedge.adapters.marketdata.history import MarketHistory, iso_utc, load_history
from perphedge.backtest.contracts import DeliveryCurve
from perphedge.backtest.engine import run_backtest
from perphedge.backtest.exposure import ExposureChange
from perphedge.backtest.result import BacktestResult
from perphedge.backtest.spec import BacktestSpec
from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.types import MarginMode
from perphedge.errors import InputError
from perphedge.parse import timeframe_name
from perphedge.planning.policies import POLICIES as POLICY_TABLE
from perphedge.planning.policies import policy_names
from perphedge.services.backtest_view import worst_deviation_pct

#: The perpetual policies (static, managed, reserve): --compare runs them all.
POLICIES = tuple(POLICY_TABLE)
#: --compare-instruments: the same managed hedge in the perpetual and in quarterly contracts.
INSTRUMENT_POLICIES = ("managed", "quarterly")
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
DEFAULT_HORIZON_DAYS = 180

#: Reports progress as (runs done, runs in total).
ProgressCallback = Callable[[int, int], None]


class DeliveryData(Enum):
    """--delivery-data: which delivery prices --compare-instruments and the carry policies use."""

    BINANCE = "binance"  # the USDⓈ-M quarterlies
    CME = "cme"  # the CME second-month chain (a caveated stand-in)


@dataclass(frozen=True, slots=True)
class BacktestOptions:
    """What to replay, as typed values: what ``perphedge.parse`` makes of the user's text at
    the edge (the CLI), so a quantity is a finite positive Decimal, an interval whole hours.

    Times are Unix ms (UTC); ``end_ms`` None runs to the end of the data (or to a hole in it).
    ``funding_threshold`` is a fraction a year (0.10 for ``--funding-threshold 10``).
    ``exposure`` holds the parsed ``--add-daily``, ``--sell`` and ``--exposure-csv`` changes.
    """

    asset: str
    quantity: Decimal
    start_ms: int
    end_ms: int | None = None
    leverage: Decimal = Decimal(2)
    policy: str = "static"
    purchase: bool = False
    compare: bool = False
    horizon_days: int | None = None
    decision_interval_ms: int = HOUR_MS
    margin_mode: MarginMode = MarginMode.ISOLATED
    reserve_usdt: Decimal | None = None
    exposure: tuple[ExposureChange, ...] = ()
    compare_instruments: bool = False
    roll_days: int = 7
    switch_to_delivery: bool = False
    funding_threshold: Decimal = Decimal("0.10")
    delivery_data: DeliveryData = DeliveryData.BINANCE
    data: Path | None = None
    data_interval_ms: int = HOUR_MS


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """One or several policies replayed over the same period."""

    quantity: Decimal
    results: tuple[BacktestResult, ...]
    sources: tuple[str, ...]
    compare_instruments: bool = False


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One start date of a sweep under one policy."""

    policy: str
    start_ms: int
    end_ms: int  # the end of the data the run actually covered, not the end asked for
    liquidated_ms: int | None
    worst_deviation_pct: Decimal
    funding_total: Decimal
    fees_total: Decimal
    value_start: Decimal = Decimal(0)
    deviation_min_pct: Decimal = Decimal(0)  # excluding funding
    deviation_max_pct: Decimal = Decimal(0)  # excluding funding
    fees_pct: Decimal = Decimal(0)  # fees as % of value_start
    rebalances: int = 0
    refusals: int = 0


@dataclass(frozen=True, slots=True)
class SweepSummary:
    """A policy across every start date: how often it failed and what it cost."""

    policy: str
    runs: int
    liquidated: int
    worst_deviation_pct: Decimal
    worst_start_ms: int
    funding_total: Decimal
    fees_total: Decimal


@dataclass(frozen=True, slots=True)
class Sweep:
    """Runs from monthly start dates, each to ``--end`` or for ``horizon_days``."""

    asset: str
    quantity: Decimal
    leverage: Decimal
    horizon_days: int | None
    rows: tuple[SweepRow, ...]
    summaries: tuple[SweepSummary, ...]
    sources: tuple[str, ...]


def _policies(options: BacktestOptions) -> tuple[str, ...]:
    names = policy_names()
    if options.policy not in names:
        raise InputError("--policy", f"one of {', '.join(names)}", options.policy)
    if options.compare and options.compare_instruments:
        raise InputError("--compare-instruments", "not together with --compare", "both")
    if options.compare_instruments:
        extra = () if options.policy in (*INSTRUMENT_POLICIES, *POLICIES) else (options.policy,)
        return (*INSTRUMENT_POLICIES, *extra)
    return POLICIES if options.compare else (options.policy,)


@dataclass(frozen=True, slots=True)
class _Checked:
    """Options checked across each other, with what is derived from them (the policies to
    run, whether delivery prices are needed); shared by single runs and sweeps."""

    asset: str
    quantity: Decimal
    leverage: Decimal
    start_ms: int
    end_ms: int | None
    policies: tuple[str, ...]
    decision_interval_ms: int
    margin_mode: MarginMode
    reserve_usdt: Decimal | None
    exposure: tuple[ExposureChange, ...]
    roll_days: int = 7
    switch_to_delivery: bool = False
    funding_threshold: Decimal = Decimal("0.10")
    deliveries: bool = False
    delivery_data: DeliveryData = DeliveryData.BINANCE


def _check(options: BacktestOptions) -> _Checked:
    """The checks across options (each naming its CLI option); the values themselves were
    checked when the edge parsed them."""
    if options.end_ms is not None and options.end_ms <= options.start_ms:
        raise InputError("--end", f"a date after --start ({iso_utc(options.start_ms)})",
                         iso_utc(options.end_ms))
    return _Checked(
        asset=options.asset.upper(), quantity=options.quantity, leverage=options.leverage,
        start_ms=options.start_ms, end_ms=options.end_ms, policies=_policies(options),
        decision_interval_ms=options.decision_interval_ms,
        margin_mode=options.margin_mode,
        reserve_usdt=options.reserve_usdt,
        exposure=options.exposure,
        roll_days=_roll_days(options.roll_days),
        switch_to_delivery=options.switch_to_delivery,
        funding_threshold=options.funding_threshold,
        deliveries=options.compare_instruments or options.policy not in POLICIES,
        delivery_data=_delivery_data(options),
    )


def _delivery_data(options: BacktestOptions) -> DeliveryData:
    """``binance`` (the quarterlies) or ``cme`` (the second-month chain, a separate, caveated
    comparison: only ``--compare-instruments``, managed vs quarterly)."""
    cme = options.delivery_data is DeliveryData.CME
    if cme and not (options.compare_instruments
                    and options.policy in (*INSTRUMENT_POLICIES, *POLICIES)):
        raise InputError("--delivery-data", "cme only with --compare-instruments (the "
                         "perpetual against the CME second-month chain; no carry policy)",
                         options.delivery_data.value)
    return options.delivery_data


def _roll_days(days: int) -> int:
    if days < 0:
        raise InputError("--roll-days", "a whole number of days of 0 or more", days)
    return days


def delivery_curves(asset: str) -> tuple[DeliveryCurve, ...]:
    """The bundled delivery contracts on ``asset`` with their daily closes (none: empty).

    A daily close is known when its bar ends, one day after the bar's open.
    """
    closes = bundled_quarterlies(asset)
    out = []
    for inst in bundled_delivery_instruments(asset):
        mine = [c for c in closes if c.symbol == inst.symbol]
        if mine:
            out.append(DeliveryCurve(
                inst, np.array([c.open_time_ms + DAY_MS for c in mine], dtype=np.int64),
                np.array([float(c.close) for c in mine], dtype=np.float64),
                np.array([float(c.spot_close) for c in mine], dtype=np.float64)))
    return tuple(out)


def cme_chain_curves() -> tuple[DeliveryCurve, ...]:
    """The CME bitcoin second-month chain as delivery curves: each contract's closes (known
    at 16:00 Chicago), quoted until the next contract's first close takes its place in the
    series (the series' own switch date), so the quarterly policy rolls there."""
    closes = bundled_cme_second_month()
    symbols = list(dict.fromkeys(c.symbol for c in closes))
    out = []
    for k, symbol in enumerate(symbols):
        mine = [c for c in closes if c.symbol == symbol]
        nxt = [c for c in closes if k + 1 < len(symbols) and c.symbol == symbols[k + 1]]
        out.append(DeliveryCurve(
            cme_instrument(symbol, mine[0].expiry_ms),
            np.array([c.close_ms for c in mine], dtype=np.int64),
            np.array([float(c.close) for c in mine], dtype=np.float64),
            np.array([float(c.spot_close) for c in mine], dtype=np.float64),
            last_quote_ms=nxt[0].close_ms if nxt else mine[-1].close_ms + DAY_MS))
    return tuple(out)


def _deliveries(c: _Checked) -> tuple[DeliveryCurve, ...]:
    if not c.deliveries:
        return ()
    if c.delivery_data is DeliveryData.CME:
        if c.asset != "BTC":
            raise InputError("--asset", "BTC (the CME chain is bitcoin)", c.asset)
        return cme_chain_curves()
    curves = delivery_curves(c.asset)
    if not curves:
        raise InputError("--asset", "an asset with bundled delivery prices (BTC) for the "
                         "carry policies and --compare-instruments", c.asset)
    return curves


def _check_exposure_dates(
    changes: tuple[ExposureChange, ...], start_ms: int, end_ms: int
) -> None:
    """A dated exposure change outside the replay would be silently ignored: refuse it."""
    for change in changes:
        if change.ts_ms is not None and not start_ms <= change.ts_ms < end_ms:
            field = "--sell" if change.note.startswith("sell") else "--exposure-csv"
            raise InputError(
                field,
                f"a date between {iso_utc(start_ms)} and {iso_utc(end_ms)} (the replay)",
                f"{change.note} at {iso_utc(change.ts_ms)}",
            )


#: A step between bars longer than this is a hole in the data, not an outage.
HOLE_MS = 3 * 86_400_000


def _history(c: _Checked, options: BacktestOptions) -> MarketHistory:
    """The bundled history, or the user's own file with ``--data`` (see docs/data.md).

    A replay never runs across a hole in the data (ETH's hourly bars stop in 2021-06 and
    resume in 2025-09): a position held through it would meet years of price change in one
    bar. With no ``--end`` the run stops at the hole, and says so; an ``--end`` past it is
    refused.
    """
    path = options.data
    interval = "1h" if path is None else timeframe_name(options.data_interval_ms)
    history = load_history(c.asset, start_ms=c.start_ms, end_ms=c.end_ms, interval=interval,
                           path=path)
    if int(history.open_time_ms[0]) - c.start_ms > max(HOLE_MS, 3 * history.interval_ms):
        # --start fell in a hole: the replay would silently begin years later.
        full = load_history(c.asset, interval=interval, path=path).open_time_ms
        k = int(np.searchsorted(full, c.start_ms))
        raise InputError("--start", f"a date with {c.asset} data (it has a hole from "
                         f"{iso_utc(int(full[k - 1]))} to {iso_utc(int(full[k]))})",
                         iso_utc(c.start_ms))
    steps = np.diff(history.open_time_ms)
    holes = np.flatnonzero(steps > max(HOLE_MS, 3 * history.interval_ms))
    if not holes.size:
        return history
    k = int(holes[0])
    last_ms = int(history.open_time_ms[k])
    resume_ms = int(history.open_time_ms[k + 1])
    hole = f"{iso_utc(last_ms)} to {iso_utc(resume_ms)}"
    if c.end_ms is not None:
        raise InputError("--end", f"a date before the hole in the {c.asset} data ({hole}), "
                         "or a --start after it", iso_utc(c.end_ms))
    clipped = history.slice(int(history.open_time_ms[0]), last_ms + history.interval_ms)
    note = f"the data has a hole from {hole}: the run stops at {iso_utc(last_ms)}"
    return replace(clipped, sources=(*clipped.sources, note))


def _market(asset: str) -> tuple[Instrument, BracketTable]:
    instrument = BundledMarketData().instrument(asset)
    return instrument, bundled_brackets(instrument.symbol)


def _spec(c: _Checked, policy: str, start_ms: int, end_ms: int, purchase: bool) -> BacktestSpec:
    return BacktestSpec(
        asset=c.asset, quantity=c.quantity, purchase=purchase, policy=policy,
        leverage=c.leverage, margin_mode=c.margin_mode,
        decision_interval_ms=c.decision_interval_ms, exposure_changes=c.exposure,
        reserve_usdt=c.reserve_usdt, start_ms=start_ms, end_ms=end_ms,
        roll_days_before_expiry=c.roll_days, switch_to_delivery=c.switch_to_delivery,
        funding_threshold_per_year=c.funding_threshold,
    )


def _check_order_size(c: _Checked, instrument: Instrument) -> None:
    """Today the replay opens the hedge in one order: one above the contract's largest order
    would be refused on every bar and the run would show an unhedged holding as 'held'."""
    if instrument.max_qty is not None and c.quantity > instrument.max_qty:
        raise InputError("--quantity", f"at most {instrument.max_qty} {c.asset} (the largest "
                         f"order {instrument.symbol} takes; the backtest opens the hedge in "
                         "one order)", c.quantity)


def _check_sells(c: _Checked) -> None:
    """A dated sale of more than is held then would make the holding negative: refuse it."""
    recurring = [x for x in c.exposure if x.every_ms is not None]
    dated = sorted((x for x in c.exposure if x.ts_ms is not None), key=lambda x: x.ts_ms or 0)
    moved = Decimal(0)
    for change in dated:
        at = change.ts_ms or 0
        moved += change.qty_base
        added = sum((x.qty_base * max(0, (at - c.start_ms) // (x.every_ms or 1))
                     for x in recurring), Decimal(0))
        held = c.quantity + added + moved
        if held < 0:
            field = "--sell" if change.note.startswith("sell") else "--exposure-csv"
            shown = change.note.removeprefix("sell ")
            raise InputError(field, f"a sale of at most the quantity held then ("
                             f"{held - change.qty_base} {c.asset})", shown)


def run_backtests(
    options: BacktestOptions, progress: ProgressCallback | None = None
) -> BacktestRun:
    """Replay the chosen policy (or every policy with ``compare``) from ``--start`` to ``--end``."""
    c = _check(options)
    _check_sells(c)
    history = _history(c, options)
    instrument, brackets = _market(c.asset)
    _check_order_size(c, instrument)
    deliveries = _deliveries(c)
    start_ms, end_ms = int(history.open_time_ms[0]), history.end_ms
    _check_exposure_dates(c.exposure, start_ms, end_ms)
    results: list[BacktestResult] = []
    for policy in c.policies:
        spec = _spec(c, policy, start_ms, end_ms, options.purchase)
        results.append(run_backtest(spec, history, instrument, brackets, deliveries))
        if progress is not None:
            progress(len(results), len(c.policies))
    return BacktestRun(c.quantity, tuple(results), (*history.sources, *_delivery_sources(
        deliveries, c.delivery_data)), options.compare_instruments)


#: What stands in for what in the CME comparison (run notes, JSON sources, report caveats).
CME_CAVEATS = (
    "CME bitcoin second-month chain (BTC, 5 BTC a contract, USD), Bloomberg PX_LAST daily "
    "closes via francisliu2/optimal_hedging_ratio_copula (../shared/data/PROVENANCE.md): a "
    "separate, caveated comparison, not Binance quarterlies",
    "CME closes are ~16:00 Chicago (21:00-22:00 UTC); each close's premium over the Binance "
    "spot close of that hour is carried onto the hourly bars (weekends and holidays "
    "included); the contract's own intraday moves are not seen",
    "the hedge rolls into the next contract when the series switches (the nearby contract's "
    "expiry), at the old contract's last premium; no CME expiry is reached",
    "quantities in steps of 0.001 BTC, not whole 5-BTC CME contracts (the hedge funds its "
    "margin by selling a little spot); USD is booked as USDT; no funding; Binance's taker "
    "fee stands in for CME fees and commissions; the Binance perpetual's margin brackets "
    "stand in for CME margin",
)


def _delivery_sources(deliveries: Sequence[DeliveryCurve],
                      data: DeliveryData = DeliveryData.BINANCE) -> tuple[str, ...]:
    if not deliveries:
        return ()
    if data is DeliveryData.CME:
        return CME_CAVEATS
    names = ", ".join(d.instrument.symbol for d in deliveries)
    return (f"delivery contracts {names}: Binance USDⓈ-M quarterly daily closes via "
            "zwmjj/funding-rate-arb (docs/carry.md), carried forward onto the hourly bars; "
            "the CME futures file is not used here (monthly USD contracts with other close "
            "times; see --delivery-data cme)",)


def monthly_starts(start_ms: int, last_start_ms: int) -> list[int]:
    """``start_ms`` and the same day of every following month up to ``last_start_ms``.

    Days past the 28th move to the 28th so that every month has the date.
    """
    first = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    out: list[int] = []
    k = 0
    while True:
        month = first.month - 1 + k
        moment = first.replace(year=first.year + month // 12, month=month % 12 + 1,
                               day=min(first.day, 28) if k else first.day)
        ms = int(moment.timestamp() * 1000)
        if ms > last_start_ms:
            return out
        out.append(ms)
        k += 1


def _windows(c: _Checked, horizon_days: int | None, data_end_ms: int) -> list[tuple[int, int]]:
    """(start, end) of each sweep run: to ``--end``, or ``horizon_days`` long within the data."""
    limit = data_end_ms if c.end_ms is None else c.end_ms
    if horizon_days is None and c.end_ms is not None:
        return [(s, limit) for s in monthly_starts(c.start_ms, limit - DAY_MS)]
    horizon_ms = (horizon_days or DEFAULT_HORIZON_DAYS) * DAY_MS
    return [(s, s + horizon_ms) for s in monthly_starts(c.start_ms, limit - horizon_ms)]


def sweep_row(policy: str, start_ms: int, result: BacktestResult) -> SweepRow:
    """One sweep row from a run; its end is where the data ended, not the end asked for."""
    return SweepRow(
        policy=policy, start_ms=start_ms, end_ms=result.end_ms,
        liquidated_ms=result.liquidations[0].ts_ms if result.liquidations else None,
        worst_deviation_pct=worst_deviation_pct(result),
        funding_total=result.funding_total, fees_total=result.fees_total,
        value_start=result.value_start, deviation_min_pct=result.deviation_min_pct,
        deviation_max_pct=result.deviation_max_pct, fees_pct=result.fees_pct,
        rebalances=result.rebalances, refusals=result.refusals,
    )


def summarise(rows: Sequence[SweepRow], policies: Sequence[str]) -> tuple[SweepSummary, ...]:
    """Per policy: runs, runs liquidated, the worst deviation (and its start), funding, fees."""
    out = []
    for policy in policies:
        mine = [r for r in rows if r.policy == policy]
        if not mine:
            continue
        worst = max(mine, key=lambda r: r.worst_deviation_pct)
        out.append(SweepSummary(
            policy=policy, runs=len(mine),
            liquidated=sum(r.liquidated_ms is not None for r in mine),
            worst_deviation_pct=worst.worst_deviation_pct, worst_start_ms=worst.start_ms,
            funding_total=sum((r.funding_total for r in mine), Decimal(0)),
            fees_total=sum((r.fees_total for r in mine), Decimal(0)),
        ))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _SweepInputs:
    """What every run of a sweep reads (sent to each worker once)."""

    checked: _Checked
    history: MarketHistory
    instrument: Instrument
    brackets: BracketTable
    deliveries: tuple[DeliveryCurve, ...]
    purchase: bool


def _sweep_run(inputs: _SweepInputs, job: tuple[int, int, str]) -> SweepRow:
    """One run of a sweep: ``policy`` from ``start_ms`` to ``end_ms`` (a top-level function, so
    that worker processes and cluster workers can be handed it)."""
    start_ms, end_ms, policy = job
    spec = _spec(inputs.checked, policy, start_ms, end_ms, inputs.purchase)
    part = inputs.history.slice(start_ms, end_ms)
    result = run_backtest(spec, part, inputs.instrument, inputs.brackets, inputs.deliveries)
    return sweep_row(policy, start_ms, result)


def run_sweep(options: BacktestOptions, progress: ProgressCallback | None = None,
              runner: JobRunner | None = None) -> Sweep:
    """Run every policy asked for from each monthly start date (``--starts monthly``).

    The runs are independent: ``runner`` spreads them over processes or a cluster (default: in
    this process) and hands the rows back in order, so the sweep is the same either way.
    """
    if options.horizon_days is not None and options.horizon_days < 1:
        raise InputError("--horizon-days", "a whole number of days of at least 1",
                         options.horizon_days)
    c = _check(options)
    _check_sells(c)
    history = _history(c, options)
    _check_order_size(c, _market(c.asset)[0])
    windows = _windows(c, options.horizon_days, history.end_ms)
    if not windows:
        raise InputError("--start", "a start leaving room for at least one run of "
                         f"{options.horizon_days or DEFAULT_HORIZON_DAYS} days before the end "
                         "of the data (or give --end)", iso_utc(c.start_ms))
    instrument, brackets = _market(c.asset)
    shared = _SweepInputs(c, history, instrument, brackets, _deliveries(c), options.purchase)
    jobs = [(start_ms, end_ms, policy) for start_ms, end_ms in windows for policy in c.policies]
    rows = (runner or InProcess()).map(_sweep_run, shared, jobs, progress)
    horizon = None if options.horizon_days is None and c.end_ms is not None else (
        options.horizon_days or DEFAULT_HORIZON_DAYS)
    return Sweep(c.asset, c.quantity, c.leverage, horizon, tuple(rows),
                 summarise(rows, c.policies), history.sources)

