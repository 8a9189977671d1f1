"""Live market data through ccxt: contract specs, brackets, mark price and funding.

Public endpoints only, unless ``PERPHEDGE_API_KEY``/``PERPHEDGE_API_SECRET`` are set: Binance
serves leverage brackets to signed requests only, so without keys the bundled table is used and
``describe_sources()`` says so.

Binance numbers are read from the raw strings the exchange sent (``market['info']``), never
from ccxt's float-parsed unified fields; other exchanges go through ``Decimal(str(x))``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from perphedge.adapters.exchanges.ccxt_client import (
    Credentials,
    build_client,
    credentials_from_env,
    secret_values,
)
from perphedge.adapters.exchanges.ccxt_envelope import check_replies
from perphedge.adapters.exchanges.ccxt_errors import translate_ccxt_errors
from perphedge.adapters.exchanges.ccxt_reply import ReplyObject, reply_list, reply_object
from perphedge.adapters.marketdata.bundled import bundled_brackets
from perphedge.domain.brackets import Bracket, BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.types import ContractKind
from perphedge.errors import (
    DataError,
    ExchangeError,
    InputError,
    MalformedReplyError,
    RetryableExchangeError,
)
from perphedge.services.ports import MarketSnapshot

__all__ = [
    "DEFAULT_FUNDING_INTERVAL_HOURS",
    "EXCHANGE_INFO",
    "FUNDING_INFO",
    "LEVERAGE_BRACKET",
    "CcxtMarketData",
    "binance_brackets",
    "binance_funding_intervals",
    "exchange_decimal",
    "instrument_from_market",
]

DEFAULT_FUNDING_INTERVAL_HOURS = 8
SETTLE = "USDT"
_T = TypeVar("_T")


def exchange_decimal(value: object, what: str) -> Decimal:
    """A Decimal from an exchange value (raw string preferred; floats go through ``str``)."""
    if value is None or isinstance(value, bool):
        raise DataError(f"exchange sent no usable {what}: {value!r}")
    try:
        result = Decimal(str(value))
    except ArithmeticError:
        raise DataError(f"exchange sent a malformed {what}: {value!r}") from None
    if not result.is_finite():
        raise DataError(f"exchange sent a non-finite {what}: {value!r}")
    return result


_dec = exchange_decimal


#: The requests whose bodies the functions below read (named in a malformed-reply error).
EXCHANGE_INFO = "GET /fapi/v1/exchangeInfo"
LEVERAGE_BRACKET = "GET /fapi/v1/leverageBracket"
FUNDING_INFO = "GET /fapi/v1/fundingInfo"


def instrument_from_market(market: Mapping[str, Any], interval_hours: int,
                           endpoint: str = EXCHANGE_INFO) -> Instrument:
    """The perpetual Instrument of a loaded ccxt market (Binance: from the raw filter strings).

    A market whose values cannot make an instrument (a tick size of 0, a missing filter) is a
    ``MalformedReplyError`` naming ``endpoint``: the exchange's listing is at fault.
    """
    where = f"symbols[{market.get('id')}]"
    checked = reply_object(market, endpoint, where)
    info = reply_object(market.get("info") or {}, endpoint, where)
    filters = {f.text("filterType", ""): f for f in info.objects("filters", required=False)}
    try:
        if filters:
            return _binance_instrument(checked, info, filters, interval_hours)
        return _unified_instrument(checked, interval_hours)
    except InputError as err:
        raise MalformedReplyError(endpoint, f"{where}: {err}") from None


def _binance_instrument(market: ReplyObject, info: ReplyObject,
                        filters: Mapping[str, ReplyObject], interval: int) -> Instrument:
    none = ReplyObject({}, info.endpoint, info.where)
    price = filters.get("PRICE_FILTER", none)
    lot = filters.get("LOT_SIZE", none)
    min_notional = filters.get("MIN_NOTIONAL", none)
    # A quarterly (contractType CURRENT_QUARTER / NEXT_QUARTER) delivers at deliveryDate.
    delivery = info.text("contractType", "PERPETUAL") not in ("PERPETUAL", "")
    return Instrument(
        symbol=info.text("symbol"),
        base=market.text("base"),
        settle=market.text("settle"),
        kind=ContractKind.DELIVERY if delivery else ContractKind.PERPETUAL,
        expiry_ms=info.integer("deliveryDate") if delivery else None,
        tick_size=price.dec("tickSize"),
        lot_step=lot.dec("stepSize"),
        min_qty=lot.dec("minQty"),
        # Older exchangeInfo payloads call it ``minNotional``; today's call it ``notional``.
        min_notional=(min_notional.dec("notional") if min_notional.has("notional")
                      else min_notional.dec("minNotional", "0")),
        max_qty=lot.dec("maxQty") if lot.raw("maxQty") else None,
        funding_interval_hours=None if delivery else interval,
    )


def _unified_instrument(market: ReplyObject, interval: int) -> Instrument:
    """ccxt's amounts (precision and limits) count contracts: the lot step stays in contracts
    (``Instrument.round_qty`` works in them), the minimum and maximum become base units."""
    precision = market.obj("precision", {})
    limits = market.obj("limits", {})
    amount, cost = limits.obj("amount", {}), limits.obj("cost", {})
    size = market.dec("contractSize") if market.raw("contractSize") else Decimal(1)
    return Instrument(
        symbol=market.text("id"),
        base=market.text("base"),
        settle=market.text("settle"),
        kind=ContractKind.PERPETUAL,
        tick_size=precision.dec("price"),
        lot_step=precision.dec("amount"),
        min_qty=amount.dec("min", 0) * size,
        min_notional=cost.dec("min", 0),
        contract_size=size,
        max_qty=amount.dec("max") * size if amount.raw("max") else None,
        funding_interval_hours=interval,
    )


def binance_funding_intervals(rows: Any, endpoint: str = FUNDING_INFO) -> dict[str, int]:
    """Symbol → hours from a ``/fapi/v1/fundingInfo`` reply (it lists only non-8 h symbols)."""
    return {
        r.text("symbol"): r.integer("fundingIntervalHours")
        for r in reply_list(rows if rows is not None else [], endpoint)
        if r.has("fundingIntervalHours")
    }


def binance_brackets(reply: Any, symbol: str, exchange: str,
                     endpoint: str = LEVERAGE_BRACKET) -> BracketTable:
    """A ``/fapi/v1/leverageBracket`` reply as the BracketTable of ``symbol`` (with ``cum``)."""
    entries = reply_list(reply, endpoint) if isinstance(reply, list) else [
        reply_object(reply, endpoint)]
    for entry in entries:
        if entry.raw("symbol") == symbol:
            rows = sorted(entry.objects("brackets"), key=lambda b: b.integer("bracket"))
            try:
                return BracketTable(symbol, tuple(
                    Bracket(
                        number=b.integer("bracket"),
                        notional_floor_usdt=b.dec("notionalFloor"),
                        notional_cap_usdt=b.dec("notionalCap"),
                        maint_margin_rate=b.dec("maintMarginRatio"),
                        maint_amount_usdt=b.dec("cum"),
                        max_leverage=b.dec("initialLeverage"),
                    )
                    for b in rows
                ))
            except DataError as err:
                raise MalformedReplyError(endpoint, str(err)) from None
    raise MalformedReplyError(endpoint, f"{exchange} sent no leverage brackets for {symbol}")


class CcxtMarketData:
    """``MarketData`` for any ccxt exchange with USDT-margined perpetuals (Binance first)."""

    def __init__(
        self,
        exchange: str,
        base_url: str | None = None,
        credentials: Credentials | None = None,
        client: Any = None,
    ) -> None:
        """Build the ccxt client (or use ``client``); markets load on first use.

        ``credentials`` default to the environment (``PERPHEDGE_API_KEY``/``_SECRET``).
        """
        self.exchange = exchange
        self._credentials = credentials if credentials is not None else credentials_from_env()
        self._client = client if client is not None else build_client(
            exchange, base_url, self._credentials
        )
        self._secrets = secret_values(self._credentials) if self._credentials is not None else ()
        check_replies(self._client)  # a 2xx answer out of the exchange's envelope is malformed
        self._markets: dict[str, Any] | None = None
        self._interval_hours: dict[str, int] | None = None
        self._sources: dict[str, str] = {
            "exchange": exchange,
            "specs": f"live {exchange} markets",
            "prices": f"live {exchange} mark price and funding rate",
            "brackets": self._brackets_source(),
        }

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the client's HTTP session."""
        self._client.close()

    def __enter__(self) -> CcxtMarketData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, action: str, fn: Callable[[], _T]) -> _T:
        with translate_ccxt_errors(f"{action} on {self.exchange}", self._secrets):
            return fn()

    def _loaded_markets(self) -> dict[str, Any]:
        if self._markets is None:
            self._markets = self._call("load markets", self._client.load_markets)
        return self._markets

    @property
    def _is_binance(self) -> bool:
        return str(self._client.id) in ("binance", "binanceusdm")

    # -- MarketData ---------------------------------------------------------------------------

    def instrument(self, asset: str) -> Instrument:
        """The linear USDT-settled perpetual on ``asset`` among the loaded markets."""
        market = self._perpetual_market(asset)
        return instrument_from_market(market, self._funding_interval_hours(str(market["id"])))

    def brackets(self, instrument: Instrument) -> BracketTable:
        """Live Binance brackets when API keys are set; otherwise the bundled table."""
        if self._live_brackets:
            return self._binance_brackets(instrument.symbol)
        return bundled_brackets(instrument.symbol)

    def snapshot(self, instrument: Instrument) -> MarketSnapshot:
        """Mark price and latest funding rate (Binance ``premiumIndex``) from the exchange."""
        market = self._perpetual_market(instrument.base)
        rate = self._call(
            "fetch funding rate", lambda: self._client.fetch_funding_rate(market["symbol"])
        )
        reply = reply_object(rate, f"fetch funding rate of {market['symbol']}")
        info = reply.obj("info", {})
        funding: Decimal | None
        if self._is_binance and info.has("markPrice"):
            mark, funding = info.dec("markPrice"), info.dec("lastFundingRate")
            source = info if info.raw("time") else reply
        else:
            mark, funding = reply.dec("markPrice"), reply.opt_dec("fundingRate")
            source = reply
        key = "time" if source is info else "timestamp"
        ts_ms = source.integer(key) if source.raw(key) else int(self._client.milliseconds())
        if mark <= 0:
            raise DataError(f"{instrument.symbol}: exchange sent a mark price of {mark}")
        return MarketSnapshot(instrument.symbol, mark, funding, ts_ms, f"live {self.exchange}")

    def describe_sources(self) -> dict[str, str]:
        """Where specs, brackets and prices came from (brackets once ``brackets()`` ran)."""
        return dict(self._sources)

    # -- helpers ------------------------------------------------------------------------------

    @property
    def _live_brackets(self) -> bool:
        return self._credentials is not None and self._is_binance

    def _brackets_source(self) -> str:
        if self._live_brackets:
            return f"live {self.exchange} leverage brackets"
        if self._is_binance:
            return "bundled (live brackets need API keys)"
        return f"bundled Binance table (live brackets from {self.exchange} not supported yet)"

    def _perpetual_market(self, asset: str) -> dict[str, Any]:
        wanted = asset.strip().upper()
        perpetuals = [
            m for m in self._loaded_markets().values()
            if m.get("swap") and m.get("linear") and m.get("settle") == SETTLE
            and m.get("active") is not False
        ]
        for market in perpetuals:
            if market.get("base") == wanted:
                return dict(market)
        if not perpetuals:
            # An empty or garbled listing is the exchange's fault, not the user's asset.
            raise RetryableExchangeError(
                f"exchange listed no market for {wanted}: {self.exchange} listed no "
                "USDT-margined perpetual at all")
        bases = sorted({str(m.get("base")) for m in perpetuals})
        shown = ", ".join(bases[:12]) + (f" and {len(bases) - 12} more" if len(bases) > 12 else "")
        raise InputError(
            "--asset", f"an asset with a USDT-margined perpetual on {self.exchange} ({shown})",
            asset,
        )

    def _funding_interval_hours(self, symbol_id: str) -> int:
        """Binance ``fundingInfo`` lists only symbols off the 8 h default; others are 8 h."""
        if not self._is_binance:
            self._sources["funding_interval"] = f"{DEFAULT_FUNDING_INTERVAL_HOURS} h default"
            return DEFAULT_FUNDING_INTERVAL_HOURS
        if self._interval_hours is None:
            try:
                rows = self._call("fetch funding info", self._client.fapiPublicGetFundingInfo)
            except ExchangeError as err:
                # Testnets and local exchanges may lack the endpoint; the default is Binance's
                # own for unlisted symbols, and the user is told the interval was not read.
                self._interval_hours = {}
                self._sources["funding_interval"] = (
                    f"{DEFAULT_FUNDING_INTERVAL_HOURS} h default (fundingInfo failed: {err})"
                )
            else:
                self._interval_hours = binance_funding_intervals(rows)
                self._sources["funding_interval"] = f"live {self.exchange} fundingInfo"
        return self._interval_hours.get(symbol_id, DEFAULT_FUNDING_INTERVAL_HOURS)

    def _binance_brackets(self, symbol: str) -> BracketTable:
        """``GET /fapi/v1/leverageBracket`` (signed) as a BracketTable with Binance's ``cum``."""
        reply = self._call(
            "fetch leverage brackets",
            lambda: self._client.fapiPrivateGetLeverageBracket({"symbol": symbol}),
        )
        return binance_brackets(reply, symbol, self.exchange)
