"""The fault proxy itself: each kind reaches the real ccxt client as that fault, the forwarded
ones after the exchange acted, and the same seed always gives the same faults."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import ccxt
import pytest

from tests.fault.proxy import FAULT_KINDS, NOT_FORWARDED, FaultPlan, FaultProxy, fault_proxy
from tests.integration.local_exchange_fixture import (
    LocalVenue,
    local_exchange,
    point_ccxt_at,
)

ORDER = ("POST", "/fapi/v1/order")


@pytest.fixture
def venue() -> Iterator[LocalVenue]:
    with local_exchange() as v:
        yield v


def only(kind: str, endpoint: tuple[str, str] = ORDER) -> FaultPlan:
    """Every request to ``endpoint`` gets ``kind``; nothing else is touched."""
    return FaultPlan(seed=1, rate=0.0, per_endpoint={endpoint: 1.0}, weights={kind: 1.0},
                     delay_s=1.5)


def client_through(venue: LocalVenue, proxy: FaultProxy) -> ccxt.binanceusdm:
    client = venue.client("binanceusdm", timeout=1_000)
    client.load_markets()  # straight from the exchange; then every call goes via the proxy
    return point_ccxt_at(client, proxy.url)


def send_order(client: ccxt.binanceusdm, cid: str) -> object:
    return client.fapiPrivatePostOrder({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET",
                                 "quantity": "0.010", "newClientOrderId": cid})


def exchange_has(venue: LocalVenue, cid: str) -> bool:
    with venue.exchange.lock:
        return any(o.client_order_id == cid for o in venue.exchange.book.orders.values())


def fund(venue: LocalVenue) -> None:
    ex = venue.exchange
    with ex.lock:
        ex.account.deposit("USDT", Decimal(10_000), ex.now_ms(), to="futures")


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_reaches_the_client_and_the_exchange_acts_only_when_forwarded(
    venue: LocalVenue, kind: str,
) -> None:
    fund(venue)
    with fault_proxy(venue.url, only(kind)) as proxy:
        client = client_through(venue, proxy)
        seen: list[str | None] = []
        proxy.on_forwarded.append(lambda f: seen.append(f.fault))
        got: object = None
        try:
            got = send_order(client, f"cid-{kind}")
        except Exception as err:  # which class ccxt raises (if any) is what is tested
            got = err
        # An error, or (a garbled 200: ccxt's raw call hands the body on) no order in the reply.
        assert isinstance(got, Exception) or not (isinstance(got, dict) and "orderId" in got), (
            kind, got)
        assert proxy.counts == {kind: 1}
        assert exchange_has(venue, f"cid-{kind}") == (kind not in NOT_FORWARDED)
        assert seen == ([] if kind in NOT_FORWARDED else [kind])


def test_rate_limit_replies_carry_retry_after_and_ccxt_calls_them_ddos_protection(
    venue: LocalVenue,
) -> None:
    for kind in ("rate_limit_429", "ban_418"):
        with fault_proxy(venue.url, only(kind, ("GET", "/fapi/v1/premiumIndex"))) as proxy:
            client = client_through(venue, proxy)
            with pytest.raises(ccxt.DDoSProtection):
                client.fetch_funding_rate("BTC/USDT:USDT")
            assert client.last_response_headers["Retry-After"] == "1"


def test_faults_switched_off_pass_every_request_and_still_count_them(venue: LocalVenue) -> None:
    with fault_proxy(venue.url, only("drop_after", ("GET", "/fapi/v1/premiumIndex"))) as proxy:
        proxy.enabled = False
        client = client_through(venue, proxy)
        rate = client.fetch_funding_rate("BTC/USDT:USDT")
        assert rate["markPrice"] == 40_000
        assert proxy.injected == 0
        assert proxy.requests[("GET", "/fapi/v1/premiumIndex")] == 1


def test_the_same_seed_gives_the_same_faults_per_endpoint() -> None:
    plan = FaultPlan(seed=7, rate=0.3, per_method={"POST": 0.6})
    again = FaultPlan(seed=7, rate=0.3, per_method={"POST": 0.6})
    other = FaultPlan(seed=8, rate=0.3, per_method={"POST": 0.6})

    def draws(p: FaultPlan, method: str) -> list[str | None]:
        return [p.decide(method, "/fapi/v1/order", n) for n in range(400)]

    assert draws(plan, "GET") == draws(again, "GET")
    assert draws(plan, "GET") != draws(other, "GET")
    gets = sum(d is not None for d in draws(plan, "GET")) / 400
    posts = sum(d is not None for d in draws(plan, "POST")) / 400
    assert 0.2 < gets < 0.4
    assert 0.5 < posts < 0.7
    assert set(draws(plan, "POST")) - {None} == set(FAULT_KINDS)


def test_a_plan_with_an_unknown_kind_or_probability_is_refused() -> None:
    with pytest.raises(ValueError, match="weights"):
        FaultPlan(seed=1, weights={"meteor": 1.0})
    with pytest.raises(ValueError, match="probabilities"):
        FaultPlan(seed=1, rate=1.5)
