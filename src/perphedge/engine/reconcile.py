"""Make the store and the venue agree before acting, or refuse and say why.

At start and every cycle, per hedge:

* orders the store still holds as open (``pending_submit``, ``submitted``, ``unknown`` …) are
  asked for by client id and recorded — this is what makes a crash after sending safe: the
  order is found and recorded, never sent again;
* Binance hedge mode (dual-side positions) is refused: the planner speaks one-way positions;
* the venue's position is compared with the signed sum of the hedge's recorded fills. On first
  sight of a hedge an existing position is *adopted* (recorded as an adoption). Later, a
  position that went flat with the mark past the last recorded liquidation price is a
  liquidation (adopted, with an alert). Any other difference is unexplained: the engine refuses
  to act, halts the hedge and says so; ``perphedge resume`` adopts what the exchange shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from perphedge.domain.money import ZERO, plain
from perphedge.domain.types import Side
from perphedge.engine.observe import Observation
from perphedge.engine.store_port import (
    NEVER_ARRIVED,
    OPEN_ORDER_STATES,
    HedgeRepository,
    NewFill,
    NewOrder,
    StoredOrder,
)
from perphedge.engine.venue import OrderState, Venue, VenueOrder
from perphedge.errors import TerminalExchangeError

#: Hedge states the loop acts in; ``adopting`` adopts the venue's position once, then runs.
ACTIVE, PAUSED, HALTED, ADOPTING, CLOSED = "active", "paused", "halted", "adopting", "closed"
#: How long an order the exchange does not know yet is waited for before it counts as lost.
UNKNOWN_GRACE_MS = 60_000


def client_order_id(hedge_id: str, number: int) -> str:
    """``ph-<hedge>-<n>``, the hedge name shortened so the id stays within Binance's 36.

    >>> client_order_id("btc-holding", 7)
    'ph-btc-holding-7'
    """
    suffix = f"-{number}"
    return f"ph-{hedge_id[: 36 - 3 - len(suffix)]}{suffix}"


def next_order_number(store: HedgeRepository, hedge_id: str) -> int:
    """One more than the highest ``n`` recorded for the hedge (ids are never reused).

    Numbers only grow, so the highest is the one recorded last: one indexed row, not a scan.
    """
    last = store.last_client_order_id(hedge_id)
    tail = last.rsplit("-", 1)[-1] if last else ""
    return (int(tail) if tail.isdigit() else 0) + 1


def record_venue_order(store: HedgeRepository, account: str, order: VenueOrder, ts_ms: int) -> None:
    """Write what the venue says about an order; its fill is recorded once, when final."""
    row = store.update_order(
        order.client_order_id, account, state=order.state.value,
        exchange_order_id=order.exchange_order_id or None,
        filled_qty_base=order.filled_qty_base, avg_price_usdt=order.avg_price_usdt,
        updated_ms=ts_ms,
    )
    if order.state.is_final and order.filled_qty_base > 0:
        store.record_fill(NewFill(
            order_id=row.id, trade_id=order.exchange_order_id or order.client_order_id,
            ts_ms=order.ts_ms or ts_ms, qty_base=order.filled_qty_base,
            price_usdt=order.avg_price_usdt or ZERO, fee_usdt=order.fee_usdt,
        ))


async def resolve_order(venue: Venue, store: HedgeRepository, row: StoredOrder, ts_ms: int, *,
                        missing_is_final: bool = False) -> VenueOrder | None:
    """Ask the venue for ``row`` by client id and record the answer.

    Not found: with ``missing_is_final`` the order never arrived and is marked rejected;
    otherwise it stays as it is (an answer may lag just after an ambiguous send).
    """
    got = await venue.fetch_order(row.symbol, row.client_order_id)
    if got is None:
        if missing_is_final:
            store.update_order(row.client_order_id, row.account,
                               state=OrderState.REJECTED.value, updated_ms=ts_ms,
                               note=(row.note + "; " if row.note else "")
                               + f"not found on the exchange by client id: {NEVER_ARRIVED}")
        return None
    record_venue_order(store, row.account, got, ts_ms)
    return got


async def resolve_open_orders(venue: Venue, store: HedgeRepository, hedge_id: str,
                              ts_ms: int) -> tuple[list[str], list[str]]:
    """Resolve every open order of the hedge; returns (lines, client ids still open)."""
    lines, still_open = [], []
    for row in store.orders(hedge_id, OPEN_ORDER_STATES):
        young = ts_ms - row.updated_ms < UNKNOWN_GRACE_MS
        got = await resolve_order(venue, store, row, ts_ms, missing_is_final=not young)
        if got is None and young:
            # An exchange that timed out may still be processing it: wait before calling it lost.
            lines.append(f"order {row.client_order_id} ({row.state}) not found yet; waiting "
                         f"{UNKNOWN_GRACE_MS // 1000} s before taking it as never sent")
            still_open.append(row.client_order_id)
            continue
        if got is None:
            lines.append(f"order {row.client_order_id} ({row.state}) never reached the "
                         "exchange: marked rejected, not resent")
            continue
        lines.append(f"order {row.client_order_id} ({row.state}) found on the exchange: "
                     f"{got.state.value}, filled {plain(got.filled_qty_base)}")
        if not got.state.is_final and row.order_type == "limit":
            # A limit_chase child left resting by a crash mid-chase: cancel it, count its fill;
            # the planner then sees the position as it is and sizes the rest.
            got = await cancel_resting(venue, store, row, ts_ms)
            lines.append(f"order {row.client_order_id} was a resting limit from an interrupted "
                         f"chase: {got.state.value}, filled {plain(got.filled_qty_base)}")
        if not got.state.is_final:
            still_open.append(row.client_order_id)
    return lines, still_open


async def cancel_resting(venue: Venue, store: HedgeRepository, row: StoredOrder,
                         ts_ms: int) -> VenueOrder:
    """Cancel a resting order and record its final state (a fill that beat the cancel too)."""
    try:
        got = await venue.cancel_order(row.symbol, row.client_order_id)
    except TerminalExchangeError:
        # Unknown order / not cancellable: it filled (or was cancelled) just before.
        found = await venue.fetch_order(row.symbol, row.client_order_id)
        if found is None:
            raise
        got = found
    record_venue_order(store, row.account, got, ts_ms)
    return got


def expected_position(store: HedgeRepository, hedge_id: str) -> Decimal:
    """The signed futures position the hedge's recorded fills add up to (> 0 long)."""
    return store.futures_position(hedge_id)


