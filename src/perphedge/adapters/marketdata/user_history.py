"""History from the user's own CSV or Parquet files (and from ``perphedge data download``).

Bars file columns (see ``docs/data.md``): ``open_time`` (Unix ms, or ISO-8601; no offset means
UTC), spot ``open, high, low, close`` and/or perpetual ``perp_open, perp_high, perp_low,
perp_close`` (USDT). With only one set, the other stands in for it (stated in ``sources``).
Funding, optional, in a sibling ``funding.csv``/``funding.parquet``: ``funding_time``,
``funding_rate`` (fraction per settlement, positive = longs pay; read as text so Decimal sums
stay exact) and optional ``mark_price``. Given a folder, the bars are ``bars_<interval>.*``,
``ohlcv_<interval>.*`` (a download) or ``bars.*`` inside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from perphedge.adapters.marketdata.history import MarketHistory, iso_utc
from perphedge.errors import DataError, InputError
from perphedge.parse import parse_moment, timeframe_name

_SPOT = ("open", "high", "low", "close")
_PERP = ("perp_open", "perp_high", "perp_low", "perp_close")
_HOUR_MS = 3_600_000
_SUFFIXES = (".parquet", ".csv", ".csv.gz")


def _read_table(path: Path, text_columns: tuple[str, ...] = ()) -> dict[str, list[Any]]:
    """Columns of a CSV or Parquet file as Python lists (``text_columns`` kept as strings)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if path.name.endswith(".parquet"):
            table = pq.read_table(path)
        else:
            types = {name: pa.string() for name in (*text_columns, "open_time", "funding_time")}
            options = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
            table = pacsv.read_csv(path, convert_options=options)
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{path}: cannot read as {_kind(path)}: {' '.join(str(e).split())}") from e
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _kind(path: Path) -> str:
    return "Parquet" if path.name.endswith(".parquet") else "CSV"


def _times(path: Path, column: str, values: list[Any]) -> npt.NDArray[np.int64]:
    """Unix ms from ints, ISO-8601 strings or datetimes; DataError naming the column."""
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        try:
            out[i] = _to_ms(value)
        except (TypeError, ValueError, OverflowError) as e:
            raise DataError(f"{path}: column '{column}' row {i + 1}: expected Unix ms or an "
                            f"ISO-8601 UTC time, got {value!r}") from e
    return out


def _to_ms(value: Any) -> int:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    elif isinstance(value, str):
        try:
            moment = parse_moment(value, "open_time")
        except InputError as e:
            raise ValueError(str(e)) from None
    else:
        raise TypeError(type(value).__name__)
    if moment.tzinfo is None:  # documented: a time without an offset is UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _prices(path: Path, column: str, values: list[Any]) -> npt.NDArray[np.float64]:
    try:
        out = np.array([np.nan if v is None or v == "" else float(v) for v in values])
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: column '{column}' must hold prices in USDT: {e}") from e
    if bool(np.any(out[~np.isnan(out)] <= 0)):
        raise DataError(f"{path}: column '{column}' has a price ≤ 0")
    return out.astype(np.float64)


