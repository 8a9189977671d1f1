"""Actions → venue calls: one pure translation, then a live executor or a dry-run one.

:func:`translate` turns the planner's actions into concrete calls with the backtest's semantics
(:mod:`perphedge.backtest.replay`): hedge sizes round down to the lot step and a reduction never
exceeds what is held; orders under the minimum quantity are dropped; transfers and margin moves
are clipped to what is free; margin moves apply to an open isolated position only; spot sizes
step in 1e-8. Live orders are also sliced at ``execution.max_order_notional``.

:class:`LiveExecutor` records every order with its client id (``pending_submit``) **before**
sending it, and never resends: an ambiguous send is marked ``unknown`` and resolved by
``fetch_order(client_id)``. :class:`DryRunExecutor` prints the same calls and sends nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from perphedge.adapters.store.repository import HedgeStore
from perphedge.adapters.store.schema import MarginMoveRow, OrderRow
from perphedge.domain.instrument import Instrument
from perphedge.domain.money import ZERO, plain
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.reconcile import (
    client_order_id,
    next_order_number,
    record_venue_order,
    resolve_order,
)
from perphedge.engine.venue import Market, OrderRequest, OrderState, Venue
from perphedge.errors import ExchangeError, TerminalExchangeError
from perphedge.planning.hedge_state import (
    Action,
    AddMargin,
    AdjustHedge,
    BuySpot,
    HedgeState,
    RemoveMargin,
    SellSpot,
    Transfer,
)
from perphedge.planning.policies import PolicyParams, exchange_leverage, margin_for

#: Amounts and spot quantities are sent with at most 8 decimals (Binance's USDT precision).
STEP_8 = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class OrderCall:
    """A market order; ``side`` LONG buys."""

    market: Market
    symbol: str
    side: Side
    qty_base: Decimal
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class SettingsCall:
    """Set margin mode and leverage (idempotent) before the first order of a flat hedge."""

    symbol: str
    margin_mode: MarginMode
    leverage: int


@dataclass(frozen=True, slots=True)
class MoneyCall:
    """``kind``: margin_add | margin_remove | transfer_futures | transfer_spot."""

    kind: str
    symbol: str
    amount_usdt: Decimal


Call = OrderCall | SettingsCall | MoneyCall


@dataclass(frozen=True, slots=True)
class Target:
    """Where a hedge's calls go and the limits they obey."""

    symbol: str
    spot_symbol: str
    instrument: Instrument
    margin_mode: MarginMode
    max_order_notional_usdt: Decimal


def slices(qty: Decimal, price: Decimal, target: Target) -> list[Decimal]:
    """``qty`` cut into lot-rounded pieces of at most ``max_order_notional`` each.

    >>> from perphedge.adapters.bundled import BundledMarketData
    >>> inst = BundledMarketData().instrument("BTC")
    >>> t = Target("BTCUSDT", "BTCUSDT", inst, MarginMode.ISOLATED, Decimal(100000))
    >>> [str(q) for q in slices(Decimal("5"), Decimal(40000), t)]
    ['2.5', '2.5']
    """
    step = target.instrument.lot_step
    most = target.instrument.round_qty(target.max_order_notional_usdt / price)
    if most < step:
        most = step  # a cap below one lot cannot be met: send single lots
    out: list[Decimal] = []
    left = qty
    while left >= most:
        out.append(most)
        left -= most
    if left > 0:
        out.append(left)
    return out


@dataclass(slots=True)
class _Running:
    """What the translation assumes after each call (the backtest reads it off its account)."""

    held: Decimal
    spot_qty: Decimal
    spot_usdt: Decimal
    wallet_usdt: Decimal


def translate(actions: tuple[Action, ...], state: HedgeState, params: PolicyParams,
              target: Target) -> list[Call]:
    """The venue calls for ``actions``, in order (alerts produce none)."""
    run = _Running(state.hedge_qty, state.spot_qty, state.spot_usdt, state.futures_wallet_usdt)
    calls: list[Call] = []
    for action in actions:
        if isinstance(action, AdjustHedge):
            calls += _adjust(action, state, params, target, run, calls)
        elif isinstance(action, AddMargin | RemoveMargin):
            calls += _margin(action, target, run)
        elif isinstance(action, SellSpot | BuySpot):
            calls += _spot(action, state, target, run)
        elif isinstance(action, Transfer):
            calls += _transfer(action, run, target)
    return calls


