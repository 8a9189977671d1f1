"""A loopback Bybit v5 REST server: the endpoints ccxt's ``bybit`` client calls for the Venue port.

Signed requests are checked as Bybit checks them: ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP``,
``X-BAPI-RECV-WINDOW`` and ``X-BAPI-SIGN`` = hex HMAC-SHA256 of ``timestamp + key +
recv_window + (query string | JSON body)``. Every answer is Bybit's envelope
``{"retCode", "retMsg", "result", "retExtInfo", "time"}`` with HTTP 200, refusals included.
The account is a Unified Trading Account (see :mod:`tests.fakes.bybit_v5_account`).

``BybitV5.drop_after_accept`` holds client order ids whose create request is carried out and
then answered by closing the connection: the ambiguous send a venue must resolve by id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from perphedge.domain.types import MarginMode
from perphedge.exchange.errors import BinanceApiError
from perphedge.exchange.market import ReplayMarket
from perphedge.exchange.orders import OrderRecord
from perphedge.sim import records
from perphedge.sim.account import SimRejection
from tests.fakes import bybit_v5_ledger
from tests.fakes.bybit_v5_account import (
    SYMBOL,
    BybitError,
    UnifiedAccount,
    bybit_error,
    bybit_exchange,
    order_uuid,
)
from tests.loopback import send_spoiled, serve_on_loopback

Params = dict[str, Any]
_FINAL = ("Filled", "Cancelled", "Rejected", "Deactivated")
_MODES = {"ISOLATED_MARGIN": MarginMode.ISOLATED, "REGULAR_MARGIN": MarginMode.CROSS}


@dataclass
class BybitV5:
    """The fake's state: the account, the keys it accepts and every request it saw."""

    account: UnifiedAccount
    api_key: str
    secret: str
    url: str = ""
    requests: list[tuple[str, str, Params]] = field(default_factory=list)
    drop_after_accept: set[str] = field(default_factory=set)
    #: Paths whose next request is carried out, then answered with these bytes instead
    #: (status 200), or with the real answer cut halfway through its body (``"cut"``).
    spoil_after_handling: dict[str, bytes | str] = field(default_factory=dict)

    def paths(self) -> list[str]:
        return [f"{method} {path}" for method, path, _ in self.requests]

    def last(self, method: str, path: str) -> Params:
        return next(p for m, pa, p in reversed(self.requests) if (m, pa) == (method, path))

    # ------------------------------------------------------------------ routing
    def answer(self, method: str, path: str, params: Params) -> Any:
        route = _ROUTES.get((method, path))
        if route is None:
            raise BybitError(10017, "request path not found or request method is invalid")
        exchange = self.account.exchange
        with exchange.lock:
            exchange.sync()
            try:
                return route(self, params)
            except (SimRejection, BinanceApiError) as err:
                raise bybit_error(err) from None

    # ------------------------------------------------------------------ public
    def instruments(self, p: Params) -> Any:
        _linear(p)
        # ccxt asks for the trading list and the pre-launch list; nothing is pre-launch here.
        rows = [] if p.get("status") == "PreLaunch" else [self.account.instrument_row()]
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    def tickers(self, p: Params) -> Any:
        _linear(p)
        _symbol(p)
        return {"category": "linear", "list": [self.account.ticker_row()]}

    def risk_limit(self, p: Params) -> Any:
        _linear(p)
        _symbol(p)
        return {"category": "linear", "list": self.account.risk_limit_rows(),
                "nextPageCursor": ""}

    # ------------------------------------------------------------------ account
    def query_api(self, _p: Params) -> Any:
        return {"id": "13770661", "note": "perphedge", "apiKey": self.api_key, "readOnly": 0,
                "secret": "", "permissions": {"ContractTrade": ["Order", "Position"],
                                              "Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"]},
                "ips": ["*"], "type": 1, "deadlineDay": 83, "expiredAt": "",
                "createdAt": "2024-01-01T00:00:00Z", "unified": 0, "uta": 1,
                "userID": 24600000, "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0",
                "affiliateID": 0, "rsaPublicKey": "", "isMaster": True, "parentUid": "0"}

    def account_info(self, _p: Params) -> Any:
        mode = "ISOLATED_MARGIN" if self.account.margin_mode is MarginMode.ISOLATED \
            else "REGULAR_MARGIN"
        # unifiedMarginStatus 5: UTA 2.0.
        return {"marginMode": mode, "updatedTime": str(self.account.now()),
                "unifiedMarginStatus": 5, "dcpStatus": "OFF", "timeWindow": 10, "smpGroup": 0,
                "isMasterTrader": False, "spotHedgingStatus": "OFF"}

    def wallet_balance(self, p: Params) -> Any:
        if p.get("accountType") != "UNIFIED":
            raise BybitError(10001, "accountType only support UNIFIED.")
        return {"list": [self.account.wallet_row()]}

    def set_margin_mode(self, p: Params) -> Any:
        mode = _MODES.get(str(p.get("setMarginMode")))
        if mode is None:
            raise BybitError(10001, "params error: setMarginMode")
        try:
            self.account.sim.set_margin_mode(SYMBOL, mode)
        except SimRejection as err:
            if err.code != records.NO_NEED_TO_CHANGE_MARGIN_TYPE:
                raise
        self.account.margin_mode = mode
        return {"reasons": []}

    def transfer(self, p: Params) -> Any:
        # A UTA 2.0 has no SPOT or CONTRACT wallet: both are the UNIFIED one.
        kinds = {p.get("fromAccountType"), p.get("toAccountType")}
        if not kinds <= {"UNIFIED", "FUND"}:
            raise BybitError(10001, "accountType only support UNIFIED and FUND.")
        raise BybitError(131208, "Forbid transfer")  # the funding wallet is not modelled

    def executions(self, p: Params) -> Any:
        _linear(p)
        if p.get("execType") == "Trade":
            rows = bybit_v5_ledger.trade_rows(self.account.exchange, SYMBOL, p)
            return {"category": "linear", "list": rows[: int(p.get("limit") or 50)],
                    "nextPageCursor": ""}
        if p.get("execType") != "Funding":
            raise BybitError(10001, "only execType=Funding or Trade is served by this fake")
        rows = self.account.funding_rows(int(p.get("startTime") or 0))
        return {"category": "linear", "list": rows[: int(p.get("size") or 50)],
                "nextPageCursor": ""}

    def market_time(self, p: Params) -> Any:
        return bybit_v5_ledger.market_time(self.account.now())

    # ------------------------------------------------------------------ positions
    def positions(self, p: Params) -> Any:
        _linear(p)
        if not (p.get("symbol") or p.get("settleCoin") or p.get("baseCoin")):
            raise BybitError(10001, "symbol or settleCoin is required")
        return {"category": "linear", "list": self.account.position_rows(),
                "nextPageCursor": ""}

    def set_leverage(self, p: Params) -> Any:
        _linear(p)
        _symbol(p)
        buy, sell = _dec(p, "buyLeverage"), _dec(p, "sellLeverage")
        if buy != sell or buy != buy.to_integral_value():
            raise BybitError(10001, "buy leverage not equal sell leverage")
        if int(buy) == self.account.sim.position(SYMBOL).leverage:
            raise BybitError(110043, "leverage not modified")
        self.account.sim.set_leverage(SYMBOL, int(buy))
        return {}

    def add_margin(self, p: Params) -> Any:
        _linear(p)
        _symbol(p)
        amount, sim, now = _dec(p, "margin"), self.account.sim, self.account.now()
        if amount > 0:
            sim.add_margin(SYMBOL, amount, now)
        elif amount < 0:
            sim.reduce_margin(SYMBOL, -amount, now)
        else:
            raise BybitError(10001, "margin can not be zero")
        row = self.account.position_rows()[0]
        return {k: row[k] for k in ("symbol", "positionIdx", "riskId", "riskLimitValue", "size",
                                    "avgPrice", "liqPrice", "bustPrice", "markPrice",
                                    "positionValue", "leverage", "autoAddMargin",
                                    "positionStatus", "positionIM", "positionMM",
                                    "unrealisedPnl", "cumRealisedPnl", "createdTime",
                                    "updatedTime")} | {"category": "linear"}

    # ------------------------------------------------------------------ orders
    def create_order(self, p: Params) -> Any:
        _linear(p)
        _symbol(p)
        link_id, book = str(p.get("orderLinkId") or ""), self.account.exchange.book
        if link_id and any(o.client_order_id == link_id for o in book.orders.values()):
            raise BybitError(110072, "OrderLinkedID is duplicate")
        side, kind = p.get("side"), p.get("orderType")
        if side not in ("Buy", "Sell") or kind not in ("Market", "Limit"):
            raise BybitError(10001, "params error: side or orderType")
        market = kind == "Market"
        order = book.new_order(
            client_order_id=link_id, market="futures", symbol=SYMBOL, side=str(side).upper(),
            type=str(kind).upper(), orig_qty=_dec(p, "qty"),
            price=Decimal(0) if market else _dec(p, "price"),
            time_in_force="IOC" if market else "GTC",
            reduce_only=p.get("reduceOnly") is True, time_ms=self.account.now(),
        )
        self.account.exchange.place(order)  # a refusal removes the order and raises
        return {"orderId": order_uuid(order.order_id), "orderLinkId": order.client_order_id}

    def cancel_order(self, p: Params) -> Any:
        _linear(p)
        order = self._find(p)
        if order is None or not order.is_open:
            raise BybitError(110001, "order not exists or too late to cancel")
        order.status, order.update_time_ms = "CANCELED", self.account.now()
        return {"orderId": order_uuid(order.order_id), "orderLinkId": order.client_order_id}

    def open_orders(self, p: Params) -> Any:
        """``/v5/order/realtime``: open orders (openOnly=0), or recent closed ones (=1)."""
        _linear(p)
        if not (p.get("symbol") or p.get("settleCoin") or p.get("baseCoin")):
            raise BybitError(10001, "symbol or settleCoin or baseCoin is required")
        closed = str(p.get("openOnly", "0")) == "1"
        return self._orders(p, lambda row: (row["orderStatus"] in _FINAL) == closed)

    def order_history(self, p: Params) -> Any:
        _linear(p)
        status = p.get("orderStatus")
        return self._orders(p, lambda row: row["orderStatus"] in _FINAL
                            and status in (None, row["orderStatus"]))

    def _orders(self, p: Params, keep: Callable[[dict[str, Any]], bool]) -> Any:
        wanted_id, wanted_link = p.get("orderId"), p.get("orderLinkId")
        rows = [self.account.order_row(o) for o in reversed(self.account.exchange.book.orders
                                                              .values())]
        rows = [r for r in rows if keep(r)
                and wanted_id in (None, r["orderId"]) and wanted_link in (None, r["orderLinkId"])]
        return {"category": "linear", "list": rows[: int(p.get("limit") or 20)],
                "nextPageCursor": ""}

    def _find(self, p: Params) -> OrderRecord | None:
        for order in self.account.exchange.book.orders.values():
            if p.get("orderId") == order_uuid(order.order_id) or (
                    p.get("orderLinkId") and p["orderLinkId"] == order.client_order_id):
                return order
        return None