def _find(folder: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        for suffix in _SUFFIXES:
            if (folder / f"{stem}{suffix}").is_file():
                return folder / f"{stem}{suffix}"
    return None


def _bars_path(path: Path, label: str) -> Path:
    if path.is_file():
        return path
    if path.is_dir():
        found = _find(path, (f"bars_{label}", f"ohlcv_{label}", "bars"))
        if found is None:
            raise DataError(f"{path}: no bars_{label}, ohlcv_{label} or bars file "
                            f"({', '.join(_SUFFIXES)}) in this folder")
        return found
    raise DataError(f"{path}: no such file or folder")


def load_user_history(path: Path, *, asset: str, interval_ms: int) -> MarketHistory:
    """The whole history in the user's file(s), validated; one-line DataError naming the column."""
    label = timeframe_name(interval_ms)
    bars_path = _bars_path(Path(path), label)
    cols = _read_table(bars_path)
    if "open_time" not in cols:
        raise DataError(f"{bars_path}: missing column 'open_time' (found: {', '.join(cols)})")
    has_spot, has_perp = all(c in cols for c in _SPOT), all(c in cols for c in _PERP[1:])
    if not (has_spot or has_perp):
        missing = [c for c in _SPOT if c not in cols]
        raise DataError(f"{bars_path}: missing column '{missing[0]}' (need open, high, low, "
                        "close and/or perp_open, perp_high, perp_low, perp_close)")
    times = _times(bars_path, "open_time", cols["open_time"])
    order = np.argsort(times, kind="stable")
    times = times[order]
    if times.size and bool(np.any(np.diff(times) <= 0)):
        dup = int(times[1:][np.diff(times) <= 0][0])
        raise DataError(f"{bars_path}: column 'open_time' repeats {iso_utc(dup)}")
    _check_interval(bars_path, times, interval_ms, label)
    spot = {c: _prices(bars_path, c, cols[c])[order] for c in _SPOT if c in cols}
    perp = {c: _prices(bars_path, c, cols[c])[order] for c in _PERP if c in cols}
    if not has_spot:  # the perpetual stands in for spot
        spot = {c: perp.get(f"perp_{c}", perp["perp_close"]) for c in _SPOT}
    perp_real = (np.all([~np.isnan(perp[c]) for c in _PERP[1:]], axis=0) if has_perp
                 else np.zeros(times.size, dtype=np.bool_))
    filled = {c: np.where(perp_real, perp[f"perp_{c}"], spot[c]) if has_perp else spot[c]
              for c in ("high", "low", "close")}
    _check_ohlc(bars_path, spot, filled)
    funding = _funding(bars_path.parent, times, interval_ms)
    sources = (
        f"spot: {bars_path}" if has_spot else f"spot: none; the perpetual in {bars_path} stands in",
        f"perpetual: {bars_path}" if has_perp else "perpetual: none; spot stands in",
        funding[4],
    )
    return MarketHistory(
        asset=asset, interval_ms=interval_ms, open_time_ms=times,
        spot_open=spot["open"], spot_high=spot["high"], spot_low=spot["low"],
        spot_close=spot["close"], perp_high=filled["high"], perp_low=filled["low"],
        perp_close=filled["close"], perp_is_real=np.asarray(perp_real, dtype=np.bool_),
        funding_time_ms=funding[0], funding_rate=funding[1], funding_rate_text=funding[2],
        funding_mark=funding[3], sources=sources,
    )


def _check_interval(path: Path, times: npt.NDArray[np.int64], interval_ms: int,
                    label: str) -> None:
    if times.size == 0:
        raise DataError(f"{path}: no bars")
    steps = np.diff(times)
    if bool(np.any(times % interval_ms)) or (steps.size and int(steps.min()) != interval_ms):
        raise DataError(f"{path}: column 'open_time' is not on a {label} grid; "
                        f"pass the interval the file has (--interval)")


def _check_ohlc(path: Path, spot: dict[str, npt.NDArray[np.float64]],
                perp: dict[str, npt.NDArray[np.float64]]) -> None:
    for name, values in spot.items():
        if bool(np.any(np.isnan(values))):
            raise DataError(f"{path}: column '{name}' has empty values")
    if bool(np.any(spot["high"] < spot["low"])):
        raise DataError(f"{path}: column 'high' is below 'low' on some rows")
    if bool(np.any(perp["high"] < perp["low"])):
        raise DataError(f"{path}: column 'perp_high' is below 'perp_low' on some rows")


FundingColumns = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], tuple[str, ...],
                       npt.NDArray[np.float64], str]


def _funding(folder: Path, times: npt.NDArray[np.int64], interval_ms: int) -> FundingColumns:
    """Settlements inside the bars' span from a sibling funding file (or none)."""
    path = _find(folder, ("funding",))
    if path is None:
        empty = np.empty(0, dtype=np.float64)
        return np.empty(0, dtype=np.int64), empty, (), empty, "funding: none (no funding file)"
    cols = _read_table(path, text_columns=("funding_rate", "mark_price"))
    for name in ("funding_time", "funding_rate"):
        if name not in cols:
            raise DataError(f"{path}: missing column '{name}' (found: {', '.join(cols)})")
    # Exchanges stamp settlements a few ms late; round to the hour so they join with bars.
    ft = (_times(path, "funding_time", cols["funding_time"]) + _HOUR_MS // 2) // _HOUR_MS * _HOUR_MS
    text = [str(v).strip() if v is not None else "" for v in cols["funding_rate"]]
    try:
        rate = np.array([float(t) for t in text], dtype=np.float64)
    except ValueError as e:
        raise DataError(f"{path}: column 'funding_rate' must hold fractions: {e}") from e
    marks = cols.get("mark_price") or [None] * len(text)
    mark = np.array([float(m) if m not in (None, "") else np.nan for m in marks])
    order = np.argsort(ft, kind="stable")
    ft, rate, mark = ft[order], rate[order], mark[order]
    text_sorted = tuple(text[i] for i in order.tolist())
    if ft.size > 1 and bool(np.any(np.diff(ft) <= 0)):
        raise DataError(f"{path}: column 'funding_time' repeats a settlement")
    lo, hi = np.searchsorted(ft, [int(times[0]), int(times[-1]) + interval_ms])
    return (ft[lo:hi], rate[lo:hi], text_sorted[lo:hi], mark[lo:hi].astype(np.float64),
            f"funding: {path} (times rounded to the hour)")
