"""Golden cases of the simulated exchange account (Binance BTCUSDT specs and brackets)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from perphedge.adapters.marketdata.bundled import BundledMarketData, bundled_brackets
from perphedge.domain.liquidation import solve_liquidation
from perphedge.domain.money import to_cents
from perphedge.domain.types import MarginMode, Side
from perphedge.sim.account import SimAccount, SimRejection

D = Decimal
SYMBOL = "BTCUSDT"
T0 = 1_700_000_000_000


def new_account(usdt: str = "300000") -> SimAccount:
    instrument = BundledMarketData().instrument("BTC")
    account = SimAccount({SYMBOL: instrument}, {SYMBOL: bundled_brackets(SYMBOL)})
    account.deposit("USDT", D(usdt), T0, to="futures")
    account.set_margin_mode(SYMBOL, MarginMode.ISOLATED)
    account.set_leverage(SYMBOL, 2)
    return account


def test_a_5_btc_short_at_2x_isolated_takes_225000_margin_and_225_fee() -> None:
    account = new_account()
    fill = account.futures_trade(SYMBOL, Side.SHORT, D(5), D(90000), T0)
    pos = account.positions[SYMBOL]
    assert pos.qty_base == D(-5)
    assert pos.isolated_margin_usdt == D(225000)
    assert fill.fee_usdt == D(225)
    assert account.futures_wallet_usdt == D(300000) - D(225000) - D(225)


def test_the_golden_short_liquidates_at_134316_94() -> None:
    account = new_account()
    account.futures_trade(SYMBOL, Side.SHORT, D(5), D(90000), T0)
    lp = account.liquidation_price(SYMBOL)
    assert lp is not None
    assert to_cents(lp) == D("134316.94")


def test_funding_is_received_by_a_short_and_paid_by_a_long_at_a_positive_rate() -> None:
    short = new_account()
    short.futures_trade(SYMBOL, Side.SHORT, D(5), D(90000), T0)
    long = new_account()
    long.futures_trade(SYMBOL, Side.LONG, D(5), D(90000), T0)
    got_short = short.settle_funding(SYMBOL, D("0.0001"), D(90000), T0 + 1)
    got_long = long.settle_funding(SYMBOL, D("0.0001"), D(90000), T0 + 1)
    assert got_short == D(45)
    assert got_long == D(-45)
    # Isolated: funding lands in the position's own margin, not in the wallet.
    assert short.positions[SYMBOL].isolated_margin_usdt == D(225045)
    assert long.positions[SYMBOL].isolated_margin_usdt == D(224955)


def test_funding_in_cross_mode_moves_the_wallet() -> None:
    account = new_account()
    account.set_margin_mode(SYMBOL, MarginMode.CROSS)
    account.futures_trade(SYMBOL, Side.SHORT, D(1), D(90000), T0)
    before = account.futures_wallet_usdt
    account.settle_funding(SYMBOL, D("-0.0002"), D(90000), T0 + 1)
    assert account.futures_wallet_usdt == before - D(18)


def test_reducing_returns_the_released_margin_and_the_realised_pnl() -> None:
    account = new_account()
    account.futures_trade(SYMBOL, Side.SHORT, D(5), D(90000), T0)
    wallet = account.futures_wallet_usdt
    fill = account.futures_trade(SYMBOL, Side.LONG, D(2), D(80000), T0 + 1, reduce_only=True)
    assert fill.realized_pnl_usdt == D(20000)
    pos = account.positions[SYMBOL]
    assert pos.qty_base == D(-3)
    assert pos.isolated_margin_usdt == D(135000)
    assert account.futures_wallet_usdt == wallet + D(90000) + D(20000) - fill.fee_usdt


def test_closing_fully_returns_all_margin_and_leaves_the_symbol_flat() -> None:
    account = new_account()
    account.futures_trade(SYMBOL, Side.SHORT, D(5), D(90000), T0)
    account.futures_trade(SYMBOL, Side.LONG, D(5), D(90000), T0 + 1, reduce_only=True)
    pos = account.positions[SYMBOL]
    assert (pos.qty_base, pos.isolated_margin_usdt, pos.entry_price) == (0, 0, 0)
    assert account.futures_wallet_usdt == D(300000) - D(450)


def test_reduce_only_that_would_increase_or_flip_is_rejected_with_2022() -> None:
    account = new_account()
    with pytest.raises(SimRejection) as flat:
        account.futures_trade(SYMBOL, Side.SHORT, D(1), D(90000), T0, reduce_only=True)
    account.futures_trade(SYMBOL, Side.SHORT, D(1), D(90000), T0)
    with pytest.raises(SimRejection) as grow:
        account.futures_trade(SYMBOL, Side.SHORT, D(1), D(90000), T0, reduce_only=True)
    with pytest.raises(SimRejection) as flip:
        account.futures_trade(SYMBOL, Side.LONG, D(2), D(90000), T0, reduce_only=True)
    assert flat.value.code == grow.value.code == flip.value.code == -2022
    assert account.positions[SYMBOL].qty_base == D(-1)


def test_flipping_through_zero_without_reduce_only_opens_the_other_side() -> None:
    account = new_account()
    account.futures_trade(SYMBOL, Side.SHORT, D(1), D(90000), T0)
    account.futures_trade(SYMBOL, Side.LONG, D(3), D(90000), T0 + 1)
    pos = account.positions[SYMBOL]
    assert pos.qty_base == D(2)
    assert pos.isolated_margin_usdt == D(90000)


@pytest.mark.parametrize(
    ("qty", "price", "code"),
    [("0.0005", "90000", -4003), ("0.0015", "90000", -1111), ("0.001", "90000", -4164)],
)
def test_order_filters_reject_with_binance_codes(qty: str, price: str, code: int) -> None:
    account = new_account()
    with pytest.raises(SimRejection) as err:
        account.futures_trade(SYMBOL, Side.SHORT, D(qty), D(price), T0)
    assert err.value.code == code


def test_opening_beyond_the_wallet_is_rejected_with_2019_and_changes_nothing() -> None:
    account = new_account("1000")
    with pytest.raises(SimRejection) as err:
        account.futures_trade(SYMBOL, Side.SHORT, D(1), D(90000), T0)
    assert err.value.code == -2019
    assert account.futures_wallet_usdt == D(1000)
    assert account.positions[SYMBOL].qty_base == 0


def test_margin_type_changes_are_refused_when_unchanged_or_with_a_position() -> None:
    account = new_account()
    with pytest.raises(SimRejection) as same:
        account.set_margin_mode(SYMBOL, MarginMode.ISOLATED)
    account.futures_trade(SYMBOL, Side.SHORT, D(1), D(90000), T0)
    with pytest.raises(SimRejection) as open_pos:
        account.set_margin_mode(SYMBOL, MarginMode.CROSS)
    assert (same.value.code, open_pos.value.code) == (-4046, -4048)


def test_leverage_above_the_bracket_maximum_is_rejected() -> None:
    account = new_account()
    with pytest.raises(SimRejection) as err:
        account.set_leverage(SYMBOL, 126)
    assert err.value.code == -4028


def test_isolated_liquidation_loses_exactly_the_isolated_margin() -> None:
    account = new_account()
    account.futures_trade(SYMBOL, Side.SHORT, D(5), D(90000), T0)
    account.settle_funding(SYMBOL, D("0.0001"), D(90000), T0 + 1)
    wallet = account.futures_wallet_usdt
    record = account.liquidate(SYMBOL, D("134316.94"), T0 + 2)
    assert record.margin_lost_usdt == D(225045)
    assert account.futures_wallet_usdt == wallet
    assert account.positions[SYMBOL].qty_base == 0
    assert account.ledger[-1].kind == "liquidation"


def test_cross_liquidation_price_uses_the_wallet_and_the_loss_hits_the_wallet() -> None:
    account = new_account()
    account.set_margin_mode(SYMBOL, MarginMode.CROSS)
    account.futures_trade(SYMBOL, Side.SHORT, D(1), D(90000), T0)
    expected = solve_liquidation(
        Side.SHORT, D(1), D(90000), account.futures_wallet_usdt, bundled_brackets(SYMBOL)
    ).price_usdt
    assert account.liquidation_price(SYMBOL) == expected
    wallet = account.futures_wallet_usdt
    record = account.liquidate(SYMBOL, D(100000), T0 + 1)
    assert record.margin_lost_usdt == D(10000)
    assert account.futures_wallet_usdt == wallet - D(10000)


def test_margin_can_be_added_and_removed_down_to_the_initial_margin() -> None:
    account = new_account()
    account.futures_trade(SYMBOL, Side.SHORT, D(1), D(90000), T0)
    account.add_margin(SYMBOL, D(5000), T0 + 1)
    assert account.positions[SYMBOL].isolated_margin_usdt == D(50000)
    account.mark(SYMBOL, D(90000))
    with pytest.raises(SimRejection) as err:
        account.reduce_margin(SYMBOL, D("5000.01"), T0 + 2)
    assert err.value.code == -4050
    account.reduce_margin(SYMBOL, D(5000), T0 + 2)
    assert account.positions[SYMBOL].isolated_margin_usdt == D(45000)


def test_spot_trades_charge_the_fee_in_usdt_and_refuse_overdrafts() -> None:
    account = new_account()
    account.deposit("BTC", D(2), T0)
    fill = account.spot_trade("BTC", Side.SHORT, D(1), D(90000), T0)
    assert fill.fee_usdt == D(90)
    assert account.spot == {"BTC": D(1), "USDT": D(89910)}
    with pytest.raises(SimRejection) as err:
        account.spot_trade("BTC", Side.LONG, D(1), D(90000), T0)
    assert err.value.code == -2010


def test_transfers_move_usdt_between_wallets_and_refuse_overdrafts() -> None:
    account = new_account("1000")
    account.transfer(D(400), to="spot", ts_ms=T0)
    assert (account.spot["USDT"], account.futures_wallet_usdt) == (D(400), D(600))
    with pytest.raises(SimRejection) as err:
        account.transfer(D(401), to="futures", ts_ms=T0)
    assert err.value.code == -2018


def test_to_dict_from_dict_round_trips_the_whole_state() -> None:
    account = new_account()
    account.deposit("BTC", D("1.5"), T0)
    account.futures_trade(SYMBOL, Side.SHORT, D("1.5"), D("90000.1"), T0)
    account.settle_funding(SYMBOL, D("0.00012345"), D("90010.5"), T0 + 1)
    account.mark(SYMBOL, D("91000"))
    data = json.loads(json.dumps(account.to_dict()))
    again = SimAccount.from_dict(data, account.instruments, account.brackets)
    assert again.to_dict() == data
    assert again.liquidation_price(SYMBOL) == account.liquidation_price(SYMBOL)
    assert again.equity_usdt({"BTC": D(91000)}) == account.equity_usdt({"BTC": D(91000)})
