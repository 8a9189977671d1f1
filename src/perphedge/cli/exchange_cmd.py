"""``perphedge exchange serve``: the local Binance-compatible exchange on this machine."""

from __future__ import annotations

import ipaddress
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from perphedge.cli.app import app
from perphedge.errors import InputError

exchange_app = typer.Typer(help="A local Binance-compatible USDⓈ-M and spot exchange.",
                           no_args_is_help=True)
app.add_typer(exchange_app, name="exchange")

_DATA = {"bundled-1h": "1h", "bundled-1d": "1d"}


def check_host(host: str, allow_remote: bool) -> str:
    """``host`` if it is loopback (or ``allow_remote``); InputError otherwise.

    >>> check_host("127.0.0.1", False)
    '127.0.0.1'
    """
    if host == "localhost" or allow_remote:
        return host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InputError("--host", "a loopback address such as 127.0.0.1 (or --allow-remote: "
                         "the API moves simulated money for anyone who has the key)", host)
    return host


def parse_deposits(items: list[str]) -> dict[str, Decimal]:
    """``["USDT=10000", "BTC=1"]`` → ``{"USDT": Decimal("10000"), "BTC": Decimal("1")}``."""
    out: dict[str, Decimal] = {}
    for item in items:
        asset, _, raw = item.partition("=")
        try:
            value = Decimal(raw)
        except InvalidOperation:
            value = Decimal(-1)
        if not asset or not value.is_finite() or value <= 0:
            raise InputError("--deposit", "ASSET=AMOUNT with a positive amount", item)
        out[asset.upper()] = out.get(asset.upper(), Decimal(0)) + value
    return out


def _start_ms(start: str | None, default_ms: int) -> int:
    if start is None:
        return default_ms
    try:
        moment = datetime.fromisoformat(start)
    except ValueError:
        raise InputError("--start", "a UTC date or time such as 2024-03-01", start) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


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
        help="Replay start, UTC (default: 30 days before the data ends).")] = None,
    state: Annotated[Path | None, typer.Option(
        help="JSON state file: saved after every change, resumed on restart.")] = None,
    deposit: Annotated[list[str] | None, typer.Option(
        help="Spot deposit of a fresh account, ASSET=AMOUNT (repeatable).")] = None,
    api_key: Annotated[str, typer.Option(envvar="PERPHEDGE_LOCAL_API_KEY",
                                         help="The API key clients must send.")] = "local-key",
    api_secret: Annotated[str, typer.Option(envvar="PERPHEDGE_LOCAL_API_SECRET",
                                            help="The secret that signs requests.")] = (
        "local-secret"),  # noqa: S107 -- the documented default of a loopback simulator
    weight_limit: Annotated[int, typer.Option(
        help="Request weight per minute before 429 (0: no limit).")] = 2400,
    allow_remote: Annotated[bool, typer.Option(
        "--allow-remote", help="Allow binding a non-loopback address.")] = False,
) -> None:
    """Serve Binance's USDⓈ-M (/fapi) and spot (/api, /sapi) REST API over the simulator."""
    from perphedge.exchange.auth import ApiKeys
    from perphedge.exchange.core import ExchangeConfig
    from perphedge.exchange.market import (
        ReplayClock,
        ReplayMarket,
        bundled_delivery_paths,
        bundled_path,
    )
    from perphedge.exchange.server import start_server
    from perphedge.exchange.state import open_exchange

    check_host(host, allow_remote)
    if data not in _DATA:
        raise InputError("--data", f"one of {', '.join(_DATA)}", data)
    paths = {p.symbol: p for p in (bundled_path(a, _DATA[data]) for a in ("BTC", "ETH"))}
    end_ms = min(int(p.close_time_ms[-1]) for p in paths.values())
    start_ms = _start_ms(start, end_ms - 30 * 86_400_000)
    # The bundled quarterlies (2025-09 .. 2026-04) are listed when the replay overlaps them.
    for quarterly in bundled_delivery_paths(paths["BTCUSDT"], start_ms):
        paths[quarterly.symbol] = quarterly
    clock = ReplayClock(start_ms, speed)
    config = ExchangeConfig(ApiKeys({api_key: api_secret}), weight_limit, state)
    exchange = open_exchange(ReplayMarket(paths, clock), config,
                             parse_deposits(deposit or ["USDT=100000"]), start_ms)
    server = start_server(exchange, host, port)
    replay = datetime.fromtimestamp(clock.now_ms() / 1000, tz=UTC).isoformat()
    sys.stdout.write(f"local exchange on {server.url} (replay at {replay}, speed {speed})\n")
    sys.stdout.flush()
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
