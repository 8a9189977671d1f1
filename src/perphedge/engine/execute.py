"""Steps → venue calls: a live executor or a dry-run one.

The steps come from :func:`perphedge.planning.translate.translate`, the one translation the
backtest shares (lot rounding, reduce-only, minimums, clipping, settings, slicing, rolls and the
margin-short rule are decided there). This module only performs them. A roll is performed as
its closing leg, the new contract's settings, then its opening leg, all in the same cycle; if
the opening leg fails the cycle ends in error and the next one finds the hedge flat and
reopens it (the policy sees the gap). Both legs' order rows carry the roll in their note.

:class:`LiveExecutor` records every order with its client id (``pending_submit``) **before**
sending it, and never resends: an ambiguous send is marked ``unknown`` and resolved by
``fetch_order(client_id)``. It stops at the first failure, but a failed money move still
lets the plan's reduce-only futures orders go (they need no margin; after a rebalance's spot
sale they keep the hedge at the smaller holding); and a plan whose money move would be held
back by an earlier one in doubt waits before its first step (:class:`MoneyInDoubt`).
:class:`DryRunExecutor` prints the same calls and sends nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
from decimal import Decimal
from typing import Protocol

from perphedge.config.models import ExecutionConfig, parse_interval_ms
from perphedge.domain.money import ZERO, plain
from perphedge.domain.types import Side
from perphedge.engine.clock import Clock, LiveClock
from perphedge.engine.ledger import MoneySend, hold_back, send_money
from perphedge.engine.reconcile import (
    cancel_resting,
    client_order_id,
    next_order_number,
    record_venue_order,
    resolve_order,
)
from perphedge.engine.store_port import HedgeRepository, NewOrder
from perphedge.engine.venue import Market, OrderRequest, OrderState, Venue, VenueOrder
from perphedge.errors import DataError, ExchangeError, HedgeStopped, TerminalExchangeError
from perphedge.planning.execution import (
    ExecutionStyle,
    LimitChild,
    MarketChild,
    next_child,
    slice_wait_ms,
)
from perphedge.planning.translate import (
    Call,
    MoneyCall,
    Note,
    OrderCall,
    RollCall,
    SettingsCall,
    Step,
    Target,
    allowance_after,
    amount_8,
    margin_needed,
    shrink_for_margin,
    slices,
    translate,
)

__all__ = [
    "Call", "DryRunExecutor", "Executor", "LiveExecutor", "MoneyCall", "OrderCall", "RollCall",
    "SettingsCall", "Step", "Target", "describe", "execution_style", "slices", "translate",
]


def execution_style(config: ExecutionConfig) -> ExecutionStyle:
    """The planning core's view of the hedge's ``execution`` section (intervals in ms)."""
    return ExecutionStyle(config.style, config.chase_reprices,
                          parse_interval_ms(config.chase_wait),
                          parse_interval_ms(config.slice_interval))


def describe(call: Step, client_order_id: str | None = None) -> str:
    """One line a person reads: what would be (or was) sent."""
    if isinstance(call, OrderCall):
        verb = "BUY" if call.side is Side.LONG else "SELL"
        extra = " reduce-only" if call.reduce_only else ""
        cid = f" (client id {client_order_id})" if client_order_id else ""
        return f"{call.market.value} market {verb} {plain(call.qty_base)} {call.symbol}{extra}{cid}"
    if isinstance(call, SettingsCall):
        return f"set {call.symbol} margin mode {call.margin_mode.value}, leverage {call.leverage}x"
    if isinstance(call, RollCall):
        return (f"roll {plain(call.qty_base)} from {call.from_symbol} to {call.to_symbol} "
                "(close reduce-only, then open, in this cycle)")
    if isinstance(call, Note):
        return f"note {call.code}: {call.message}"
    source = " from the reserve" if call.from_reserve else ""
    return f"{call.kind.replace('_', ' ')} {plain(call.amount_usdt)} USDT{source}"


def roll_note(call: RollCall, leg: int) -> str:
    """The order note that ties a roll's legs together in the store."""
    return f"roll {call.from_symbol} -> {call.to_symbol} leg {leg}/2"