_ROUTES: dict[tuple[str, str], Callable[[BybitV5, Params], Any]] = {
    ("GET", "/v5/market/instruments-info"): BybitV5.instruments,
    ("GET", "/v5/market/tickers"): BybitV5.tickers,
    ("GET", "/v5/market/risk-limit"): BybitV5.risk_limit,
    ("GET", "/v5/market/time"): BybitV5.market_time,
    ("GET", "/v5/user/query-api"): BybitV5.query_api,
    ("GET", "/v5/account/info"): BybitV5.account_info,
    ("GET", "/v5/account/wallet-balance"): BybitV5.wallet_balance,
    ("POST", "/v5/account/set-margin-mode"): BybitV5.set_margin_mode,
    ("POST", "/v5/asset/transfer/inter-transfer"): BybitV5.transfer,
    ("GET", "/v5/execution/list"): BybitV5.executions,
    ("GET", "/v5/position/list"): BybitV5.positions,
    ("POST", "/v5/position/set-leverage"): BybitV5.set_leverage,
    ("POST", "/v5/position/add-margin"): BybitV5.add_margin,
    ("POST", "/v5/order/create"): BybitV5.create_order,
    ("POST", "/v5/order/cancel"): BybitV5.cancel_order,
    ("GET", "/v5/order/realtime"): BybitV5.open_orders,
    ("GET", "/v5/order/history"): BybitV5.order_history,
}
_PUBLIC = {"/v5/market/instruments-info", "/v5/market/tickers", "/v5/market/risk-limit",
           "/v5/market/time"}


