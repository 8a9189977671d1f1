"""Download a perpetual's history through ccxt into resumable Parquet files.

Three datasets per contract, under ``<data dir>/<exchange>/<market id>/``:

* ``ohlcv_<tf>.parquet``: ``open_time`` (ms), ``perp_open/high/low/close`` (USDT), ``volume``
  (base units): the contract's last-trade bars (``fetch_ohlcv``);
* ``mark_<tf>.parquet``: ``open_time``, ``mark_open/high/low/close``: mark-price bars
  (``fetch_ohlcv`` with ``price='mark'``);
* ``funding.parquet``: ``funding_time`` (ms as the exchange stamped it), ``funding_rate`` (the
  exchange's exact string, a fraction per settlement), ``mark_price`` (string, may be null).

A rerun fetches only what is missing before the first or after the last stored row, and rows
are keyed by time, so nothing is ever stored twice. Bars still forming are not stored.
``load_history(asset, path=<that folder>)`` reads the result (see ``docs/data.md``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perphedge.adapters.exchanges.ccxt_errors import translate_ccxt_errors
from perphedge.errors import DataError, InputError

DATA_DIR_ENV = "PERPHEDGE_DATA_DIR"
PAGE_LIMIT = 1000  # ccxt caps Binance klines at 1000 per call; funding history allows 1000
BAR_COLUMNS = {"ohlcv": ("perp_open", "perp_high", "perp_low", "perp_close", "volume"),
               "mark": ("mark_open", "mark_high", "mark_low", "mark_close")}

#: Called as pages arrive: (dataset name, ms covered so far, ms to cover).
Progress = Callable[[str, int, int], None]


def data_dir(override: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``--dir``, else ``$PERPHEDGE_DATA_DIR``, else the platform's user data dir."""
    if override is not None:
        return override
    source = os.environ if env is None else env
    if source.get(DATA_DIR_ENV):
        return Path(source[DATA_DIR_ENV])
    import platformdirs

    return Path(platformdirs.user_data_dir("perphedge"))


@dataclass(frozen=True, slots=True)
class DatasetReport:
    """What one dataset holds after a download: rows added, rows in all, stored span (ms)."""

    name: str
    path: Path
    new_rows: int
    total_rows: int
    first_ms: int | None
    last_ms: int | None


@dataclass(frozen=True, slots=True)
class DownloadSpec:
    """What to download: ``symbol`` in ccxt form (``BTC/USDT:USDT``), ``[since_ms, until_ms)``."""

    symbol: str
    since_ms: int
    until_ms: int
    timeframe: str = "1h"
    page_limit: int = PAGE_LIMIT

    def __post_init__(self) -> None:
        if self.until_ms <= self.since_ms:
            raise InputError("--until", "a date after --since", self.until_ms)
        if not 1 <= self.page_limit <= PAGE_LIMIT:
            raise InputError("page_limit", f"1..{PAGE_LIMIT}", self.page_limit)


