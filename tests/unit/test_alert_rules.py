"""The alert rules: conditions fire once, repeat at most every repeat_every, resolve when they
clear, and are kept (neither resolved nor fired) by a cycle that could not judge them."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from perphedge.services.alert_rules import AlertRules, CycleFacts, Holding, Notice, evaluate

RULES = AlertRules(runway_below_pct=Decimal(15), funding_cost_above_pct_per_year=Decimal(20),
                   repeat_every_ms=3_600_000, failing_cycles=3, drift_cycles=2)
T0 = 1_000_000_000
CALM = CycleFacts("btc", T0, "idle", "active", observed=True, runway_pct=Decimal(40),
                  drift_pct=Decimal(0), funding_cost_pct_per_year=Decimal(-5))


def run(steps: list[CycleFacts]) -> list[list[Notice]]:
    holding: dict[str, Holding] = {}
    out = []
    for facts in steps:
        notices, holding = evaluate(facts, RULES, holding)
        out.append(notices)
    return out


def kinds(notices: list[Notice]) -> list[tuple[str, str]]:
    return [(n.key, n.kind) for n in notices]


def test_a_low_runway_fires_once_repeats_after_repeat_every_and_resolves() -> None:
    low = replace(CALM, runway_pct=Decimal("12.5"))
    steps = [replace(low, ts_ms=T0 + i * 60_000) for i in range(3)]
    steps.append(replace(low, ts_ms=T0 + 3_600_000))
    steps.append(replace(CALM, ts_ms=T0 + 3_700_000))
    out = run(steps)
    assert kinds(out[0]) == [("btc:runway_low", "fire")]
    assert out[0][0].body == "liquidation is 12.50 % of price away (alert below 15.00 %)"
    assert out[1] == out[2] == []
    assert kinds(out[3]) == [("btc:runway_low", "repeat")]
    assert kinds(out[4]) == [("btc:runway_low", "resolved")]
    assert out[4][0].title == "resolved: btc: runway below 15.00 %"


def test_exchange_failing_waits_for_n_cycles_and_keeps_unjudged_conditions() -> None:
    low = replace(CALM, runway_pct=Decimal(10))
    failing = [replace(CALM, ts_ms=T0 + i, status="error", observed=False, runway_pct=None,
                       failing_cycles=i, lines=("exchange error, will retry: timeout",))
               for i in (1, 2, 3)]
    out = run([low, *failing, replace(low, ts_ms=T0 + 10)])
    assert kinds(out[0]) == [("btc:runway_low", "fire")]
    assert out[1] == out[2] == []  # the runway is not resolved by cycles that saw nothing
    assert kinds(out[3]) == [("btc:exchange_failing", "fire")]
    assert "3 cycles in a row: exchange error, will retry: timeout" in out[3][0].body
    assert kinds(out[4]) == [("btc:exchange_failing", "resolved")]


def test_a_refusal_halts_until_the_hedge_is_active_again() -> None:
    refused = replace(CALM, status="refused", state="halted", observed=False,
                      lines=("REFUSED: the position on BTCUSDT is -2 but the records say 0",))
    out = run([refused, replace(refused, ts_ms=T0 + 1), replace(CALM, ts_ms=T0 + 2)])
    assert kinds(out[0]) == [("btc:halted", "fire")]
    assert "REFUSED: the position on BTCUSDT is -2" in out[0][0].body
    assert out[1] == []
    assert kinds(out[2]) == [("btc:halted", "resolved")]


def test_drift_and_funding_conditions() -> None:
    drifted = replace(CALM, drift_pct=Decimal(-4), drifted_cycles=1,
                      funding_cost_pct_per_year=Decimal(25),
                      funding_paid_pct_of_locked=Decimal("0.8"))
    out = run([drifted, replace(drifted, ts_ms=T0 + 1, drifted_cycles=2)])
    assert kinds(out[0]) == [("btc:funding_cost_high", "fire")]
    assert "funding paid so far: 0.80 % of the locked value" in out[0][0].body
    assert kinds(out[1]) == [("btc:drift_uncorrected", "fire")]


def test_events_are_sent_once_with_their_own_keys() -> None:
    facts = replace(CALM, status="acted", opened=True,
                    lines=("ALERT reserve_exhausted: the margin reserve is used up",
                           "ALERT liquidated: the 1 position on BTCUSDT was liquidated"),
                    rescues=("added 500 USDT of margin to the position",))
    (notices,) = run([facts])
    assert [(n.title, n.kind) for n in notices] == [
        ("btc: hedge opened", "event"), ("btc: acted to save the hedge", "event"),
        ("btc: reserve exhausted", "event"), ("btc: liquidated", "event")]
    assert len({n.key for n in notices}) == 4
