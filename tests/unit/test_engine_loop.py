"""The live engine's cycle against an in-memory venue: open, follow, slice, close, kill switch."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from perphedge.adapters.store.repository import HedgeStore
from perphedge.config.models import HedgeConfig
from perphedge.domain.types import MarginMode
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import DryRunExecutor, Executor, LiveExecutor
from perphedge.engine.loop import CycleReport, HedgeEngine
from perphedge.engine.venue import VenueBalances
from tests.unit.test_engine_fake_venue import BTC, T0, FakeVenue


def hedge_config(**overrides: Any) -> HedgeConfig:
    data: dict[str, Any] = {
        "name": "btc", "account": "main", "asset": "BTC", "exposure": {"source": "balance"},
        "policy": "managed", "leverage": 2, "margin_mode": "isolated",
    }
    data.update(overrides)
    return HedgeConfig.model_validate(data)


def make_engine(venue: FakeVenue, tmp_path: Path, *, dry_run: bool = False,
                **overrides: Any) -> HedgeEngine:
    store = HedgeStore(f"sqlite:///{tmp_path / 'store.db'}")
    executor: Executor = DryRunExecutor(store) if dry_run else LiveExecutor(venue, store, "main")
    return HedgeEngine(hedge_config(**overrides), venue, store, executor, ManualClock(T0))


def cycle(engine: HedgeEngine) -> CycleReport:
    return asyncio.run(engine.cycle())


def test_open_shorts_the_spot_balance_isolated_at_the_leverage(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path)

    report = cycle(engine)

    assert report.status == "acted", report.lines
    assert venue.position_qty() == Decimal("-1.000")
    pos = venue.account.position(BTC)
    assert pos.margin_mode is MarginMode.ISOLATED
    assert pos.leverage == 2
    # Mode and leverage are set before the first order.
    assert venue.calls.index("margin_mode isolated") < venue.calls.index("order ph-btc-1")
    orders = engine.store.orders("btc")
    assert [(o.client_order_id, o.state, o.filled_qty_base) for o in orders] == [
        ("ph-btc-1", "filled", Decimal("1.000"))]
    assert engine.store.fees_total("btc") == Decimal("20.0000")  # 0.05 % taker on 40,000
    kinds = [d.kind for d in engine.store.decisions("btc")]
    assert kinds == ["result", "decision"]  # newest first
    snap = engine.store.latest_snapshot("btc")
    assert snap is not None
    assert snap.hedge_qty_base == Decimal("1.000")


def test_follows_a_spot_deposit_then_a_partial_sale(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path)
    cycle(engine)

    venue.account.deposit("BTC", Decimal("0.5"), T0)
    venue.account.deposit("USDT", Decimal("20000"), T0)
    grown = cycle(engine)
    assert grown.status == "acted", grown.lines
    assert venue.position_qty() == Decimal("-1.500")

    venue.account.withdraw("BTC", Decimal("0.7"), T0)
    cut = cycle(engine)
    assert cut.status == "acted", cut.lines
    assert venue.position_qty() == Decimal("-0.800")
    assert venue.sent[-1].reduce_only
    assert cycle(engine).status == "idle"


def test_orders_above_the_notional_cap_are_sliced(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path, execution={"max_order_notional": "15000"})

    cycle(engine)

    assert [r.qty_base for r in venue.sent] == [Decimal("0.375"), Decimal("0.375"),
                                                Decimal("0.250")]
    assert [r.client_order_id for r in venue.sent] == ["ph-btc-1", "ph-btc-2", "ph-btc-3"]
    assert venue.position_qty() == Decimal("-1.000")


def test_a_paused_hedge_observes_nothing_and_sends_nothing(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path)
    engine.hedge_row(T0)
    engine.store.set_hedge_state("btc", "paused", T0)

    report = cycle(engine)

    assert report.status == "paused"
    assert venue.calls == []
    assert venue.position_qty() == 0


class PausedWhileObserving(FakeVenue):
    """``perphedge pause`` from another process lands while the cycle reads the balances."""

    store_url = ""

    async def balances(self) -> VenueBalances:
        other = HedgeStore(self.store_url)  # its own connection, as a second process has
        other.set_hedge_state("btc", "paused", T0)
        other.close()
        return await super().balances()


def test_a_pause_during_the_observation_wins_over_the_plan(tmp_path: Path) -> None:
    venue = PausedWhileObserving.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path)
    venue.store_url = engine.store.url
    engine.hedge_row(T0)

    report = cycle(engine)

    assert report.status == "paused", report.lines
    assert "hedge was paused during the cycle: nothing more sent" in report.lines
    # Settings are a step like any other: nothing at all was sent.
    assert not [c for c in venue.calls if c.startswith(("order", "margin_mode", "leverage"))]
    assert venue.position_qty() == 0
    assert engine.store.orders("btc") == []  # the intent was rolled back with the pause
    # The decision (with what it would have sent) and the outcome are still in the audit log.
    kinds = [d.kind for d in engine.store.decisions("btc")]
    assert kinds == ["result", "decision"]
    assert cycle(engine).status == "paused"  # and the next cycle does not even observe


class QuotesSpot(FakeVenue):
    """A venue with a spot ticker (``ReadsSpotPrice``): spot 0.5 % under the perpetual."""

    async def spot_price(self, symbol: str) -> Decimal:
        self.calls.append(f"spot_price {symbol}")
        return Decimal("39800")


def test_the_spot_price_is_the_spot_quote_where_the_venue_has_one(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    quoting = QuotesSpot.with_funds(btc="1", usdt="30000")
    quoted = make_engine(quoting, tmp_path / "a")
    plain = make_engine(FakeVenue.with_funds(btc="1", usdt="30000"), tmp_path / "b")

    with_quote, without = cycle(quoted), cycle(plain)

    assert with_quote.state is not None
    assert without.state is not None
    assert with_quote.state.mark_price == without.state.mark_price == Decimal("40000")
    assert with_quote.state.spot_price == Decimal("39800")
    assert without.state.spot_price == Decimal("40000")  # the perpetual's mark stands in
    assert "spot_price BTCUSDT" in quoting.calls


def test_the_reserve_is_counted_down_by_what_it_gave_across_restarts(tmp_path: Path) -> None:
    # Far more spot USDT than the 5,000 reserve: only the count in the store can stop it.
    venue = FakeVenue.with_funds(btc="1", usdt="100000")
    engine = make_engine(venue, tmp_path, policy="reserve", reserve_usdt="5000")
    assert cycle(engine).status == "acted"
    venue.set_mark("52000")  # the short's leverage passes the band: top up from the reserve

    topped = cycle(engine)

    assert any("transfer futures 5000 USDT from the reserve" in line
               for line in topped.lines), topped.lines
    assert any("reserve_exhausted" in line for line in topped.lines), topped.lines
    assert engine.store.reserve_spent("btc") == Decimal("5000")
    again = cycle(engine)
    assert not [line for line in again.lines if "reserve" in line], again.lines
    restarted = make_engine(venue, tmp_path, policy="reserve", reserve_usdt="5000")
    after_restart = cycle(restarted)
    assert not [line for line in after_restart.lines if "reserve" in line], after_restart.lines
    assert restarted.store.reserve_spent("btc") == Decimal("5000")


def test_hedge_mode_is_refused_with_the_reason(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    venue.hedge_mode = True
    engine = make_engine(venue, tmp_path)

    report = cycle(engine)

    assert report.status == "refused"
    assert "hedge mode" in report.lines[0]
    assert venue.sent == []
    assert engine.store.decisions("btc")[0].kind == "refused"


def test_dry_run_prints_the_orders_with_client_ids_and_sends_nothing(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path, dry_run=True)

    report = cycle(engine)

    assert venue.sent == []
    assert not any(c.startswith(("transfer", "margin_mode", "leverage")) for c in venue.calls)
    assert "would transfer futures 20120.1 USDT" in report.lines  # 20,020 + 0.5 % headroom
    assert "would futures market SELL 1 BTCUSDT (client id ph-btc-1)" in report.lines
    assert engine.store.orders("btc") == []


def test_close_flattens_with_reduce_only_and_sells_the_spot(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path)
    cycle(engine)

    report = asyncio.run(engine.close(sell_spot=True))

    assert report.status == "acted", report.lines
    assert venue.position_qty() == 0
    closing = [r for r in venue.sent if r.symbol == BTC and r.reduce_only]
    assert [r.qty_base for r in closing] == [Decimal("1.000")]
    assert venue.account.spot.get("BTC", Decimal(0)) == 0
    assert engine.store.hedge("btc").state == "closed"  # type: ignore[union-attr]
    assert cycle(engine).status == "closed"


def test_funding_settlements_are_recorded_once_from_the_income_history(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path)
    cycle(engine)
    got = venue.account.settle_funding(BTC, Decimal("0.0001"), Decimal(40000), T0 + 8 * 3_600_000)

    cycle(engine)
    cycle(engine)

    assert got == Decimal("4.0000")  # a short receives a positive rate: 1 × 40,000 × 0.0001
    assert engine.store.funding_total("btc") == got


def test_close_goes_ahead_on_a_paused_hedge(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="30000")
    engine = make_engine(venue, tmp_path)
    cycle(engine)
    engine.store.set_hedge_state("btc", "paused", T0)

    report = asyncio.run(engine.close(sell_spot=False))

    assert report.status == "acted", report.lines
    assert venue.position_qty() == 0
    assert venue.account.spot["BTC"] == 1


def test_a_price_rise_rebalances_the_legs_back_into_the_leverage_band(tmp_path: Path) -> None:
    venue = FakeVenue.with_funds(btc="1", usdt="20020")
    engine = make_engine(venue, tmp_path, leverage_band=["1.5", "2.5"])
    cycle(engine)
    venue.set_mark("52000")  # the short's margin shrinks: effective leverage 6.5
    before = len(venue.calls)

    report = cycle(engine)

    assert report.status == "acted", report.lines
    kinds = [c.split()[0] for c in venue.calls[before:]
             if c.split()[0] in ("order", "transfer", "add_margin")]
    assert kinds == ["order", "transfer", "order", "add_margin"]  # sell spot, fund, cut, top up
    state = report.state
    assert state is not None
    lev = state.effective_leverage
    assert lev is not None
    assert Decimal("1.5") <= lev <= Decimal("2.5")
    spot = venue.account.spot["BTC"]
    assert abs(spot - state.hedge_qty) <= Decimal("0.001")  # still hedged, lot for lot
