"""A loopback OKX v5 REST server over perphedge's simulator, for the real ccxt ``okx`` client.

Only the endpoints ccxt's ``okx`` calls for the venue port are served (an unknown path is a
404, so an unexpected call fails the test). Replies have OKX's shape: the
``{"code": "0", "msg": "", "data": [...]}`` envelope, every number a string, OKX error codes
(51000-series for orders, 58/59000-series for transfers and margin) that ccxt maps to its
exception classes. Private requests must carry ``OK-ACCESS-KEY``, ``-PASSPHRASE``,
``-TIMESTAMP`` (ISO 8601, at most 30 s off) and ``-SIGN``: base64 HMAC-SHA256 of
``timestamp + method + path?query + body`` with the secret, as OKX documents.

The account is a :class:`perphedge.exchange.core.LocalExchange` (one ``SimAccount``, a replayed
market, the order book): its spot wallet is OKX's funding account (``6``), its USDⓈ-M wallet
the trading account (``18``). BTC-USDT-SWAP sizes are in contracts of 0.01 BTC and converted
at this boundary. Simplification: one position per instrument (an order whose ``tdMode``
differs from an open position's margin mode is refused with 51000).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from perphedge.domain.types import MarginMode
from perphedge.errors import TerminalExchangeError
from perphedge.exchange.core import LocalExchange
from perphedge.exchange.market import ReplayMarket, wall_ms
from perphedge.exchange.orders import OrderRecord
from perphedge.paper.venue import paper_exchange
from tests.fakes import okx_v5_ledger
from tests.fakes import okx_v5_rows as rows
from tests.fakes.okx_v5_rows import CT_VAL, INST_ID, SIM_SYMBOL, OrderExtras, s
from tests.loopback import send_spoiled, serve_on_loopback

EIGHT_HOURS_MS = 8 * 3_600_000
_CL_ORD_ID = re.compile(r"[A-Za-z0-9]{1,32}")  # OKX: case-sensitive alphanumerics, 1-32
Params = dict[str, Any]


class OkxError(Exception):
    """An OKX refusal: ``code`` and ``msg`` go into the envelope (``status`` is HTTP's)."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as the server received it (params: the query or the JSON body)."""

    method: str
    path: str
    params: Any
    headers: dict[str, str]


@dataclass
class OkxV5Fake:
    """The server's state: the simulated account, keys, what was asked, what to drop."""

    exchange: LocalExchange
    api_key: str
    secret: str
    passphrase: str
    tier_price: Decimal
    url: str = ""
    pos_mode: str = "net_mode"
    seen: list[Seen] = field(default_factory=list)
    #: Paths whose next request is carried out and then answered by closing the connection.
    drop_after_handling: set[str] = field(default_factory=set)
    #: Paths whose next request is carried out, then answered with these bytes instead
    #: (status 200), or with the real answer cut halfway through its body (``"cut"``).
    spoil_after_handling: dict[str, bytes | str] = field(default_factory=dict)
    extras: dict[int, OrderExtras] = field(default_factory=dict)
    levers: dict[str, int] = field(default_factory=dict)  # mgnMode → lever (one instrument)
    transfers: int = 0

    def requests(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.seen if r.method == method and r.path == path]

    # ------------------------------------------------------------------ dispatch
    def handle(self, method: str, target: str, body: bytes, headers: dict[str, str]
               ) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(target)
        path = parts.path
        params: Any = json.loads(body) if body else dict(parse_qsl(parts.query))
        self.seen.append(Seen(method, path, params, headers))
        route = ROUTES.get((method, path))
        if route is None:
            return 404, {"code": "404", "msg": f"Not Found: {method} {path}", "data": []}
        try:
            if not path.startswith("/api/v5/public/"):
                self._authenticate(method, target, body.decode(), headers)
            with self.exchange.lock:
                self.exchange.sync()
                data = route(self, params)
        except OkxError as err:
            return err.status, {"code": err.code, "msg": err.msg, "data": []}
        except _OrderRefused as err:
            return 200, {"code": "1", "msg": "All operations failed", "data": [err.row]}
        return 200, {"code": "0", "msg": "", "data": data}

    def _authenticate(self, method: str, target: str, body: str, headers: dict[str, str]
                      ) -> None:
        key, sign = headers.get("ok-access-key"), headers.get("ok-access-sign")
        stamp, phrase = headers.get("ok-access-timestamp"), headers.get("ok-access-passphrase")
        if not key:
            raise OkxError("50103", 'Request header "OK-ACCESS-KEY" cannot be empty.', 401)
        if key != self.api_key:
            raise OkxError("50111", "Invalid OK-ACCESS-KEY.", 401)
        if not phrase:
            raise OkxError("50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.', 401)
        if phrase != self.passphrase:
            raise OkxError("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401)
        try:
            sent_ms = int(datetime.fromisoformat(str(stamp)).timestamp() * 1000)
        except ValueError:
            raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP.", 401) from None
        if abs(wall_ms() - sent_ms) > 30_000:
            raise OkxError("50102", "Timestamp request expired.", 401)
        prehash = f"{stamp}{method}{target}{body}".encode()
        digest = hmac.new(self.secret.encode(), prehash, hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), str(sign)):
            raise OkxError("50113", "Invalid Sign.", 401)

    # ------------------------------------------------------------------ helpers
    @property
    def now(self) -> int:
        return self.exchange.last_sync_ms

    def _mark(self) -> Decimal:
        return self.exchange.market.price(SIM_SYMBOL, self.now)

    def _order(self, params: Params) -> OrderRecord:
        _inst(params)
        cl, ord_id = params.get("clOrdId"), params.get("ordId")
        for order in reversed(list(self.exchange.book.orders.values())):
            by_id = ord_id and str(order.order_id) == ord_id
            if order.market == "futures" and ((cl and order.client_order_id == cl) or by_id):
                return order
        raise OkxError("51603", "Order does not exist")

    def _use_margin_mode(self, td_mode: str) -> None:
        """Give the simulator the order's margin mode and that mode's leverage."""
        account = self.exchange.account
        pos = account.position(SIM_SYMBOL)
        mode = MarginMode(td_mode)
        if pos.qty_base != 0 and pos.margin_mode is not mode:
            raise OkxError("51000", "Parameter tdMode error")
        if pos.qty_base == 0 and pos.margin_mode is not mode:
            account.set_margin_mode(SIM_SYMBOL, mode)
        lever = self.levers.get(td_mode)
        if lever is not None and lever != pos.leverage:
            account.set_leverage(SIM_SYMBOL, lever)

    def place(self, request: Params) -> dict[str, str]:
        _inst(request)
        cl = str(request.get("clOrdId") or "")
        td_mode, ord_type = request.get("tdMode"), request.get("ordType")
        if td_mode not in ("cross", "isolated"):
            raise OkxError("51000", "Parameter tdMode error")
        if ord_type not in ("market", "limit") or request.get("side") not in ("buy", "sell"):
            raise OkxError("51000", "Parameter ordType error")
        if not _CL_ORD_ID.fullmatch(cl):
            raise _OrderRefused(cl, "51000", "Parameter clOrdId error")
        if any(o.client_order_id == cl for o in self.exchange.book.orders.values()):
            raise _OrderRefused(cl, "51016", "Duplicated clOrdId")
        size, price = _dec(request.get("sz"), "sz"), _dec(request.get("px") or "0", "px")
        reduce_only = str(request.get("reduceOnly", "false")).lower() == "true"
        try:
            self._use_margin_mode(td_mode)
            order = self.exchange.book.new_order(
                client_order_id=cl, market="futures", symbol=SIM_SYMBOL,
                side=str(request["side"]).upper(), type=str(ord_type).upper(),
                orig_qty=size * CT_VAL, price=price, time_in_force="GTC",
                reduce_only=reduce_only, time_ms=self.now)
            self.exchange.place(order)
        except TerminalExchangeError as err:
            code, msg = rows.OKX_CODES.get(getattr(err, "code", 0), ("51000", str(err)))
            raise _OrderRefused(cl, code, msg) from None
        self.extras[order.order_id] = OrderExtras(td_mode, ord_type)
        return {"clOrdId": cl, "ordId": str(order.order_id), "tag": "", "ts": str(self.now),
                "sCode": "0", "sMsg": "Order placed"}

    def order_row(self, order: OrderRecord) -> dict[str, str]:
        return rows.order_row(self.exchange, order, self.extras[order.order_id])


class _OrderRefused(Exception):
    """An order OKX refused: answered as ``code "1"`` with the order's ``sCode``/``sMsg``."""

    def __init__(self, cl: str, code: str, msg: str) -> None:
        super().__init__(code)
        self.row = {"clOrdId": cl, "ordId": "", "tag": "", "sCode": code, "sMsg": msg}


def _dec(value: object, name: str) -> Decimal:
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise OkxError("51000", f"Parameter {name} error") from None
    if not out.is_finite() or out < 0:
        raise OkxError("51000", f"Parameter {name} error")
    return out


def _inst(params: Params) -> None:
    if params.get("instId") != INST_ID:
        raise OkxError("51001", "Instrument ID does not exist")


def _sim(call: Callable[[], object]) -> None:
    """Run a simulator call, answering its rejection with OKX's code."""
    try:
        call()
    except TerminalExchangeError as err:
        code, msg = rows.OKX_CODES.get(getattr(err, "code", 0), ("51000", str(err)))
        raise OkxError(code, msg) from None


# ---------------------------------------------------------------------- routes
def _instruments(fake: OkxV5Fake, q: Params) -> list[Any]:
    return [rows.instrument_row(fake.now - 86_400_000)] if q.get("instType") == "SWAP" else []


def _time(fake: OkxV5Fake, q: Params) -> list[Any]:
    return [{"ts": str(wall_ms())}]


def _funding_rate(fake: OkxV5Fake, q: Params) -> list[Any]:
    _inst(q)
    next_ms, rate = fake.exchange.market.next_funding(SIM_SYMBOL, fake.now)
    return [{"instType": "SWAP", "instId": INST_ID, "method": "current_period",
             "fundingRate": s(rate) if next_ms else "", "fundingTime": str(next_ms or ""),
             "nextFundingTime": str(next_ms + EIGHT_HOURS_MS) if next_ms else "",
             "ts": str(fake.now)}]


def _mark_price(fake: OkxV5Fake, q: Params) -> list[Any]:
    _inst(q)
    return [{"instType": "SWAP", "instId": INST_ID, "markPx": s(fake._mark()),
             "ts": str(fake.now)}]


def _tiers(fake: OkxV5Fake, q: Params) -> list[Any]:
    if q.get("instType") != "SWAP" or q.get("instFamily") != "BTC-USDT":
        raise OkxError("51000", "Parameter instFamily error")
    return rows.tier_rows(fake.exchange.account.brackets[SIM_SYMBOL], fake.tier_price)


def _balance(fake: OkxV5Fake, q: Params) -> list[Any]:
    return [rows.trading_balance(fake.exchange)]


def _asset_balances(fake: OkxV5Fake, q: Params) -> list[Any]:
    return rows.funding_balances(fake.exchange)


def _positions(fake: OkxV5Fake, q: Params) -> list[Any]:
    return [p for p in rows.position_rows(fake.exchange)
            if q.get("instId") in (None, p["instId"]) and q.get("instType") in (None, "SWAP")]


def _config(fake: OkxV5Fake, q: Params) -> list[Any]:
    return [{"uid": "44550001", "mainUid": "44550001", "acctLv": "2", "posMode": fake.pos_mode,
             "autoLoan": False, "greeksType": "PA", "level": "Lv1", "levelTmp": "",
             "ctIsoMode": "automatic", "mgnIsoMode": "automatic", "label": "perphedge",
             "perm": "read_only,trade"}]


def _set_leverage(fake: OkxV5Fake, b: Params) -> list[Any]:
    _inst(b)
    mode, lever = b.get("mgnMode"), int(_dec(b.get("lever"), "lever"))
    if mode not in ("cross", "isolated"):
        raise OkxError("51000", "Parameter mgnMode error")
    pos = fake.exchange.account.position(SIM_SYMBOL)
    if pos.margin_mode.value == mode:
        _sim(lambda: fake.exchange.account.set_leverage(SIM_SYMBOL, lever))
    fake.levers[mode] = lever
    return [{"lever": str(lever), "mgnMode": mode, "instId": INST_ID,
             "posSide": b.get("posSide", "")}]


def _batch_orders(fake: OkxV5Fake, b: Any) -> list[Any]:
    if not isinstance(b, list) or len(b) != 1:
        raise OkxError("51000", "Parameter error: one order per batch here")
    return [fake.place(b[0])]


def _one_order(fake: OkxV5Fake, b: Params) -> list[Any]:
    return [fake.place(b)]


def _get_order(fake: OkxV5Fake, q: Params) -> list[Any]:
    return [fake.order_row(fake._order(q))]


def _cancel(fake: OkxV5Fake, b: Params) -> list[Any]:
    try:
        order = fake._order(b)
    except OkxError:
        raise OkxError("51400", "Order cancellation failed as the order does not exist.") from None
    if not order.is_open:
        raise OkxError("51402", "Order cancellation failed as the order has been completed.")
    order.status, order.update_time_ms = "CANCELED", fake.now
    return [{"clOrdId": order.client_order_id, "ordId": str(order.order_id), "sCode": "0",
             "sMsg": ""}]


def _pending(fake: OkxV5Fake, q: Params) -> list[Any]:
    if q.get("instId") not in (None, INST_ID):
        return []
    return [fake.order_row(o) for o in fake.exchange.book.open_orders("futures", SIM_SYMBOL)]


def _margin_balance(fake: OkxV5Fake, b: Params) -> list[Any]:
    _inst(b)
    amount, kind, account = _dec(b.get("amt"), "amt"), b.get("type"), fake.exchange.account
    if kind == "add":
        _sim(lambda: account.add_margin(SIM_SYMBOL, amount, fake.now))
    elif kind == "reduce":
        _sim(lambda: account.reduce_margin(SIM_SYMBOL, amount, fake.now))
    else:
        raise OkxError("51000", "Parameter type error")
    return [{"amt": s(amount), "ccy": "USDT", "instId": INST_ID, "posSide": b.get("posSide"),
             "leverage": str(account.position(SIM_SYMBOL).leverage), "type": kind}]


def _transfer(fake: OkxV5Fake, b: Params) -> list[Any]:
    wallets = {("6", "18"): "futures", ("18", "6"): "spot"}
    to = wallets.get((str(b.get("from")), str(b.get("to"))))
    if b.get("ccy") != "USDT" or str(b.get("type", "0")) != "0" or to is None:
        raise OkxError("51000", "Parameter from/to/ccy error")
    amount = _dec(b.get("amt"), "amt")
    _sim(lambda: fake.exchange.account.transfer(amount, to=to, ts_ms=fake.now))
    fake.transfers += 1
    return [{"transId": str(fake.transfers), "ccy": "USDT", "clientId": "",
             "from": b["from"], "amt": s(amount), "to": b["to"]}]


def _bills(fake: OkxV5Fake, q: Params) -> list[Any]:
    begin, end = int(q.get("begin", 0)), int(q.get("end", 2**62))
    if q.get("type") not in ("1", "2", "6", "8"):
        raise OkxError("51000", "Parameter type error: bills of types 1, 2, 6 and 8 here")
    bills = okx_v5_ledger.bill_rows(fake.exchange, str(q["type"]), begin, end)
    if q.get("after"):
        bills = [b for b in bills if int(b["billId"]) < int(q["after"])]
    return list(reversed(bills))[: int(q.get("limit", 100))]  # newest first, as OKX pages


def _fills_history(fake: OkxV5Fake, q: Params) -> list[Any]:
    return okx_v5_ledger.fill_rows(fake.exchange, q)


ROUTES: dict[tuple[str, str], Callable[[OkxV5Fake, Any], list[Any]]] = {
    ("GET", "/api/v5/public/instruments"): _instruments,
    ("GET", "/api/v5/public/time"): _time,
    ("GET", "/api/v5/public/funding-rate"): _funding_rate,
    ("GET", "/api/v5/public/mark-price"): _mark_price,
    ("GET", "/api/v5/public/position-tiers"): _tiers,
    ("GET", "/api/v5/account/balance"): _balance,
    ("GET", "/api/v5/asset/balances"): _asset_balances,
    ("GET", "/api/v5/account/positions"): _positions,
    ("GET", "/api/v5/account/config"): _config,
    ("POST", "/api/v5/account/set-leverage"): _set_leverage,
    ("POST", "/api/v5/trade/batch-orders"): _batch_orders,
    ("POST", "/api/v5/trade/order"): _one_order,
    ("GET", "/api/v5/trade/order"): _get_order,
    ("POST", "/api/v5/trade/cancel-order"): _cancel,
    ("GET", "/api/v5/trade/orders-pending"): _pending,
    ("POST", "/api/v5/account/position/margin-balance"): _margin_balance,
    ("POST", "/api/v5/asset/transfer"): _transfer,
    ("GET", "/api/v5/account/bills-archive"): _bills,
    ("GET", "/api/v5/trade/fills-history"): _fills_history,
}


def _handler(fake: OkxV5Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as OKX's servers do

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, reply = fake.handle(self.command, self.path, body, headers)
            path = urlsplit(self.path).path
            if path in fake.drop_after_handling:
                fake.drop_after_handling.discard(path)
                self.close_connection = True  # carried out, never answered
                return
            send_spoiled(self, status, json.dumps(reply).encode(),
                         fake.spoil_after_handling.pop(path, None))

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


def okx_exchange(market: ReplayMarket, deposits: dict[str, Decimal]) -> LocalExchange:
    """A simulated account on ``market`` (BTCUSDT) trading BTC-USDT-SWAP's contract spec."""
    exchange = paper_exchange(market, deposits)
    exchange.account.instruments[SIM_SYMBOL] = rows.sim_instrument()
    return exchange


@contextmanager
def serve_okx(exchange: LocalExchange, *, api_key: str, secret: str, passphrase: str,
              tier_price: Decimal) -> Iterator[OkxV5Fake]:
    """Serve ``exchange`` as OKX v5 on 127.0.0.1; ``fake.url`` is the base URL."""
    fake = OkxV5Fake(exchange, api_key, secret, passphrase, tier_price)
    with serve_on_loopback(_handler(fake), "okx-v5") as url:
        fake.url = url
        yield fake
