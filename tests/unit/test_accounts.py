"""The hedge's accounts: golden cases computed by hand, for a holding (short) and a purchase."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import (
    DecisionRow,
    FillRow,
    FundingRow,
    HedgeRow,
    OrderRow,
    SnapshotRow,
)
from perphedge.services.accounts import (
    AccountsInput,
    Point,
    Trade,
    average_cost,
    hedge_accounts,
    hedge_effectiveness,
    hedged_value,
)
from perphedge.services.accounts_running import walk
from perphedge.services.hedge_read import HedgeIdentity, hedge_view
from perphedge.services.status_format import money, percent, status_lines

D = Decimal
T0 = 1_704_067_200_000
HOUR = 3_600_000


def test_a_position_that_flips_opens_the_rest_at_the_flipping_price() -> None:
    p = average_cost([(D(-1), D(40000)), (D(3), D(39000))])
    assert (p.qty, p.entry, p.realised) == (D(2), D(39000), D(1000))


def test_the_effectiveness_of_a_hedge_that_was_short_too_little_for_one_move() -> None:
    # ΔE = 1.5·(−2000) + 1.5·1000 = −1500; ΔH = −1.5·(−2000) − 1·1000 = 2000; ratio 4/3.
    points = [Point(0, D("1.5"), D("-1.5"), D(40000)), Point(1, D("1.5"), D("-1.0"), D(38000)),
              Point(2, D("1.5"), D("-1.5"), D(39000))]
    assert hedge_effectiveness(points) == D(2000) / D(1500)
    assert hedge_effectiveness(points[:1]) is None


def test_a_purchase_hedged_long_locks_its_cost_after_funding_paid_and_fees() -> None:
    acc = hedge_accounts(AccountsInput(
        "purchase", (Trade(0, "futures", D("0.5"), D(40000), D(10)),), (D(-6),),
        spot_qty=D(0), exposure_qty=D("0.5"), mark=D(44000)))
    assert acc.locked_value == D(20000)
    assert acc.hedge_unrealised == D(2000)
    assert acc.hedged_value == D(20016)  # 22,000 to buy − (2,000 − 6 − 10)
    assert acc.deviation_pct == D("0.08")
    assert acc.effective_locked_price == D(40032)
    assert (acc.funding_received, acc.funding_paid, acc.fees_total) == (0, D(6), D(10))


def seeded_store(tmp_path: Path) -> HedgeStore:
    """A holding of 1.5 BTC: short 1 @ 40,000 and 1 @ 42,000, bought back 0.5 @ 39,000."""
    store = HedgeStore(f"sqlite:///{tmp_path / 'golden.db'}")
    store.add_hedge(HedgeRow(id="btc", account="main", asset="BTC", symbol="BTCUSDT",
                             exposure_kind="holding", policy="managed", state="active",
                             created_ms=T0, updated_ms=T0, spec_json="{}"))
    fills = [("sell", "1", "40000", "20"), ("sell", "1", "42000", "21"),
             ("buy", "0.5", "39000", "9.75")]
    with store.session() as s, s.begin():
        for n, (side, qty, price, fee) in enumerate(fills, 1):
            order = OrderRow(hedge_id="btc", account="main", client_order_id=f"ph-btc-{n}",
                             market="futures", symbol="BTCUSDT", side=side, order_type="market",
                             qty_base=D(qty), reduce_only=side == "buy", state="filled",
                             filled_qty_base=D(qty), avg_price_usdt=D(price),
                             created_ms=T0 + n, updated_ms=T0 + n, note="")
            s.add(order)
            s.flush()
            s.add(FillRow(order_id=order.id, trade_id=str(n), ts_ms=T0 + n, qty_base=D(qty),
                          price_usdt=D(price), fee_usdt=D(fee)))
        for k, amount in enumerate(("12", "-3", "6.5"), 1):
            s.add(FundingRow(hedge_id="btc", symbol="BTCUSDT", ts_ms=T0 + k * 8 * HOUR,
                             rate=None, amount_usdt=D(amount)))
        for k, (hedge, mark) in enumerate((("1.5", "40000"), ("1.0", "38000"),
                                           ("1.5", "39000"))):
            s.add(SnapshotRow(hedge_id="btc", ts_ms=T0 + (k + 1) * HOUR, spot_qty_base=D("1.5"),
                              hedge_qty_base=D(hedge), mark_price_usdt=D(mark),
                              liquidation_price_usdt=D("58123.456"),
                              margin_balance_usdt=D("30000"),
                              unrealized_pnl_usdt=D("3000.004")))
        payload = {
            "observed": {"target_exposure_qty": "1.5", "hedge_qty": "1.5", "spot_qty": "1.5",
                         "mark_price": "39000", "entry_price": "41000"},
            "figures": {"runway_pct": "49.32787096337370799108260512", "margin_ratio": "0.6019"}}
        s.add(DecisionRow(hedge_id="btc", ts_ms=T0 + 3 * HOUR, kind="result",
                          payload_json=json.dumps(payload)))
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HedgeStore]:
    s = seeded_store(tmp_path)
    yield s
    s.close()


def test_the_store_golden_holding_has_the_hand_computed_accounts(store: HedgeStore) -> None:
    view = hedge_view(store, HedgeIdentity("btc", "BTC"))
    assert view.locked_value == D(61500)  # 1.5 × 41,000
    assert view.realized_pnl == D(1000)  # 0.5 × (41,000 − 39,000) on a short
    assert view.hedge_leg is not None
    assert view.hedge_leg.unrealized == D(3000)  # −1.5 × (39,000 − 41,000)
    assert view.funding_total == D("15.5")
    assert (view.funding_received, view.funding_paid, view.funding_is) == (D("18.5"), D(3),
                                                                            "income")
    assert view.fees_total == D("50.75")
    # 1.5 × 39,000 + 3,000 + (1,000 + 15.5 − 50.75) = 62,464.75
    assert view.hedged_value == D("62464.75")
    assert money(view.deviation_pct) == "1.57"  # 964.75 / 61,500
    assert money(view.effective_locked_price) == "41,643.17"  # 41,000 + 964.75 / 1.5
    assert view.hedge_effectiveness == D(2000) / D(1500)
    assert view.spot_leg is not None
    assert view.spot_leg.unrealized == D(-3000)
    assert view.drift == 0


def test_status_shows_cents_lots_and_two_place_percents(store: HedgeStore) -> None:
    lines = dict(status_lines(hedge_view(store, HedgeIdentity("btc", "BTC"))))
    assert lines["runway"] == "49.33 %"
    assert lines["margin ratio"] == "60.19 %"
    assert lines["liquidation price (USDT)"] == "58,123.46"
    assert lines["unrealized pnl (USDT)"] == "3,000.00"
    assert lines["hedge quantity (BTC)"] == "1.500"
    assert lines["locked value (USDT)"] == "61,500.00"
    assert lines["hedged value (USDT)"] == "62,464.75"
    assert lines["funding (USDT)"] == "15.50 received"
    assert lines["hedge effectiveness"] == percent(D("133.33"))


trade_lists = st.lists(
    st.tuples(st.integers(0, 50), st.sampled_from(["futures", "spot"]),
              st.decimals("-3", "3", places=3).filter(lambda q: q != 0),
              st.decimals("30000", "50000", places=1), st.decimals("0", "30", places=2)),
    max_size=12)


@given(raw=trade_lists, pays=st.lists(st.tuples(st.integers(0, 50),
                                               st.decimals("-20", "20", places=2)), max_size=6),
       times=st.lists(st.integers(0, 60), min_size=1, max_size=8))
def test_walking_forward_equals_recomputing_from_the_first_fill(
        raw: list[tuple[int, str, Decimal, Decimal, Decimal]],
        pays: list[tuple[int, Decimal]], times: list[int]) -> None:
    """The running totals (charts, export) against the slow reference: the accounts of every
    fill and settlement up to each time."""
    fills = tuple(sorted((Trade(*r) for r in raw), key=lambda t: t.ts_ms))
    pays = sorted(pays, key=lambda p: p[0])
    mark = D(41000)
    for ts, run in zip(sorted(times), walk(fills, pays, sorted(times)), strict=True):
        upto = tuple(t for t in fills if t.ts_ms <= ts)
        paid = tuple(a for when, a in pays if when <= ts)
        ref = hedge_accounts(AccountsInput("holding", upto, paid, spot_qty=D(1),
                                           exposure_qty=D(1), mark=mark))
        assert run.funding == ref.funding_total
        assert run.fees == ref.fees_total
        assert run.position.realised == ref.hedge_realised
        assert hedged_value("holding", run.position, run.funding - run.fees, D(1), D(1),
                            mark) == ref.hedged_value


def test_the_store_golden_purchase_reads_its_target_from_the_last_cycle(tmp_path: Path) -> None:
    store = HedgeStore(f"sqlite:///{tmp_path / 'purchase.db'}")
    try:
        store.add_hedge(HedgeRow(id="buy", account="main", asset="BTC", symbol="BTCUSDT",
                                 exposure_kind="purchase", policy="managed", state="active",
                                 created_ms=T0, updated_ms=T0, spec_json="{}"))
        with store.session() as s, s.begin():
            order = OrderRow(hedge_id="buy", account="main", client_order_id="ph-buy-1",
                             market="futures", symbol="BTCUSDT", side="buy", order_type="market",
                             qty_base=D("0.5"), reduce_only=False, state="filled",
                             filled_qty_base=D("0.5"), avg_price_usdt=D(40000),
                             created_ms=T0, updated_ms=T0, note="")
            s.add(order)
            s.flush()
            s.add(FillRow(order_id=order.id, trade_id="1", ts_ms=T0, qty_base=D("0.5"),
                          price_usdt=D(40000), fee_usdt=D(10)))
            s.add(FundingRow(hedge_id="buy", symbol="BTCUSDT", ts_ms=T0 + 8 * HOUR, rate=None,
                             amount_usdt=D(-6)))
            s.add(SnapshotRow(hedge_id="buy", ts_ms=T0 + 9 * HOUR, spot_qty_base=D(0),
                              hedge_qty_base=D("0.5"), mark_price_usdt=D(44000),
                              liquidation_price_usdt=D(21000), margin_balance_usdt=D(12000),
                              unrealized_pnl_usdt=D(2000)))
            s.add(DecisionRow(hedge_id="buy", ts_ms=T0 + 9 * HOUR, kind="result",
                              payload_json=json.dumps({"observed": {
                                  "target_exposure_qty": "0.5", "hedge_qty": "0.5"}})))
        view = hedge_view(store, HedgeIdentity("buy", "BTC"))
    finally:
        store.close()
    assert view.kind == "purchase"
    assert view.locked_value == D(20000)
    assert view.hedged_value == D(20016)  # 0.5 × 44,000 − (2,000 − 6 − 10): the cost
    assert view.deviation_pct == D("0.08")
    assert view.effective_locked_price == D(40032)
    assert (view.funding_is, view.funding_paid) == ("cost", D(6))
    assert view.spot_leg is not None
    assert view.spot_leg.unrealized is None  # nothing held yet