def _linear(p: Params) -> None:
    if p.get("category") != "linear":
        raise BybitError(10001, "params error: category only support linear here")


def _symbol(p: Params) -> None:
    if p.get("symbol") != SYMBOL:
        raise BybitError(10001, "params error: symbol invalid")


def _dec(p: Params, name: str) -> Decimal:
    try:
        value = Decimal(str(p[name]))
    except (KeyError, InvalidOperation):
        raise BybitError(10001, f"params error: {name}") from None
    if not value.is_finite():
        raise BybitError(10001, f"params error: {name}")
    return value


def _envelope(code: int, msg: str, result: Any) -> bytes:
    body = {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {},
            "time": int(time.time() * 1000)}
    return json.dumps(body, separators=(",", ":")).encode()  # compact, as Bybit sends it


def _check_signature(state: BybitV5, headers: Any, payload: str) -> None:
    """Bybit's HMAC-SHA256 check of a signed request (retCodes 10003, 10002, 10004)."""
    key = headers.get("X-BAPI-API-KEY")
    stamp = headers.get("X-BAPI-TIMESTAMP") or ""
    window = headers.get("X-BAPI-RECV-WINDOW") or "5000"
    if key != state.api_key:
        raise BybitError(10003, "API key is invalid.")
    if not stamp.isdigit() or abs(time.time() * 1000 - int(stamp)) > int(window):
        raise BybitError(10002, "invalid request, please check your server timestamp or "
                                "recv_window param")
    expected = hmac.new(state.secret.encode(), (stamp + key + window + payload).encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers.get("X-BAPI-SIGN") or ""):
        raise BybitError(10004, "error sign! origin_string[" + stamp + key + window + "]")


