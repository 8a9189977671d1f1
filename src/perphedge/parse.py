"""One parser for each kind of user input: times, intervals, amounts, hosts, ports, DB URLs.

Entrypoints (the CLI, the config loader, a later API) turn user text into typed values here,
once; services take the typed values. Every failure is an ``InputError`` naming the option or
config key, what was expected and what was given, in the user's own notation (the text as
typed, never a ``Decimal('1E+30')`` or an epoch-ms number).

Why these libraries: ISO-8601 times are read by ``dateutil.parser.isoparse`` (strict ISO, with
``Z`` and offsets, date-only or date-time; no home-made regex); DB URLs by SQLAlchemy's own
``make_url``, the parser the store then uses.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import TypeVar

from perphedge.errors import InputError

SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

#: THE interval table: ccxt's timeframe names, in milliseconds. Bundled history, user files,
#: the local exchange's klines and the backtest's data intervals all take their names from it.
TIMEFRAMES_MS: dict[str, int] = {
    "1m": MINUTE_MS, "5m": 5 * MINUTE_MS, "15m": 15 * MINUTE_MS,
    "1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS,
}
#: Units of a free-form interval (config ``slice_interval = "30s"``, ``--decision-interval 2h``).
INTERVAL_UNITS_MS: dict[str, int] = {"s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS}
#: The longest interval anything accepts: a year.
MAX_INTERVAL_MS = 366 * DAY_MS

#: Times are bounded to years any market data can have (and datetime can represent).
_FIRST_YEAR = 2000
_LAST_YEAR = 2100
#: A user amount bigger than this is a typo, whatever the asset (1e15 BTC, 1e15 USDT).
MAX_AMOUNT = Decimal("1e15")

# --- times -----------------------------------------------------------------------------------

TIME_EXPECTED = "a UTC date or time such as 2024-03-01, 2024-03-01T08:00 or 2024-03-01T08:00Z"


def parse_moment(text: str, field: str, *, now: datetime | None = None,
                 epoch_ms: bool = False) -> datetime:
    """User text → an aware UTC datetime; a time without an offset is UTC.

    ``now`` (if given) is what the word ``now`` means; ``epoch_ms`` also accepts Unix ms
    (data files and CSV columns).

    >>> parse_moment("2024-03-01T08:00+01:00", "--start").isoformat()
    '2024-03-01T07:00:00+00:00'
    """
    value = text.strip() if isinstance(text, str) else ""
    if not value or not value.isascii():
        raise InputError(field, TIME_EXPECTED, text)
    if now is not None and value.lower() == "now":
        return now.astimezone(UTC)
    if epoch_ms and value.isdigit():
        moment = datetime.fromtimestamp(int(value) / 1000, tz=UTC) if len(value) <= 14 else None
    else:
        from dateutil.parser import isoparse  # ~7 ms: paid only by commands that read a time

        try:
            moment = isoparse(value)
        except (ValueError, OverflowError):
            moment = None
    if moment is None:
        expected = TIME_EXPECTED + (", or Unix ms" if epoch_ms else "")
        raise InputError(field, expected + (", or now" if now is not None else ""), text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if not _FIRST_YEAR <= moment.year < _LAST_YEAR:
        raise InputError(field, f"a time between {_FIRST_YEAR} and {_LAST_YEAR}", text)
    return moment


def parse_time_ms(text: str, field: str, *, now: datetime | None = None,
                  epoch_ms: bool = False) -> int:
    """User text → Unix ms (UTC). See ``parse_moment``.

    >>> parse_time_ms("2023-01-01", "--start")
    1672531200000
    """
    return to_ms(parse_moment(text, field, now=now, epoch_ms=epoch_ms))


def parse_day(text: str, field: str) -> date:
    """User text → a UTC calendar day (a time of day is refused: this option means a day).

    >>> parse_day("2024-03-01", "--as-of")
    datetime.date(2024, 3, 1)
    """
    try:
        moment = parse_moment(text, field)
    except InputError as err:
        raise InputError(field, "a UTC day such as 2024-03-01", text) from err
    if moment.time() != datetime.min.time():
        raise InputError(field, "a UTC day such as 2024-03-01", text)
    return moment.date()


def to_ms(moment: datetime) -> int:
    """An aware datetime → Unix ms."""
    return int(moment.timestamp() * 1000)


def iso_minute(ts_ms: int) -> str:
    """``1672531200000`` → ``'2023-01-01 00:00'`` (UTC), how messages show a time."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


# --- intervals -------------------------------------------------------------------------------


