"""Bybit's history as the ledger (real ccxt bybit, loopback Bybit v5 fake): after a fee was
lost and funding settled, the reconciliation makes the store's fees and funding equal the
simulated exchange's; a margin move whose reply is lost cannot be confirmed on Bybit (no
margin history) and is not re-sent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from perphedge.adapters.exchanges.ccxt_venue import CcxtVenue
from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import FillRow, HedgeRow
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.ledger import LedgerReconciler
from perphedge.engine.reconcile import resolve_open_orders
from perphedge.engine.venue import Market, ReadsLedger
from perphedge.errors import ExchangeError
from perphedge.planning.translate import MoneyCall, OrderCall, SettingsCall
from tests.fakes.bybit_v5 import BybitV5
from tests.integration.lossy_proxy import lossy_proxy
from tests.integration.test_ccxt_bybit import BTC, HOUR, bybit, run  # noqa: F401 (fixture)

ZERO = Decimal(0)


def test_bybit_trades_and_funding_reconcile_and_margin_moves_stay_unconfirmed(
        bybit: BybitV5, tmp_path: Path) -> None:  # noqa: F811 (the fixture)
    store = HedgeStore(f"sqlite:///{tmp_path / 'bybit.db'}")
    store.add_hedge(HedgeRow(id="h", account="main", asset="BTC", symbol=BTC,
                             exposure_kind="holding", policy="managed", state="active",
                             created_ms=1, updated_ms=1, spec_json="{}"))
    real_url = bybit.url

    with lossy_proxy(real_url) as (url, faults):
        bybit.url = url  # type: ignore[misc]

        async def body(venue: CcxtVenue) -> list[str]:
            assert isinstance(venue, ReadsLedger)
            executor = LiveExecutor(venue, store, "main")
            await executor.execute([SettingsCall(BTC, MarginMode.ISOLATED, 2),
                                    OrderCall(Market.FUTURES, BTC, Side.SHORT,
                                              Decimal("0.5"))], "h", 1)
            await resolve_open_orders(venue, store, "h", 2)
            with store.session() as s, s.begin():  # the fee went missing (a lost read-back)
                for fill in s.scalars(select(FillRow)):
                    fill.fee_usdt = ZERO
            faults.lose("POST", "/v5/position/add-margin", "drop")
            with pytest.raises(ExchangeError):
                await executor.execute([MoneyCall("margin_add", BTC, Decimal("50"))], "h", 3)
            # Nothing could ever settle it on Bybit: no note kept, no later send held back.
            assert store.ledger().unresolved("h", 0) == []
            bybit.account.exchange.market.clock.advance(8 * HOUR)
            reconciler = LedgerReconciler(venue, store.ledger(), "h", "main", BTC, BTC,
                                          interval_ms=0)
            return await reconciler.reconcile(4, force=True)

        lines = run(bybit, body)
        bybit.url = real_url  # type: ignore[misc]
        assert faults.forwarded["POST /v5/position/add-margin"] == 1

    assert any("fee of order" in line for line in lines), lines
    exchange = bybit.account.exchange
    fees = sum((t.commission for t in exchange.book.trades), ZERO)
    funding = sum((e.amount_usdt for e in exchange.account.ledger if e.kind == "funding"), ZERO)
    assert store.fees_total("h") == fees > 0
    assert funding != 0
    assert store.funding_total("h") == funding
    # The margin move did happen on the exchange, but Bybit cannot say so: not recorded.
    assert [e.kind for e in exchange.account.ledger].count("margin_add") == 1
    assert store.reserve_spent("h") == 0
    store.close()
