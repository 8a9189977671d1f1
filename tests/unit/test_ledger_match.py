"""Matching what the store expects with the exchange's history: by kind, amount and symbol,
oldest first, within the time a move can take to show; nothing is taken twice."""

from __future__ import annotations

from decimal import Decimal

from perphedge.engine.ledger import MAX_LAG_MS, SKEW_MS, Claim, match_moves
from perphedge.engine.venue import MoneyMove

T = 1_704_070_800_000


def move(mid: str, kind: str, amount: str, ts: int, symbol: str = "") -> MoneyMove:
    return MoneyMove(mid, kind, Decimal(amount), ts, symbol)


def test_two_equal_transfers_go_to_two_claims_oldest_first() -> None:
    moves = [move("2", "transfer_futures", "100", T + 50), move("1", "transfer_futures", "100", T)]
    first = Claim("transfer_futures", "", Decimal("100"), T - 10)
    second = Claim("transfer_futures", "", Decimal("100"), T + 40)
    assert match_moves(moves, [second, first]) == []
    assert (first.move, second.move) == (moves[1], moves[0])


def test_kind_amount_symbol_and_time_must_fit() -> None:
    claim = Claim("margin_add", "BTCUSDT", Decimal("50"), T)
    others = [
        move("a", "margin_remove", "50", T, "BTCUSDT"),  # other direction
        move("b", "margin_add", "50.01", T, "BTCUSDT"),  # other amount
        move("c", "margin_add", "50", T, "ETHUSDT"),  # other position
        move("d", "margin_add", "50", T - SKEW_MS - 1, "BTCUSDT"),  # before the send
        move("e", "margin_add", "50", T + MAX_LAG_MS + 1, "BTCUSDT"),  # too late to be it
    ]
    assert match_moves(others, [claim]) == sorted(others, key=lambda m: (m.ts_ms, m.exchange_id))
    assert claim.move is None
    fits = move("f", "margin_add", "50.00", T + 1, "BTCUSDT")
    assert match_moves([*others, fits], [claim]) == sorted(
        others, key=lambda m: (m.ts_ms, m.exchange_id))
    assert claim.move == fits


def test_a_move_no_claim_expects_is_left_over() -> None:
    manual = move("9", "transfer_spot", "7", T)
    assert match_moves([manual], [Claim("transfer_futures", "", Decimal("7"), T)]) == [manual]