def parse_interval_ms(text: str, field: str, *, min_ms: int = SECOND_MS,
                      max_ms: int = MAX_INTERVAL_MS, multiple_of_ms: int = SECOND_MS) -> int:
    """``'30s'``, ``'1m'``, ``'4h'``, ``'1d'`` → milliseconds (ASCII digits, bounded).

    >>> parse_interval_ms("4h", "--decision-interval")
    14400000
    """
    value = text.strip().lower() if isinstance(text, str) else ""
    unit, number = value[-1:], value[:-1]
    ms = 0
    if unit in INTERVAL_UNITS_MS and number.isascii() and number.isdigit() and len(number) < 10:
        ms = int(number) * INTERVAL_UNITS_MS[unit]
    if not min_ms <= ms <= max_ms or ms % multiple_of_ms:
        if multiple_of_ms > SECOND_MS:
            unit = {MINUTE_MS: "minutes", HOUR_MS: "hours", DAY_MS: "days"}.get(
                multiple_of_ms, f"times {_span(multiple_of_ms)}")
            expected = (f"a whole number of {unit} such as 1h, 4h or 1d, from "
                        f"{_span(min_ms)} to {_span(max_ms)}")
        else:
            expected = (f"an interval like 30s, 1m, 4h or 1d, from {_span(min_ms)} to "
                        f"{_span(max_ms)}")
        raise InputError(field, expected, text)
    return ms


def parse_timeframe(text: str, field: str, allowed: tuple[str, ...] = tuple(TIMEFRAMES_MS)
                    ) -> int:
    """A ccxt timeframe name from ``TIMEFRAMES_MS`` (restricted to ``allowed``) → ms.

    >>> parse_timeframe("15m", "--data-interval")
    900000
    """
    name = text.strip().lower() if isinstance(text, str) else ""
    if name not in allowed or name not in TIMEFRAMES_MS:
        raise InputError(field, f"one of {', '.join(allowed)}", text)
    return TIMEFRAMES_MS[name]


def timeframe_name(interval_ms: int) -> str:
    """The ccxt timeframe name of ``interval_ms`` (``'1h'``); ValueError if it has none."""
    for name, ms in TIMEFRAMES_MS.items():
        if ms == interval_ms:
            return name
    raise ValueError(f"no timeframe name for {interval_ms} ms")


