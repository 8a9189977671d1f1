"""OKX and Bybit through the real ccxt client: garbage is a ``MalformedReplyError`` naming the
request (ccxt alone reads an HTML page as *no positions*), and an order whose answer is cut
after the exchange filled it is read back by client id and recorded filled by the engine.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from perphedge.adapters.exchanges.ccxt_venue import CcxtVenue, RetryPolicy
from perphedge.adapters.store.repository import HedgeStore
from perphedge.config.models import HedgeConfig
from perphedge.engine.clock import ManualClock
from perphedge.engine.execute import LiveExecutor
from perphedge.engine.loop import HedgeEngine
from perphedge.engine.venue import Venue
from perphedge.errors import MalformedReplyError, RetryableExchangeError
from tests.fakes.bybit_v5 import BybitV5
from tests.integration import test_ccxt_bybit as bybit_rig
from tests.integration import test_ccxt_okx as okx_rig
from tests.integration.test_ccxt_bybit import bybit  # noqa: F401 -- the fixture
from tests.loopback import CUT

HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
#: (garbage, the error, what its message says)
GARBAGE: list[tuple[bytes | str, type[Exception], str]] = [
    (HTML, MalformedReplyError, "expected JSON, got an HTML page"),
    (b'{"code":"0","data":[{"instId":"BTC-US', MalformedReplyError,
     "expected JSON, got cut or garbled JSON"),
    (b"[]", MalformedReplyError, "expected an object, got a list"),
    # The real answer cut mid-body: a transport failure (ccxt's plain ExchangeError), retryable.
    (CUT, RetryableExchangeError, "ExchangeError"),
]


def _hedge(name: str) -> HedgeConfig:
    return HedgeConfig.model_validate({
        "name": name, "account": "main", "asset": "BTC", "exposure": {"source": "balance"},
        "policy": "managed", "leverage": 2, "margin_mode": "isolated",
        "instrument": "BTC/USDT:USDT"})


async def _garbage_reads(venue: CcxtVenue, spoil: dict[str, bytes | str], path: str,
                         read: Any) -> list[str]:
    venue._retry = RetryPolicy.instant(1)  # one answer, one error: no retry hides it
    messages = []
    for body, error, problem in GARBAGE:
        spoil[path] = body
        with pytest.raises(error) as caught:
            await read(venue)
        assert problem in str(caught.value), str(caught.value)
        messages.append(str(caught.value))
    return messages


def test_okx_garbage_is_malformed_and_a_cut_order_reply_is_read_back(tmp_path: Path) -> None:
    async def main(fake: okx_rig.OkxV5Fake) -> list[str]:
        venue = okx_rig.venue_on(fake)
        store = HedgeStore(f"sqlite:///{tmp_path / 'okx.db'}")
        try:
            lines = await _cut_order_cycle(venue, store, fake.spoil_after_handling,
                                           "/api/v5/trade/batch-orders")
            assert len(fake.requests("POST", "/api/v5/trade/batch-orders")) == 1
            messages = await _garbage_reads(venue, fake.spoil_after_handling,
                                            "/api/v5/account/positions",
                                            lambda v: v.positions())
        finally:
            store.close()
            await venue.close()
        return lines + messages

    with okx_rig.okx({"USDT": "40000", "BTC": "1"}) as fake:
        out = asyncio.run(main(fake))
    assert any("GET /api/v5/account/positions" in line for line in out)


def test_bybit_garbage_is_malformed_and_a_cut_order_reply_is_read_back(
        bybit: BybitV5, tmp_path: Path) -> None:  # noqa: F811 -- the fixture
    async def main() -> list[str]:
        venue = bybit_rig.open_ccxt_venue(
            "bybit", bybit.url, bybit_rig.Credentials(
                bybit_rig.SecretStr(bybit_rig.KEY), bybit_rig.SecretStr(bybit_rig.SECRET)),
            retry=RetryPolicy.instant(), timeout_ms=3_000)
        assert isinstance(venue, CcxtVenue)
        venue._client.enableRateLimit = False
        store = HedgeStore(f"sqlite:///{tmp_path / 'bybit.db'}")
        try:
            lines = await _cut_order_cycle(venue, store, bybit.spoil_after_handling,
                                           "/v5/order/create")
            assert bybit.paths().count("POST /v5/order/create") == 1
            messages = await _garbage_reads(venue, bybit.spoil_after_handling,
                                            "/v5/position/list", lambda v: v.positions())
        finally:
            store.close()
            await venue.close()
        return lines + messages

    out = asyncio.run(main())
    assert any("GET /v5/position/list" in line for line in out)


async def _cut_order_cycle(venue: CcxtVenue, store: HedgeStore, spoil: dict[str, bytes | str],
                           order_path: str) -> list[str]:
    """One engine cycle whose opening order is filled but answered with a cut body."""
    port = cast("Venue", venue)
    engine = HedgeEngine(_hedge("btc"), port, store, LiveExecutor(port, store, "main"),
                         ManualClock(okx_rig.T0_MS + okx_rig.HOUR_MS))
    spoil[order_path] = CUT
    report = await engine.cycle()
    assert report.status == "acted", report.lines
    assert any("resolved by client id" in line for line in report.lines), report.lines
    (row,) = store.orders("btc")
    assert (row.state, row.filled_qty_base) == ("filled", Decimal("1")), row
    assert sum((p.qty_base for p in await venue.positions()), Decimal(0)) == Decimal(-1)
    again = await engine.cycle()
    assert again.status == "idle", again.lines  # the records match the exchange
    return report.lines
