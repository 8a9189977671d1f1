"""The one parser per kind of input: what each accepts, and the line each refusal prints."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perphedge.domain.types import MarginMode
from perphedge.errors import InputError
from perphedge.parse import (
    TIMEFRAMES_MS,
    parse_choice,
    parse_day,
    parse_db_url,
    parse_decimal,
    parse_host,
    parse_interval_ms,
    parse_port,
    parse_time_ms,
    parse_timeframe,
    positive_amount,
    reported_as_typed,
    without_password,
)

NOON = datetime(2024, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(("text", "ms"), [
    ("2024-03-01", 1709251200000),
    ("2024-03-01T08:00", 1709280000000),
    ("2024-03-01T08:00Z", 1709280000000),
    ("2024-03-01T09:00+01:00", 1709280000000),
    ("2024-03-01 08:00", 1709280000000),
])
def test_dates_and_times_are_utc_unless_they_say_otherwise(text: str, ms: int) -> None:
    assert parse_time_ms(text, "--start") == ms


def test_now_means_the_given_clock_and_only_where_offered() -> None:
    assert parse_time_ms("now", "--until", now=NOON) == int(NOON.timestamp() * 1000)
    with pytest.raises(InputError, match="--start"):
        parse_time_ms("now", "--start")


@pytest.mark.parametrize("text", ["1st of May", "2024-13-01", "\u0662\u0660\u0662\u0664-01-01",
                                  "", "1900", "2999-01-01", "2024-01-01T25:00"])
def test_a_bad_time_names_the_field_and_shows_the_text(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_time_ms(text, "--since")
    assert str(err.value).startswith("--since: expected ")
    assert str(err.value).endswith(f"got {text!r}")


def test_epoch_ms_only_where_files_use_it() -> None:
    assert parse_time_ms("1709251200000", "time", epoch_ms=True) == 1709251200000
    with pytest.raises(InputError):
        parse_time_ms("1709251200000", "--start")


def test_a_day_option_refuses_a_time_of_day() -> None:
    assert parse_day("2024-03-01", "--as-of").isoformat() == "2024-03-01"
    with pytest.raises(InputError, match="a UTC day"):
        parse_day("2024-03-01T08:00", "--as-of")


def test_one_interval_table_with_ccxt_names() -> None:
    assert list(TIMEFRAMES_MS) == ["1m", "5m", "15m", "1h", "4h", "1d"]
    assert parse_timeframe("4h", "--data-interval") == 14_400_000
    with pytest.raises(InputError, match="one of 1h, 1d"):
        parse_timeframe("4h", "--interval", ("1h", "1d"))


@pytest.mark.parametrize("text", ["5 min", "0m", "\u0665m", "100000000000000000000d", "1w",
                                  "-1h", "367d"])
def test_a_bad_interval_is_refused(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_interval_ms(text, "slice_interval")
    assert err.value.got == text


def test_an_interval_may_be_held_to_whole_hours() -> None:
    assert parse_interval_ms("2h", "--decision-interval", min_ms=3_600_000,
                             multiple_of_ms=3_600_000) == 7_200_000
    with pytest.raises(InputError, match="whole number of hours"):
        parse_interval_ms("90m", "--decision-interval", min_ms=3_600_000,
                          multiple_of_ms=3_600_000)


@pytest.mark.parametrize(("text", "expected"), [
    ("nan", "a finite number"), ("inf", "a finite number"), ("1e999999", "at most 1e15"),
    ("1e30", "at most 1e15"), ("-1", "greater than 0"), ("0", "greater than 0"),
    ("abc", "a number"), ("\u0661", "ASCII"),
])
def test_a_bad_amount_is_shown_as_typed(text: str, expected: str) -> None:
    with pytest.raises(InputError) as err:
        positive_amount(text, "--quantity")
    assert expected in str(err.value)
    assert str(err.value).endswith(f"got {text!r}")


@given(st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e12"), places=8))
def test_every_sane_amount_round_trips(value: Decimal) -> None:
    assert positive_amount(str(value), "--quantity") == value


def test_zero_is_allowed_where_asked() -> None:
    assert parse_decimal("0", "--reserve", minimum=Decimal(0), strict=False) == 0


@pytest.mark.parametrize("port", [0, -1, 65536, 70000])
def test_a_port_is_1_to_65535(port: int) -> None:
    with pytest.raises(InputError, match="--port"):
        parse_port(port, "--port")
    assert parse_port(0, "--port", allow_zero=True) == 0


def test_hosts() -> None:
    assert parse_host("127.0.0.1", "--host") == "127.0.0.1"
    assert parse_host("db.example.org", "--host") == "db.example.org"
    with pytest.raises(InputError):
        parse_host("http://x:1", "--host")


def test_store_urls_of_supported_schemes_in_existing_folders(tmp_path: Path) -> None:
    assert parse_db_url(f"sqlite:///{tmp_path}/x.db", "--db") == f"sqlite:///{tmp_path}/x.db"
    assert parse_db_url("postgresql+psycopg://u:p@h/db", "--db")
    with pytest.raises(InputError) as err:
        parse_db_url("mysql://root:hunter2@h/db", "--db")
    assert "hunter2" not in str(err.value)
    with pytest.raises(InputError, match="existing folder"):
        parse_db_url("sqlite:////missing/dir/x.db", "--db")


def test_passwords_are_hidden_in_any_text() -> None:
    assert without_password("failed: postgresql://u:secret@h:5432/db down") == (
        "failed: postgresql://u:***@h:5432/db down")


def test_a_choice_is_an_enum_member_whatever_its_case() -> None:
    assert parse_choice(" CROSS ", "--margin-mode", MarginMode) is MarginMode.CROSS
    with pytest.raises(InputError) as err:
        parse_choice("hedge", "--margin-mode", MarginMode)
    assert str(err.value) == "--margin-mode: expected isolated or cross, got 'hedge'"


def test_a_service_error_on_a_parsed_option_shows_what_the_user_typed() -> None:
    with pytest.raises(InputError) as err, reported_as_typed({"--quantity": "5e3",
                                                               "--end": None}):
        raise InputError("--quantity", "at most 1000", Decimal("5000"))
    assert str(err.value) == "--quantity: expected at most 1000, got '5e3'"
    # An option the user did not give (None), or not listed: the service's own words stay.
    for field in ("--end", "--sell"):
        with pytest.raises(InputError) as err, reported_as_typed({"--end": None}):
            raise InputError(field, "something", "2024-01-01 00:00")
        assert str(err.value) == f"{field}: expected something, got '2024-01-01 00:00'"