def _span(ms: int) -> str:
    for unit, size in (("d", DAY_MS), ("h", HOUR_MS), ("m", MINUTE_MS)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms // SECOND_MS}s"


# --- quantities and prices -------------------------------------------------------------------


def parse_decimal(text: object, field: str, *, minimum: Decimal | None = None,
                  maximum: Decimal = MAX_AMOUNT, strict: bool = True) -> Decimal:
    """User text → a finite Decimal within bounds (``minimum`` exclusive when ``strict``).

    >>> parse_decimal("0.5", "--quantity", minimum=Decimal(0))
    Decimal('0.5')
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float | Decimal):
        raise InputError(field, "a number", text)
    shown = text if isinstance(text, str) else _shown(text)
    raw = text.strip() if isinstance(text, str) else str(text)
    if isinstance(text, str) and not raw.isascii():
        raise InputError(field, "a number in ASCII digits", shown)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise InputError(field, "a number", shown) from None
    if not value.is_finite():
        raise InputError(field, "a finite number", shown)
    low = minimum is not None and (value <= minimum if strict else value < minimum)
    if low:
        expected = "a number greater than" if strict else "a number of at least"
        raise InputError(field, f"{expected} {_shown(minimum)}", shown)
    if value > maximum:
        raise InputError(field, f"a number of at most {_shown(maximum)}", shown)
    return value


def positive_amount(text: object, field: str, maximum: Decimal = MAX_AMOUNT) -> Decimal:
    """A quantity or price: finite, greater than 0, at most ``maximum``."""
    return parse_decimal(text, field, minimum=Decimal(0), maximum=maximum)


def non_negative_amount(text: object, field: str, maximum: Decimal = MAX_AMOUNT) -> Decimal:
    """An amount that may be 0: finite, 0 or more, at most ``maximum``."""
    return parse_decimal(text, field, minimum=Decimal(0), maximum=maximum, strict=False)


def parse_float(value: float, field: str, *, minimum: float, maximum: float) -> float:
    """A finite float option (``--speed``) within ``[minimum, maximum]``."""
    if not math.isfinite(value) or not minimum <= value <= maximum:
        low, high = (f"{x:.0f}" if float(x).is_integer() else f"{x:g}" for x in (minimum, maximum))
        raise InputError(field, f"a finite number from {low} to {high}", f"{value:g}")
    return value


def _shown(value: object) -> str:
    if isinstance(value, Decimal):
        if abs(value) >= 10**9 and value == value.to_integral_value():
            return format(value, ".0e").replace("+", "")
        text = format(value, "f") if abs(value.adjusted()) < 16 else str(value).replace("E", "e")
        return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text
    return str(value)


# --- choices ---------------------------------------------------------------------------------

ChoiceT = TypeVar("ChoiceT", bound=Enum)


def parse_choice(text: str, field: str, kind: type[ChoiceT]) -> ChoiceT:
    """The member of the enum ``kind`` whose value is ``text`` (case and spaces ignored).

    >>> from perphedge.domain.types import MarginMode
    >>> parse_choice(" Cross", "--margin-mode", MarginMode)
    <MarginMode.CROSS: 'cross'>
    """
    value = text.strip().lower() if isinstance(text, str) else ""
    for member in kind:
        if member.value == value:
            return member
    names = [str(member.value) for member in kind]
    expected = " or ".join(names) if len(names) == 2 else f"one of {', '.join(names)}"
    raise InputError(field, expected, text)


# --- the user's notation in a service's message ----------------------------------------------


@contextmanager
def reported_as_typed(texts: Mapping[str, object]) -> Iterator[None]:
    """Around a service call: an ``InputError`` naming one of these options is re-raised with
    the text the user typed for it (``2024-03-01T08:00``, ``5e3``) instead of the typed value
    the service saw and showed in its own notation (``2024-03-01 08:00``, ``5000``).

    A check that needs data (a start in a hole, a quantity above the contract's largest order)
    can only run in the service, after the edge has turned the text into a typed value; this
    keeps its message in the user's notation all the same. Options given as None are left as
    the service showed them (the service chose that value, not the user).
    """
    try:
        yield
    except InputError as err:
        typed = texts.get(err.field)
        if typed is None:
            raise
        raise InputError(err.field, err.expected, typed) from None


# --- hosts, ports, URLs ----------------------------------------------------------------------


def parse_port(value: int, field: str, *, allow_zero: bool = False) -> int:
    """A TCP port 1-65535 (0 too with ``allow_zero``: any free port)."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        suffix = " (0: any free port)" if allow_zero else ""
        raise InputError(field, f"a TCP port from {low} to 65535{suffix}", value)
    return value


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1, also as ``[::1]``).

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("[::1]")
    (True, True, True)
    >>> is_loopback("0.0.0.0")
    False
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_host(host: str, field: str) -> str:
    """A host name or IP address (no scheme, no port, no spaces)."""
    value = host.strip()
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.split(".")
    if not value or len(value) > 253 or not value.isascii() or not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
        raise InputError(field, "a host name or IP address such as 127.0.0.1", host)
    return value


DB_SCHEMES = ("sqlite", "postgresql")
#: ``scheme://user:password@`` in a URL (the password part is replaced before showing).
_PASSWORD_IN_URL = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@", re.IGNORECASE)


def parse_db_url(text: str, field: str) -> str:
    """A store URL of a supported scheme (sqlite, postgresql[+driver]) whose folder exists."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    expected = "sqlite:///PATH or postgresql://USER@HOST/DB"
    try:
        url = make_url(text.strip())
    except (ArgumentError, ValueError):
        raise InputError(field, expected, without_password(text)) from None
    if url.get_backend_name() not in DB_SCHEMES:
        raise InputError(field, f"{expected} (supported: {', '.join(DB_SCHEMES)})",
                         without_password(text))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        folder = Path(url.database).expanduser().parent
        if not folder.is_dir():
            raise InputError(field, "an SQLite file in an existing folder", text)
    return text.strip()


def without_password(text: str) -> str:
    """``postgresql://u:secret@h/db`` → ``postgresql://u:***@h/db`` (never echo a password).

    Works on any text that contains such URLs (a driver's error message too).
    """
    return _PASSWORD_IN_URL.sub(r"\1:***@", text)


# --- output paths ----------------------------------------------------------------------------


def output_file(path: Path, field: str) -> Path:
    """A file path the command may write: not a folder, in a folder that exists or can be
    created (its nearest existing parent is writable).

    Checked before any work is done, so a bad path is refused with nothing half-written.
    """
    if path.is_dir():
        raise InputError(field, "a file path, not a folder", str(path))
    output_folder(path.parent, field, str(path))
    return path


def output_folder(path: Path, field: str, shown: str | None = None) -> Path:
    """A folder the command may create or write into (its nearest existing parent writable)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(field, "a folder (a file has that name)", str(path))
    _probe(existing, field, shown or str(path))
    return path


def _probe(folder: Path, field: str, shown: str) -> None:
    """Create and remove a file in ``folder``: the only check that root's /proc also fails."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".perphedge-probe-"):
            pass
    except OSError as err:
        raise InputError(field, f"a writable place ({err.strerror})", shown) from None