def _adjust(action: AdjustHedge, state: HedgeState, params: PolicyParams, target: Target,
            run: _Running, sofar: list[Call]) -> list[Call]:
    inst = target.instrument
    grow = action.delta_qty > 0
    qty = inst.round_qty(abs(action.delta_qty) if grow else min(-action.delta_qty, run.held))
    if qty <= 0 or qty < inst.min_qty or (grow and qty * state.mark_price < inst.min_notional):
        return []
    out: list[Call] = []
    if grow and run.held == 0 and not any(isinstance(c, SettingsCall) for c in sofar):
        out.append(SettingsCall(target.symbol, target.margin_mode,
                                exchange_leverage(params.leverage)))
    side = state.hedge_side if grow else state.hedge_side.opposite
    for piece in slices(qty, state.mark_price, target):
        out.append(OrderCall(Market.FUTURES, target.symbol, side, piece, reduce_only=not grow))
    run.held += qty if grow else -qty
    if grow:
        run.wallet_usdt -= margin_for(qty * state.mark_price, params)
    return out


def _margin(action: AddMargin | RemoveMargin, target: Target, run: _Running) -> list[Call]:
    if target.margin_mode is not MarginMode.ISOLATED or run.held == 0:
        return []
    if isinstance(action, AddMargin):
        amount = _amount(min(action.amount, max(ZERO, run.wallet_usdt)))
        run.wallet_usdt -= amount
        kind = "margin_add"
    else:
        amount = _amount(action.amount)
        run.wallet_usdt += amount
        kind = "margin_remove"
    return [MoneyCall(kind, target.symbol, amount)] if amount > 0 else []


def _spot(action: SellSpot | BuySpot, state: HedgeState, target: Target,
          run: _Running) -> list[Call]:
    price = state.spot_price
    if isinstance(action, BuySpot):
        qty = _amount(min(action.qty, run.spot_usdt / price if price > 0 else ZERO))
        run.spot_usdt -= qty * price
        run.spot_qty += qty
        side = Side.LONG
    else:
        qty = _amount(min(action.qty, run.spot_qty))
        run.spot_usdt += qty * price
        run.spot_qty -= qty
        side = Side.SHORT
    return [OrderCall(Market.SPOT, target.spot_symbol, side, qty)] if qty > 0 else []


def _transfer(action: Transfer, run: _Running, target: Target) -> list[Call]:
    if action.to == "futures":
        amount = _amount(min(action.amount, run.spot_usdt))
        run.spot_usdt -= amount
        run.wallet_usdt += amount
    else:
        amount = _amount(min(action.amount, run.wallet_usdt))
        run.wallet_usdt -= amount
        run.spot_usdt += amount
    if amount <= 0:
        return []
    return [MoneyCall(f"transfer_{action.to}", target.symbol, amount)]


def _amount(value: Decimal) -> Decimal:
    return max(ZERO, value).quantize(STEP_8, rounding=ROUND_DOWN)


def describe(call: Call, client_order_id: str | None = None) -> str:
    """One line a person reads: what would be (or was) sent."""
    if isinstance(call, OrderCall):
        verb = "BUY" if call.side is Side.LONG else "SELL"
        extra = " reduce-only" if call.reduce_only else ""
        cid = f" (client id {client_order_id})" if client_order_id else ""
        return f"{call.market.value} market {verb} {plain(call.qty_base)} {call.symbol}{extra}{cid}"
    if isinstance(call, SettingsCall):
        return f"set {call.symbol} margin mode {call.margin_mode.value}, leverage {call.leverage}x"
    return f"{call.kind.replace('_', ' ')} {plain(call.amount_usdt)} USDT"


class Executor(Protocol):
    """Carries out translated calls; ``sends`` is False for a dry run."""

    sends: bool

    async def execute(self, calls: list[Call], hedge_id: str, ts_ms: int) -> list[str]:
        """Do ``calls`` in order; the lines say what was done. Raises ExchangeError on failure."""
        ...


