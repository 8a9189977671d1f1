"""Exposure that changes during a backtest: dated or recurring +/- quantities of the asset.

A miner adding 0.1 BTC a day is one recurring change (``every_ms`` = one day); selling 2 BTC on
a date is one dated change of −2. For a purchase, +q means "plan to buy q more" (cash for it is
earmarked at that moment's price) and −q "buy q less" (that cash is released).

Changes are applied at the close of the bar in which they fall (a recurring change first fires
one period after the start). Dated changes before the start or after the end are ignored.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from perphedge.domain.money import ZERO, to_decimal
from perphedge.errors import InputError
from perphedge.parse import parse_time_ms

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_PERIODS_MS = {"hour": HOUR_MS, "day": DAY_MS, "week": 7 * DAY_MS}
_RATE = re.compile(r"^\s*([+-]?[0-9.]+)\s*(?:/\s*(hour|day|week))?\s*$")


@dataclass(frozen=True, slots=True)
class ExposureChange:
    """``qty_base`` (signed, base units) at ``ts_ms``, or every ``every_ms`` from the start."""

    qty_base: Decimal
    ts_ms: int | None = None
    every_ms: int | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not self.qty_base.is_finite() or self.qty_base == ZERO:
            raise InputError("quantity_change", "a non-zero number", str(self.qty_base))
        if (self.ts_ms is None) == (self.every_ms is None):
            raise InputError("exposure change", "either a date or a period", self)
        if self.every_ms is not None and self.every_ms <= 0:
            raise InputError("exposure change period", "a positive number of ms", self.every_ms)


def expand_changes(
    changes: Iterable[ExposureChange], start_ms: int, end_ms: int
) -> list[tuple[int, Decimal]]:
    """Dated (ts_ms, qty) pairs inside ``(start_ms, end_ms)``, oldest first.

    >>> expand_changes([ExposureChange(Decimal("0.1"), every_ms=DAY_MS)], 0, 3 * DAY_MS)
    [(86400000, Decimal('0.1')), (172800000, Decimal('0.1'))]
    """
    out: list[tuple[int, Decimal]] = []
    for change in changes:
        if change.ts_ms is not None:
            if start_ms < change.ts_ms < end_ms:
                out.append((change.ts_ms, change.qty_base))
            continue
        assert change.every_ms is not None  # noqa: S101  -- __post_init__ guarantees one of two
        out.extend((ts, change.qty_base) for ts in range(
            start_ms + change.every_ms, end_ms, change.every_ms))
    out.sort(key=lambda pair: pair[0])
    return out


def parse_rate(text: str, field: str = "--add-daily") -> ExposureChange:
    """``0.1`` (per day), ``0.1/day``, ``-0.5/week`` or ``0.01/hour`` → a recurring change.

    >>> parse_rate("0.1/day").every_ms == DAY_MS
    True
    """
    match = _RATE.match(text)
    if match is None:
        raise InputError(field, "a quantity per period such as 0.1 or 0.1/day", text)
    qty = to_decimal(match.group(1), field)
    period = _PERIODS_MS[match.group(2) or "day"]
    return ExposureChange(qty, every_ms=period, note=f"{text.strip()} recurring")


def parse_sell(text: str, field: str = "--sell") -> ExposureChange:
    """``QTY@YYYY-MM-DD`` → a dated change of −QTY.

    >>> parse_sell("2@2024-03-01").qty_base
    Decimal('-2')
    """
    qty_text, sep, when = text.partition("@")
    if not sep:
        raise InputError(field, "QTY@YYYY-MM-DD", text)
    qty = to_decimal(qty_text, field)
    if qty <= ZERO:
        raise InputError(field, "a positive quantity before @", text)
    return ExposureChange(-qty, ts_ms=parse_time_ms(when, field, epoch_ms=True),
                          note=f"sell {text}")


def parse_exposure_csv(text: str, field: str = "--exposure-csv") -> tuple[ExposureChange, ...]:
    """Rows of ``time,quantity_change`` (time: epoch ms, date or ISO datetime).

    >>> parse_exposure_csv("time,quantity_change\\n2024-01-02,0.5\\n")[0].qty_base
    Decimal('0.5')
    """
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or {"time", "quantity_change"} - set(reader.fieldnames):
        raise InputError(field, "a CSV with columns time,quantity_change", reader.fieldnames)
    out = []
    for line, row in enumerate(reader, start=2):
        where = f"{field} line {line}"
        out.append(ExposureChange(
            to_decimal(row["quantity_change"], where),
            ts_ms=parse_time_ms(row["time"] or "", where, epoch_ms=True), note=f"csv line {line}",
        ))
    return tuple(out)


def parse_exposure(
    *, add_daily: str | None = None, sells: Iterable[str] = (), csv_path: Path | None = None
) -> tuple[ExposureChange, ...]:
    """All exposure changes given on the command line (and in a CSV file)."""
    out: list[ExposureChange] = []
    if add_daily is not None:
        out.append(parse_rate(add_daily))
    out.extend(parse_sell(text) for text in sells)
    if csv_path is not None:
        try:
            text = csv_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError("--exposure-csv", "a readable CSV file", str(csv_path)) from exc
        out.extend(parse_exposure_csv(text))
    return tuple(out)
