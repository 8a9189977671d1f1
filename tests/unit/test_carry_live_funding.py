"""Live carry policies read the perpetual's funding history through the venue port."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from perphedge.config.models import HedgeConfig
from perphedge.engine.observe import build_state, observe
from perphedge.engine.venue import ReadsFundingRates
from perphedge.exchange.market import PricePath, ReplayClock, ReplayMarket
from perphedge.paper.venue import PaperVenue, paper_exchange
from perphedge.planning.carry_policies import trailing_funding_per_year

BTC = "BTCUSDT"
HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01
FUNDING = [(T0 + 2 * HOUR, "0.0003"), (T0 + 5 * HOUR, "-0.0001"), (T0 + 9 * HOUR, "0.0002")]


def hedge(policy: str) -> HedgeConfig:
    return HedgeConfig.model_validate({
        "name": "btc", "account": "main", "asset": "BTC", "exposure": {"source": "balance"},
        "policy": policy, "leverage": 2, "margin_mode": "isolated",
    })


def paper_at(hours: int) -> PaperVenue:
    """A paper venue on a scripted hourly path with three settlements, clock at T0 + hours."""
    clock = ReplayClock(T0 + hours * HOUR, speed=0)
    path = PricePath.scripted(BTC, HOUR, T0, ["40000"] * 12, FUNDING)
    venue = PaperVenue(paper_exchange(ReplayMarket({BTC: path}, clock),
                                      {"USDT": Decimal(50000), "BTC": Decimal(1)}, T0))
    return venue


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_the_paper_venue_serves_the_settlements_up_to_the_replay_clock() -> None:
    venue = paper_at(6)
    assert isinstance(venue, ReadsFundingRates)
    assert run(venue.funding_rates(BTC, T0)) == [(T0 + 2 * HOUR, Decimal("0.0003")),
                                                 (T0 + 5 * HOUR, Decimal("-0.0001"))]
    assert run(venue.funding_rates(BTC, T0 + 3 * HOUR)) == [(T0 + 5 * HOUR, Decimal("-0.0001"))]


def test_observe_fills_funding_settlements_for_auto_and_funding_guard_only() -> None:
    venue = paper_at(6)
    now = T0 + 6 * HOUR
    expected = ((T0 + 2 * HOUR, Decimal("0.0003")), (T0 + 5 * HOUR, Decimal("-0.0001")))
    for policy in ("auto", "funding-guard"):
        obs = run(observe(venue, hedge(policy), now))
        assert obs.funding_settlements == expected, policy
        state = build_state(hedge(policy), obs, opened_before=False)
        assert state.funding_settlements == expected
    # The policy sees a trailing rate now (without the history it would see none).
    assert trailing_funding_per_year(state, 7) is not None
    for policy in ("managed", "quarterly"):
        assert run(observe(venue, hedge(policy), now)).funding_settlements == (), policy
