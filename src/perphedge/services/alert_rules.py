"""Which alerts a cycle calls for: a pure function of what the cycle showed and of the alerts
already holding (no clock, no store, no network).

Two kinds of alert:

* **conditions** hold for a while (halted, exchange failing, runway low, funding dear, drift
  not corrected): sent when they start, repeated at most every ``repeat_every`` while they
  hold, and followed by a "resolved" message when they clear. A condition that a cycle could
  not judge (no observation: the exchange failed) keeps its previous state.
* **events** happen once (opened, closed, margin moved or spot sold to save the hedge, the
  policy's and the reconciliation's ``ALERT`` lines: reserve exhausted, liquidated, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from perphedge.config.models import AlertsConfig, parse_interval_ms


@dataclass(frozen=True, slots=True)
class AlertRules:
    """Thresholds, parsed once from ``[alerts]``."""

    runway_below_pct: Decimal | None = Decimal(15)
    funding_cost_above_pct_per_year: Decimal | None = Decimal(20)
    repeat_every_ms: int = 3_600_000
    failing_cycles: int = 3
    drift_cycles: int = 3

    @classmethod
    def from_config(cls, config: AlertsConfig) -> AlertRules:
        return cls(config.runway_below_pct, config.funding_cost_above_pct_per_year,
                   parse_interval_ms(config.repeat_every), config.failing_cycles,
                   config.drift_cycles)


@dataclass(frozen=True, slots=True)
class CycleFacts:
    """What one cycle of one hedge showed, as the alert rules need it."""

    hedge_id: str
    ts_ms: int
    status: str  # a CycleReport status: acted, idle, refused, error, paused, …
    state: str | None  # the hedge's state in the store after the cycle
    lines: tuple[str, ...] = ()
    observed: bool = False  # the cycle observed the account (figures below are current)
    failing_cycles: int = 0
    drifted_cycles: int = 0
    drift_pct: Decimal | None = None
    runway_pct: Decimal | None = None
    funding_cost_pct_per_year: Decimal | None = None
    #: A purchase hedge: funding paid so far as a share of the locked value (%).
    funding_paid_pct_of_locked: Decimal | None = None
    opened: bool = False
    closed: bool = False
    rescues: tuple[str, ...] = ()  # margin moved or spot sold to keep the hedge alive


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to send."""

    key: str
    hedge_id: str | None
    kind: str  # event | fire | repeat | resolved
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Holding:
    """A condition being alerted on: since when, and when it was last sent."""

    key: str
    hedge_id: str | None
    title: str
    since_ms: int
    last_sent_ms: int


# A condition: None when this cycle cannot tell, else (holds, title, body).
Judgement = tuple[bool, str, str] | None


def _pct(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))} %"


def _halted(f: CycleFacts) -> Judgement:
    holds = f.status == "refused" or f.state == "halted"
    reason = "; ".join(x for x in f.lines if x.startswith("REFUSED")) or "; ".join(f.lines[-2:])
    return holds, f"{f.hedge_id}: halted", f"the hedge is halted and does not act: {reason}"


def _failing(f: CycleFacts, rules: AlertRules) -> Judgement:
    if f.status in ("paused", "closed"):
        return None
    last = next((x for x in reversed(f.lines) if "error" in x), "")
    return (f.failing_cycles >= rules.failing_cycles, f"{f.hedge_id}: exchange failing",
            f"the exchange failed {f.failing_cycles} cycles in a row: {last}")


def _runway(f: CycleFacts, rules: AlertRules) -> Judgement:
    if not f.observed or rules.runway_below_pct is None:
        return None
    low = f.runway_pct is not None and f.runway_pct < rules.runway_below_pct
    shown = "—" if f.runway_pct is None else _pct(f.runway_pct)
    return (low, f"{f.hedge_id}: runway below {_pct(rules.runway_below_pct)}",
            f"liquidation is {shown} of price away (alert below "
            f"{_pct(rules.runway_below_pct)})")


