"""``perphedge export`` over a store the engine filled: the files' totals equal the store's."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import MarginMoveRow
from perphedge.cli.app import main
from tests.conftest import run_cli
from tests.web.hedge_fixture import PaperRun, paper_run


@pytest.fixture(scope="module")
def day_and_a_half(tmp_path_factory: pytest.TempPathFactory) -> PaperRun:
    return paper_run(tmp_path_factory.mktemp("export"), cycles=30)  # 01:00 day 1 → 06:00 day 2


def export(run: PaperRun, out: Path, *args: str) -> str:
    result = run_cli("export", "--hedge", "btc", "--config", str(run.config), "--out", str(out),
                     *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def total(rows: list[dict[str, str]], key: str) -> Decimal:
    return sum((Decimal(r[key]) for r in rows if r[key]), Decimal(0))


def test_csv_totals_equal_the_store(day_and_a_half: PaperRun, tmp_path: Path) -> None:
    out = export(day_and_a_half, tmp_path, "--format", "csv")
    store = HedgeStore(day_and_a_half.db_url)
    try:
        fees, funding = store.fees_total("btc"), store.funding_total("btc")
        moves = store.count(MarginMoveRow)
    finally:
        store.close()
    daily = read_csv(tmp_path / "btc-daily.csv")
    assert [d["date"] for d in daily] == ["2024-01-01", "2024-01-02"]
    assert total(daily, "fees_day") == fees
    assert total(daily, "funding_day") == funding
    assert Decimal(daily[-1]["funding_total"]) == funding
    assert total(read_csv(tmp_path / "btc-fills.csv"), "fee") == fees
    assert len(read_csv(tmp_path / "btc-funding.csv")) == 4
    assert total(read_csv(tmp_path / "btc-funding.csv"), "amount") == funding
    transfers = read_csv(tmp_path / "btc-transfers.csv")
    assert 0 < len(transfers) <= moves
    assert f"fees {fees:f} USDT" in out


def test_parquet_and_a_window_keep_exact_decimals(day_and_a_half: PaperRun,
                                                 tmp_path: Path) -> None:
    main(["export", "--hedge", "btc", "--config", str(day_and_a_half.config), "--out",
          str(tmp_path), "--format", "parquet", "--from", "2024-01-02"])
    daily = pq.read_table(tmp_path / "btc-daily.parquet").to_pylist()
    assert [d["date"] for d in daily] == ["2024-01-02"]
    funding = pq.read_table(tmp_path / "btc-funding.parquet").to_pylist()
    assert [f["time"] for f in funding] == ["2024-01-02T02:00:00+00:00"]
    assert isinstance(funding[0]["amount"], Decimal)
    assert daily[0]["funding_day"] == funding[0]["amount"]
    assert pq.read_table(tmp_path / "btc-fills.parquet").num_rows == 0  # all fills on day 1


def test_a_bad_format_or_window_is_one_line_exit_2(
        day_and_a_half: PaperRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(day_and_a_half.config)
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--hedge", "btc", "--format", "xlsx", "--config", config])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: --format: expected csv or parquet, got 'xlsx'")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--hedge", "btc", "--from", "2024-02-01", "--to", "2024-01-01",
              "--config", config, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().startswith(
        "error: --to: expected a time after --from")
    assert not list(tmp_path.iterdir())  # nothing half-done


@pytest.mark.parametrize(("option", "text", "expected"), [
    ("--from", "1st of May", "a UTC date or time such as 2024-03-01"),
    ("--to", "2024-13-01", "a UTC date or time such as 2024-03-01"),
    ("--from", "1900-01-01", "a time between 2000 and 2100"),  # the stand-in parser took it
    ("--to", "\u0662\u0660\u0662\u0664-01-01", "a UTC date or time"),  # Arabic-Indic digits
])
def test_a_bad_time_is_refused_by_the_one_time_parser(
        day_and_a_half: PaperRun, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        option: str, text: str, expected: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--hedge", "btc", option, text,
              "--config", str(day_and_a_half.config), "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"error: {option}: expected {expected}"), line
    assert line.endswith(f"got {text!r}"), line
    assert "\n" not in line, line
    assert not list(tmp_path.iterdir())


def test_a_window_in_unix_ms_is_the_same_as_in_iso(day_and_a_half: PaperRun,
                                                   tmp_path: Path) -> None:
    main(["export", "--hedge", "btc", "--config", str(day_and_a_half.config), "--out",
          str(tmp_path), "--from", "1704153600000"])  # 2024-01-02T00:00Z
    assert [d["date"] for d in read_csv(tmp_path / "btc-daily.csv")] == ["2024-01-02"]
