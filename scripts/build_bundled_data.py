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
import json
import sys
from collections import defaultdict
from pathlib import Path

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
    rows = read_csv(shared / "margin" / "binance_usdm_leverage_brackets_BTCUSDT_ETHUSDT_history.csv")
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


def build_funding(shared: Path) -> None:
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

    for r in read_csv(prices / "binance_BTCUSDT_perp_1d_2019-09_2026-03.csv"):
        add("BTC", "perp", int(r["open_time_ms"]), [r["open"], r["high"], r["low"], r["close"]], False)
    for r in read_csv(prices / "binance_BTCUSDT_spot_1d_2017-08_2024-08.csv"):
        add("BTC", "spot", int(r["open_time_ms"]), [r["open"], r["high"], r["low"], r["close"]], True)
    for r in read_csv(prices / "binance_ETHUSDT_perp_1d_2019-11_2020-12_and_2024-01_2026-03.csv"):
        add("ETH", "perp", int(r["open_time_ms"]), [r["open"], r["high"], r["low"], r["close"]], False)
    eth_hourly = _daily_from_hourly(read_csv(prices / "binance_ETHUSDT_spot_1h_2017-08_2021-06.csv.gz"))
    last_full_day = max(eth_hourly) - DAY_MS  # the source's last day is partial
    for t, ohlc in eth_hourly.items():
        if t <= last_full_day:
            add("ETH", "spot", t, [repr(x) for x in ohlc], True)
    rows = [[asset, market, str(t), *ohlc]
            for asset in sorted(series) for t, (market, ohlc) in sorted(series[asset].items())]
    write_gz_csv(OUT / "bars_1d.csv.gz",
                 ["asset", "market", "open_time_ms", "open", "high", "low", "close"], rows)


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    OUT.mkdir(parents=True, exist_ok=True)
    build_brackets(shared)
    build_funding(shared)
    build_daily(shared)
    print(json.dumps(sorted(p.name for p in OUT.iterdir())))


if __name__ == "__main__":
    main()
