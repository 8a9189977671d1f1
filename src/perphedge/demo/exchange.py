"""The demo's exchange: the local Binance-compatible exchange, started in this process.

It replays the bundled real BTC and ETH history on a **frozen** replay clock that the demo's
engine clock moves (:mod:`perphedge.demo.clock`), so a run is the same every time whatever the
machine's speed. It listens on a free loopback port with a key pair made for this session.

Spot events reach it the way they would reach Binance: a deposit is written into the
exchange's account state (Binance has no API that deposits; coins simply arrive), and a sale
goes through the spot API (``POST /api/v3/order``) with a real ccxt client.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import cast

from pydantic import SecretStr

from perphedge.config.loader import Credentials
from perphedge.demo.scenario import Scenario, SpotEvent
from perphedge.domain.money import ZERO
from perphedge.exchange.auth import ApiKeys
from perphedge.exchange.core import ExchangeConfig, LocalExchange
from perphedge.exchange.market import ReplayClock, ReplayMarket, bundled_path
from perphedge.exchange.server import LocalExchangeServer, start_server
from perphedge.exchange.state import open_exchange
from perphedge.sim.account import LiquidationRecord

__all__ = ["DemoExchange", "EventOutcome", "ExchangeView", "start_demo_exchange"]

USDT = "USDT"


@dataclass(frozen=True, slots=True)
class ExchangeView:
    """The account as the exchange holds it at one replay time (the demo's bank statement)."""

    ts_ms: int
    price_usdt: Decimal
    spot_qty: Decimal
    spot_usdt: Decimal
    futures_wallet_usdt: Decimal  # cross wallet, without isolated margin
    isolated_margin_usdt: Decimal
    position_qty: Decimal  # signed, < 0 short
    unrealized_pnl_usdt: Decimal
    liquidation_price_usdt: Decimal | None
    funding_usdt: Decimal  # received since the start (negative: paid)
    fees_usdt: Decimal  # spot and futures fees paid since the start

    @property
    def equity_usdt(self) -> Decimal:
        """Everything the account is worth at ``price_usdt``: both wallets, margin and PnL."""
        return (self.spot_qty * self.price_usdt + self.spot_usdt + self.futures_wallet_usdt
                + self.isolated_margin_usdt + self.unrealized_pnl_usdt)

    @property
    def margin_balance_usdt(self) -> Decimal:
        return self.isolated_margin_usdt + self.unrealized_pnl_usdt


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What a spot event did: ``qty_base`` and ``usdt`` are the spot wallet's changes."""

    event: SpotEvent
    ts_ms: int
    price_usdt: Decimal
    qty_base: Decimal
    usdt: Decimal
    fee_usdt: Decimal
    line: str


@dataclass
class DemoExchange:
    """A running local exchange with its replay clock and this session's keys."""

    exchange: LocalExchange
    server: LocalExchangeServer
    clock: ReplayClock
    credentials: Credentials
    symbol: str
    asset: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def liquidations(self) -> list[LiquidationRecord]:
        return list(self.exchange.liquidations)

    def view(self) -> ExchangeView:
        """Read the account after applying the replay up to now (under the exchange's lock)."""
        ex = self.exchange
        with ex.lock:
            now = ex.sync()
            account = ex.account
            price = ex.market.price(self.symbol, now)
            pos = account.position(self.symbol)
            return ExchangeView(
                ts_ms=now, price_usdt=price, spot_qty=account.spot.get(self.asset, Decimal(0)),
                spot_usdt=account.spot.get(USDT, Decimal(0)),
                futures_wallet_usdt=account.futures_wallet_usdt,
                isolated_margin_usdt=pos.isolated_margin_usdt, position_qty=pos.qty_base,
                unrealized_pnl_usdt=account.unrealized_pnl(self.symbol, price),
                liquidation_price_usdt=account.liquidation_price(self.symbol),
                funding_usdt=account.funding_received_usdt, fees_usdt=account.fees_paid_usdt,
            )

    def apply(self, event: SpotEvent) -> EventOutcome:
        """Make ``event`` happen on the exchange, and say what it changed."""
        if event.kind == "deposit":
            with self.exchange.lock:
                now = self.exchange.sync()
                self.exchange.account.deposit(self.asset, event.qty_base, now)
                price = self.exchange.market.price(self.symbol, now)
            return EventOutcome(event, now, price, event.qty_base, ZERO, ZERO,
                                f"+{event.qty_base} {self.asset} deposited on spot: {event.why}")
        return self._sell(event)

    def _sell(self, event: SpotEvent) -> EventOutcome:
        """Sell through ``POST /api/v3/order`` with a real (sync) ccxt client, as a user would."""
        from perphedge.adapters.exchanges.ccxt_client import build_client  # ccxt only when selling

        client = build_client("binance", self.url, self.credentials)
        reply = client.privatePostOrder({
            "symbol": self.symbol, "side": "SELL", "type": "MARKET",
            "quantity": format(event.qty_base, "f"), "newOrderRespType": "FULL",
            "newClientOrderId": f"holder-sale-{event.ts_ms}",
        })
        gross = Decimal(str(reply["cummulativeQuoteQty"]))
        fee = sum((Decimal(str(f["commission"])) for f in reply.get("fills") or []), ZERO)
        ts = int(reply["transactTime"])
        return EventOutcome(event, ts, gross / event.qty_base, -event.qty_base, gross - fee, fee,
                            f"-{event.qty_base} {self.asset} sold on spot for {gross:.2f} USDT "
                            f"through the spot API: {event.why}")

    def close(self) -> None:
        self.server.close()


def without_nagle(server: LocalExchangeServer) -> None:
    """Answer on sockets with ``TCP_NODELAY``, for connections accepted from now on.

    The handler writes the headers and the body of a reply in two sends; with Nagle's
    algorithm the body then waits for the client's delayed ACK, about 40 ms on Linux, and
    every request of a cycle pays it (44 ms measured, 1-2 ms without). Requested upstream as
    ``disable_nagle_algorithm = True`` on the server's handler; until then it is set here, on
    this server only (the handler class is looked up per connection).
    """
    base = cast("type[BaseHTTPRequestHandler]", server.RequestHandlerClass)
    server.RequestHandlerClass = type("NoDelayHandler", (base,),
                                      {"disable_nagle_algorithm": True})


def start_demo_exchange(scenario: Scenario) -> DemoExchange:
    """Start the exchange on 127.0.0.1 (a free port), replay frozen at the scenario's start."""
    key, secret = f"demo-{secrets.token_hex(8)}", secrets.token_hex(32)
    clock = ReplayClock(scenario.start_ms, speed=0)
    paths = {p.symbol: p for p in (bundled_path(a, "1h") for a in ("BTC", "ETH"))}
    config = ExchangeConfig(ApiKeys({key: secret}), weight_per_minute=0, state_path=None)
    deposits = {scenario.asset: scenario.spot_qty, USDT: scenario.spot_usdt}
    exchange = open_exchange(ReplayMarket(paths, clock), config, deposits, scenario.start_ms)
    server = start_server(exchange, "127.0.0.1", 0)
    without_nagle(server)
    return DemoExchange(exchange, server, clock, Credentials(SecretStr(key), SecretStr(secret)),
                        f"{scenario.asset}USDT", scenario.asset)
