"""Binance's account history replies checked at the edge and decoded into ledger values.

Pure functions over the JSON ccxt hands back from ``GET /fapi/v1/userTrades``, ``GET
/api/v3/myTrades``, ``GET /fapi/v1/income``, ``GET /sapi/v1/asset/transfer`` and ``GET
/fapi/v1/positionMargin/history``. A body of the wrong shape becomes one
``RetryableExchangeError`` naming the endpoint and what was wrong ("malformed reply from GET
/fapi/v1/income: [0].income: expected a decimal number, got None"), never a TypeError.
Amounts are ``Decimal`` of the raw strings Binance sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from perphedge.engine.venue import IncomeEntry, LedgerFill, MoneyMove
from perphedge.errors import RetryableExchangeError

__all__ = [
    "TRANSFER_KINDS",
    "fills",
    "income",
    "margin_moves",
    "server_time",
    "transfers",
]

#: Universal-transfer types between spot and USDⓈ-M → the store's margin-move kinds.
TRANSFER_KINDS = {"MAIN_UMFUTURE": "transfer_futures", "UMFUTURE_MAIN": "transfer_spot"}
_MARGIN_KINDS = {1: "margin_add", 2: "margin_remove"}
SETTLE = "USDT"


def malformed(endpoint: str, problem: str) -> RetryableExchangeError:
    """The one error a wrong shape becomes (retryable: exchanges send such bodies under load)."""
    return RetryableExchangeError(f"malformed reply from {endpoint}: {problem}")


def _rows(body: object, endpoint: str) -> list[Mapping[str, Any]]:
    if not isinstance(body, list):
        raise malformed(endpoint, f"expected a list, got {type(body).__name__}")
    for i, row in enumerate(body):
        if not isinstance(row, Mapping):
            raise malformed(endpoint, f"[{i}]: expected an object, got {type(row).__name__}")
    return body


def _dec(row: Mapping[str, Any], key: str, endpoint: str, where: str) -> Decimal:
    value = row.get(key)
    try:
        if value is None or isinstance(value, bool):
            raise InvalidOperation
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise malformed(endpoint, f"{where}.{key}: expected a decimal number, got {value!r}"
                        ) from None
    if not result.is_finite():
        raise malformed(endpoint, f"{where}.{key}: expected a finite number, got {value!r}")
    return result


def _int(row: Mapping[str, Any], key: str, endpoint: str, where: str) -> int:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise malformed(endpoint, f"{where}.{key}: expected an integer, got {value!r}")
    return int(value)


def _text(row: Mapping[str, Any], key: str, endpoint: str, where: str) -> str:
    value = row.get(key)
    if value is None or isinstance(value, bool | Mapping | list):
        raise malformed(endpoint, f"{where}.{key}: expected a value, got {value!r}")
    return str(value)


def server_time(body: object, endpoint: str) -> int:
    """The ``time`` of a one-symbol ``premiumIndex`` reply."""
    if not isinstance(body, Mapping):
        raise malformed(endpoint, f"expected an object, got {type(body).__name__}")
    return _int(body, "time", endpoint, "")


def fills(body: object, endpoint: str) -> list[LedgerFill]:
    """``userTrades`` / ``myTrades`` rows: trade id, order id, qty, price, USDT commission.

    >>> fills([{"id": 7, "orderId": 3, "symbol": "BTCUSDT", "qty": "0.010", "price": "40000",
    ...         "commission": "0.16", "commissionAsset": "USDT", "time": 1}], "GET x")[0].fee_usdt
    Decimal('0.16')
    """
    out = []
    for i, row in enumerate(_rows(body, endpoint)):
        where = f"[{i}]"
        fee = _dec(row, "commission", endpoint, where)
        out.append(LedgerFill(
            trade_id=_text(row, "id", endpoint, where),
            exchange_order_id=_text(row, "orderId", endpoint, where),
            symbol=_text(row, "symbol", endpoint, where),
            qty_base=_dec(row, "qty", endpoint, where),
            price_usdt=_dec(row, "price", endpoint, where),
            fee_usdt=fee if row.get("commissionAsset") == SETTLE else Decimal(0),
            ts_ms=_int(row, "time", endpoint, where),
        ))
    return out


def income(body: object, endpoint: str) -> list[IncomeEntry]:
    """``/fapi/v1/income`` rows in USDT (other margin assets are not the hedge's)."""
    out = []
    for i, row in enumerate(_rows(body, endpoint)):
        where = f"[{i}]"
        if row.get("asset", SETTLE) != SETTLE:
            continue
        kind = _text(row, "incomeType", endpoint, where)
        out.append(IncomeEntry(
            # tranId repeats across types on Binance (a fill's PnL and commission share it).
            exchange_id=f"{kind}:{_text(row, 'tranId', endpoint, where)}",
            kind=kind, symbol=str(row.get("symbol") or ""),
            amount_usdt=_dec(row, "income", endpoint, where),
            ts_ms=_int(row, "time", endpoint, where),
        ))
    return out


def transfers(body: object, endpoint: str) -> tuple[int, list[MoneyMove]]:
    """A ``/sapi/v1/asset/transfer`` page: (``total``, its USDT rows that were not FAILED).

    Binance answers ``{"total": 0}`` with no ``rows`` key when there is nothing.
    """
    if not isinstance(body, Mapping):
        raise malformed(endpoint, f"expected an object, got {type(body).__name__}")
    total = _int(body, "total", endpoint, "")
    out = []
    for i, row in enumerate(_rows(body.get("rows") or [], endpoint)):
        where = f"rows[{i}]"
        kind = TRANSFER_KINDS.get(_text(row, "type", endpoint, where))
        if kind is None or row.get("asset") != SETTLE or row.get("status") == "FAILED":
            continue
        out.append(MoneyMove(
            exchange_id=_text(row, "tranId", endpoint, where), kind=kind,
            amount_usdt=_dec(row, "amount", endpoint, where),
            ts_ms=_int(row, "timestamp", endpoint, where),
        ))
    return total, out


def margin_moves(body: object, endpoint: str) -> list[MoneyMove]:
    """``/fapi/v1/positionMargin/history`` rows (type 1 add, 2 reduce).

    Binance gives these rows no id; the move's id is built from symbol, type, time and amount,
    with ``#n`` for the n-th same move in the same millisecond (a read from ``startTime`` sees
    all of a millisecond's moves or none, so the numbering is stable).
    """
    out = []
    seen: dict[str, int] = {}
    for i, row in enumerate(_rows(body, endpoint)):
        where = f"[{i}]"
        kind = _MARGIN_KINDS.get(_int(row, "type", endpoint, where))
        if kind is None:
            raise malformed(endpoint, f"{where}.type: expected 1 or 2, got {row.get('type')!r}")
        if row.get("asset", SETTLE) != SETTLE:
            continue
        symbol = _text(row, "symbol", endpoint, where)
        amount = abs(_dec(row, "amount", endpoint, where))
        ts = _int(row, "time", endpoint, where)
        key = f"{symbol}:{kind}:{ts}:{format(amount, 'f')}"
        seen[key] = seen.get(key, 0) + 1
        out.append(MoneyMove(exchange_id=f"{key}#{seen[key]}",
                             kind=kind, amount_usdt=amount, ts_ms=ts, symbol=symbol))
    return out
