"""What OKX does differently from ccxt's unified picture, read from OKX's own v5 fields.

Used by :class:`perphedge.adapters.ccxt_venue_unified.CcxtVenue` in its OKX branches (tested
against a loopback OKX v5 server, ``tests/fakes/okx_v5.py``):

* wallets: the port's spot wallet is OKX's *funding* account (``6``, where deposits arrive),
  its futures wallet the *trading* account (``18``); ccxt maps both ``spot`` and ``swap`` to
  ``18``, so a transfer between them would go nowhere;
* the futures wallet is Binance's ``walletBalance`` (no unrealised PnL): ``eq − upl`` of the
  trading account's USDT row (ccxt's unified ``total`` is ``eq``, which includes uPnL);
* position tiers (``/api/v5/public/position-tiers``) bound sizes in *contracts*, not USDT: they
  become notional bounds at a price, ``contracts × ctVal × mark``;
* ``clOrdId`` is 1 to 32 letters and digits: the engine's ids (``ph-btc-7``: lower case,
  digits, ``-`` and ``_``) are sent with ``-`` as ``Z`` and ``_`` as ``Y`` and read back the
  same way; a longer id cannot be sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from perphedge.adapters.ccxt_market import exchange_decimal
from perphedge.domain.brackets import BracketTable
from perphedge.domain.money import ZERO
from perphedge.engine.venue import Market
from perphedge.errors import TerminalExchangeError

__all__ = ["OKX_ACCOUNTS", "engine_client_id", "okx_brackets", "okx_client_id",
           "okx_wallet_usdt"]

_ENGINE_ID = re.compile(r"[a-z0-9_-]{1,32}")
_SENT_ID = re.compile(r"[a-z0-9YZ]{1,32}")

#: ccxt's OKX account names for the port's two wallets (``options['accountsByType']``).
OKX_ACCOUNTS = {Market.SPOT: "funding", Market.FUTURES: "trading"}


def okx_wallet_usdt(balance: Mapping[str, Any]) -> Decimal:
    """The trading account's USDT without unrealised PnL: ``eq − upl`` of its USDT row.

    ``eq`` is cash plus isolated margin plus every position's uPnL; ``upl`` is that uPnL.

    >>> okx_wallet_usdt({"info": {"data": [{"details": [
    ...     {"ccy": "USDT", "eq": "1005.5", "upl": "5.5"}]}]}})
    Decimal('1000.0')
    """
    data = (balance.get("info") or {}).get("data") or [{}]
    for row in data[0].get("details") or []:
        if row.get("ccy") == "USDT":
            eq = exchange_decimal(row.get("eq") or 0, "okx USDT eq")
            return eq - exchange_decimal(row.get("upl") or 0, "okx USDT upl")
    return ZERO


def okx_brackets(symbol: str, tiers: Iterable[Mapping[str, Any]], contract_size: Decimal,
                 price: Decimal) -> BracketTable:
    """ccxt's OKX leverage tiers (bounds in contracts) as notional brackets at ``price``.

    Each tier starts where the previous one ends (OKX lists the next tier's ``minSz`` one lot
    above the previous ``maxSz`` on some instruments; the table must be contiguous).
    """
    per_contract = contract_size * price
    rows = []
    floor = ZERO
    for tier in tiers:
        cap = exchange_decimal(tier.get("maxNotional"), "okx tier maxSz") * per_contract
        rows.append((floor, cap,
                     exchange_decimal(tier.get("maintenanceMarginRate"), "okx tier mmr"),
                     exchange_decimal(tier.get("maxLeverage"), "okx tier maxLever")))
        floor = cap
    return BracketTable.from_rates(symbol, rows)


def okx_client_id(client_order_id: str) -> str:
    """The engine's client id as an OKX ``clOrdId``.

    >>> okx_client_id("ph-btc_hold-12")
    'phZbtcYholdZ12'
    """
    if not _ENGINE_ID.fullmatch(client_order_id):
        raise TerminalExchangeError(
            f"client order id {client_order_id!r} on okx: clOrdId takes 1 to 32 characters; "
            "perphedge sends a-z, 0-9, '-' and '_' (a shorter hedge name fits)")
    return client_order_id.replace("-", "Z").replace("_", "Y")


def engine_client_id(cl_ord_id: str) -> str:
    """An OKX ``clOrdId`` back as the engine's id (another client's id is left as it is).

    >>> engine_client_id("phZbtcYholdZ12"), engine_client_id("Manual1")
    ('ph-btc_hold-12', 'Manual1')
    """
    if not _SENT_ID.fullmatch(cl_ord_id):
        return cl_ord_id
    return cl_ord_id.replace("Z", "-").replace("Y", "_")
