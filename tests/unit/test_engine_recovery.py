"""Crash safety and refusals: ambiguous sends, a restart after a kill, unexplained positions."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from perphedge.adapters.store.schema import OrderRow
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.clock import ManualClock
from perphedge.engine.venue import Market, OrderRequest, VenueOrder, VenuePosition
from perphedge.errors import RetryableExchangeError
from tests.unit.test_engine_fake_venue import BTC, T0, FakeVenue
from tests.unit.test_engine_loop import cycle, make_engine


def test_an_ambiguous_order_is_resolved_by_client_id_and_never_doubled(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    venue.answer_lost = True  # the order reaches the account; its answer is lost
    engine = make_engine(venue, tmp_path)

    first = cycle(engine)
    second = cycle(engine)

    assert first.status == "acted", first.lines
    assert any("resolved by client id" in line for line in first.lines)
    assert "fetch ph-btc-1" in venue.calls
    assert [r.client_order_id for r in venue.sent] == ["ph-btc-1"]
    assert venue.position_qty() == Decimal("-1.000")
    assert second.status == "idle", second.lines
    order = engine.store.order("ph-btc-1", "main")
    assert order is not None
    assert (order.state, order.filled_qty_base) == ("filled", Decimal("1.000"))


def test_a_restart_after_a_kill_between_send_and_record_finds_the_order(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path)
    engine.hedge_row(T0)
    # What the killed process left: an intent in the store and an order on the exchange.
    engine.store.record_order_intent(OrderRow(
        hedge_id="btc", account="main", client_order_id="ph-btc-1", market="futures",
        symbol=BTC, side="sell", order_type="market", qty_base=Decimal("1.000"),
        price_usdt=None, reduce_only=False, state="pending_submit",
        filled_qty_base=Decimal(0), avg_price_usdt=None, created_ms=T0, updated_ms=T0, note="",
    ))
    venue.account.transfer(Decimal(30000), to="futures", ts_ms=T0)
    asyncio.run(venue.set_margin_mode(BTC, MarginMode.ISOLATED))
    asyncio.run(venue.set_leverage(BTC, 2))
    asyncio.run(venue.place_order(
        OrderRequest("ph-btc-1", Market.FUTURES, BTC, Side.SHORT, Decimal("1.000"))))

    report = cycle(engine)  # the "restarted" engine

    assert any("ph-btc-1 (pending_submit) found on the exchange" in x for x in report.lines)
    assert len(venue.sent) == 1
    assert venue.position_qty() == Decimal("-1.000")
    assert engine.store.order("ph-btc-1", "main").state == "filled"  # type: ignore[union-attr]


def test_an_intent_that_never_reached_the_exchange_is_marked_and_not_resent(
    tmp_path: Path,
) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path)
    engine.hedge_row(T0)
    engine.store.record_order_intent(OrderRow(
        hedge_id="btc", account="main", client_order_id="ph-btc-1", market="futures",
        symbol=BTC, side="sell", order_type="market", qty_base=Decimal("1.000"),
        price_usdt=None, reduce_only=False, state="pending_submit",
        filled_qty_base=Decimal(0), avg_price_usdt=None, created_ms=T0, updated_ms=T0, note="",
    ))

    waiting = cycle(engine)  # just recorded: the exchange may still be processing it
    assert waiting.status == "waiting"
    assert venue.sent == []
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance_ms(60_000)

    report = cycle(engine)

    assert any("never reached the exchange" in x for x in report.lines)
    assert engine.store.order("ph-btc-1", "main").state == "rejected"  # type: ignore[union-attr]
    # The policy then opens with a new id; the old one is never reused.
    assert [r.client_order_id for r in venue.sent] == ["ph-btc-2"]
    assert venue.position_qty() == Decimal("-1.000")


def test_a_position_changed_outside_perphedge_is_refused_until_resume(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path)
    cycle(engine)
    # Someone closes half the hedge by hand on the exchange.
    venue.account.futures_trade(BTC, Side.LONG, Decimal("0.5"), venue.mark, T0, reduce_only=True)
    sent_before = len(venue.sent)

    refused = cycle(engine)

    assert refused.status == "refused"
    assert "REFUSED: the position on BTCUSDT is -0.5" in refused.lines[0]
    assert "records say -1" in refused.lines[0]
    assert len(venue.sent) == sent_before
    assert engine.store.hedge("btc").state == "halted"  # type: ignore[union-attr]
    assert cycle(engine).status == "refused"

    engine.store.set_hedge_state("btc", "adopting", T0)  # what `perphedge resume` does
    resumed = cycle(engine)

    assert any("adopted" in x for x in resumed.lines), resumed.lines
    assert resumed.status == "acted"  # back to the spot quantity
    assert venue.position_qty() == Decimal("-1.000")
    assert engine.store.hedge("btc").state == "active"  # type: ignore[union-attr]


def test_an_existing_position_is_adopted_on_first_sight(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    venue.account.transfer(Decimal(30000), to="futures", ts_ms=T0)
    venue.account.set_margin_mode(BTC, MarginMode.ISOLATED)
    venue.account.set_leverage(BTC, 2)
    venue.account.futures_trade(BTC, Side.SHORT, Decimal("1.000"), venue.mark, T0)
    engine = make_engine(venue, tmp_path)

    report = cycle(engine)

    assert "adopted the existing position of -1 on BTCUSDT" in report.lines
    assert report.status == "idle"
    assert venue.sent == []


def test_an_order_lost_before_the_exchange_is_waited_for_then_replaced_once(
    tmp_path: Path,
) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    venue.request_lost = True
    engine = make_engine(venue, tmp_path)
    clock = engine.clock
    assert isinstance(clock, ManualClock)

    lost = cycle(engine)
    assert lost.status == "error"
    assert engine.store.order("ph-btc-1", "main").state == "unknown"  # type: ignore[union-attr]
    assert cycle(engine).status == "waiting"  # within the grace period nothing new is sent
    clock.advance_ms(60_000)
    replaced = cycle(engine)

    assert replaced.status == "acted", replaced.lines
    assert [r.client_order_id for r in venue.sent] == ["ph-btc-2"]
    assert venue.position_qty() == Decimal("-1.000")


def test_a_halted_hedge_acts_again_once_the_account_matches_the_records(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path)
    cycle(engine)
    venue.account.futures_trade(BTC, Side.LONG, Decimal("0.5"), venue.mark, T0, reduce_only=True)
    assert cycle(engine).status == "refused"
    # The user puts the half back by hand, as perphedge's records say it should be.
    venue.account.transfer(Decimal(100), to="futures", ts_ms=T0)
    venue.account.futures_trade(BTC, Side.SHORT, Decimal("0.5"), venue.mark, T0)

    report = cycle(engine)

    assert report.status == "idle", report.lines
    assert engine.store.hedge("btc").state == "active"  # type: ignore[union-attr]


class FetchFailsOnce(FakeVenue):
    """The fake venue whose first read of an order by client id fails (the exchange is busy)."""

    fetch_failures: int = 1

    async def fetch_order(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        if self.fetch_failures:
            self.fetch_failures -= 1
            raise RetryableExchangeError("fetch order: 503 (test)")
        return await super().fetch_order(symbol, client_order_id)


def test_a_lost_answer_whose_read_back_fails_too_stays_unknown_until_the_next_cycle(
        tmp_path: Path) -> None:
    base = FakeVenue.with_funds(btc="1", usdt="30000")
    venue = FetchFailsOnce(base.account)
    venue.answer_lost = True  # the order fills; its answer is lost, and so is the read back
    engine = make_engine(venue, tmp_path)

    first = cycle(engine)
    row = engine.store.order("ph-btc-1", "main")
    assert first.status == "error", first.lines
    assert row is not None
    assert row.state == "unknown"  # not rejected: nothing proved a refusal

    second = cycle(engine)
    row = engine.store.order("ph-btc-1", "main")
    assert second.status in ("idle", "acted"), second.lines
    assert row is not None
    assert (row.state, row.filled_qty_base) == ("filled", Decimal("1.000"))
    assert [r.client_order_id for r in venue.sent] == ["ph-btc-1"]  # never sent twice
    assert venue.position_qty() == Decimal("-1.000")


class PositionReadsEmpty(FakeVenue):
    """The fake venue whose next ``empty_reads`` position reads answer an empty list (a garbled
    but well-formed reply; on OKX and Bybit also what a flat account looks like)."""

    empty_reads: int = 0

    async def positions(self) -> list[VenuePosition]:
        if self.empty_reads:
            self.empty_reads -= 1
            return []
        return await super().positions()


def test_one_read_showing_the_hedge_gone_does_not_halt_it(tmp_path: Path) -> None:
    base = FakeVenue.with_funds(btc="1", usdt="30000")
    venue = PositionReadsEmpty(base.account)
    engine = make_engine(venue, tmp_path)
    assert cycle(engine).status == "acted"
    venue.empty_reads = 1  # the soak's halts: one `[]` from positionRisk read as flat

    report = cycle(engine)

    assert report.status == "idle", report.lines
    assert engine.store.hedge("btc").state == "active"  # type: ignore[union-attr]
    assert venue.position_qty() == Decimal("-1.000")


def test_two_reads_that_disagree_end_the_cycle_in_error_not_a_refusal(tmp_path: Path) -> None:
    base = FakeVenue.with_funds(btc="1", usdt="30000")
    venue = PositionReadsEmpty(base.account)
    engine = make_engine(venue, tmp_path)
    assert cycle(engine).status == "acted"
    venue.empty_reads = 1
    # Half the hedge closed by hand (the records are wrong now), and one read is garbled.
    venue.account.futures_trade(BTC, Side.LONG, Decimal("0.5"), venue.mark, T0, reduce_only=True)

    report = cycle(engine)

    assert report.status == "error", report.lines
    assert "two reads of the position on BTCUSDT disagree" in (report.problem or "")
    assert engine.store.hedge("btc").state == "active"  # type: ignore[union-attr]
    assert cycle(engine).status == "refused"  # read twice alike: the records are wrong
