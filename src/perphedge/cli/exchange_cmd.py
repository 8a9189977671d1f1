"""``perphedge exchange serve``: the local Binance-compatible exchange on this machine."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perphedge.cli.app import app
from perphedge.errors import InputError
from perphedge.parse import (
    is_loopback,
    iso_minute,
    non_negative_amount,
    parse_float,
    parse_host,
    parse_port,
    parse_time_ms,
    positive_amount,
)

if TYPE_CHECKING:  # the exchange (and numpy) load only when `serve` runs
    from perphedge.exchange.market import PricePath, ReplayClock

exchange_app = typer.Typer(help="A local Binance-compatible USDⓈ-M and spot exchange.",
                           no_args_is_help=True)
app.add_typer(exchange_app, name="exchange")

_DATA = {"bundled-1h": "1h", "bundled-1d": "1d"}


def check_host(host: str, allow_remote: bool) -> str:
    """``host`` if it is loopback (or ``allow_remote``); InputError otherwise.

    >>> check_host("127.0.0.1", False)
    '127.0.0.1'
    """
    host = parse_host(host, "--host")
    if not allow_remote and not is_loopback(host):
        raise InputError("--host", "a loopback address such as 127.0.0.1 (or --allow-remote: "
                         "the API moves simulated money for anyone who has the key)", host)
    return host


_WALLETS = ("spot", "futures")
#: The largest deposit a local account takes (a typo such as 1e999999 is refused).
MAX_DEPOSIT = Decimal("1e12")


def parse_deposits(items: list[str]) -> dict[str, Decimal]:
    """``["USDT=10000", "futures:USDT=5000"]`` → ``{"USDT": 10000, "futures:USDT": 5000}``.

    A ``futures:`` prefix funds the futures wallet (USDT only); no prefix or ``spot:`` the
    spot wallet.
    """
    out: dict[str, Decimal] = {}
    expected = "[spot:|futures:]ASSET=AMOUNT, e.g. USDT=10000 or futures:USDT=5000"
    for item in items:
        target, sep, raw = item.partition("=")
        wallet, _, asset = target.rpartition(":")
        wallet, asset = (wallet or "spot").lower(), asset.strip().upper()
        if not sep or not asset.isascii() or not asset.isalnum() or wallet not in _WALLETS:
            raise InputError("--deposit", expected, item)
        if wallet == "futures" and asset != "USDT":
            raise InputError("--deposit", "futures:USDT=AMOUNT (the futures wallet holds "
                             "USDT)", item)
        try:
            value = positive_amount(raw, "--deposit", MAX_DEPOSIT)
        except InputError as err:
            raise InputError("--deposit", f"{expected}, the amount {err.expected}",
                             item) from None
        key = asset if wallet == "spot" else f"futures:{asset}"
        out[key] = out.get(key, Decimal(0)) + value
    return out


def _start_ms(start: str | None, default_ms: int, first_ms: int, end_ms: int) -> int:
    if start is None:
        return default_ms
    ms = parse_time_ms(start, "--start")
    if not first_ms <= ms < end_ms:
        raise InputError("--start", f"a time between {iso_minute(first_ms)} and "
                         f"{iso_minute(end_ms)} (the replayed data)", start)
    return ms


def _state_path(state: Path | None) -> Path | None:
    if state is not None and not state.parent.is_dir():
        raise InputError("--state", "a file in an existing folder", str(state))
    if state is not None and state.is_dir():
        raise InputError("--state", "a file, not a folder", str(state))
    return state


#: The fastest replay: a replayed day per wall millisecond.
MAX_SPEED = 86_400_000.0


def _hole_notes(paths: Iterable[PricePath], start_ms: int, end_ms: int) -> list[str]:
    """A line per hole in the replayed window: the price stands still there (no data)."""
    from perphedge.exchange.market import data_holes

    return [f"note: {path.symbol} has no data from {iso_minute(last)} to {iso_minute(resume)}: "
            "its price stands still there" for path in paths
            for last, resume in data_holes(path) if resume > start_ms and last < end_ms]


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port in use before anything is written (the state file, the account)."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as err:
        raise InputError("--port", f"a free TCP port on {host} ({err.strerror})", port) from None
    finally:
        probe.close()


_ANNOUNCED: set[int] = set()


def _announce_end(clock: ReplayClock) -> None:
    """Say once, on the console, that the replay reached the end of its data."""
    if clock.ended and id(clock) not in _ANNOUNCED:
        _ANNOUNCED.add(id(clock))
        assert clock.end_ms is not None  # noqa: S101 -- ended implies an end
        sys.stdout.write(f"replay reached the end of the data at {iso_minute(clock.end_ms)} "
                         "UTC: prices stay at the last bar, no more funding is settled\n")
        sys.stdout.flush()


def _api_key(key: str, field: str) -> str:
    if not key.strip() or not key.isascii() or not key.isprintable():
        # Never echo what was given: it may be a real key pasted by mistake.
        raise InputError(field, "a non-empty printable ASCII text", "an empty or unprintable "
                         "value" if not key.strip() else "a value with non-ASCII characters")
    return key


@exchange_app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback only by default).")] = (
        "127.0.0.1"),
    port: Annotated[int, typer.Option(help="TCP port (0: any free port).")] = 8900,
    data: Annotated[str, typer.Option(help="Prices to replay: bundled-1h or bundled-1d.")] = (
        "bundled-1h"),
    speed: Annotated[float, typer.Option(
        help="Replay ms per wall ms (3600: one replayed hour per second; 0: frozen).")] = 3600.0,
    start: Annotated[str | None, typer.Option(
        help="Replay start, UTC (default: the last stretch of data with no hole, at most a "
        "year before it ends).")] = None,
    state: Annotated[Path | None, typer.Option(
        help="JSON state file: saved after every change, resumed on restart.")] = None,
    deposit: Annotated[list[str] | None, typer.Option(
        help="Deposit of a fresh account, ASSET=AMOUNT into spot or futures:USDT=AMOUNT "
        "into futures (repeatable; default USDT=100000).")] = None,
    api_key: Annotated[str, typer.Option(envvar="PERPHEDGE_LOCAL_API_KEY",
                                         help="The API key clients must send.")] = "local-key",
    api_secret: Annotated[str, typer.Option(envvar="PERPHEDGE_LOCAL_API_SECRET",
                                            help="The secret that signs requests.")] = (
        "local-secret"),  # noqa: S107 -- the documented default of a loopback simulator
    weight_limit: Annotated[int, typer.Option(
        help="Request weight per minute before 429 (0: no limit).")] = 2400,
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="Allow binding a non-loopback address.")] = False,
    spread_bps: Annotated[str, typer.Option(
        help="Order book: bid-ask spread in basis points of the replayed price.")] = "1",
    book_step_bps: Annotated[str, typer.Option(
        help="Order book: gap between price levels, in basis points.")] = "1",
    depth_usdt: Annotated[str, typer.Option(
        help="Order book: USDT worth of the asset at each level (market orders walk the "
             "levels: bigger orders fill at worse prices).")] = "100000",
) -> None:
    """Serve Binance's USDⓈ-M (/fapi) and spot (/api, /sapi) REST API over the simulator."""
    from perphedge.exchange.auth import ApiKeys
    from perphedge.exchange.book import BookShape
    from perphedge.exchange.core import ExchangeConfig
    from perphedge.exchange.market import (
        ReplayClock,
        ReplayMarket,
        bundled_delivery_paths,
        bundled_path,
        replay_window,
    )
    from perphedge.exchange.server import start_server
    from perphedge.exchange.state import open_exchange

    check_host(host, allow_remote)
    parse_port(port, "--port", allow_zero=True)
    parse_float(speed, "--speed", minimum=0, maximum=MAX_SPEED)
    if weight_limit < 0:
        raise InputError("--weight-limit", "a request weight per minute of 0 (no limit) or "
                         "more", weight_limit)
    _api_key(api_key, "--api-key")
    _api_key(api_secret, "--api-secret")
    state = _state_path(state)
    deposits = parse_deposits(deposit or ["USDT=100000"])
    book = BookShape(
        non_negative_amount(spread_bps, "--spread-bps", Decimal(1000)),
        non_negative_amount(book_step_bps, "--book-step-bps", Decimal(1000)),
        positive_amount(depth_usdt, "--depth-usdt"))
    if data not in _DATA:
        raise InputError("--data", f"one of {', '.join(_DATA)}", data)
    paths = {p.symbol: p for p in (bundled_path(a, _DATA[data]) for a in ("BTC", "ETH"))}
    last_ms = min(int(p.close_time_ms[-1]) for p in paths.values())
    quarterlies = bundled_delivery_paths(paths["BTCUSDT"], last_ms - 1)
    first_ms, default_ms, end_ms = replay_window(paths.values(), quarterlies)
    start_ms = _start_ms(start, default_ms, first_ms, end_ms)
    notes = _hole_notes(paths.values(), start_ms, end_ms)
    # The bundled quarterlies (2025-09 .. 2026-04) are listed when the replay overlaps them.
    for quarterly in bundled_delivery_paths(paths["BTCUSDT"], start_ms):
        paths[quarterly.symbol] = quarterly
    _check_port_free(host, port)
    clock = ReplayClock(start_ms, speed, end_ms=end_ms)
    config = ExchangeConfig(ApiKeys({api_key: api_secret}), weight_limit, state, book)
    exchange = open_exchange(ReplayMarket(paths, clock), config, deposits, start_ms)
    server = start_server(exchange, host, port)
    replay = datetime.fromtimestamp(clock.now_ms() / 1000, tz=UTC).isoformat()
    sys.stdout.write(f"local exchange on {server.url} (replay at {replay}, speed {speed:g}; "
                     f"the data ends at {iso_minute(end_ms)} UTC, where the replay stops)\n")
    for note in notes:
        sys.stdout.write(note + "\n")
    sys.stdout.flush()
    server.on_tick = lambda: _announce_end(clock)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
