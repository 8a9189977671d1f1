"""OKX's history as the ledger (real ccxt okx, loopback OKX v5 fake, a reply-losing proxy):
a transfer and a margin move whose replies are lost are found in the bills and recorded
once, a lost fee is taken from fills-history; after reconciliation the store's fees,
funding, transfers and margin moves equal the simulated exchange's ledger exactly."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from perphedge.adapters.exchanges.ccxt_venue import RetryPolicy, open_ccxt_venue
from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import FillRow, HedgeRow, MarginMoveRow
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.ledger import LedgerReconciler
from perphedge.engine.reconcile import resolve_open_orders
from perphedge.engine.venue import Market, ReadsLedger
from perphedge.planning.translate import MoneyCall, OrderCall, SettingsCall
from tests.integration.lossy_proxy import Faults, lossy_proxy
from tests.integration.test_ccxt_okx import BTC, CREDS, HOUR_MS, okx

ZERO = Decimal(0)


def _moves(store: HedgeStore) -> dict[str, tuple[int, Decimal]]:
    out: dict[str, tuple[int, Decimal]] = {}
    with store.session() as s:
        for row in s.scalars(select(MarginMoveRow)):
            count, total = out.get(row.kind, (0, ZERO))
            out[row.kind] = (count + 1, total + row.amount_usdt)
    return out


async def _scenario(url: str, faults: Faults, store: HedgeStore) -> list[str]:
    venue = open_ccxt_venue("okx", url, CREDS, retry=RetryPolicy.instant(2), timeout_ms=3_000)
    venue._client.enableRateLimit = False  # type: ignore[attr-defined]
    assert isinstance(venue, ReadsLedger)
    executor = LiveExecutor(venue, store, "okx")
    try:
        faults.lose("POST", "/api/v5/asset/transfer", "drop")
        lines = await executor.execute(
            [MoneyCall("transfer_futures", BTC, Decimal("10000")),
             SettingsCall(BTC, MarginMode.ISOLATED, 5),
             OrderCall(Market.FUTURES, BTC, Side.SHORT, Decimal("0.10"))], "h", 1)
        faults.lose("POST", "/api/v5/account/position/margin-balance", "cut")
        lines += await executor.execute([MoneyCall("margin_add", BTC, Decimal("100")),
                                         MoneyCall("transfer_spot", BTC, Decimal("12.5"))],
                                        "h", 1)
        return lines
    finally:
        await venue.close()


async def _reconcile(url: str, store: HedgeStore) -> list[str]:
    venue = open_ccxt_venue("okx", url, CREDS, retry=RetryPolicy.instant(2), timeout_ms=3_000)
    try:
        # As a cycle does: OKX's order reply is only an acknowledgement; the order is read
        # back by client id first, then the ledger is reconciled.
        await resolve_open_orders(venue, store, "h", 2)
        with store.session() as s, s.begin():  # the fee went missing (a lost read-back)
            for fill in s.scalars(select(FillRow)):
                fill.fee_usdt = ZERO
        reconciler = LedgerReconciler(venue, store.ledger(), "h", "okx", BTC, BTC, interval_ms=0)
        return await reconciler.reconcile(2, force=True)
    finally:
        await venue.close()


def test_okx_bills_settle_lost_replies_and_the_store_equals_the_ledger(tmp_path: Path) -> None:
    store = HedgeStore(f"sqlite:///{tmp_path / 'okx.db'}")
    store.add_hedge(HedgeRow(id="h", account="okx", asset="BTC", symbol=BTC,
                             exposure_kind="holding", policy="managed", state="active",
                             created_ms=1, updated_ms=1, spec_json="{}"))
    with okx({"USDT": "50000"}) as fake, lossy_proxy(fake.url) as (url, faults):
        lines = asyncio.run(_scenario(url, faults, store))
        assert sum("history shows it" in line for line in lines) == 2, lines
        fake.exchange.market.clock.advance(8 * HOUR_MS)  # a funding settlement
        lines = asyncio.run(_reconcile(url, store))
        assert any("fee of order" in line for line in lines), lines
        ledger = fake.exchange.account.ledger
        trades = fake.exchange.book.trades
        assert faults.forwarded["POST /api/v5/asset/transfer"] == 2
        assert faults.forwarded["POST /api/v5/account/position/margin-balance"] == 1
    assert _moves(store) == {"transfer_futures": (1, Decimal("10000")),
                             "transfer_spot": (1, Decimal("12.5")),
                             "margin_add": (1, Decimal("100"))}
    with store.session() as s:
        assert all(r.exchange_id for r in s.scalars(select(MarginMoveRow)))
    assert store.fees_total("h") == sum((t.commission for t in trades), ZERO) > 0
    funding = sum((e.amount_usdt for e in ledger if e.kind == "funding"), ZERO)
    assert funding != 0
    assert store.funding_total("h") == funding
    store.close()
