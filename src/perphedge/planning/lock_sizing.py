"""Sizing of the managed policy's moves: lot-rounded, equal on both legs, within what is free.

Pure Decimal arithmetic with no policy types, so both the policy and its tests use it directly.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from perphedge.domain.money import ZERO

#: A refused step is retried after 1, 2, 4 ... decisions, at most this many times longer.
BACKOFF_CAP = 64


def round_lot(qty: Decimal, lot_step: Decimal) -> Decimal:
    """``qty`` rounded down to ``lot_step`` (no rounding when the step is 0 or unknown).

    >>> round_lot(Decimal("1.23456"), Decimal("0.001"))
    Decimal('1.234')
    """
    if lot_step <= ZERO or qty <= ZERO:
        return max(qty, ZERO)
    return (qty / lot_step).to_integral_value(rounding=ROUND_DOWN) * lot_step


def removable_margin(isolated_margin: Decimal, margin_balance: Decimal, notional: Decimal,
                     exchange_leverage: int) -> Decimal:
    """Isolated margin Binance lets leave: down to the initial margin, never unrealised profit.

    ``min(isolated margin, margin balance − notional / leverage)``, at least 0. A short of
    5 BTC at 60,000, 2x, with 150,000 isolated and 60,000 uPnL (balance 210,000) frees
    min(150,000, 210,000 − 150,000) = 60,000, not the 60,000 + profit a balance-based sizing
    would ask for.

    >>> removable_margin(Decimal(150000), Decimal(210000), Decimal(300000), 2)
    Decimal('60000')
    """
    floor = notional / Decimal(exchange_leverage)
    return max(ZERO, min(isolated_margin, margin_balance - floor))


def down_move_qty(wanted: Decimal, removable: Decimal, spot_price: Decimal, mark: Decimal,
                  exchange_leverage: int, fee_rate: Decimal, spot_fee_rate: Decimal,
                  lot_step: Decimal) -> Decimal:
    """Quantity y to buy on spot and add to the hedge, paid only from ``removable`` margin.

    Each unit costs its spot price with the spot fee, plus the initial margin and taker fee
    of the hedge it adds: y ≤ removable / (Ps·(1 + fs) + P·(1/L + f)), lot-rounded down.

    >>> down_move_qty(Decimal(2), Decimal(50000), Decimal(50000), Decimal(50000), 2,
    ...               Decimal("0.0005"), Decimal("0.001"), Decimal("0.001"))
    Decimal('0.666')
    """
    per_unit = spot_price * (1 + spot_fee_rate) + mark * (
        1 / Decimal(exchange_leverage) + fee_rate)
    if per_unit <= ZERO:
        return ZERO
    return round_lot(min(wanted, removable / per_unit), lot_step)


def backing_off(refusals_in_a_row: int, last_refusal_ms: int, now_ms: int,
                interval_ms: int) -> bool:
    """True while a refused step waits: 1, 2, 4 … decision intervals after the last refusal
    (at most :data:`BACKOFF_CAP`), so a step the exchange refuses is not sent every hour.

    >>> backing_off(3, 0, 3 * 3_600_000, 3_600_000)
    True
    >>> backing_off(3, 0, 4 * 3_600_000, 3_600_000)
    False
    """
    if refusals_in_a_row <= 0:
        return False
    wait: int = interval_ms * min(BACKOFF_CAP, 1 << (refusals_in_a_row - 1))
    return bool(now_ms < last_refusal_ms + wait)