def _is_margin_short(err: ExchangeError) -> bool:
    text = str(err)
    return "-2019" in text or "Margin is insufficient" in text


class Executor(Protocol):
    """Carries out translated steps; ``sends`` is False for a dry run."""

    sends: bool

    async def execute(self, calls: list[Step], hedge_id: str, ts_ms: int, *,
                      stop_states: tuple[str, ...] = ()) -> list[str]:
        """Do ``calls`` in order; the lines say what was done. Raises ExchangeError on failure,
        and :class:`HedgeStopped` before a step when the hedge's state is in ``stop_states``
        (the kill switch)."""
        ...


class DryRunExecutor:
    """Says exactly what would be sent, with the client ids it would use; sends nothing."""

    sends = False

    def __init__(self, store: HedgeRepository) -> None:
        self._store = store

    async def execute(self, calls: list[Step], hedge_id: str, ts_ms: int, *,
                      stop_states: tuple[str, ...] = ()) -> list[str]:
        number = next_order_number(self._store, hedge_id)
        lines = []
        for call in calls:
            if isinstance(call, Note):
                continue
            parts: list[Step] = [call]
            if isinstance(call, RollCall):
                lines.append("would " + describe(call))
                parts = [*call.close, call.settings, *call.open]
            for part in parts:
                cid = None
                if isinstance(part, OrderCall):
                    cid, number = client_order_id(hedge_id, number), number + 1
                lines.append("would " + describe(part, cid))
        return lines


