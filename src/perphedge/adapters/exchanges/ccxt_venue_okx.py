"""OKX's venue: what OKX does differently from ccxt's unified picture, read from OKX's v5 fields.

:class:`OkxVenue` overrides the hooks of
:class:`perphedge.adapters.exchanges.ccxt_venue_unified.CcxtVenue` where OKX differs (tested
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
  same way; a longer id cannot be sent;
* OKX has no margin-mode setting: every order carries its ``tdMode`` and leverage is set per
  mode (``mgnMode``), so the venue remembers the mode per market;
* the isolated margin of a position is OKX's raw ``margin`` (ccxt's ``collateral`` adds uPnL);
* funding history asks from ``begin`` (ccxt filters ``since`` after reading the newest 100
  bills); margin moves call ``/api/v5/account/position/margin-balance`` itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from perphedge.adapters.exchanges.ccxt_ledger_okx import OkxLedgerReads
from perphedge.adapters.exchanges.ccxt_reply import ReplyObject
from perphedge.adapters.exchanges.ccxt_venue_base import RetryPolicy
from perphedge.adapters.exchanges.ccxt_venue_unified import CcxtVenue
from perphedge.domain.brackets import BracketTable
from perphedge.domain.money import ZERO, plain
from perphedge.domain.types import MarginMode
from perphedge.engine.venue import Market
from perphedge.errors import TerminalExchangeError

__all__ = ["OKX_ACCOUNTS", "OkxVenue", "engine_client_id", "okx_brackets", "okx_client_id",
           "okx_wallet_usdt"]

_ENGINE_ID = re.compile(r"[a-z0-9_-]{1,32}")
_SENT_ID = re.compile(r"[a-z0-9YZ]{1,32}")

#: ccxt's OKX account names for the port's two wallets (``options['accountsByType']``).
OKX_ACCOUNTS = {Market.SPOT: "funding", Market.FUTURES: "trading"}


def okx_wallet_usdt(balance: ReplyObject) -> Decimal:
    """The trading account's USDT without unrealised PnL: ``eq − upl`` of its USDT row.

    ``eq`` is cash plus isolated margin plus every position's uPnL; ``upl`` is that uPnL.

    >>> okx_wallet_usdt(ReplyObject({"info": {"data": [{"details": [
    ...     {"ccy": "USDT", "eq": "1005.5", "upl": "5.5"}]}]}}, "GET /api/v5/account/balance"))
    Decimal('1000.0')
    """
    data = balance.obj("info", {}).objects("data", required=False)
    details = data[0].objects("details", required=False) if data else []
    for row in details:
        if row.raw("ccy") == "USDT":
            return row.dec("eq", 0) - row.dec("upl", 0)
    return ZERO


def okx_brackets(symbol: str, tiers: Iterable[ReplyObject], contract_size: Decimal,
                 price: Decimal) -> BracketTable:
    """ccxt's OKX leverage tiers (bounds in contracts) as notional brackets at ``price``.

    Each tier starts where the previous one ends (OKX lists the next tier's ``minSz`` one lot
    above the previous ``maxSz`` on some instruments; the table must be contiguous).
    """
    per_contract = contract_size * price
    rows = []
    floor = ZERO
    for tier in tiers:
        cap = tier.dec("maxNotional") * per_contract
        rows.append((floor, cap, tier.dec("maintenanceMarginRate"), tier.dec("maxLeverage")))
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


class OkxVenue(OkxLedgerReads, CcxtVenue):
    """An OKX account as a ``Venue``: ccxt's unified okx with OKX's differences (module doc)."""

    _SPOT_BALANCE_TYPE: ClassVar[str] = "funding"
    _MARKETS_ENDPOINT: ClassVar[str] = "GET /api/v5/public/instruments"
    _TRANSFER_ACCOUNTS: ClassVar[Mapping[Market, str]] = OKX_ACCOUNTS

    def __init__(self, client: Any, *, secrets: Sequence[str] = (),
                 retry: RetryPolicy | None = None) -> None:
        super().__init__(client, secrets=secrets, retry=retry)
        #: The margin mode per market id (OKX has no such setting; orders carry it).
        self._okx_modes: dict[str, str] = {}

    async def _brackets_from_tiers(self, symbol: str, market: dict[str, Any],
                                   tiers: list[ReplyObject]) -> BracketTable:
        """OKX's tiers are in contracts: notional brackets at the current mark price."""
        mark = await self._mark_price(market)
        size = self._dec(market.get("contractSize") or 1, "contract size")
        return okx_brackets(symbol, tiers, size, mark)

    def _wallet_usdt(self, swap: ReplyObject) -> Decimal:
        return okx_wallet_usdt(swap)

    def _positions_seen(self, rows: list[dict[str, Any]]) -> None:
        for p in rows:
            if p.get("contracts"):  # each such row was read as a position already
                market_id = self._client.markets[p["symbol"]]["id"]
                self._okx_modes[market_id] = str(p.get("marginMode") or "cross")

    def _isolated_margin(self, p: ReplyObject, mode: MarginMode) -> Decimal:
        # The raw ``margin`` (ccxt's collateral adds the uPnL to it, which the port's
        # isolated margin, Binance's isolatedWallet, does not hold).
        info = p.obj("info", {})
        return info.dec("margin") if info.raw("margin") else ZERO

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """OKX has no margin-mode setting: every order carries its ``tdMode`` and leverage is
        set per mode. The mode is remembered for the market's orders and leverage, after
        checking that no open position holds the other mode (Binance's -4048 refusal)."""
        market = await self._market(symbol)
        held = await self._okx_position_mode(market)
        if held not in (None, mode.value):
            raise TerminalExchangeError(
                f"set margin mode of {symbol} to {mode.value} on okx: an open {held} "
                "position exists")
        self._okx_modes[market["id"]] = mode.value

    async def _leverage_params(self, market: dict[str, Any]) -> dict[str, Any]:
        # OKX sets leverage per margin mode (ccxt's default is cross).
        return {"mgnMode": await self._okx_mode(market)}

    async def _order_params(self, market: dict[str, Any]) -> dict[str, Any]:
        # The order's tdMode decides the position's margin mode on OKX.
        return {"marginMode": await self._okx_mode(market)}

    async def _send_margin_move(self, market: dict[str, Any], amount_usdt: Decimal, kind: str,
                                action: str) -> None:
        # ccxt's okx add_margin/reduce_margin raise TypeError parsing OKX's reply after the
        # margin has moved (ccxt 4.5.90); the endpoint itself is called instead.
        request = {"instId": market["id"], "posSide": "net", "type": kind,
                   "amt": plain(amount_usdt)}
        await self._send_money(action, lambda: (
            self._client.privatePostAccountPositionMarginBalance(request)))

    def _funding_params(self, since_ms: int) -> dict[str, Any]:
        # ccxt's okx filters ``since`` only after reading OKX's newest 100 bills; ``begin``
        # asks OKX for the bills from then on.
        return {"begin": str(since_ms)}

    def _engine_client_id(self, client_id: str) -> str:
        return engine_client_id(client_id)

    def _sent_id(self, client_order_id: str) -> str:
        """The client id as OKX takes it: 32 letters and digits."""
        return okx_client_id(client_order_id)

    async def _okx_position_mode(self, market: dict[str, Any]) -> str | None:
        """The margin mode of the open OKX position on ``market``, or None when flat."""
        action = f"fetch position of {market['id']}"
        rows = await self._read_as(action, lambda: (
            self._client.fetch_positions([market["symbol"]])),
            lambda body: self._replies(body, action))
        return next((p.text("marginMode") for p in rows if p.raw("contracts")), None)

    async def _okx_mode(self, market: dict[str, Any]) -> str:
        """The margin mode OKX orders and leverage on ``market`` use: the one set (or seen
        on the open position), else the open position's, else cross (OKX's default)."""
        mode = self._okx_modes.get(market["id"]) or await self._okx_position_mode(market)
        self._okx_modes[market["id"]] = mode or "cross"
        return self._okx_modes[market["id"]]
