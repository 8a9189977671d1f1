"""Build the market data that ships inside the package from ``../shared/data``.

Run from the repository root: ``python scripts/build_bundled_data.py [SHARED_DATA_DIR]``.
The output files are committed; this script documents exactly how they were made. Numbers are
copied as the sources wrote them (strings), never re-rounded; funding times are rounded to the
hour (the API's millisecond jitter) so they join with hourly bars.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import sys
import zipfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "perphedge" / "data"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def read_csv(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def write_gz_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    # mtime=0 keeps the file byte-identical across rebuilds.
    with gzip.GzipFile(path, "wb", mtime=0, compresslevel=9) as handle:
        handle.write(buffer.getvalue().encode())


def build_brackets(shared: Path) -> None:
    name = "binance_usdm_leverage_brackets_BTCUSDT_ETHUSDT_history.csv"
    rows = read_csv(shared / "margin" / name)
    latest = max(r["snapshot_commit_date"] for r in rows)
    keep = [r for r in rows if r["snapshot_commit_date"] == latest]
    with (OUT / "brackets_binance_usdm.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["symbol", "as_of", "bracket", "max_leverage", "notional_floor_usdt",
                         "notional_cap_usdt", "maint_margin_rate", "maint_amount_usdt"])
        for r in keep:
            writer.writerow([r["symbol"], latest, r["bracket"], r["initial_leverage_max"],
                             r["notional_floor_usdt"], r["notional_cap_usdt"],
                             r["maint_margin_ratio"], r["maint_amount_cum_usdt"]])


def build_funding(shared: Path) -> dict[tuple[str, int], tuple[str, str]]:
    """Binance funding for BTCUSDT and ETHUSDT, later sources winning on overlaps."""
    files = [  # oldest first; a later file overwrites an earlier one at the same hour
        "binance_BTCUSDT_funding_8h_2019-09-10_2024-08-09.csv",
        "binance_ETHUSDT_funding_8h_2020-01-01_2023-12-31.csv",
        "binance_ETHUSDT_funding_8h_2019-11-27_2020-01-03_and_2023-12-18_2026-10-03_markprice.csv",
        "binance_BTCUSDT_funding_8h_2024-07-19_2026-10-03_markprice.csv",
        "binance_BTCUSDT_ETHUSDT_funding_8h_2026-01-12_2026-03-20.csv",
    ]
    merged: dict[tuple[str, int], tuple[str, str]] = {}
    for name in files:
        for r in read_csv(shared / "funding" / name):
            hour = round(int(r["funding_time_ms"]) / HOUR_MS) * HOUR_MS
            key = (r["symbol"], hour)
            mark = r.get("mark_price", "") or ""
            if key in merged and not mark:
                mark = merged[key][1]
            merged[key] = (r["funding_rate"], mark)
    rows = [[s, str(t), rate, mark] for (s, t), (rate, mark) in sorted(merged.items())]
    write_gz_csv(OUT / "funding_binance_8h.csv.gz",
                 ["symbol", "funding_time_ms", "funding_rate", "mark_price"], rows)
    return merged


def _daily_from_hourly(rows: list[dict[str, str]]) -> dict[int, list[float]]:
    days: dict[int, list[float]] = {}
    for r in rows:
        t = int(r["open_time_ms"]) // DAY_MS * DAY_MS
        o, h, lo, c = (float(r[k]) for k in ("open", "high", "low", "close"))
        if t not in days:
            days[t] = [o, h, lo, c]
        else:
            d = days[t]
            d[1] = max(d[1], h)
            d[2] = min(d[2], lo)
            d[3] = c
    return days


def build_daily(shared: Path) -> None:
    """Daily OHLC per asset: spot where the data has it, the perpetual elsewhere."""
    prices = shared / "prices"
    series: dict[str, dict[int, tuple[str, list[str]]]] = defaultdict(dict)

    def add(asset: str, market: str, t: int, ohlc: list[str], overwrite: bool) -> None:
        if overwrite or t not in series[asset]:
            series[asset][t] = (market, ohlc)

    def ohlc(r: dict[str, str]) -> list[str]:
        return [r["open"], r["high"], r["low"], r["close"]]

    for r in read_csv(prices / "binance_BTCUSDT_perp_1d_2019-09_2026-03.csv"):
        add("BTC", "perp", int(r["open_time_ms"]), ohlc(r), False)
    for r in read_csv(prices / "binance_BTCUSDT_spot_1d_2017-08_2024-08.csv"):
        add("BTC", "spot", int(r["open_time_ms"]), ohlc(r), True)
    for r in read_csv(prices / "binance_ETHUSDT_perp_1d_2019-11_2020-12_and_2024-01_2026-03.csv"):
        add("ETH", "perp", int(r["open_time_ms"]), ohlc(r), False)
    eth_hourly = _daily_from_hourly(
        read_csv(prices / "binance_ETHUSDT_spot_1h_2017-08_2021-06.csv.gz"))
    last_full_day = max(eth_hourly) - DAY_MS  # the source's last day is partial
    for t, ohlc in eth_hourly.items():
        if t <= last_full_day:
            add("ETH", "spot", t, [repr(x) for x in ohlc], True)
    rows = [[asset, market, str(t), *ohlc]
            for asset in sorted(series) for t, (market, ohlc) in sorted(series[asset].items())]
    write_gz_csv(OUT / "bars_1d.csv.gz",
                 ["asset", "market", "open_time_ms", "open", "high", "low", "close"], rows)


# ---- hourly and daily history for the backtest (history_*.npz, funding_binance_*.npz) ----
# Prices are stored as int64 cents: every source price has at most 2 decimals, so
# ``cents / 100`` gives exactly ``float(source_string)`` and the zip deflates integers well.

Bar = tuple[int, int, int, int]  # open, high, low, close in USDT cents
Series = dict[int, tuple[Bar, str]]  # bar open time ms -> (bar, source label)

SOURCE_LABELS = {
    "cdd_via_andrewsiah": "CryptoDataDownload export via andrewsiah/crypto-historical-data",
    "ccxt_via_CasArt1": "ccxt fetch_ohlcv via CasArt1/Proyecto_2",
    "cdd_via_IngiOrn": "CryptoDataDownload via IngiOrn/crypto_data",
    "cdd_via_AHA-HH": "CryptoDataDownload via AHA-HH/optimising-funding-rate-arbitrage",
    "fapi_via_gravestone": "Binance /fapi/v1/klines via silertrades/gravestone-data",
}
SPLIT_GAP_MS = 7 * DAY_MS  # a hole longer than this starts a new note segment


def _cents(text: str) -> int:
    value = Decimal(text) * 100
    if value != value.to_integral_value():
        raise ValueError(f"price {text} has more than 2 decimals")
    return int(value)


def _load_bars(path: Path, default_source: str, symbol: str | None = None) -> Series:
    out: Series = {}
    for r in read_csv(path):
        if symbol is not None and r["symbol"] != symbol:
            continue
        bar = (_cents(r["open"]), _cents(r["high"]), _cents(r["low"]), _cents(r["close"]))
        out[int(r["open_time_ms"])] = (bar, SOURCE_LABELS[r.get("source") or default_source])
    return out


def _daily_series(hourly: Series) -> Series:
    """Daily bars from hourly ones; the last day is dropped unless its 23:00 bar exists."""
    days: dict[int, list[int]] = {}
    labels: dict[int, str] = {}
    for t in sorted(hourly):
        (o, h, lo, c), label = hourly[t]
        day = t // DAY_MS * DAY_MS
        if day not in days:
            days[day] = [o, h, lo, c]
            labels[day] = f"daily aggregate of hourly bars ({label})"
        else:
            d = days[day]
            d[1], d[2], d[3] = max(d[1], h), min(d[2], lo), c
    last = max(days)
    if last + DAY_MS - HOUR_MS not in hourly:
        del days[last]
    return {t: ((d[0], d[1], d[2], d[3]), labels[t]) for t, d in days.items()}


def _runs(times: list[int], labels: list[str], interval_ms: int) -> list[tuple[int, int, str]]:
    """Consecutive bars with the same label as (first open, last bar end, label)."""
    runs: list[tuple[int, int, str]] = []
    for t, label in zip(times, labels, strict=True):
        if runs and runs[-1][2] == label and t - runs[-1][1] < SPLIT_GAP_MS:
            runs[-1] = (runs[-1][0], t + interval_ms, label)
        else:
            runs.append((t, t + interval_ms, label))
    return runs


def _merge(spot: Series, perp: Series, perp_name: str, interval_ms: int) -> dict[str, np.ndarray]:
    """One row per bar: spot where it exists (else the perp stands in), perp likewise."""
    times = sorted(set(spot) | set(perp))
    spot_rows, perp_rows, spot_labels, perp_labels = [], [], [], []
    for t in times:
        s, p = spot.get(t), perp.get(t)
        spot_rows.append(s[0] if s else p[0])  # type: ignore[index]
        perp_rows.append(p[0] if p else s[0])  # type: ignore[index]
        spot_labels.append(
            f"spot: {s[1]}" if s else f"spot: none; the {perp_name} stands in ({p[1]})"  # type: ignore[index]
        )
        perp_labels.append(
            f"{perp_name}: {p[1]}" if p else f"{perp_name}: none; spot stands in"
        )
    runs = _runs(times, spot_labels, interval_ms) + _runs(times, perp_labels, interval_ms)
    runs.sort()
    s_arr = np.array(spot_rows, dtype=np.int64).reshape(-1, 4)
    perp_mask = np.array([t in perp for t in times], dtype=np.bool_)
    # Only the real perpetual rows are stored; the loader fills the stand-in from spot.
    p_arr = np.array(perp_rows, dtype=np.int64).reshape(-1, 4)[perp_mask]
    return {
        # Deltas (first one absolute) deflate to almost nothing; the loader takes a cumsum.
        "open_time_delta_ms": np.diff(np.array(times, dtype=np.int64), prepend=0),
        "spot_open_cents": s_arr[:, 0], "spot_high_cents": s_arr[:, 1],
        "spot_low_cents": s_arr[:, 2], "spot_close_cents": s_arr[:, 3],
        "perp_high_cents": p_arr[:, 1], "perp_low_cents": p_arr[:, 2],
        "perp_close_cents": p_arr[:, 3],
        "spot_is_real": np.array([t in spot for t in times], dtype=np.bool_),
        "perp_is_real": perp_mask,
        "note_start_ms": np.array([r[0] for r in runs], dtype=np.int64),
        "note_end_ms": np.array([r[1] for r in runs], dtype=np.int64),
        "note_text": np.array([r[2] for r in runs], dtype=np.str_),
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` layout with fixed zip timestamps, so rebuilds are byte-identical."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def _funding_arrays(symbol: str, merged: dict[tuple[str, int], tuple[str, str]]
                    ) -> dict[str, np.ndarray]:
    rows = sorted((t, rate, mark) for (s, t), (rate, mark) in merged.items() if s == symbol)
    times = np.array([r[0] for r in rows], dtype=np.int64)
    gaps = [(int(a), int(b)) for a, b in itertools.pairwise(times.tolist())
            if b - a != 8 * HOUR_MS]
    first_mark = next(t for t, _, mark in rows if mark)
    note = (f"funding: Binance USDⓈ-M {symbol} settlements every 8 h, times rounded to the hour; "
            f"rates verbatim; mark price at settlement from {_iso(first_mark)[:10]}")
    if gaps:
        note += "; gaps " + ", ".join(f"{_iso(a)}..{_iso(b)}" for a, b in gaps)
    return {
        "funding_time_ms": times,
        "funding_rate_text": np.array([r[1] for r in rows], dtype=np.str_),
        "funding_mark": np.array([float(r[2]) if r[2] else np.nan for r in rows]),
        "note_text": np.array([note], dtype=np.str_),
    }


def _iso(ts_ms: int) -> str:
    return np.datetime64(ts_ms, "ms").astype("datetime64[m]").item().isoformat(" ")


def _check_daily(name: str, derived: Series, reference: Series) -> None:
    common = sorted(set(derived) & set(reference))
    for i, field in enumerate(("open", "high", "low", "close")):
        bad = [t for t in common if derived[t][0][i] != reference[t][0][i]]
        late = [t for t in bad if t >= 1_609_459_200_000]  # from 2021, the ccxt-sourced hours
        print(f"{name}: {len(common)} common days, {field} mismatches {len(bad)}"
              f" ({len(late)} from 2021)", [_iso(t)[:10] for t in late[:3]])


def build_history(shared: Path, funding: dict[tuple[str, int], tuple[str, str]]) -> None:
    """history_{BTC,ETH}_{1h,1d}.npz and funding_binance_{BTC,ETH}USDT.npz."""
    prices = shared / "prices"
    perp_1h = prices / "binance_BTCUSDT_ETHUSDT_perp_1h_2020-08_2020-12_and_2025-09_2026-03.csv.gz"
    spot_1h = {
        "BTC": _load_bars(prices / "binance_BTCUSDT_spot_1h_2017-08_2025-10.csv.gz", ""),
        "ETH": _load_bars(prices / "binance_ETHUSDT_spot_1h_2017-08_2021-06.csv.gz",
                          "cdd_via_andrewsiah"),
    }
    perp_1d = {
        "BTC": _load_bars(prices / "binance_BTCUSDT_perp_1d_2019-09_2026-03.csv", ""),
        "ETH": _load_bars(
            prices / "binance_ETHUSDT_perp_1d_2019-11_2020-12_and_2024-01_2026-03.csv", ""),
    }
    btc_spot_1d = _load_bars(prices / "binance_BTCUSDT_spot_1d_2017-08_2024-08.csv",
                             "cdd_via_AHA-HH")
    for asset in ("BTC", "ETH"):
        symbol = f"{asset}USDT"
        perp_name = f"Binance USDⓈ-M {symbol} perpetual"
        perp_hourly = _load_bars(perp_1h, "", symbol)
        write_npz(OUT / f"history_{asset}_1h.npz",
                  _merge(spot_1h[asset], perp_hourly, perp_name, HOUR_MS))
        spot_daily = _daily_series(spot_1h[asset])
        if asset == "BTC":
            _check_daily("BTC spot daily from hourly vs daily file", spot_daily, btc_spot_1d)
            spot_daily = {**spot_daily, **btc_spot_1d}  # the exchange's own daily bars win
        write_npz(OUT / f"history_{asset}_1d.npz",
                  _merge(spot_daily, perp_1d[asset], perp_name, DAY_MS))
        write_npz(OUT / f"funding_binance_{symbol}.npz", _funding_arrays(symbol, funding))


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    OUT.mkdir(parents=True, exist_ok=True)
    build_brackets(shared)
    funding = build_funding(shared)
    build_daily(shared)
    build_history(shared, funding)
    print(json.dumps(sorted(p.name for p in OUT.iterdir())))


if __name__ == "__main__":
    main()