def adopt(store: HedgeRepository, hedge_id: str, account: str, symbol: str, delta: Decimal,
          ts_ms: int, why: str) -> None:
    """Record ``delta`` (signed) as a filled adoption so the records match the venue."""
    side = "buy" if delta > 0 else "sell"
    store.record_adoption(NewOrder(
        hedge_id=hedge_id, account=account,
        client_order_id=client_order_id(hedge_id, next_order_number(store, hedge_id)),
        market="futures", symbol=symbol, side=side, order_type="adopted",
        qty_base=abs(delta), price_usdt=None, reduce_only=False, state="filled",
        filled_qty_base=abs(delta), avg_price_usdt=None, created_ms=ts_ms,
        updated_ms=ts_ms, note=f"adopted, not sent: {why}",
    ))


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the engine may act this cycle; ``lines`` explain it."""

    may_act: bool
    lines: list[str] = field(default_factory=list)
    refused: bool = False


def check_delivery(store: HedgeRepository, hedge_id: str, account: str, obs: Observation,
                   expiries: Mapping[str, int]) -> Verdict | None:
    """Explain a missing position by delivery: a recorded position in a contract whose expiry
    (``expiries``: symbol → ms) has passed was closed by the exchange, not outside perphedge.

    Adopts the delivered quantities when the rest of the records then match the venue; None
    when delivery does not explain the difference.
    """
    gone: dict[str, Decimal] = {}
    for row in store.orders(hedge_id):
        expiry = expiries.get(row.symbol)
        if row.market == "futures" and row.filled_qty_base > 0 and expiry is not None and (
                expiry <= obs.ts_ms):
            signed = row.filled_qty_base if row.side == "buy" else -row.filled_qty_base
            gone[row.symbol] = gone.get(row.symbol, ZERO) + signed
    gone = {s: q for s, q in gone.items() if q != 0}
    rest = expected_position(store, hedge_id) - sum(gone.values(), ZERO)
    if not gone or abs(obs.signed_position_qty - rest) >= obs.instrument.lot_step / 2:
        return None
    for symbol, qty in gone.items():
        adopt(store, hedge_id, account, symbol, -qty, obs.ts_ms, "delivered at expiry")
    return Verdict(True, [f"ALERT delivered: the {plain(q)} position on {s} was delivered at "
                          "its expiry (the roll window had passed)" for s, q in gone.items()])


def _liquidated(store: HedgeRepository, hedge_id: str, expected: Decimal, mark: Decimal) -> bool:
    """Flat now, and the mark went past the liquidation price of the last snapshot."""
    snap = store.latest_snapshot(hedge_id)
    if snap is None or snap.liquidation_price_usdt is None:
        return False
    liq = snap.liquidation_price_usdt
    side = Side.LONG if expected > 0 else Side.SHORT
    return mark <= liq if side is Side.LONG else mark >= liq


def check_position(store: HedgeRepository, hedge_id: str, account: str, state: str,
                   obs: Observation, expected: Decimal | None = None) -> Verdict:
    """Compare the venue's position with the records; adopt what is explained.

    ``expected``: the records' position when the caller read it already (before observing).
    """
    symbol = obs.instrument.symbol
    actual = obs.signed_position_qty
    if expected is None:
        expected = expected_position(store, hedge_id)
    delta = actual - expected
    if abs(delta) < obs.instrument.lot_step / 2:
        return Verdict(True)
    ts = obs.ts_ms
    if not store.has_orders(hedge_id):
        adopt(store, hedge_id, account, symbol, delta, ts, "position found at start")
        return Verdict(True, [f"adopted the existing position of {plain(actual)} on {symbol}"])
    if state == ADOPTING:
        adopt(store, hedge_id, account, symbol, delta, ts, "adopted on resume")
        return Verdict(True, [f"adopted {plain(delta)} on {symbol} after resume"])
    if actual == 0 and _liquidated(store, hedge_id, expected, obs.mark.mark_price_usdt):
        adopt(store, hedge_id, account, symbol, delta, ts, "liquidated")
        return Verdict(True, [f"ALERT liquidated: the {plain(expected)} position on {symbol} "
                              "is gone and the mark is past its liquidation price"])
    return Verdict(False, [
        f"REFUSED: the position on {symbol} is {plain(actual)} but perphedge's records say "
        f"{plain(expected)}: it changed outside perphedge and nothing explains it. Check the "
        f"account, then `perphedge resume {hedge_id}` to adopt what the exchange shows."
    ], refused=True)


async def foreign_orders(venue: Venue, store: HedgeRepository, symbol: str,
                         account: str) -> list[str]:
    """Open orders on the hedge's symbol that perphedge did not place (flagged, not touched)."""
    lines = []
    for order in await venue.open_orders(symbol):
        if store.order(order.client_order_id, account) is None:
            lines.append(f"ALERT open order {order.client_order_id} on {symbol} was not placed "
                         "by perphedge; left alone")
    return lines
