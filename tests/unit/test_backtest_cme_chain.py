"""The CME second-month chain as delivery curves: quoted until the series switches."""

from __future__ import annotations

import numpy as np

from perphedge.adapters.marketdata.bundled import BundledMarketData
from perphedge.adapters.marketdata.bundled_futures import bundled_cme_second_month
from perphedge.backtest.contracts import ContractBook
from perphedge.services.backtest_service import cme_chain_curves

HOUR = 3_600_000


def test_the_bundled_chain_is_seventeen_contracts_one_after_another() -> None:
    closes = bundled_cme_second_month()
    assert len(closes) == 358
    symbols = list(dict.fromkeys(c.symbol for c in closes))
    assert symbols[0] == "BTCG20"
    assert symbols[-1] == "BTCM21"
    assert len(symbols) == 17
    assert all(c.close_ms < c.expiry_ms for c in closes)
    # 16:00 Chicago: 22:00 UTC in winter, 21:00 UTC in summer.
    hours = {(c.close_ms // HOUR) % 24 for c in closes}
    assert hours == {21, 22}


def test_a_contract_is_quoted_until_the_next_ones_first_close_and_marked_after() -> None:
    curves = cme_chain_curves()
    g20, h20 = curves[0], curves[1]
    switch = int(h20.known_ms[0])
    assert g20.last_quote_ms == switch
    assert switch < g20.expiry_ms  # leaves the series a month before its own expiry
    perp = BundledMarketData().instrument("BTC")
    bars = np.array([switch - HOUR, switch, switch + HOUR], dtype=np.int64)
    price = np.full(3, 9000.0)
    book = ContractBook.build(perp, price, price, price, bars, curves)
    before = {q.symbol for q in book.quotes(0, switch - HOUR)}
    after = {q.symbol for q in book.quotes(1, switch)}
    assert before == {"BTCUSDT", "BTCG20"}
    assert after == {"BTCUSDT", "BTCH20"}
    # Its mark is still carried (a held position can be rolled out at it).
    assert book.marks[book.row("BTCG20"), 2] > 0
