"""Write an export's tables as CSV or Parquet files, Decimals kept exact.

CSV cells are the Decimals' plain strings; Parquet columns of Decimals are Arrow decimals
(falling back to exact strings when a column does not fit 38 digits).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("csv", "parquet")


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    return "" if value is None else value


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])


def _column(values: list[Any]) -> pa.Array:
    if any(isinstance(v, Decimal) for v in values):
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([None if v is None else format(v, "f") for v in values])
    return pa.array(values)


def write_parquet(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = pa.table({c: _column([row.get(c) for row in rows]) for c in columns})
    pq.write_table(table, path)


def write_tables(folder: Path, stem: str, tables: dict[str, list[dict[str, Any]]],
                 columns: dict[str, list[str]], fmt: str) -> list[Path]:
    """One file per table, ``<stem>-<table>.<fmt>`` in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, rows in tables.items():
        path = folder / f"{stem}-{name}.{fmt}"
        (write_csv if fmt == "csv" else write_parquet)(path, rows, columns[name])
        paths.append(path)
    return paths
