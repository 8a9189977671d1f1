"""Actions → exchange-valid steps: the ONE translation shared by the backtest and the live engine.

The planner's actions say what it wants (a larger hedge, more margin, a roll); the steps say
what an exchange accepts. :func:`translate` is pure: the same state, actions, parameters and
:class:`Target` always give the same steps, and the two shells only *perform* them —
:mod:`perphedge.backtest.replay` against its ``SimAccount``, :mod:`perphedge.engine.execute`
against the venue. The rules, stated once:

* hedge sizes round **down** to the lot step; a reduction never exceeds what is held and is
  reduce-only; an order under the minimum quantity (or, when it grows the hedge, under the
  minimum notional) is dropped;
* the first order of a flat hedge is preceded by a :class:`SettingsCall` (margin mode and
  leverage, idempotent);
* orders are sliced at ``Target.max_order_notional_usdt`` (None: not sliced) and at the
  instrument's ``max_qty`` (the exchange refuses a larger order);
* transfers and margin moves are clipped to what is free (the running estimate after earlier
  steps of the same decision); margin moves apply to an open isolated position only; amounts
  and spot quantities step in 1e-8;
* an order on another contract while the hedge is held somewhere is not sent (a
  :class:`Note` says so: that is a roll's job); a :class:`~perphedge.planning.hedge_state.Roll`
  becomes one :class:`RollCall` of a lot-rounded quantity no larger than held;
* **headroom** (:data:`PRICE_MOVE_ALLOWANCE`, :class:`Target`'s ``price_move_allowance``):
  money moved to fund an opening order carries its margin and taker fee at the observed price
  *plus* an allowance for the price moving between observation and fill — a transfer to
  futures followed by a grow adds ``allowance × margin_for(grow)``; a roll's opening leg is
  funded with :func:`margin_needed` (which includes it) beyond the free futures margin;
* **margin short**: an opening order the exchange refuses for insufficient margin is cut, once,
  to what the free margin affords with a larger allowance (:func:`allowance_after`) and sent
  again; a "cut" that is not smaller than the refused order is not sent (a refused step is
  never repeated unchanged); if the cut is refused too (or falls under the minimums) the
  refusal is recorded and the next decision retries — the planner sees the gap again. Both
  shells apply this one function.

Alerts become :class:`Note` steps, so the step list keeps the actions' order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from perphedge.domain.instrument import Instrument
from perphedge.domain.money import ZERO
from perphedge.domain.types import MarginMode, Market, Side
from perphedge.planning.hedge_state import (
    Action,
    AddMargin,
    AdjustHedge,
    Alert,
    BuySpot,
    HedgeState,
    RemoveMargin,
    Roll,
    SellSpot,
    Transfer,
)
from perphedge.planning.policies import PolicyParams, exchange_leverage, margin_for

#: Amounts and spot quantities are sent with at most 8 decimals (Binance's USDT precision).
STEP_8 = Decimal("0.00000001")
#: Headroom for the price moving between the observed mark and the fill, as a fraction of the
#: price: a market order on BTCUSDT rarely fills 0.5 % away from the mark it was sized at,
#: and on top of the taker fee (already in the margin) this keeps a transfer that funds an
#: order from landing exactly on the margin the exchange wants (Binance -2019).
PRICE_MOVE_ALLOWANCE = Decimal("0.005")
#: The allowance doubles with each recent refusal, up to this many doublings (0.5 % → 8 %).
MAX_ALLOWANCE_DOUBLINGS = 4
BPS = Decimal(10000)
FUTURES = Market.FUTURES
SPOT = Market.SPOT


@dataclass(frozen=True, slots=True)
class MarginTerms:
    """What the margin-short rule needs to cut an opening order: its leverage and fee rate."""

    leverage: int
    fee_rate: Decimal


@dataclass(frozen=True, slots=True)
class OrderCall:
    """A market order; ``side`` LONG buys.

    ``margin`` is set on orders that open or grow a hedge (the ones margin can refuse); it is
    derived from the parameters, so it takes no part in comparing two orders.
    """

    market: Market
    symbol: str
    side: Side
    qty_base: Decimal
    reduce_only: bool = False
    margin: MarginTerms | None = field(default=None, compare=False)


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
    from_reserve: bool = False


@dataclass(frozen=True, slots=True)
class RollCall:
    """Close ``qty_base`` of ``from_symbol`` and open it in ``to_symbol`` as ONE step.

    ``close`` and ``open`` are the two legs' orders (sliced); ``settings`` precedes the open.
    """

    from_symbol: str
    to_symbol: str
    side: Side
    qty_base: Decimal
    settings: SettingsCall
    close: tuple[OrderCall, ...] = ()
    open: tuple[OrderCall, ...] = ()


@dataclass(frozen=True, slots=True)
class Note:
    """No call: an alert (``alert``) or an action that could not become one; ``code`` is stable."""

    code: str
    message: str
    alert: bool = True


Call = OrderCall | SettingsCall | MoneyCall | RollCall
Step = Call | Note


@dataclass(frozen=True, slots=True)
class Target:
    """Where a hedge's steps go and the limits they obey.

    ``symbol`` is the contract used when the state names none (``HedgeState.hedge_symbol``
    empty); ``instruments`` gives other contracts' specs (delivery contracts), else
    ``instrument`` stands in. ``max_order_notional_usdt`` None: orders are not sliced.
    ``spot_fee_rate`` (Binance spot standard 0.1 %) keeps a spot buy within the USDT it has.
    """

    symbol: str
    spot_symbol: str
    instrument: Instrument
    margin_mode: MarginMode
    max_order_notional_usdt: Decimal | None
    instruments: dict[str, Instrument] = field(default_factory=dict)
    spot_fee_rate: Decimal = Decimal("0.001")
    price_move_allowance: Decimal = PRICE_MOVE_ALLOWANCE

    def spec(self, symbol: str) -> Instrument:
        """The instrument of ``symbol`` (the default one when not listed)."""
        return self.instruments.get(symbol, self.instrument)


def venue_calls(steps: list[Step]) -> list[Call]:
    """The steps that reach an exchange (notes removed)."""
    return [s for s in steps if not isinstance(s, Note)]


def slices(qty: Decimal, price: Decimal, target: Target,
           symbol: str | None = None) -> list[Decimal]:
    """``qty`` cut into lot-rounded pieces of at most ``max_order_notional`` each.

    >>> from perphedge.adapters.marketdata.bundled import BundledMarketData
    >>> inst = BundledMarketData().instrument("BTC")
    >>> t = Target("BTCUSDT", "BTCUSDT", inst, MarginMode.ISOLATED, Decimal(100000))
    >>> [str(q) for q in slices(Decimal("5"), Decimal(40000), t)]
    ['2.5', '2.5']
    """
    inst = target.spec(symbol or target.symbol)
    notional_cap = target.max_order_notional_usdt
    caps = [q for q in (None if notional_cap is None else inst.round_qty(notional_cap / price),
                        inst.max_qty)  # the exchange's largest order (Binance: 1,000 BTC)
            if q is not None]
    if not caps or qty <= 0:
        return [qty] if qty > 0 else []
    step = inst.lot_step
    most = min(caps)
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


def allowance_after(refusals: int, base: Decimal = PRICE_MOVE_ALLOWANCE) -> Decimal:
    """The price-move allowance after ``refusals`` recent margin refusals: ``base × 2^n``.

    Each refused attempt is followed by one sized with twice the headroom (more margin moved,
    or a smaller order), never by the same one; capped at :data:`MAX_ALLOWANCE_DOUBLINGS`.

    >>> [str(allowance_after(n)) for n in (0, 1, 2, 9)]
    ['0.005', '0.010', '0.020', '0.080']
    """
    return base * (1 << min(max(refusals, 0), MAX_ALLOWANCE_DOUBLINGS))


def shrink_for_margin(order: OrderCall, free_usdt: Decimal, price: Decimal,
                      instrument: Instrument, allowance: Decimal = ZERO) -> OrderCall | None:
    """The margin-short rule: ``order`` cut to what ``free_usdt`` affords at ``price``.

    Initial margin plus the taker fee at the price raised by ``allowance`` (0 when the fill
    price is known, as in the backtest): qty ≤ free × L / (price × (1 + a) × (1 + L × fee)),
    rounded down to the lot. None when nothing valid is left (under the minimums), the order
    is not an opening one, or the cut is not smaller than the order (that would repeat the
    refused step unchanged). 1000 USDT free at 10x, 0.05 % fee, 40,000: ≤ 0.2488 → 0.248 BTC;
    with a 1 % allowance ≤ 0.2463 → 0.246 BTC.

    >>> from perphedge.adapters.marketdata.bundled import BundledMarketData
    >>> inst = BundledMarketData().instrument("BTC")
    >>> o = OrderCall(FUTURES, "BTCUSDT", Side.SHORT, Decimal(1), False,
    ...               MarginTerms(10, Decimal("0.0005")))
    >>> shrink_for_margin(o, Decimal(1000), Decimal(40000), inst).qty_base
    Decimal('0.248')
    >>> shrink_for_margin(o, Decimal(1000), Decimal(40000), inst, Decimal("0.01")).qty_base
    Decimal('0.246')
    """
    terms = order.margin
    if terms is None or free_usdt <= 0 or price <= 0:
        return None
    lev = Decimal(terms.leverage)
    dearer = price * (1 + allowance)
    qty = instrument.round_qty(free_usdt * lev / (dearer * (1 + lev * terms.fee_rate)))
    if qty >= order.qty_base:
        return None
    if qty <= 0 or qty < instrument.min_qty or qty * price < instrument.min_notional:
        return None
    return OrderCall(order.market, order.symbol, order.side, qty, order.reduce_only, terms)


def margin_needed(order: OrderCall, price: Decimal,
                  allowance: Decimal = PRICE_MOVE_ALLOWANCE) -> Decimal:
    """Initial margin plus taker fee of ``order`` at ``price`` raised by ``allowance``.

    0 for a non-opening order. 1 BTC at 81,200, 2x, 0.05 %: 40,600 + 40.60 = 40,640.60 USDT,
    × 1.005 for the default allowance = 40,843.80 USDT.

    >>> o = OrderCall(FUTURES, "X", Side.SHORT, Decimal(1),
    ...               margin=MarginTerms(2, Decimal("0.0005")))
    >>> margin_needed(o, Decimal(81200), ZERO)
    Decimal('40640.6000')
    >>> margin_needed(o, Decimal(81200))
    Decimal('40843.8030000')
    """
    if order.margin is None:
        return ZERO
    return (order.qty_base * price * (1 + allowance)
            * (1 / Decimal(order.margin.leverage) + order.margin.fee_rate))


@dataclass(slots=True)
class _Running:
    """What the translation assumes after each step (a shell reads it off its account)."""

    symbol: str
    held: Decimal
    spot_qty: Decimal
    spot_usdt: Decimal
    wallet_usdt: Decimal
    settings_sent: bool = False


def translate(actions: tuple[Action, ...], state: HedgeState, params: PolicyParams,
              target: Target) -> list[Step]:
    """The steps for ``actions``, in order."""
    run = _Running(state.hedge_symbol or target.symbol, state.hedge_qty, state.spot_qty,
                   state.spot_usdt, state.futures_wallet_usdt)
    steps: list[Step] = []
    for index, action in enumerate(actions):
        if isinstance(action, Roll):
            steps += _roll(action, state, params, target, run)
        elif isinstance(action, AdjustHedge):
            steps += _adjust(action, state, params, target, run)
        elif isinstance(action, AddMargin | RemoveMargin):
            steps += _margin(action, target, run)
        elif isinstance(action, SellSpot | BuySpot):
            steps += _spot(action, state, target, run)
        elif isinstance(action, Transfer):
            headroom = _grow_headroom(actions[index + 1:], state, params, target, run)
            steps += _transfer(action, run, target, headroom)
        elif isinstance(action, Alert):
            steps.append(Note(action.code, action.message))
    return steps


def _price(state: HedgeState, symbol: str) -> Decimal:
    quote = state.contract(symbol)
    return quote.price_usdt if quote is not None else state.mark_price


def _terms(params: PolicyParams) -> MarginTerms:
    return MarginTerms(exchange_leverage(params.leverage), params.fee_rate)


def _settings(symbol: str, params: PolicyParams, target: Target) -> SettingsCall:
    return SettingsCall(symbol, target.margin_mode, exchange_leverage(params.leverage))


def _adjust(action: AdjustHedge, state: HedgeState, params: PolicyParams, target: Target,
            run: _Running) -> list[Step]:
    symbol = action.symbol or run.symbol
    if symbol != run.symbol:
        if run.held != 0:
            return [Note("order_ignored", f"order on {symbol} ignored: the hedge is held in "
                                          f"{run.symbol} (roll it instead)", alert=False)]
        run.symbol = symbol
    inst = target.spec(symbol)
    price = _price(state, symbol)
    grow = action.delta_qty > 0
    qty = inst.round_qty(abs(action.delta_qty) if grow else min(-action.delta_qty, run.held))
    if qty <= 0 or qty < inst.min_qty or (grow and qty * price < inst.min_notional):
        return []
    out: list[Step] = []
    if grow and run.held == 0 and not run.settings_sent:
        out.append(_settings(symbol, params, target))
        run.settings_sent = True
    side = state.hedge_side if grow else state.hedge_side.opposite
    terms = _terms(params) if grow else None
    for piece in slices(qty, price, target, symbol):
        out.append(OrderCall(FUTURES, symbol, side, piece, reduce_only=not grow, margin=terms))
    run.held += qty if grow else -qty
    if grow:
        run.wallet_usdt -= margin_for(qty * price, params)
    return out


def _roll(action: Roll, state: HedgeState, params: PolicyParams, target: Target,
          run: _Running) -> list[Step]:
    if action.from_symbol != run.symbol:
        return [Note("roll_ignored", f"roll from {action.from_symbol} ignored: the hedge is "
                                     f"held in {run.symbol}", alert=False)]
    qty = target.spec(action.from_symbol).round_qty(min(action.qty, run.held))
    run.symbol = action.to_symbol
    if qty <= 0:
        return []
    side = state.hedge_side
    close = tuple(OrderCall(FUTURES, action.from_symbol, side.opposite, q, reduce_only=True)
                  for q in slices(qty, _price(state, action.from_symbol), target,
                                  action.from_symbol))
    opening = tuple(OrderCall(FUTURES, action.to_symbol, side, q, margin=_terms(params))
                    for q in slices(qty, _price(state, action.to_symbol), target,
                                    action.to_symbol))
    return [RollCall(action.from_symbol, action.to_symbol, side, qty,
                     _settings(action.to_symbol, params, target), close, opening)]


def _margin(action: AddMargin | RemoveMargin, target: Target, run: _Running) -> list[Step]:
    if target.margin_mode is not MarginMode.ISOLATED or run.held == 0:
        return []
    if isinstance(action, AddMargin):
        amount = amount_8(min(action.amount, max(ZERO, run.wallet_usdt)))
        run.wallet_usdt -= amount
        kind = "margin_add"
    else:
        amount = amount_8(action.amount)
        run.wallet_usdt += amount
        kind = "margin_remove"
    return [MoneyCall(kind, run.symbol, amount)] if amount > 0 else []


def _spot(action: SellSpot | BuySpot, state: HedgeState, target: Target,
          run: _Running) -> list[Step]:
    price = state.spot_price
    if isinstance(action, BuySpot):
        # The fee comes on top of the price: a buy of all the cash would be refused (-2010).
        gross = price * (1 + target.spot_fee_rate)
        qty = amount_8(min(action.qty, run.spot_usdt / gross if price > 0 else ZERO))
        run.spot_usdt -= qty * gross
        run.spot_qty += qty
        side = Side.LONG
    else:
        qty = amount_8(min(action.qty, run.spot_qty))
        run.spot_usdt += qty * price
        run.spot_qty -= qty
        side = Side.SHORT
    return [OrderCall(SPOT, target.spot_symbol, side, qty)] if qty > 0 else []


def _grow_headroom(later: tuple[Action, ...], state: HedgeState, params: PolicyParams,
                   target: Target, run: _Running) -> Decimal:
    """The allowance on the margin of the grow a transfer to futures funds (0: none follows)."""
    for action in later:
        if isinstance(action, AdjustHedge) and action.delta_qty > 0:
            price = _price(state, action.symbol or run.symbol)
            return target.price_move_allowance * margin_for(action.delta_qty * price, params)
    return ZERO


def _transfer(action: Transfer, run: _Running, target: Target,
              headroom: Decimal = ZERO) -> list[Step]:
    if action.to == "futures":
        amount = amount_8(min(action.amount + headroom, run.spot_usdt))
        run.spot_usdt -= amount
        run.wallet_usdt += amount
    else:
        amount = amount_8(min(action.amount, run.wallet_usdt))
        run.wallet_usdt -= amount
        run.spot_usdt += amount
    if amount <= 0:
        return []
    return [MoneyCall(f"transfer_{action.to}", run.symbol, amount, action.from_reserve)]


def amount_8(value: Decimal) -> Decimal:
    """``value`` (0 when negative) rounded down to 1e-8."""
    return max(ZERO, value).quantize(STEP_8, rounding=ROUND_DOWN)
