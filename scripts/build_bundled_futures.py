"""Build the bundled Binance BTCUSDT quarterly (delivery) closes from ``../shared/data``.

Run from the repository root: ``python scripts/build_bundled_futures.py [SHARED_DATA_DIR]``.
The output file is committed; this script documents exactly how it was made. Prices are copied
as the source wrote them (strings), never re-rounded. Provenance: ``docs/carry.md``.

Output ``src/perphedge/data/futures_binance_usdm_quarterly_1d.csv``, one row per contract and
daily bar: ``symbol, base, open_time_ms, expiry_ms, close, spot_close``. ``close`` is the last
price of the quarterly's daily bar that opens at ``open_time_ms`` (00:00 UTC); ``spot_close`` is
the same source's Binance spot BTCUSDT close of that bar.
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "perphedge" / "data" / "futures_binance_usdm_quarterly_1d.csv"
SOURCE = Path("futures") / "binance_usdm_BTCUSDT_quarterly_1d_close_2025-09_2026-04.csv"


def _ms(iso_utc: str) -> int:
    # The source writes UTC with a trailing Z; fromisoformat needs an explicit offset.
    return int(datetime.fromisoformat(iso_utc.replace("Z", "+00:00")).timestamp() * 1000)


def build(shared: Path) -> list[list[str]]:
    """Rows of the bundled file, sorted by symbol then time; checks what the source promises."""
    with (shared / SOURCE).open(newline="") as handle:
        source = list(csv.DictReader(handle))
    rows: list[list[str]] = []
    seen: set[tuple[str, int]] = set()
    for r in source:
        symbol = r["symbol"]  # e.g. BTCUSDT_260327
        open_ms = int(r["open_time_ms"])
        expiry_ms = _ms(r["expiry_utc"])
        assert _ms(r["open_time_utc"]) == open_ms, r
        assert open_ms < expiry_ms, r
        assert (symbol, open_ms) not in seen, r
        assert r["close"], r
        assert r["source_spot_close_BTCUSDT"], r
        # The symbol's YYMMDD is the delivery date (08:00 UTC).
        assert r["expiry_utc"] == f"20{symbol[-6:-4]}-{symbol[-4:-2]}-{symbol[-2:]}T08:00:00Z", r
        seen.add((symbol, open_ms))
        base = symbol.split("USDT_")[0]
        rows.append([symbol, base, str(open_ms), str(expiry_ms), r["close"],
                     r["source_spot_close_BTCUSDT"]])
    rows.sort(key=lambda row: (row[0], int(row[2])))
    return rows


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    rows = build(shared)
    with OUT.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["symbol", "base", "open_time_ms", "expiry_ms", "close", "spot_close"])
        writer.writerows(rows)
    print(f"{OUT.relative_to(ROOT)}: {len(rows)} rows")


if __name__ == "__main__":
    main()
