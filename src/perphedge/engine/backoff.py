"""No refusal loops: a refused order is never sent again unchanged, and refusals are rationed.

The exchange refusing an opening order (Binance -2019 "Margin is insufficient" at a rounding
boundary, say) must not start a loop in which every cycle sends the same order again. Per
hedge, over the last hour (the store's ``rejected`` order rows, so a restart does not reset
the count):

* each recent refusal doubles the price-move allowance the next plan is sized with
  (:func:`perphedge.planning.translate.allowance_after`): the transfer funding a grow
  carries more margin;
* an opening order equal to one refused in the window (same contract, side and quantity)
  and not preceded by more margin in the same plan is cut to what the free margin affords
  with that allowance, or, when no smaller order is valid, not sent ("stops and says so");
* after :data:`MAX_REFUSALS_PER_HOUR` refusals no order that opens or grows the hedge is sent
  until the oldest of them is an hour old; reductions and margin moves still go (they defend
  the position). One cycle can add at most two refusals (an order and its cut), so a hedge
  sees at most ``MAX_REFUSALS_PER_HOUR + 1`` per rolling hour.

The count lives in the store rather than in the engine: a service restarted by systemd after
a crash would otherwise start from zero and loop again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from perphedge.domain.instrument import Instrument
from perphedge.engine.store_port import Refusal
from perphedge.planning.translate import (
    MoneyCall,
    OrderCall,
    RollCall,
    SettingsCall,
    Step,
    allowance_after,
    shrink_for_margin,
)

#: The window refusals are counted over.
HOUR_MS = 3_600_000
#: Refusals per hedge and hour after which nothing opening or growing the hedge is sent.
MAX_REFUSALS_PER_HOUR = 3


@dataclass(frozen=True, slots=True)
class FreeMargin:
    """What an opening order could use now: free futures USDT, the mark, the contract."""

    usdt: Decimal
    price_usdt: Decimal
    instrument: Instrument


def _clock(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _opens(step: Step) -> bool:
    return isinstance(step, RollCall) or (isinstance(step, OrderCall) and step.margin is not None)


def _funds(step: Step) -> bool:
    return isinstance(step, MoneyCall) and step.kind in ("transfer_futures", "margin_add")


def pace(steps: list[Step], refusals: Sequence[Refusal],
         free: FreeMargin) -> tuple[list[Step], list[str]]:
    """The steps with repeats of refused orders changed or dropped; and what was done.

    ``refusals`` are the hedge's refusals of the last :data:`HOUR_MS`.
    """
    if not refusals:
        return steps, []
    if len(refusals) >= MAX_REFUSALS_PER_HOUR:
        if not any(_opens(s) for s in steps):
            return steps, []
        kept = _without_settings([s for s in steps if not _opens(s)])
        until = min(r.ts_ms for r in refusals) + HOUR_MS
        return kept, [f"ALERT refusal_backoff: {len(refusals)} orders refused in the last hour: "
                      f"no order opens or grows the hedge until {_clock(until)}"]
    allowance = allowance_after(len(refusals))
    refused = {(r.symbol, r.side, r.qty_base): r.ts_ms for r in refusals}
    out: list[Step] = []
    lines: list[str] = []
    funded = False
    for step in steps:
        funded = funded or _funds(step)
        key = (step.symbol, step.side.order_side, step.qty_base) \
            if isinstance(step, OrderCall) else None
        if funded or not _opens(step) or key not in refused or not isinstance(step, OrderCall):
            out.append(step)
            continue
        when = _clock(refused[key])
        smaller = shrink_for_margin(step, free.usdt, free.price_usdt, free.instrument, allowance)
        if smaller is None:
            lines.append(f"the order of {step.qty_base} {step.symbol} refused at {when} is not "
                         "sent again unchanged, and nothing smaller fits the free margin: "
                         "waiting for margin or a price move")
            continue
        out.append(smaller)
        lines.append(f"the order of {step.qty_base} {step.symbol} refused at {when} is cut to "
                     f"{smaller.qty_base} (price headroom {(allowance * 100).normalize()} %)")
    return out if any(_opens(s) for s in out) else _without_settings(out), lines


def _without_settings(steps: list[Step]) -> list[Step]:
    """Margin mode and leverage are set for the first order only: none left, none sent."""
    return [s for s in steps if not isinstance(s, SettingsCall)]