class LiveExecutor:
    """Sends calls to the venue; every order is recorded before it is sent."""

    sends = True

    def __init__(self, venue: Venue, store: HedgeRepository, account: str, *,
                 style: ExecutionStyle | None = None, clock: Clock | None = None) -> None:
        self._venue = venue
        self._store = store
        self._account = account
        self._style = style or ExecutionStyle()
        # Waits (slice intervals, a chase's patience) go through the injected clock.
        self._clock: Clock = clock or LiveClock()
        self._last_piece: tuple[str, Side] | None = None
        self._next_number: dict[str, int] = {}  # hedge id → the client id number to use next
        self._stop_states: tuple[str, ...] = ()  # the kill switch of the running execute()

    async def execute(self, calls: list[Step], hedge_id: str, ts_ms: int, *,
                      stop_states: tuple[str, ...] = ()) -> list[str]:
        """Perform ``calls``; the kill switch is read before every step (for an order, in the
        transaction that records its intent), so a pause stops what is left of the plan —
        the next slice, a roll's second leg — and never an order already sent."""
        lines: list[str] = []
        self._last_piece = None
        self._stop_states = stop_states
        # A plan whose money move would be held back (an earlier one in doubt) waits whole:
        # started, it could sell spot and then stop at the transfer carrying the proceeds.
        for call in calls:
            if isinstance(call, MoneyCall):
                await hold_back(self._venue, self._store.ledger(), self._send_of(
                    call, hedge_id, call.amount_usdt), ts_ms)
        for index, call in enumerate(calls):
            # Stop at the first failure: later calls were planned on this one's result.
            if isinstance(call, OrderCall):
                lines.append(await self._work(call, hedge_id, ts_ms))
                continue
            self._last_piece = None
            if isinstance(call, SettingsCall):
                lines.append(await self._settings(call, hedge_id))
            elif isinstance(call, RollCall):
                lines += await self._roll(call, hedge_id, ts_ms)
            elif isinstance(call, MoneyCall):
                try:
                    lines.append(await self._money(call, hedge_id, ts_ms))
                except ExchangeError:
                    # Except the plan's reduce-only orders: they need no margin, and they
                    # are the other leg of a spot sale already made (a rebalance sells spot,
                    # moves the proceeds, cuts the hedge): skipped, the hedge would stay
                    # above the smaller holding.
                    await self._reductions(calls[index + 1:], hedge_id, ts_ms, lines)
                    raise
        return lines

    async def _reductions(self, rest: list[Step], hedge_id: str, ts_ms: int,
                          lines: list[str]) -> None:
        """Send the futures reduce-only orders among ``rest`` (after a money move failed)."""
        for call in rest:
            if isinstance(call, OrderCall) and call.reduce_only and (
                    call.market is Market.FUTURES):
                lines.append(await self._work(call, hedge_id, ts_ms))

    def _send_of(self, call: MoneyCall, hedge_id: str, amount: Decimal) -> MoneySend:
        return MoneySend(hedge_id, self._account, call.kind, call.symbol, amount,
                         call.from_reserve)

    def _guard(self, hedge_id: str) -> None:
        """The kill switch before a step that is not an order (orders check it in their
        intent's transaction)."""
        if self._stop_states:
            state = self._store.hedge_state(hedge_id)
            if state in self._stop_states:
                raise HedgeStopped(hedge_id, str(state))

    async def _settings(self, call: SettingsCall, hedge_id: str) -> str:
        self._guard(hedge_id)
        await self._venue.set_margin_mode(call.symbol, call.margin_mode)
        await self._venue.set_leverage(call.symbol, call.leverage)
        return describe(call)

    async def _roll(self, call: RollCall, hedge_id: str, ts_ms: int) -> list[str]:
        lines = [describe(call)]
        for order in call.close:
            lines.append(await self._work(order, hedge_id, ts_ms, roll_note(call, 1)))
        lines.append(await self._settings(call.settings, hedge_id))
        lines += await self._fund_roll(call, hedge_id, ts_ms)
        for order in call.open:
            # A failure here leaves the hedge flat: the error ends the cycle and the next one
            # sees no hedge and reopens it in the new contract.
            lines.append(await self._work(order, hedge_id, ts_ms, roll_note(call, 2)))
        return lines

    async def _fund_roll(self, call: RollCall, hedge_id: str, ts_ms: int) -> list[str]:
        """Bring spot USDT for what the new leg's margin needs beyond the free futures margin.

        The new contract may trade dearer than the old (a quarterly's premium), so the margin
        the closing leg released can fall short; a small buffer covers the move to the fill.
        """
        price = (await self._venue.mark_and_funding(call.to_symbol)).mark_price_usdt
        need = sum((margin_needed(o, price) for o in call.open), ZERO)
        balances = await self._venue.balances()
        short = need - balances.futures_available_usdt
        amount = amount_8(min(short, balances.spot.get("USDT", ZERO)))
        if amount <= 0:
            return []
        return [await self._money(MoneyCall("transfer_futures", call.to_symbol, amount),
                                  hedge_id, ts_ms)]

    async def _work(self, call: OrderCall, hedge_id: str, ts_ms: int, note: str = "") -> str:
        """One order piece in the configured style (see :mod:`perphedge.planning.execution`)."""
        piece = (call.symbol, call.side)
        wait_ms = slice_wait_ms(self._style, self._last_piece, piece)
        self._last_piece = piece
        if wait_ms:
            await self._clock.sleep(wait_ms / 1000)
        if self._style.style == "limit_chase" and call.market is Market.FUTURES:
            return await self._chase(call, hedge_id, ts_ms, note)
        return await self._order(call, hedge_id, ts_ms, note)

    async def _chase(self, call: OrderCall, hedge_id: str, ts_ms: int, note: str) -> str:
        """Limits at the touch, re-priced up to ``reprices`` times, then market for the rest.

        Each child is sized from what the earlier ones filled once they are final (filled or
        cancelled), so the children never add up to more than ``call.qty_base``.
        """
        instrument = await self._venue.instrument(call.symbol)
        filled, attempt, parts = ZERO, 0, []
        while True:
            mark = (await self._venue.mark_and_funding(call.symbol)).mark_price_usdt
            child = next_child(self._style, attempt, call.qty_base, filled, call.side, mark,
                               instrument)
            if child is None:
                break
            if isinstance(child, MarketChild):
                rest = dataclasses.replace(call, qty_base=child.qty_base)
                parts.append("market fallback: " + await self._order(rest, hedge_id, ts_ms, note))
                break
            got = await self._limit(call, child, hedge_id, ts_ms, note)
            filled += got.filled_qty_base
            parts.append(f"limit {plain(child.qty_base)} @ {plain(child.price_usdt)} "
                         f"({got.client_order_id}) → {got.state.value} "
                         f"{plain(got.filled_qty_base)}")
            attempt += 1
        return f"{describe(call)} as limit_chase: " + "; ".join(parts)

    async def _limit(self, call: OrderCall, child: LimitChild, hedge_id: str, ts_ms: int,
                     note: str) -> VenueOrder:
        """Send one chase child, wait, then cancel what did not fill; returns it final."""
        cid = self._intent(call, child.qty_base, hedge_id, ts_ms, note, child.price_usdt)
        request = OrderRequest(cid, call.market, call.symbol, call.side, child.qty_base,
                               order_type="limit", price_usdt=child.price_usdt,
                               reduce_only=call.reduce_only)
        try:
            got = await self._venue.place_order(request)
        except TerminalExchangeError as err:
            self._store.update_order(cid, self._account, state=OrderState.REJECTED.value,
                                     note=str(err)[:500], updated_ms=ts_ms)
            raise
        except ExchangeError as err:
            # Ambiguous: asked for by client id now, else the next cycle finds it (and
            # cancels it if it rests).
            self._store.update_order(cid, self._account, state=OrderState.UNKNOWN.value,
                                     note=str(err)[:500], updated_ms=ts_ms)
            found = await self._resolve_now(cid, ts_ms)
            if found is None:
                raise
            got = found
        record_venue_order(self._store, self._account, got, ts_ms)
        if got.state.is_final:
            return got
        await self._clock.sleep(self._style.chase_wait_ms / 1000)
        row = self._store.order(cid, self._account)
        if row is None:  # pragma: no cover - recorded above
            raise TerminalExchangeError(f"order {cid} vanished from the store")
        got = await cancel_resting(self._venue, self._store, row, ts_ms)
        if not got.state.is_final:
            # Neither filled nor cancelled: sending more could overshoot, so stop here.
            raise TerminalExchangeError(f"limit order {cid} is still {got.state.value} after "
                                        "its cancel; the next cycle resolves it")
        return got

    def _intent(self, call: OrderCall, qty: Decimal, hedge_id: str, ts_ms: int, note: str,
                price: Decimal | None = None) -> str:
        """Record the order (``pending_submit``) under a new client id before it is sent.

        The next number is remembered from the last intent rather than read again; the store
        refuses a client id twice, so when another writer took the number (an adoption, a
        second process) the refusal makes it read the store and take the next free one.
        """
        def intent(number: int) -> str:
            cid = client_order_id(hedge_id, number)
            self._store.record_order_intent(NewOrder(
                hedge_id=hedge_id, account=self._account, client_order_id=cid,
                market=call.market.value, symbol=call.symbol, side=call.side.order_side,
                order_type="market" if price is None else "limit",
                qty_base=qty, price_usdt=price, reduce_only=call.reduce_only,
                state=OrderState.PENDING_SUBMIT.value, filled_qty_base=ZERO,
                avg_price_usdt=None, created_ms=ts_ms, updated_ms=ts_ms, note=note,
            ), stop_states=self._stop_states)
            self._next_number[hedge_id] = number + 1
            return cid

        number = self._next_number.get(hedge_id)
        if number is not None:
            with contextlib.suppress(DataError):
                return intent(number)
        return intent(next_order_number(self._store, hedge_id))

    async def _order(self, call: OrderCall, hedge_id: str, ts_ms: int, note: str = "",
                     *, cut: bool = False) -> str:
        cid = self._intent(call, call.qty_base, hedge_id, ts_ms, note)
        request = OrderRequest(cid, call.market, call.symbol, call.side, call.qty_base,
                               reduce_only=call.reduce_only)
        try:
            got = await self._venue.place_order(request)
        except TerminalExchangeError as err:
            # Terminal only for a reply the exchange documents as a refusal (the venues'
            # tables) or a request refused before it was sent: the order does not exist.
            self._store.update_order(cid, self._account, state=OrderState.REJECTED.value,
                                     note=(f"{note}: " if note else "") + str(err)[:400],
                                     updated_ms=ts_ms)
            smaller = None if cut or not _is_margin_short(err) else await self._cut(call)
            if smaller is None:
                raise
            line = await self._order(smaller, hedge_id, ts_ms, note, cut=True)
            return f"{describe(call, cid)} refused for margin; cut to what is free: {line}"
        except ExchangeError as err:
            # Not a documented refusal, so it may have arrived: never resend; ask for it by
            # client id now, else the next cycle does (the order stays ``unknown``).
            self._store.update_order(cid, self._account, state=OrderState.UNKNOWN.value,
                                     note=str(err)[:500], updated_ms=ts_ms)
            found = await self._resolve_now(cid, ts_ms)
            if found is None:
                raise
            return (describe(call, cid) + f" → {found.state.value} "
                    f"{plain(found.filled_qty_base)} (resolved by client id: the reply was lost)")
        if got.state is OrderState.FILLED and got.fee_usdt == 0 and call.market is Market.FUTURES:
            # Futures replies carry no commission; the order read by id has it.
            # On failure the fill still counts; only its fee is missing from the totals.
            with contextlib.suppress(ExchangeError):
                got = await self._venue.fetch_order(call.symbol, cid) or got
        record_venue_order(self._store, self._account, got, ts_ms)
        return describe(call, cid) + f" → {got.state.value} {plain(got.filled_qty_base)}"

    async def _resolve_now(self, cid: str, ts_ms: int) -> VenueOrder | None:
        """The order read back by client id after an uncertain send, or None when the
        exchange does not show it yet or cannot be asked (the next cycle asks again)."""
        row = self._store.order(cid, self._account)
        if row is None:  # pragma: no cover - recorded as the intent
            return None
        try:
            return await resolve_order(self._venue, self._store, row, ts_ms)
        except ExchangeError:
            return None

    async def _cut(self, call: OrderCall) -> OrderCall | None:
        """The margin-short rule (planning.translate): the order cut to the free margin now."""
        if call.margin is None:
            return None
        free = (await self._venue.balances()).futures_available_usdt
        price = (await self._venue.mark_and_funding(call.symbol)).mark_price_usdt
        # Sized with twice the usual headroom: the refused order is never sent again as it was.
        return shrink_for_margin(call, free, price, await self._venue.instrument(call.symbol),
                                 allowance_after(1))

    async def _money(self, call: MoneyCall, hedge_id: str, ts_ms: int) -> str:
        self._guard(hedge_id)
        venue = self._venue
        amount = call.amount_usdt
        if call.kind in ("transfer_futures", "margin_add"):
            # Clip again to what is free now: a spot sale may have fetched a little less.
            balances = await venue.balances()
            free = (balances.spot.get("USDT", ZERO) if call.kind == "transfer_futures"
                    else balances.futures_available_usdt)
            amount = amount_8(min(amount, free))
        if amount <= 0:
            return describe(call) + " skipped: nothing free"
        # Sent once; an unclear outcome is settled by the exchange's history (engine.ledger).
        resolved = await send_money(venue, self._store.ledger(),
                                    self._send_of(call, hedge_id, amount), ts_ms)
        return describe(MoneyCall(call.kind, call.symbol, amount, call.from_reserve)) + resolved
