"""The engine's cycle with lost transfer replies on the paper venue: the transfer is settled
by the exchange's history (now, or by a later cycle's reconciliation), never sent twice, and
the store's money moves, fees and funding equal the simulated exchange's ledger."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import MarginMoveRow
from perphedge.domain.types import Side
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.ledger import LedgerReconciler, MoneyInDoubt, MoneySend, send_money
from perphedge.engine.loop import HedgeEngine
from perphedge.engine.venue import Market, MoneyMove
from perphedge.errors import MoneyMoveRefusedError, RetryableExchangeError
from perphedge.paper.venue import PaperVenue
from perphedge.planning.translate import MoneyCall, OrderCall, Step
from tests.unit.test_engine_loop import hedge_config
from tests.unit.test_paper_venue import HOUR, T0, venue_on

ZERO = Decimal(0)


class LosingVenue(PaperVenue):
    """Transfers happen on the exchange, but their replies are lost; the transfer history can
    be made unreadable for a number of reads."""

    lost_replies = 0
    history_down = 0
    transfers_sent = 0
    #: Transfers that fail before the exchange acts (a 503 from the gateway, say).
    failed_before = 0
    #: Transfers refused with a reply the exchange documents as a refusal (a 429 -1003).
    refused = 0

    async def transfer(self, amount_usdt: Decimal, *, to: Market) -> None:
        self.transfers_sent += 1
        if self.refused:
            self.refused -= 1
            raise MoneyMoveRefusedError("transfer on paper: 429 -1003", "binance -1003")
        if self.failed_before:
            self.failed_before -= 1
            raise RetryableExchangeError("transfer on paper: 503 before the exchange acted")
        await super().transfer(amount_usdt, to=to)
        if self.lost_replies:
            self.lost_replies -= 1
            raise RetryableExchangeError("transfer on paper: the reply was lost")

    async def ledger_transfers(self, since_ms: int, *,
                               until_ms: int | None = None) -> list[MoneyMove]:
        if self.history_down:
            self.history_down -= 1
            raise RetryableExchangeError("transfer history on paper: unavailable")
        return await super().ledger_transfers(since_ms, until_ms=until_ms)


def _engine(tmp_path: Path) -> tuple[HedgeEngine, LosingVenue]:
    paper, _ = venue_on(["40000"] * 24, usdt="30000", btc="1",
                        funding=[(T0 + 8 * HOUR, "0.0001")])
    venue = LosingVenue(paper.exchange)
    store = HedgeStore(f"sqlite:///{tmp_path / 'store.db'}")
    engine = HedgeEngine(hedge_config(), venue, store, LiveExecutor(venue, store, "main"),
                         ManualClock(T0 + HOUR))
    return engine, venue


def _store_transfers(engine: HedgeEngine) -> list[tuple[str, Decimal]]:
    with engine.store.session() as s:
        rows = s.scalars(select(MarginMoveRow).where(MarginMoveRow.hedge_id == "btc")
                         .order_by(MarginMoveRow.id)).all()
    return [(r.kind, r.amount_usdt) for r in rows]


def _exchange_transfers(venue: PaperVenue) -> list[tuple[str, Decimal]]:
    return [("transfer_" + e.note.removeprefix("to "), e.amount_usdt)
            for e in venue.exchange.account.ledger if e.kind == "transfer"]


def test_a_lost_transfer_reply_is_settled_by_the_history_in_the_same_cycle(
        tmp_path: Path) -> None:
    engine, venue = _engine(tmp_path)
    venue.lost_replies = 1

    report = asyncio.run(engine.cycle())

    assert report.status == "acted", report.lines
    assert any("history shows it" in line for line in report.lines), report.lines
    assert venue.transfers_sent == 1
    assert _store_transfers(engine) == _exchange_transfers(venue) != []


def test_a_lost_transfer_the_history_cannot_confirm_yet_is_recorded_by_a_later_cycle(
        tmp_path: Path) -> None:
    engine, venue = _engine(tmp_path)
    venue.lost_replies, venue.history_down = 1, 1

    first = asyncio.run(engine.cycle())
    assert first.status == "error", first.lines
    assert _store_transfers(engine) == []

    # Next cycle (the reconciliation is due on its first run after a restart, or every
    # interval): the transfer is recorded from the history; the hedge opens without a second.
    engine.ledger.interval_ms = 0
    second = asyncio.run(engine.cycle())
    assert any("did happen" in line for line in second.lines), second.lines
    assert venue.transfers_sent == 1
    assert _store_transfers(engine) == _exchange_transfers(venue)

    # Funding settles; fees and funding in the store equal the simulated exchange's.
    venue.exchange.market.clock.advance(8 * HOUR)
    asyncio.run(engine.cycle())
    ledger = venue.exchange.account.ledger
    funding = sum((e.amount_usdt for e in ledger if e.kind == "funding"), ZERO)
    fees = sum((t.commission for t in venue.exchange.book.trades), ZERO)
    assert funding != 0
    assert engine.store.funding_total("btc") == funding
    assert engine.store.fees_total("btc") == fees > 0


def test_a_reserve_transfer_found_later_still_counts_against_the_reserve(
        tmp_path: Path) -> None:
    """The reserve policy counts its spending from the store: a transfer from the reserve
    whose reply was lost, confirmed only by a later reconciliation, is counted once."""
    engine, venue = _engine(tmp_path)
    engine.hedge_row(T0)
    venue.lost_replies, venue.history_down = 1, 1
    send = MoneySend("btc", "main", "transfer_futures", "BTCUSDT", Decimal("750"),
                     from_reserve=True)
    with pytest.raises(RetryableExchangeError):
        asyncio.run(send_money(venue, engine.store.ledger(), send, T0))
    assert engine.store.reserve_spent("btc") == 0
    lines = asyncio.run(engine.ledger.reconcile(T0 + 1, force=True))
    assert any("did happen" in line for line in lines), lines
    assert engine.store.reserve_spent("btc") == Decimal("750")
    assert asyncio.run(engine.ledger.reconcile(T0 + 2, force=True)) == []
    assert engine.store.reserve_spent("btc") == Decimal("750")
    assert venue.transfers_sent == 1


def test_one_unreadable_history_leaves_the_others_to_reconcile(tmp_path: Path) -> None:
    """A key without the transfer-history permission (say): transfers fail with one line,
    fills and funding are still reconciled."""
    engine, venue = _engine(tmp_path)
    assert asyncio.run(engine.cycle()).status == "acted"
    venue.exchange.market.clock.advance(8 * HOUR)
    venue.history_down = 100
    lines = asyncio.run(engine.ledger.reconcile(T0 + 9 * HOUR, force=True))
    assert [line for line in lines if "could not be read" in line] == [
        "ledger: the exchange's transfers history could not be read, next pass: "
        "transfer history on paper: unavailable"]
    funding = sum((e.amount_usdt for e in venue.exchange.account.ledger
                   if e.kind == "funding"), ZERO)
    assert funding != 0
    assert engine.store.funding_total("btc") == funding


def test_a_store_far_behind_catches_up_one_span_a_cycle(tmp_path: Path) -> None:
    """Ten days of history are read three days a pass (not in one burst); the reconciler
    stays due until it has caught up, and records what was missing once."""
    paper, clock = venue_on(["40000"] * 300, usdt="30000")
    store = HedgeStore(f"sqlite:///{tmp_path / 'store.db'}")
    engine = HedgeEngine(hedge_config(), paper, store, LiveExecutor(paper, store, "main"),
                         ManualClock(T0 + HOUR))
    engine.hedge_row(T0)
    send = MoneySend("btc", "main", "transfer_futures", "BTCUSDT", Decimal("100"))
    asyncio.run(send_money(paper, store.ledger(), send, T0))  # recorded from its clean reply
    clock.advance(5 * 24 * HOUR)
    asyncio.run(paper.transfer(Decimal("40"), to=Market.FUTURES))  # not recorded: "lost"
    clock.advance(5 * 24 * HOUR)
    reconciler = LedgerReconciler(paper, store.ledger(), "btc", "main", "BTCUSDT", "BTCUSDT")

    passes = [asyncio.run(reconciler.reconcile(T0))]
    while reconciler.behind and len(passes) < 10:
        # Well within the interval: only being behind makes the next pass due.
        passes.append(asyncio.run(reconciler.reconcile(T0 + len(passes))))
    assert len(passes) == 4  # 10 days in spans of 3 (less the hour each span re-reads)
    assert asyncio.run(reconciler.reconcile(T0 + 5)) == []  # caught up: not due again
    assert sum("40 USDT" in line for lines in passes for line in lines) == 1
    assert _store_transfers(engine) == _exchange_transfers(paper)
    store.close()


def test_a_transfer_that_never_happened_holds_back_the_next_for_a_minute_not_for_good(
        tmp_path: Path) -> None:
    """The soak's failing clean cycles: a transfer refused before the exchange acted (a 503,
    a 429) leaves a note "in doubt"; the engine is killed and restarted. While the exchange's
    clock stands still (a replay; or a quiet minute), the note used to hold back every later
    transfer until the exchange's time moved 15 minutes. Now: the cycle waits (as for an
    order in doubt), and a minute after the send by the engine's clock a read of the history
    that still lacks it gives it up; the transfer is planned and sent again, once."""
    engine, venue = _engine(tmp_path)
    venue.failed_before = 1
    first = asyncio.run(engine.cycle())
    assert first.status == "error", first.lines
    assert _exchange_transfers(venue) == []

    # A restart: a new engine on the same store, 5 s later (the exchange's clock frozen).
    clock = ManualClock(T0 + HOUR + 5_000)
    restarted = HedgeEngine(hedge_config(), venue, engine.store,
                            LiveExecutor(venue, engine.store, "main"), clock)
    waiting = asyncio.run(restarted.cycle())
    assert waiting.status == "waiting", waiting.lines
    assert any(line.startswith("waiting for a transfer futures of") for line in waiting.lines)
    assert venue.transfers_sent == 1  # held back: the first may still show

    clock.advance_ms(60_000)
    report = asyncio.run(restarted.cycle())

    assert any("is not in the exchange's history: it did not happen" in line
               for line in report.lines), report.lines
    assert report.status == "acted", report.lines
    assert venue.transfers_sent == 2
    assert _store_transfers(engine) == _exchange_transfers(venue) != []
    position = asyncio.run(venue.positions())
    assert [p.qty_base for p in position] == [Decimal("-1.000")]
    assert asyncio.run(restarted.cycle()).status == "idle"


def _rebalance(qty: str) -> list[Step]:
    """The managed policy's cut past its upper trigger: sell spot, move the proceeds, cut the
    hedge by as much, put margin back (planning.policies._rebalance_short)."""
    return [OrderCall(Market.SPOT, "BTCUSDT", Side.SHORT, Decimal(qty)),
            MoneyCall("transfer_futures", "BTCUSDT", Decimal("4000")),
            OrderCall(Market.FUTURES, "BTCUSDT", Side.LONG, Decimal(qty), reduce_only=True),
            MoneyCall("margin_add", "BTCUSDT", Decimal("100"))]


def _held(venue: PaperVenue) -> tuple[Decimal, Decimal]:
    """(spot BTC, short) on the exchange."""
    balances = asyncio.run(venue.balances())
    short = -sum((p.qty_base for p in asyncio.run(venue.positions())), ZERO)
    return balances.spot.get("BTC", ZERO), short


def test_a_failed_transfer_after_a_spot_sale_still_lets_the_hedge_follow(
        tmp_path: Path) -> None:
    """The soak's over-hedged round ends: a rebalance sold spot, its transfer failed, and the
    plan stopped before the reduce-only leg, leaving the short above the smaller holding."""
    engine, venue = _engine(tmp_path)
    assert asyncio.run(engine.cycle()).status == "acted"
    assert _held(venue) == (Decimal(1), Decimal("1.000"))
    venue.failed_before = 1
    executor = engine.executor
    assert isinstance(executor, LiveExecutor)

    with pytest.raises(RetryableExchangeError, match="503 before the exchange acted"):
        asyncio.run(executor.execute(_rebalance("0.2"), "btc", T0 + 2 * HOUR))

    assert _held(venue) == (Decimal("0.8"), Decimal("0.800"))  # both legs, still equal
    assert venue.transfers_sent == 2  # the funding transfer, the failed one; no margin add


def test_a_plan_whose_transfer_is_in_doubt_waits_before_its_first_step(tmp_path: Path) -> None:
    engine, venue = _engine(tmp_path)
    assert asyncio.run(engine.cycle()).status == "acted"
    venue.failed_before = 1
    executor = engine.executor
    assert isinstance(executor, LiveExecutor)
    with pytest.raises(RetryableExchangeError):
        asyncio.run(executor.execute([MoneyCall("transfer_futures", "BTCUSDT", Decimal("10"))],
                                     "btc", T0 + 2 * HOUR))

    with pytest.raises(MoneyInDoubt, match="waiting for a transfer futures of 10 USDT"):
        asyncio.run(executor.execute(_rebalance("0.2"), "btc", T0 + 2 * HOUR + 1_000))

    assert _held(venue) == (Decimal(1), Decimal("1.000"))  # no spot sold, nothing cut
    assert venue.transfers_sent == 2


def test_a_documented_refusal_of_a_transfer_leaves_nothing_in_doubt(tmp_path: Path) -> None:
    """A 429 (-1003) proves the transfer did not happen: no look-up, no note, and the next
    cycle sends it again at once (no minute in doubt)."""
    engine, venue = _engine(tmp_path)
    venue.refused = 1
    first = asyncio.run(engine.cycle())
    assert first.status == "error", first.lines
    assert engine.store.ledger().unresolved("btc", 0) == []

    second = asyncio.run(engine.cycle())

    assert second.status == "acted", second.lines
    assert venue.transfers_sent == 2
    assert _store_transfers(engine) == _exchange_transfers(venue) != []