class DryRunExecutor:
    """Says exactly what would be sent, with the client ids it would use; sends nothing."""

    sends = False

    def __init__(self, store: HedgeStore) -> None:
        self._store = store

    async def execute(self, calls: list[Call], hedge_id: str, ts_ms: int) -> list[str]:
        number = next_order_number(self._store, hedge_id)
        lines = []
        for call in calls:
            cid = None
            if isinstance(call, OrderCall):
                cid, number = client_order_id(hedge_id, number), number + 1
            lines.append("would " + describe(call, cid))
        return lines


class LiveExecutor:
    """Sends calls to the venue; every order is recorded before it is sent."""

    sends = True

    def __init__(self, venue: Venue, store: HedgeStore, account: str) -> None:
        self._venue = venue
        self._store = store
        self._account = account

    async def execute(self, calls: list[Call], hedge_id: str, ts_ms: int) -> list[str]:
        lines = []
        for call in calls:
            # Stop at the first failure: later calls were planned on this one's result.
            if isinstance(call, OrderCall):
                lines.append(await self._order(call, hedge_id, ts_ms))
            elif isinstance(call, SettingsCall):
                await self._venue.set_margin_mode(call.symbol, call.margin_mode)
                await self._venue.set_leverage(call.symbol, call.leverage)
                lines.append(describe(call))
            else:
                lines.append(await self._money(call, hedge_id, ts_ms))
        return lines

    async def _order(self, call: OrderCall, hedge_id: str, ts_ms: int) -> str:
        cid = client_order_id(hedge_id, next_order_number(self._store, hedge_id))
        request = OrderRequest(cid, call.market, call.symbol, call.side, call.qty_base,
                               reduce_only=call.reduce_only)
        self._store.record_order_intent(OrderRow(
            hedge_id=hedge_id, account=self._account, client_order_id=cid, market=call.market.value,
            symbol=call.symbol, side=call.side.order_side, order_type="market",
            qty_base=call.qty_base, price_usdt=None, reduce_only=call.reduce_only,
            state=OrderState.PENDING_SUBMIT.value, filled_qty_base=ZERO, avg_price_usdt=None,
            created_ms=ts_ms, updated_ms=ts_ms, note="",
        ))
        try:
            got = await self._venue.place_order(request)
        except TerminalExchangeError as err:
            self._store.update_order(cid, self._account, state=OrderState.REJECTED.value,
                                     note=str(err)[:500], updated_ms=ts_ms)
            raise
        except ExchangeError as err:
            # It may have arrived: never resend; ask for it by client id (now or next cycle).
            self._store.update_order(cid, self._account, state=OrderState.UNKNOWN.value,
                                     note=str(err)[:500], updated_ms=ts_ms)
            row = self._store.order(cid, self._account)
            if row is None or await resolve_order(self._venue, self._store, row, ts_ms) is None:
                raise
            return describe(call, cid) + " (resolved by client id after no answer)"
        if got.state is OrderState.FILLED and got.fee_usdt == 0 and call.market is Market.FUTURES:
            # Futures replies carry no commission; the order read by id has it.
            # On failure the fill still counts; only its fee is missing from the totals.
            with contextlib.suppress(ExchangeError):
                got = await self._venue.fetch_order(call.symbol, cid) or got
        record_venue_order(self._store, self._account, got, ts_ms)
        return describe(call, cid) + f" → {got.state.value} {plain(got.filled_qty_base)}"

    async def _money(self, call: MoneyCall, hedge_id: str, ts_ms: int) -> str:
        venue = self._venue
        amount = call.amount_usdt
        if call.kind in ("transfer_futures", "margin_add"):
            # Clip again to what is free now: a spot sale may have fetched a little less.
            balances = await venue.balances()
            free = (balances.spot.get("USDT", ZERO) if call.kind == "transfer_futures"
                    else balances.futures_available_usdt)
            amount = _amount(min(amount, free))
        if amount <= 0:
            return describe(call) + " skipped: nothing free"
        if call.kind == "margin_add":
            await venue.add_margin(call.symbol, amount)
        elif call.kind == "margin_remove":
            await venue.reduce_margin(call.symbol, amount)
        else:
            to = Market.FUTURES if call.kind == "transfer_futures" else Market.SPOT
            await venue.transfer(amount, to=to)
        self._store.record_margin_move(MarginMoveRow(
            hedge_id=hedge_id, ts_ms=ts_ms, kind=call.kind, amount_usdt=amount, note=call.symbol))
        return describe(MoneyCall(call.kind, call.symbol, amount))
