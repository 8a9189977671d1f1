"""Market data that ships inside the package (see ``data/PROVENANCE.md``)."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from perphedge.adapters.marketdata.history import bundled_file
from perphedge.domain.brackets import Bracket, BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.types import ContractKind
from perphedge.errors import DataError, InputError
from perphedge.services.ports import Bars, MarketSnapshot

BUNDLED_EXCHANGES = ("binance",)


def _open_text(name: str) -> Iterator[dict[str, str]]:
    path = resources.files("perphedge.data").joinpath(name)
    if name.endswith(".gz"):
        with path.open("rb") as raw, gzip.open(raw, "rt", newline="") as handle:
            yield from csv.DictReader(handle)
    else:
        with path.open("r", encoding="utf-8") as handle:
            yield from csv.DictReader(handle)


@cache
def _instrument_rows() -> dict[str, list[dict[str, object]]]:
    text = resources.files("perphedge.data").joinpath("instruments.json").read_text()
    data: dict[str, list[dict[str, object]]] = {
        k: v for k, v in json.loads(text).items() if not k.startswith("_")
    }
    return data


def instrument_from_row(row: dict[str, object]) -> Instrument:
    """Build an Instrument from one ``instruments.json`` row."""
    expiry = row.get("expiry_ms")
    interval = row.get("funding_interval_hours")
    return Instrument(
        symbol=str(row["symbol"]),
        base=str(row["base"]),
        settle=str(row["settle"]),
        kind=ContractKind(str(row["kind"])),
        tick_size=Decimal(str(row["tick_size"])),
        lot_step=Decimal(str(row["lot_step"])),
        min_qty=Decimal(str(row["min_qty"])),
        min_notional=Decimal(str(row["min_notional"])),
        max_qty=Decimal(str(row["max_qty"])) if row.get("max_qty") else None,
        expiry_ms=int(str(expiry)) if expiry is not None else None,
        funding_interval_hours=int(str(interval)) if interval is not None else None,
    )


@cache
def bundled_brackets(symbol: str) -> BracketTable:
    """The latest bundled Binance bracket table of ``symbol``."""
    rows = [r for r in _open_text("brackets_binance_usdm.csv") if r["symbol"] == symbol]
    if not rows:
        raise DataError(f"no bundled margin brackets for {symbol}")
    brackets = tuple(
        Bracket(
            number=int(r["bracket"]),
            notional_floor_usdt=Decimal(r["notional_floor_usdt"]),
            notional_cap_usdt=Decimal(r["notional_cap_usdt"]),
            maint_margin_rate=Decimal(r["maint_margin_rate"]),
            maint_amount_usdt=Decimal(r["maint_amount_usdt"]),
            max_leverage=Decimal(r["max_leverage"]),
        )
        for r in sorted(rows, key=lambda r: int(r["bracket"]))
    )
    return BracketTable(symbol, brackets)


@cache
def bundled_funding(symbol: str) -> tuple[tuple[int, Decimal, Decimal | None], ...]:
    """Every bundled funding settlement of ``symbol``: (time ms on the hour, rate, mark or None).

    Read from the same ``funding_binance_<symbol>.npz`` the backtest replays (the rates kept as
    their verbatim text; marks have at most 8 decimals, so ``repr`` of the float is exact).
    """
    try:
        data = bundled_file(f"funding_binance_{symbol}.npz")
    except DataError:
        raise DataError(f"no bundled funding history for {symbol}") from None
    marks = data["funding_mark"].tolist()
    return tuple(
        (int(ts), Decimal(str(rate)), None if mark != mark else Decimal(repr(mark)))  # NaN: none
        for ts, rate, mark in zip(data["funding_time_ms"].tolist(),
                                  data["funding_rate_text"].tolist(), marks, strict=True)
    )


class BundledMarketData:
    """Offline market data: bundled specs, the latest bundled brackets, mark and funding."""

    def __init__(self, exchange: str = "binance") -> None:
        if exchange not in BUNDLED_EXCHANGES:
            raise InputError(
                "--exchange", f"one of {', '.join(BUNDLED_EXCHANGES)} (bundled data)", exchange
            )
        self.exchange = exchange

    def assets(self) -> list[str]:
        return [str(r["base"]) for r in _instrument_rows()[self.exchange]]

    def instrument(self, asset: str) -> Instrument:
        for row in _instrument_rows()[self.exchange]:
            if str(row["base"]) == asset.upper() and row["kind"] == "perpetual":
                return instrument_from_row(row)
        raise InputError("--asset", f"one of {', '.join(self.assets())}", asset)

    def brackets(self, instrument: Instrument) -> BracketTable:
        return bundled_brackets(instrument.symbol)

    def snapshot(self, instrument: Instrument) -> MarketSnapshot:
        """The last bundled settlement with a mark price: its mark and its funding rate."""
        for ts_ms, rate, mark in reversed(bundled_funding(instrument.symbol)):
            if mark is not None:
                return MarketSnapshot(instrument.symbol, mark, rate, ts_ms, "bundled")
        raise DataError(f"no bundled mark price for {instrument.symbol}")

    def describe_sources(self) -> dict[str, str]:
        return {
            "specs": "bundled Binance exchangeInfo",
            "brackets": "bundled Binance leverage brackets (2024-05-30 table)",
            "prices": "bundled Binance funding settlements (mark price and rate)",
        }


class BundledPriceHistory:
    """Daily OHLC of BTC and ETH from the bundled real history."""

    def daily_bars(self, asset: str) -> Bars:
        return _daily_bars(asset.upper())

    def funding_history(self, asset: str) -> tuple[npt.NDArray[np.int64],
                                                   npt.NDArray[np.float64]]:
        """Settlement times (ms) and rates (fractions) of the asset's USDT perpetual."""
        from perphedge.adapters.marketdata.history import (
            load_history,  # the hourly files: only here
        )

        h = load_history(asset.upper())
        return h.funding_time_ms, h.funding_rate


@cache
def _daily_bars(asset: str) -> Bars:
    rows = [r for r in _open_text("bars_1d.csv.gz") if r["asset"] == asset]
    if not rows:
        raise DataError(f"no bundled price history for {asset}")
    return Bars(
        open_time_ms=np.array([int(r["open_time_ms"]) for r in rows], dtype=np.int64),
        open=np.array([float(r["open"]) for r in rows]),
        high=np.array([float(r["high"]) for r in rows]),
        low=np.array([float(r["low"]) for r in rows]),
        close=np.array([float(r["close"]) for r in rows]),
    )
