"""Futures data for carry: the bundled quarterly closes, and the same read live through ccxt.

Bundled: ``data/futures_binance_usdm_quarterly_1d.csv`` (built by
``scripts/build_bundled_futures.py``; provenance in ``docs/carry.md``) with the bundled funding
settlements. A bundled day's prices are its daily closes, so the carry instant is the bar's
close, the next 00:00 UTC.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from perphedge.adapters.marketdata.bundled import (
    BundledMarketData,
    _instrument_rows,
    bundled_funding,
    instrument_from_row,
)
from perphedge.domain.carry import DAY_MS, FUNDING_WINDOWS_DAYS
from perphedge.domain.instrument import Instrument
from perphedge.domain.types import ContractKind
from perphedge.errors import DataError, InputError
from perphedge.services.carry_service import CarryMarket, DeliveryPrice, day_close_ms

FUTURES_FILE = "futures_binance_usdm_quarterly_1d.csv"
CME_FILE = "futures_cme_btc_second_month_1d.csv"
LOOKBACK_MS = max(FUNDING_WINDOWS_DAYS) * DAY_MS


@dataclass(frozen=True, slots=True)
class QuarterlyClose:
    """One bundled daily close of a quarterly contract, with the same bar's spot close."""

    symbol: str
    open_time_ms: int
    expiry_ms: int
    close: Decimal
    spot_close: Decimal


@cache
def bundled_quarterlies(base: str) -> tuple[QuarterlyClose, ...]:
    """Every bundled quarterly close of ``base`` (e.g. BTC), by contract then time."""
    path = resources.files("perphedge.data").joinpath(FUTURES_FILE)
    with path.open("r", encoding="utf-8") as handle:
        return tuple(
            QuarterlyClose(r["symbol"], int(r["open_time_ms"]), int(r["expiry_ms"]),
                           Decimal(r["close"]), Decimal(r["spot_close"]))
            for r in csv.DictReader(handle)
            if r["base"] == base
        )


@dataclass(frozen=True, slots=True)
class CmeClose:
    """One CME second-month daily close (USD, 16:00 Chicago), with the Binance spot close of
    the hour that ends then (built by ``scripts/build_bundled_cme.py``)."""

    symbol: str
    close_ms: int
    expiry_ms: int
    close: Decimal
    spot_close: Decimal


@cache
def bundled_cme_second_month() -> tuple[CmeClose, ...]:
    """The CME bitcoin second-nearby series 2019-12-27 .. 2021-05-27, by close time."""
    path = resources.files("perphedge.data").joinpath(CME_FILE)
    with path.open("r", encoding="utf-8") as handle:
        return tuple(
            CmeClose(r["symbol"], int(r["close_ms"]), int(r["expiry_ms"]), Decimal(r["close"]),
                     Decimal(r["spot_close"]))
            for r in csv.DictReader(handle)
        )


def cme_instrument(symbol: str, expiry_ms: int) -> Instrument:
    """A CME bitcoin monthly contract as the simulator sees it: tick 5 USD, settled in USD
    (booked as USDT). A CME contract is 5 BTC, but the simulator trades it in steps of 0.001
    BTC like Binance: the managed hedge funds its margin by selling a little spot, so a
    "5 BTC" hedge holds ~4.97 BTC, which whole 5-BTC lots could only round to 0 or 5."""
    return Instrument(symbol=symbol, base="BTC", settle="USDT", kind=ContractKind.DELIVERY,
                      tick_size=Decimal(5), lot_step=Decimal("0.001"), min_qty=Decimal("0.001"),
                      min_notional=Decimal(0), expiry_ms=expiry_ms, funding_interval_hours=None)


def bundled_delivery_instruments(base: str) -> tuple[Instrument, ...]:
    """The Binance delivery contracts on ``base`` in ``instruments.json`` (key binance_delivery)."""
    rows = _instrument_rows().get("binance_delivery", [])
    return tuple(instrument_from_row(r) for r in rows if str(r["base"]) == base)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


