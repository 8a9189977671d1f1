"""``perphedge exchange serve`` lists and prices the bundled Binance quarterlies when its replay
starts inside them (2025-09 .. 2026-04), and a position held to expiry is delivered."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal

import ccxt

from perphedge.domain.types import MarginMode, Side
from perphedge.engine.venue import Market, OrderRequest
from perphedge.exchange.market import (
    ReplayClock,
    ReplayMarket,
    bundled_delivery_paths,
    bundled_path,
)
from perphedge.paper.venue import PaperVenue, paper_exchange
from tests.integration.local_exchange_fixture import point_ccxt_at

HOUR = 3_600_000
MAR_10 = 1_773_100_800_000  # 2026-03-10 00:00 UTC
EXPIRY = 1_774_598_400_000  # BTCUSDT_260327 delivers 2026-03-27 08:00 UTC
NEAR, NEXT = "BTCUSDT_260327", "BTCUSDT_260626"


def test_serve_lists_the_quarterlies_priced_at_their_premium_over_the_perpetual() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "perphedge", "exchange", "serve", "--port", "0", "--speed", "0",
         "--start", "2026-03-10", "--api-key", "k", "--api-secret", "s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    client = None
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" on ", 1)[1].split(" ", 1)[0]
        client = point_ccxt_at(ccxt.binanceusdm({"apiKey": "k", "secret": "s",
                                                 "timeout": 5000}), url)
        info = client.fapiPublicGetExchangeInfo()
        kinds = {s["symbol"]: (s["contractType"], s["status"]) for s in info["symbols"]}
        assert kinds[NEAR] == ("CURRENT_QUARTER", "TRADING")
        assert kinds[NEXT] == ("NEXT_QUARTER", "TRADING")
        near = Decimal(client.fapiPublicGetPremiumIndex({"symbol": NEAR})["markPrice"])
        perp = Decimal(client.fapiPublicGetPremiumIndex({"symbol": "BTCUSDT"})["markPrice"])
        nxt = Decimal(client.fapiPublicGetPremiumIndex({"symbol": NEXT})["markPrice"])
        # March 2026: the quarterlies traded at a small, term-ordered premium to the perpetual.
        assert perp < near < nxt
        assert near / perp - 1 < Decimal("0.01")
    finally:
        if client is not None:
            client.close()
        proc.terminate()
        proc.communicate(timeout=10)


def test_before_the_quarterly_data_nothing_but_the_perpetuals_is_listed() -> None:
    perp = bundled_path("BTC", "1h")
    assert bundled_delivery_paths(perp, 1_709_251_200_000) == []  # 2024-03-01


def test_a_short_in_the_near_quarterly_is_delivered_at_expiry() -> None:
    perp = bundled_path("BTC", "1h")
    start = EXPIRY - 2 * HOUR
    clock = ReplayClock(MAR_10, speed=0)
    paths = {"BTCUSDT": perp, **{p.symbol: p for p in bundled_delivery_paths(perp, MAR_10)}}
    venue = PaperVenue(paper_exchange(ReplayMarket(paths, clock),
                                      {"USDT": Decimal(100000)}, MAR_10))

    async def main() -> tuple[list[str], list[str]]:
        await venue.transfer(Decimal(50000), to=Market.FUTURES)
        await venue.set_margin_mode(NEAR, MarginMode.ISOLATED)
        await venue.set_leverage(NEAR, 2)
        await venue.place_order(OrderRequest("ph-q-1", Market.FUTURES, NEAR, Side.SHORT,
                                             Decimal("0.5")))
        held = [p.symbol for p in await venue.positions()]
        clock.advance(start - MAR_10 + 3 * HOUR)  # past 08:00 on 2026-03-27
        after = [p.symbol for p in await venue.positions()]
        return held, after

    held, after = asyncio.run(main())
    assert held == [NEAR]
    assert after == []
    ((ts, symbol, price),) = venue.exchange.deliveries
    assert (ts, symbol) == (EXPIRY, NEAR)
    assert price > 0
