"""Build the bundled CME bitcoin second-month closes from ``../shared/data``.

Run from the repository root: ``python scripts/build_bundled_cme.py [SHARED_DATA_DIR]``.
The output file is committed; this script documents how it was made. Prices are copied as the
source wrote them (strings). Provenance: ``../shared/data/PROVENANCE.md`` (futures/), caveats
in ``docs/backtest.md``.

Output ``src/perphedge/data/futures_cme_btc_second_month_1d.csv``, one row per trade date:
``symbol, base, trade_date, close_ms, expiry_ms, close, spot_close``. The series is the CME
Bitcoin (BTC, 5 BTC, USD) *second-nearby* monthly contract, Bloomberg ``PX_LAST``; it switches
to the next contract when the nearby one expires. ``close_ms`` is 16:00 America/Chicago on the
trade date (CME's daily close), ``spot_close`` the bundled Binance BTCUSDT spot close of the
hour that ends then (``perphedge.adapters.marketdata.history``), so ``close / spot_close`` is
the premium over spot at the CME close.
"""

from __future__ import annotations

import csv
import sys
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from perphedge.adapters.marketdata.history import load_history

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "perphedge" / "data" / "futures_cme_btc_second_month_1d.csv"
SOURCE = Path("futures") / "cme_BTC_second_month_by_contract_1d_2019-12_2021-05.csv"
CHICAGO = ZoneInfo("America/Chicago")
HOUR_MS = 3_600_000


def _ms(iso_utc: str) -> int:
    return int(datetime.fromisoformat(iso_utc.replace("Z", "+00:00")).timestamp() * 1000)


def close_ms(trade_date: str) -> int:
    """16:00 Chicago time on the trade date, as UTC epoch ms (21:00 or 22:00 UTC)."""
    moment = datetime.combine(date.fromisoformat(trade_date), time(16), tzinfo=CHICAGO)
    return int(moment.timestamp() * 1000)


def build(shared: Path) -> list[list[str]]:
    with (shared / SOURCE).open(newline="") as handle:
        source = list(csv.DictReader(handle))
    history = load_history("BTC", start_ms=_ms(source[0]["open_time_utc"]) - 2 * 86_400_000,
                           end_ms=_ms(source[-1]["open_time_utc"]) + 2 * 86_400_000)
    rows: list[list[str]] = []
    seen: set[str] = set()
    for r in source:
        trade_date = r["open_time_utc"][:10]
        at = close_ms(trade_date)
        expiry = _ms(r["expiry_utc"])
        assert trade_date not in seen, r
        assert at < expiry, r
        seen.add(trade_date)
        k = int(np.searchsorted(history.open_time_ms, at - HOUR_MS))
        assert int(history.open_time_ms[k]) == at - HOUR_MS, (r, "no spot bar")
        spot = repr(float(history.spot_close[k]))
        rows.append([r["symbol"], "BTC", trade_date, str(at), str(expiry), r["close"], spot])
    rows.sort(key=lambda row: int(row[3]))
    # One contract at a time: the series never returns to a contract it left.
    order = [row[0] for row in rows]
    assert all(order.index(s) <= i for i, s in enumerate(order)), "contract order"
    return rows


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    rows = build(shared)
    with OUT.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["symbol", "base", "trade_date", "close_ms", "expiry_ms", "close",
                         "spot_close"])
        writer.writerows(rows)
    print(f"{OUT.relative_to(ROOT)}: {len(rows)} rows")


if __name__ == "__main__":
    main()
