"""The funding-rate history port end to end: the Binance venue over the real async ccxt client
reads ``GET /fapi/v1/fundingRate`` from the local exchange, and ``observe`` hands the
settlements to an ``auto`` hedge."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from pydantic import SecretStr

from perphedge.adapters.exchanges.ccxt_client import Credentials, build_async_client
from perphedge.adapters.exchanges.ccxt_venue import BinanceUsdmVenue, RetryPolicy
from perphedge.config.models import HedgeConfig
from perphedge.engine.observe import Observation, observe
from perphedge.engine.venue import ReadsFundingRates
from tests.integration.local_exchange_fixture import (
    API_KEY,
    API_SECRET,
    HOUR_MS,
    T0_MS,
    local_exchange,
)

CREDS = Credentials(SecretStr(API_KEY), SecretStr(API_SECRET))
BTC = "BTCUSDT"
FUNDING = [(T0_MS + 8 * HOUR_MS, "0.0001"), (T0_MS + 16 * HOUR_MS, "-0.00025"),
           (T0_MS + 24 * HOUR_MS, "0.0003")]
AUTO = HedgeConfig.model_validate({
    "name": "btc", "account": "main", "asset": "BTC", "exposure": {"source": "balance"},
    "policy": "auto", "leverage": 2, "margin_mode": "isolated",
})


def test_the_ccxt_venue_reads_the_funding_rate_history_and_observe_passes_it_on() -> None:
    async def main() -> tuple[list[tuple[int, Decimal]], list[tuple[int, Decimal]],
                              Observation]:
        with local_exchange(funding=FUNDING) as running:
            running.clock.advance(20 * HOUR_MS)  # T0 + 21 h: two settlements so far
            client = build_async_client("binance", running.url, CREDS, timeout_ms=5_000)
            client.enableRateLimit = False
            venue = BinanceUsdmVenue(client, secrets=(API_KEY, API_SECRET),
                                     retry=RetryPolicy.instant())
            try:
                assert isinstance(venue, ReadsFundingRates)
                every = await venue.funding_rates(BTC, T0_MS)
                later = await venue.funding_rates(BTC, T0_MS + 9 * HOUR_MS)
                obs = await observe(venue, AUTO, T0_MS + 21 * HOUR_MS)
            finally:
                await venue.close()
        return every, later, obs

    every, later, obs = asyncio.run(main())
    expected = [(T0_MS + 8 * HOUR_MS, Decimal("0.0001")),
                (T0_MS + 16 * HOUR_MS, Decimal("-0.00025"))]
    assert every == expected
    assert later == expected[1:]
    assert obs.funding_settlements == tuple(expected)