class _Handler(BaseHTTPRequestHandler):
    """One request: parse, check the signature, answer (or drop an accepted order)."""

    protocol_version = "HTTP/1.1"
    state: BybitV5

    def log_message(self, *_args: object) -> None:  # quiet tests
        return None

    def do_GET(self) -> None:
        query = urlsplit(self.path).query
        self._serve("GET", query, dict(parse_qsl(query, keep_blank_values=True)))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        try:
            params = json.loads(raw or "{}")
        except json.JSONDecodeError:
            params = None
        if not isinstance(params, dict):
            self._reply(_envelope(10001, "request body is not JSON", {}))
            return
        self._serve("POST", raw, params)

    def _serve(self, method: str, payload: str, params: Params) -> None:
        path, state = urlsplit(self.path).path, self.state
        state.requests.append((method, path, params))
        try:
            if path not in _PUBLIC:
                _check_signature(state, self.headers, payload)
            result = state.answer(method, path, params)
        except BybitError as err:
            self._reply(_envelope(err.code, err.msg, {}))
            return
        link_id = params.get("orderLinkId")
        if path == "/v5/order/create" and link_id in state.drop_after_accept:
            state.drop_after_accept.discard(link_id)
            self.close_connection = True  # accepted, then no answer at all
            return
        send_spoiled(self, 200, _envelope(0, "OK", result),
                     state.spoil_after_handling.pop(path, None))

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve_bybit_v5(market: ReplayMarket, coins: dict[str, Decimal], start_ms: int,
                   api_key: str, secret: str) -> Iterator[BybitV5]:
    """A Bybit v5 server on 127.0.0.1 over a UTA holding ``coins``; yields its state."""
    state = BybitV5(UnifiedAccount(bybit_exchange(market, coins, start_ms)), api_key, secret)
    handler = type("BybitV5Handler", (_Handler,), {"state": state})
    with serve_on_loopback(handler, "bybit-v5") as url:
        state.url = url
        yield state