def _read(path: Path) -> dict[str, list[Any]]:
    import pyarrow.parquet as pq

    if not path.exists():
        return {}
    table = pq.read_table(path)
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _write(path: Path, columns: dict[str, list[Any]], types: dict[str, Any]) -> None:
    """Write atomically (temp file + rename): an interrupted download never corrupts a file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({k: pa.array(v, type=types[k]) for k, v in columns.items()})
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _missing(stored: list[int], since: int, until: int, step: int) -> list[tuple[int, int]]:
    """The ranges of ``[since, until)`` not yet stored (before the first, after the last row)."""
    if not stored:
        return [(since, until)]
    gaps = []
    if since < stored[0]:
        gaps.append((since, min(until, stored[0])))
    if stored[-1] + step < until:
        gaps.append((max(since, stored[-1] + step), until))
    return [(a, b) for a, b in gaps if a < b]


class Downloader:
    """Paginated, resumable history download for one contract of one ccxt client."""

    def __init__(self, client: Any, exchange: str, root: Path,
                 progress: Progress | None = None) -> None:
        self.client = client
        self.exchange = exchange
        self.root = root
        self.progress = progress

    def folder(self, symbol: str) -> Path:
        """``<root>/<exchange>/<market id>``, created on demand."""
        with translate_ccxt_errors(f"load {self.exchange} markets"):
            self.client.load_markets()
        if symbol not in self.client.markets:
            raise InputError("--symbol", f"a {self.exchange} contract such as BTC/USDT:USDT",
                             symbol)
        folder = self.root / self.exchange / str(self.client.market(symbol)["id"])
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def download(self, spec: DownloadSpec) -> list[DatasetReport]:
        """Bars, mark bars and funding of ``spec.symbol``; see the module docstring."""
        if spec.timeframe not in getattr(self.client, "timeframes", {}):
            raise InputError("--timeframe", f"one of {', '.join(self.client.timeframes)}",
                             spec.timeframe)
        folder = self.folder(spec.symbol)
        return [self._bars(spec, folder, "ohlcv"), self._bars(spec, folder, "mark"),
                self._funding(spec, folder)]

    def _report(self, name: str, total: int, done: int) -> None:
        if self.progress is not None:
            self.progress(name, done, total)

    def _bars(self, spec: DownloadSpec, folder: Path, kind: str) -> DatasetReport:
        import pyarrow as pa

        step = int(self.client.parse_timeframe(spec.timeframe)) * 1000
        path = folder / f"{kind}_{spec.timeframe}.parquet"
        stored = _read(path)
        # A bar still forming would be stored with the wrong close; stop at the last whole bar.
        until = min(spec.until_ms, int(self.client.milliseconds()) // step * step)
        rows: dict[int, list[float]] = {}
        gaps = _missing(stored.get("open_time", []), spec.since_ms, until, step)
        name = f"{kind} {spec.timeframe}"
        total = sum(b - a for a, b in gaps)
        params = {"price": "mark"} if kind == "mark" else {}
        before = 0  # ms of the gaps already finished, for the progress bar
        for start, end in gaps:
            since = start
            while since < end:
                with translate_ccxt_errors(f"fetch {name} bars of {spec.symbol}"):
                    page = self.client.fetch_ohlcv(spec.symbol, spec.timeframe, since,
                                                   spec.page_limit, dict(params))
                fresh = [r for r in page if since <= int(r[0]) < end]
                for r in fresh:
                    rows[int(r[0])] = [float(x) for x in r[1:6]]
                if not fresh:
                    break  # the exchange has nothing more in this range
                since = int(fresh[-1][0]) + step
                self._report(name, total, before + min(since, end) - start)
            before += end - start
        self._report(name, total, total)
        return self._store(path, kind, stored, rows, pa)

    def _store(self, path: Path, kind: str, stored: dict[str, list[Any]],
               rows: dict[int, list[float]], pa: Any) -> DatasetReport:
        names = BAR_COLUMNS[kind]
        merged = {int(t): [stored[c][i] for c in names]
                  for i, t in enumerate(stored.get("open_time", []))}
        new = {t: v[: len(names)] for t, v in rows.items() if t not in merged}
        merged.update(new)
        times = sorted(merged)
        columns: dict[str, list[Any]] = {"open_time": times}
        for j, c in enumerate(names):
            columns[c] = [merged[t][j] for t in times]
        types = {"open_time": pa.int64(), **{c: pa.float64() for c in names}}
        if new or not path.exists():
            _write(path, columns, types)
        return DatasetReport(path.stem, path, len(new), len(times),
                             times[0] if times else None, times[-1] if times else None)

    def _funding(self, spec: DownloadSpec, folder: Path) -> DatasetReport:
        import pyarrow as pa

        path = folder / "funding.parquet"
        stored = _read(path)
        have = {int(t): (r, m) for t, r, m in zip(stored.get("funding_time", []),
                                                 stored.get("funding_rate", []),
                                                 stored.get("mark_price", []), strict=True)}
        stored_times = sorted(have)
        if stored_times:
            # Settlements are stamped a few ms after the hour: the store covers from that hour.
            stored_times[0] -= stored_times[0] % 3_600_000
        gaps = _missing(stored_times, spec.since_ms, spec.until_ms, 1)
        total = sum(b - a for a, b in gaps)
        new: dict[int, tuple[str, str | None]] = {}
        before = 0
        for start, end in gaps:
            since = start
            while since < end:
                with translate_ccxt_errors(f"fetch funding history of {spec.symbol}"):
                    page = self.client.fetch_funding_rate_history(spec.symbol, since,
                                                                  spec.page_limit)
                fresh = [e for e in page if since <= int(e["timestamp"]) < end]
                for entry in fresh:
                    t = int(entry["timestamp"])
                    if t not in have:
                        new[t] = _funding_strings(entry)
                if not fresh:
                    break
                since = int(fresh[-1]["timestamp"]) + 1
                self._report("funding", total, before + min(since, end) - start)
            before += end - start
        have.update(new)
        times = sorted(have)
        if new or not path.exists():
            _write(path, {"funding_time": times,
                          "funding_rate": [have[t][0] for t in times],
                          "mark_price": [have[t][1] for t in times]},
                   {"funding_time": pa.int64(), "funding_rate": pa.string(),
                    "mark_price": pa.string()})
        self._report("funding", total, total)
        return DatasetReport("funding", path, len(new), len(times),
                             times[0] if times else None, times[-1] if times else None)


def _funding_strings(entry: Mapping[str, Any]) -> tuple[str, str | None]:
    """The exchange's own rate and mark strings when it sent them (exact), else ccxt's floats."""
    info = entry.get("info") or {}
    rate = info.get("fundingRate") if isinstance(info, dict) else None
    if rate is None:
        if entry.get("fundingRate") is None:
            raise DataError(f"funding entry without a rate at {entry.get('timestamp')}")
        rate = repr(float(entry["fundingRate"]))
    mark = info.get("markPrice") if isinstance(info, dict) else None
    return str(rate), (str(mark) if mark not in (None, "") else None)