def _funding(f: CycleFacts, rules: AlertRules) -> Judgement:
    limit = rules.funding_cost_above_pct_per_year
    if not f.observed or limit is None or f.funding_cost_pct_per_year is None:
        return None
    body = (f"the hedge's funding costs {_pct(f.funding_cost_pct_per_year)} per year "
            f"(alert above {_pct(limit)})")
    if f.funding_paid_pct_of_locked is not None:
        body += f"; funding paid so far: {_pct(f.funding_paid_pct_of_locked)} of the locked value"
    return f.funding_cost_pct_per_year > limit, f"{f.hedge_id}: funding cost high", body


def _drift(f: CycleFacts, rules: AlertRules) -> Judgement:
    if not f.observed:
        return None
    shown = "—" if f.drift_pct is None else _pct(f.drift_pct)
    return (f.drifted_cycles >= rules.drift_cycles, f"{f.hedge_id}: drift not corrected",
            f"the hedge is {shown} off its target for {f.drifted_cycles} cycles")


def conditions(facts: CycleFacts, rules: AlertRules) -> dict[str, Judgement]:
    """Each condition's key and judgement for this cycle."""
    h = facts.hedge_id
    return {
        f"{h}:halted": _halted(facts),
        f"{h}:exchange_failing": _failing(facts, rules),
        f"{h}:runway_low": _runway(facts, rules),
        f"{h}:funding_cost_high": _funding(facts, rules),
        f"{h}:drift_uncorrected": _drift(facts, rules),
    }


def events(facts: CycleFacts) -> list[Notice]:
    """One-off alerts of this cycle (each key carries the cycle's time: never deduplicated)."""
    h, ts = facts.hedge_id, facts.ts_ms
    out: list[Notice] = []
    if facts.opened:
        out.append(Notice(f"{h}:opened:{ts}", h, "event", f"{h}: hedge opened",
                          "; ".join(facts.lines) or "the hedge is open"))
    if facts.closed:
        out.append(Notice(f"{h}:closed:{ts}", h, "event", f"{h}: hedge closed",
                          "the hedge was closed; the service leaves it alone"))
    if facts.rescues:
        out.append(Notice(f"{h}:rescue:{ts}", h, "event", f"{h}: acted to save the hedge",
                          "; ".join(facts.rescues)))
    for line in facts.lines:
        if line.startswith("ALERT "):
            code = line.removeprefix("ALERT ").split(":")[0].split(" ")[0]
            out.append(Notice(f"{h}:{code}:{ts}", h, "event",
                              f"{h}: {code.replace('_', ' ')}", line.removeprefix("ALERT ")))
    return out


def evaluate(facts: CycleFacts, rules: AlertRules, previous: Mapping[str, Holding]
             ) -> tuple[list[Notice], dict[str, Holding]]:
    """The notices of a cycle, and the hedge's conditions holding after it.

    ``previous``: the conditions of this hedge that held before the cycle.
    """
    now = facts.ts_ms
    notices = events(facts)
    holding: dict[str, Holding] = {}
    for key, judgement in conditions(facts, rules).items():
        before = previous.get(key)
        if judgement is None:
            if before is not None:
                holding[key] = before
            continue
        holds, title, body = judgement
        if holds and before is None:
            notices.append(Notice(key, facts.hedge_id, "fire", title, body))
            holding[key] = Holding(key, facts.hedge_id, title, now, now)
        elif holds and before is not None and now - before.last_sent_ms >= rules.repeat_every_ms:
            notices.append(Notice(key, facts.hedge_id, "repeat", f"{title} (still)", body))
            holding[key] = replace(before, last_sent_ms=now)
        elif holds and before is not None:
            holding[key] = before
        elif before is not None:
            notices.append(Notice(key, facts.hedge_id, "resolved", f"resolved: {before.title}",
                                  f"{before.title}: no longer the case"))
    return notices, holding
