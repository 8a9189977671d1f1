"""The local exchange lists delivery contracts as Binance does and delivers them at expiry."""

from __future__ import annotations

from decimal import Decimal

from perphedge.domain.types import Side
from perphedge.exchange.auth import ApiKeys
from perphedge.exchange.core import ExchangeConfig
from perphedge.exchange.listing import futures_exchange_info, spot_exchange_info
from perphedge.exchange.market import ReplayClock
from perphedge.exchange.state import open_exchange
from tests.e2e.test_live_roll import DAY, HOUR, NEAR, NEAR_EXPIRY, NEXT, PERP, T0, market

NEXT_EXPIRY = 1_782_460_800_000  # 2026-06-26 08:00 UTC


def exchange(clock: ReplayClock):  # type: ignore[no-untyped-def]
    return open_exchange(market(clock), ExchangeConfig(ApiKeys({"k": "s"}), 0),
                         {"USDT": Decimal(100000)}, T0)


def test_quarterlies_are_listed_with_their_contract_type_and_delivery_date() -> None:
    clock = ReplayClock(T0 + HOUR, speed=0)
    ex = exchange(clock)
    rows = {r["symbol"]: r for r in futures_exchange_info(ex)["symbols"]}
    assert (rows[PERP]["contractType"], rows[PERP]["status"]) == ("PERPETUAL", "TRADING")
    assert (rows[NEAR]["contractType"], rows[NEAR]["deliveryDate"]) == (
        "CURRENT_QUARTER", NEAR_EXPIRY)
    assert (rows[NEXT]["contractType"], rows[NEXT]["deliveryDate"]) == (
        "NEXT_QUARTER", NEXT_EXPIRY)
    assert rows[NEAR]["pair"] == rows[NEXT]["pair"] == "BTCUSDT"
    assert [r["symbol"] for r in spot_exchange_info(ex)["symbols"]] == ["BTCUSDT"]
    clock.set(NEAR_EXPIRY + HOUR)  # after its expiry the near contract settles
    rows = {r["symbol"]: r for r in futures_exchange_info(ex)["symbols"]}
    assert rows[NEAR]["status"] == "SETTLING"
    assert rows[NEXT]["contractType"] == "CURRENT_QUARTER"


def test_a_position_is_delivered_at_expiry_at_the_settlement_price_with_pnl_to_the_wallet() -> None:
    clock = ReplayClock(T0 + HOUR, speed=0)
    ex = exchange(clock)
    acct = ex.account
    acct.transfer(Decimal(50000), to="futures", ts_ms=T0 + HOUR)
    acct.set_leverage(NEAR, 2)
    acct.futures_trade(NEAR, Side.SHORT, Decimal(1), Decimal(80500), T0 + HOUR)
    fees = acct.fees_paid_usdt
    clock.set(NEAR_EXPIRY + DAY)
    ex.sync()
    assert acct.position(NEAR).qty_base == 0
    assert ex.deliveries == [(NEAR_EXPIRY, NEAR, Decimal("80300.0"))]
    # Short 1 at 80,500, delivered at 80,300: +200 realised; the wallet is whole again.
    assert acct.futures_wallet_usdt == Decimal(50000) + Decimal(200) - fees