class BundledCarrySource:
    """Carry inputs from the bundled Binance quarterly closes and funding settlements."""

    def __init__(self) -> None:
        self._market = BundledMarketData("binance")

    def days(self, asset: str) -> list[int]:
        """Open times (ms) of the bundled days usable for carry: quarterlies and funding exist."""
        perp = self._market.instrument(asset)
        closes = bundled_quarterlies(perp.base)
        if not closes:
            raise InputError("--asset", "BTC (the asset with bundled quarterly prices)", asset)
        settlements = bundled_funding(perp.symbol)
        first_ms, last_ms = settlements[0][0], settlements[-1][0]
        return sorted({
            c.open_time_ms for c in closes
            if first_ms <= c.open_time_ms + DAY_MS - LOOKBACK_MS
            and c.open_time_ms + DAY_MS <= last_ms
        })

    def carry_market(self, asset: str, day: date | None) -> CarryMarket:
        days = self.days(asset)
        if not days:
            raise DataError(f"no bundled day has both quarterly prices and funding for {asset}")
        if day is None:
            open_ms = days[-1]
        else:
            open_ms = day_close_ms(day) - DAY_MS
            if open_ms not in days:
                raise InputError("--as-of", f"a date from {_day(days[0])} to {_day(days[-1])} "
                                 "with bundled quarterly prices", day.isoformat())
        perp = self._market.instrument(asset)
        as_of_ms = open_ms + DAY_MS
        today = [c for c in bundled_quarterlies(perp.base) if c.open_time_ms == open_ms]
        history = [(t, r, m) for t, r, m in bundled_funding(perp.symbol)
                   if as_of_ms - LOOKBACK_MS < t <= as_of_ms]
        return CarryMarket(
            asset=perp.base,
            perpetual=perp,
            as_of_ms=as_of_ms,
            spot_price=today[0].spot_close,
            perp_price=history[-1][2],
            current_rate=history[-1][1],
            settlements=tuple((t, r) for t, r, _ in history),
            deliveries=tuple(DeliveryPrice(c.symbol, c.expiry_ms, c.close) for c in today),
            source=f"bundled Binance daily closes of {_day(open_ms)}",
            spot_source="Binance spot daily close",
        )


def _dec(value: Any, what: str) -> Decimal:
    if value is None:
        raise DataError(f"the exchange sent no {what}")
    return Decimal(str(value))


class CcxtCarrySource:
    """Carry inputs read now through ccxt's public endpoints (no API key needed).

    Spot is the perpetual's index price (the exchange's average of spot venues), which
    ``fetch_funding_rate`` returns with the predicted next funding rate.
    """

    def __init__(self, client: Any, clock_ms: Callable[[], int]) -> None:
        self._client = client
        self._clock_ms = clock_ms
        self._market = BundledMarketData("binance")

    def carry_market(self, asset: str, day: date | None) -> CarryMarket:
        if day is not None:
            raise InputError("--as-of", "no date with --live (live prices are now)",
                             day.isoformat())
        perp = self._market.instrument(asset)
        symbol = f"{perp.base}/USDT:USDT"
        # ccxt is imported only on the live path: it takes a second to load.
        from perphedge.adapters.exchanges.ccxt_errors import translate_ccxt_errors

        with translate_ccxt_errors(f"read {perp.base} carry data from {self._client.id}"):
            markets = self._client.load_markets()
            rate = self._client.fetch_funding_rate(symbol)
            # The exchange's own time of the quote: a local exchange replays the past, and
            # its funding history ends at its replay time, not at this machine's clock.
            now_ms = int(rate.get("timestamp") or self._clock_ms())
            history = self._client.fetch_funding_rate_history(
                symbol, since=now_ms - LOOKBACK_MS, limit=1000)
            futures = sorted(
                m["symbol"] for m in markets.values()
                if m.get("base") == perp.base and m.get("settle") == "USDT"
                and m.get("linear") and m.get("type") in ("future", "delivery")
                and m.get("expiry")
            )
            tickers = self._client.fetch_tickers(futures) if futures else {}
        settlements = tuple(sorted(
            (int(h["timestamp"]), _dec(h.get("fundingRate"), "funding rate")) for h in history
        ))
        deliveries = tuple(
            DeliveryPrice(markets[s]["id"], int(markets[s]["expiry"]),
                          _dec(tickers[s].get("last"), f"last price of {s}"))
            for s in futures if s in tickers
        )
        return CarryMarket(
            asset=perp.base, perpetual=perp, as_of_ms=now_ms,
            spot_price=_dec(rate.get("indexPrice"), "index price"),
            perp_price=_dec(rate.get("markPrice"), "mark price"),
            current_rate=_dec(rate.get("fundingRate"), "funding rate"),
            settlements=settlements, deliveries=deliveries,
            source=f"live {self._client.id}", spot_source="index price",
        )


def ccxt_client(exchange_url: str | None) -> Any:
    """A public (keyless) ccxt Binance USDⓈ-M client, sent to ``exchange_url`` if given."""
    from perphedge.adapters.exchanges.ccxt_client import build_client

    return build_client("binance", exchange_url)
