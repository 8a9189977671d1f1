"""The slow reference backtest: the engine's model as a plain bar-by-bar Decimal loop.

Same :class:`~perphedge.backtest.replay.Replay`, same policy, same event plan; the only
difference is that every bar recomputes the liquidation price in Decimal and compares it with
the bar's adverse extreme, instead of a vectorised scan between events. It is the oracle of the
engine's property tests and the baseline of the speed benchmark.
"""

from __future__ import annotations

from perphedge.backtest.engine import EventPlan, process_events, window
from perphedge.backtest.replay import Replay, dec
from perphedge.backtest.result import BacktestResult
from perphedge.backtest.series_build import build_result
from perphedge.backtest.spec import BacktestSpec, HistoryLike
from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument


def run_reference(spec: BacktestSpec, history: HistoryLike, instrument: Instrument,
                  brackets: BracketTable) -> BacktestResult:
    """Replay ``spec`` bar by bar; must agree with :func:`~.engine.run_backtest`."""
    h = window(history, spec.start_ms, spec.end_ms)
    plan = EventPlan.build(spec, h)
    replay = Replay.start(spec, h, instrument, brackets)
    events = set(plan.events)
    short = not spec.purchase
    adverse = h.perp_high if short else h.perp_low
    symbol = instrument.symbol
    for i in range(h.open_time_ms.shape[0]):
        lp = replay.account.liquidation_price(symbol) if i > 0 else None
        if lp is not None:
            extreme = dec(adverse[i])
            if (extreme >= lp) if short else (extreme <= lp):
                replay.liquidate(i, lp)
                replay.snapshot(i)
        if i in events:
            process_events(replay, plan, i)
    return build_result(replay, plan.stand_in_marks)
