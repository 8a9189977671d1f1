"""The store agrees with the exchange's own ledger: money sends whose outcome was not certain
are looked up in the exchange's history, and every cycle (or every few) fills, fees,
transfers and margin moves missing from the store are recorded from that history.

Transfers and margin moves (:func:`send_money`) are sent **once**. A reply the exchange
documents as a refusal (``MoneyMoveRefusedError``) proves it did not happen. When the reply
does not prove the outcome (a timeout, a cut or garbled reply, a 5xx, any other error), the
exchange's transfer or margin history is asked for a move of the same kind and amount made
since just before the send, and not yet tied to another record. Found: it is recorded with
the exchange's id. Not found (or the history cannot be read now): an ``money_unresolved``
audit row remembers the send and the error stands; :class:`LedgerReconciler` records the
move if the history shows it later, and drops the note ("it did not happen") once a read of
the history through the exchange's now still lacks it :data:`SETTLE_AFTER_MS` after the send
by the engine's clock, or :data:`MAX_LAG_MS` after it by the exchange's. Meanwhile no second
move of that kind is sent (:class:`MoneyInDoubt`: the cycle waits, as for an order in
doubt). Nothing is ever re-sent to find out.

Matching uses the exchange's time only: the time just before a send is the exchange's
(``ledger_now_ms``), never the engine's clock, which may differ (a replaying
local exchange). Moves are matched oldest first by kind, amount (and symbol for margin).
How long to wait for a move to show is counted on the engine's clock (the exchange's may
stand still, or jump: a replay).

The reconciliation is incremental: each stream (``transfers``, ``margin:SYMBOL``,
``fills:MARKET:SYMBOL``) keeps a cursor in the store and is read from the cursor minus
:data:`OVERLAP_MS`; inserts are keyed by the exchange's ids, so reading twice records once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from perphedge.domain.money import ZERO, plain
from perphedge.engine.ledger_port import (
    RESOLVED,
    UNRESOLVED,
    LedgerRepository,
    NewLedgerFill,
    NewMove,
    StoredFill,
    StoredMove,
    StoredOrder,
)
from perphedge.engine.venue import LedgerFill, Market, MoneyMove, ReadsLedger, Venue
from perphedge.errors import (
    DataError,
    ExchangeError,
    MoneyMoveRefusedError,
    RetryableExchangeError,
)

__all__ = ["LedgerReconciler", "MoneyInDoubt", "MoneySend", "hold_back", "match_moves",
           "send_money"]

#: A move shows in the history at most this long after the time read just before its send.
MAX_LAG_MS = 15 * 60_000
#: By the engine's clock: a send with no clear reply that a read of the history through the
#: exchange's now does not show this long after it never happened. Binance moves the money
#: before it answers, and a signed request older than its ``recvWindow`` (ccxt: 10 s) is
#: refused, so one still on its way cannot execute later. The grace an order in doubt gets.
SETTLE_AFTER_MS = 60_000
#: Slack for a history row stamped a little before the time read before the send.
SKEW_MS = 5_000
#: Each read goes back this far before its cursor (late rows; insert-once makes it safe).
OVERLAP_MS = 60 * 60_000
#: Unresolved sends younger than this (the engine's clock) make the reconciliation due and
#: hold back a second send of their kind.
UNSETTLED_WINDOW_MS = 2 * MAX_LAG_MS
#: Unresolved sends older than this (the engine's clock) are no longer looked for.
UNRESOLVED_WINDOW_MS = 7 * 24 * 3_600_000
#: One pass reads at most this much of a stream's history (a store far behind catches up over
#: the next cycles, one span each, instead of in one burst of requests).
SPAN_MS = 3 * 24 * 3_600_000
#: How often the engine reconciles, by its clock (every cycle while a stream is behind).
LEDGER_INTERVAL_MS = 5 * 60_000
TRANSFER_KINDS = ("transfer_futures", "transfer_spot")
MARGIN_KINDS = ("margin_add", "margin_remove")
_FINAL = ("filled", "canceled", "rejected")


class MoneyInDoubt(RetryableExchangeError):
    """A money move not sent because an earlier one of its kind is still in doubt: the cycle
    waits (as for an order in doubt) until the history shows it or it is given up."""


@dataclass(frozen=True, slots=True)
class MoneySend:
    """A transfer (``transfer_futures`` | ``transfer_spot``) or an isolated margin move
    (``margin_add`` | ``margin_remove``) on ``symbol``, for one hedge."""

    hedge_id: str
    account: str
    kind: str
    symbol: str
    amount_usdt: Decimal
    from_reserve: bool = False


@dataclass(frozen=True, slots=True)
class _Recorded:
    """A claim's source: a move recorded from a clean reply, not yet tied to an id."""

    move: StoredMove


@dataclass(slots=True)
class Claim:
    """Something the store expects in the exchange's history: a recorded move not yet tied to
    an id, an unresolved send, or the send being resolved now."""

    kind: str
    symbol: str  # "" for transfers (account-wide)
    amount_usdt: Decimal
    after_ms: int  # the exchange's time just before it was sent
    source: Any = None
    move: MoneyMove | None = field(default=None)


def match_moves(moves: Sequence[MoneyMove], claims: Sequence[Claim]) -> list[MoneyMove]:
    """Tie each claim to the oldest fitting move (same kind, symbol, amount; made between
    ``after_ms - SKEW_MS`` and ``after_ms + MAX_LAG_MS``), oldest claim first; returns the
    moves no claim took.

    >>> m = [MoneyMove("7", "transfer_futures", Decimal("10"), 1_000)]
    >>> c = [Claim("transfer_futures", "", Decimal("10"), 900)]
    >>> match_moves(m, c), c[0].move.exchange_id
    ([], '7')
    """
    left = sorted(moves, key=lambda m: (m.ts_ms, m.exchange_id))
    for claim in sorted(claims, key=lambda c: c.after_ms):
        for move in left:
            if (move.kind == claim.kind and move.amount_usdt == claim.amount_usdt
                    and (claim.symbol == "" or move.symbol == claim.symbol)
                    and claim.after_ms - SKEW_MS <= move.ts_ms <= claim.after_ms + MAX_LAG_MS):
                claim.move = move
                left.remove(move)
                break
    return left


async def _send(venue: Venue, send: MoneySend) -> None:
    if send.kind == "margin_add":
        await venue.add_margin(send.symbol, send.amount_usdt)
    elif send.kind == "margin_remove":
        await venue.reduce_margin(send.symbol, send.amount_usdt)
    else:
        to = Market.FUTURES if send.kind == "transfer_futures" else Market.SPOT
        await venue.transfer(send.amount_usdt, to=to)


def _row(send: MoneySend, ts_ms: int, move: MoneyMove | None = None,
         after_ms: int | None = None) -> NewMove:
    return NewMove(
        hedge_id=send.hedge_id, ts_ms=ts_ms, kind=send.kind, amount_usdt=send.amount_usdt,
        note=send.symbol, from_reserve=send.from_reserve,
        exchange_id=None if move is None else move.exchange_id,
        exchange_ts_ms=after_ms if move is None else move.ts_ms)


async def send_money(venue: Venue, ledger: LedgerRepository, send: MoneySend,
                     ts_ms: int) -> str:
    """Send ``send`` once and record it; returns "" or what resolved an unclear outcome.

    Raises the send's ``ExchangeError`` when the exchange's history does not show the move.
    """
    if not isinstance(venue, ReadsLedger):
        await _send(venue, send)
        ledger.add_move(_row(send, ts_ms))
        return ""
    before = await venue.ledger_now_ms(send.symbol)
    _refuse_while_unsettled(ledger, send, before, ts_ms)
    try:
        await _send(venue, send)
    except MoneyMoveRefusedError:
        raise  # a documented refusal: it did not happen, nothing to look for or wait on
    except ExchangeError as err:
        try:
            move = await _look_up(venue, ledger, send, before, ts_ms)
        except ExchangeError:
            move = None  # the history cannot be read now: the reconciliation asks again
        except _NoHistory:
            raise err from None  # nothing could ever settle it (Bybit margin): no note kept
        if move is None:
            ledger.note(send.hedge_id, ts_ms, UNRESOLVED, {
                "kind": send.kind, "symbol": send.symbol, "amount": plain(send.amount_usdt),
                "before_ms": before, "sent_ms": ts_ms, "from_reserve": send.from_reserve,
                "error": str(err)[:300],
            })
            raise
        ledger.add_move(_row(send, ts_ms, move))
        return (f" (no clear reply; the exchange's history shows it as {move.exchange_id}: "
                "recorded, not sent again)")
    ledger.add_move(_row(send, ts_ms, after_ms=before))
    return ""


async def hold_back(venue: Venue, ledger: LedgerRepository, send: MoneySend,
                    ts_ms: int) -> None:
    """Raise :class:`MoneyInDoubt` now if ``send`` would be held back by an earlier move of
    its kind still in doubt: a plan checks before its first step, so it does not sell spot
    (say) and then stop at the transfer that was to carry the proceeds."""
    if not isinstance(venue, ReadsLedger) or not any(
            p["kind"] == send.kind
            for p in ledger.unresolved(send.hedge_id, ts_ms - UNSETTLED_WINDOW_MS)):
        return
    _refuse_while_unsettled(ledger, send, await venue.ledger_now_ms(send.symbol), ts_ms)


def _refuse_while_unsettled(ledger: LedgerRepository, send: MoneySend, before: int,
                            ts_ms: int) -> None:
    """No second move of a kind while an earlier one of that kind is unconfirmed: the two
    could add up to twice what was planned. The reconciliation settles it (records it, or
    gives it up after ``SETTLE_AFTER_MS``), then sending resumes."""
    for pending in ledger.unresolved(send.hedge_id, ts_ms - UNSETTLED_WINDOW_MS):
        if pending["kind"] == send.kind and before - int(pending["before_ms"]) <= MAX_LAG_MS:
            raise MoneyInDoubt(
                f"waiting for a {pending['kind'].replace('_', ' ')} of {pending['amount']} "
                "USDT in doubt: it had no clear reply and is not in the exchange's history "
                f"yet; {send.kind.replace('_', ' ')} {plain(send.amount_usdt)} USDT not sent "
                "until the ledger reconciliation settles it")


async def _history(venue: ReadsLedger, kinds: Sequence[str], symbol: str,
                   since_ms: int, until_ms: int | None = None) -> list[MoneyMove] | None:
    if kinds[0] in TRANSFER_KINDS:
        return await venue.ledger_transfers(since_ms, until_ms=until_ms)
    return await venue.ledger_margin_moves(symbol, since_ms, until_ms=until_ms)


class _NoHistory(Exception):
    """The exchange keeps no history of this kind of move."""


async def _look_up(venue: ReadsLedger, ledger: LedgerRepository, send: MoneySend,
                   before: int, ts_ms: int) -> MoneyMove | None:
    """The exchange's row of ``send``, if its history shows one no other record takes."""
    kinds = TRANSFER_KINDS if send.kind in TRANSFER_KINDS else MARGIN_KINDS
    start = before - SKEW_MS
    moves = await _history(venue, kinds, send.symbol, start)
    if moves is None:
        raise _NoHistory
    known = ledger.known_move_ids(send.account, kinds, start)
    fresh = [m for m in moves if m.exchange_id not in known]
    claims = _claims(ledger, send.account, kinds, send.symbol, start, ts_ms)
    mine = Claim(send.kind, "" if send.kind in TRANSFER_KINDS else send.symbol,
                 send.amount_usdt, before + 1)  # after every earlier claim
    match_moves(fresh, [*claims, mine])
    return mine.move


def _claims(ledger: LedgerRepository, account: str, kinds: Sequence[str], symbol: str,
            since_ms: int, ts_ms: int) -> list[Claim]:
    """What the account's records expect in the history from ``since_ms`` on (margin moves:
    on ``symbol``'s position, the one history read)."""
    transfers = kinds[0] in TRANSFER_KINDS
    out = [Claim(r.kind, "" if transfers else r.note, r.amount_usdt, r.exchange_ts_ms or 0,
                 _Recorded(r))
           for r in ledger.unclaimed_moves(account, kinds, since_ms - MAX_LAG_MS)
           if transfers or r.note == symbol]
    for hedge_id in ledger.account_hedges(account):
        for u in ledger.unresolved(hedge_id, ts_ms - UNRESOLVED_WINDOW_MS):
            if u["kind"] in kinds and (transfers or u["symbol"] == symbol):
                out.append(Claim(u["kind"], "" if transfers else u["symbol"],
                                 Decimal(u["amount"]), int(u["before_ms"]), (hedge_id, u)))
    return out


class LedgerReconciler:
    """Per hedge: records what the exchange's history has and the store lacks."""

    def __init__(self, venue: Venue, ledger: LedgerRepository, hedge_id: str, account: str,
                 symbol: str, spot_symbol: str, *,
                 interval_ms: int = LEDGER_INTERVAL_MS) -> None:
        self.venue = venue
        self.ledger = ledger
        self.hedge_id = hedge_id
        self.account = account
        self.symbol = symbol
        self.spot_symbol = spot_symbol
        self.interval_ms = interval_ms
        self._last_ms: int | None = None
        self._behind = False  # a stream's last read ended before the exchange's now

    @property
    def behind(self) -> bool:
        """True while a stream's last read stopped a span short of the exchange's now."""
        return self._behind

    async def reconcile(self, ts_ms: int, *, force: bool = False) -> list[str]:
        """One pass over every stream when due; an exchange failure becomes one line (the
        engine acts on without it: nothing here is needed to act safely)."""
        venue = self.venue
        if not isinstance(venue, ReadsLedger):
            return []
        due = self._last_ms is None or ts_ms - self._last_ms >= self.interval_ms
        if not (force or due or self._behind
                or self.ledger.unresolved(self.hedge_id, ts_ms - UNSETTLED_WINDOW_MS)):
            return []
        self._behind = False
        try:
            now = await venue.ledger_now_ms(self.symbol)
        except ExchangeError as err:
            return [f"ledger: the exchange's clock could not be read, next cycle: {err}"]
        streams: list[tuple[str, Callable[[], Awaitable[list[str]]]]] = [
            ("transfers", partial(self._moves, venue, "transfers", TRANSFER_KINDS, now, ts_ms)),
            ("margin moves", partial(self._moves, venue, f"margin:{self.symbol}",
                                     MARGIN_KINDS, now, ts_ms)),
            ("trades", partial(self._fills, venue, Market.FUTURES, self.symbol, now, ts_ms)),
            ("funding", partial(self._funding, now, ts_ms)),
        ]
        if self.ledger.has_spot_orders(self.hedge_id):
            streams.append(("spot trades", partial(self._fills, venue, Market.SPOT,
                                                   self.spot_symbol, now, ts_ms)))
        lines: list[str] = []
        for name, stream in streams:
            # One stream failing (a key without that permission, a malformed page) leaves
            # the others to run; DataError: the funding parser found a malformed row.
            try:
                lines += await stream()
            except (ExchangeError, DataError) as err:
                lines.append(f"ledger: the exchange's {name} history could not be read, "
                             f"next pass: {err}")
        self._last_ms = ts_ms
        return lines

    def _since(self, stream: str, ts_ms: int) -> int | None:
        """Where a stream's read starts: the cursor less the overlap, never before the
        hedge's first activity (an account's older history is not this hedge's)."""
        first = self.ledger.earliest_activity(self.hedge_id,
                                              ts_ms - UNRESOLVED_WINDOW_MS)
        if first is None:
            return None
        cursor = self.ledger.cursor(self.hedge_id, stream)
        floor = max(first - SKEW_MS, self.ledger.cursor(self.hedge_id, "floor:" + stream) or 0)
        return floor if cursor is None else max(cursor - OVERLAP_MS, floor)

    # -- transfers and margin moves -----------------------------------------------------------

    async def _moves(self, venue: ReadsLedger, stream: str, kinds: Sequence[str], now: int,
                     ts_ms: int) -> list[str]:
        since = self._since(stream, ts_ms)
        if since is None:
            return []  # nothing sent yet: nothing of this hedge's to find
        if self.ledger.cursor(self.hedge_id, stream) is None and self.ledger.has_untimed_moves(
                self.hedge_id):
            # Moves recorded before the exchange's time was kept cannot be matched: the
            # stream starts after now, for good (its floor).
            self.ledger.set_cursor(self.hedge_id, "floor:" + stream, now + 1)
            self.ledger.set_cursor(self.hedge_id, stream, now + 1)
            return []
        end = self._end(since, now)
        moves = await _history(venue, kinds, self.symbol, since, end)
        if moves is None:
            return []  # not offered by this exchange (docs/exchanges.md)
        known = self.ledger.known_move_ids(self.account, kinds, since)
        fresh = [m for m in moves if m.exchange_id not in known]
        claims = _claims(self.ledger, self.account, kinds, self.symbol, since, ts_ms)
        rest = match_moves(fresh, claims)
        lines = []
        for claim in claims:
            lines += self._settle(claim, since, end, now, ts_ms)
        for move in rest:
            row = NewMove(hedge_id=self.hedge_id, ts_ms=ts_ms, kind=move.kind,
                          amount_usdt=move.amount_usdt, note=move.symbol or self.symbol,
                          from_reserve=False, exchange_id=move.exchange_id,
                          exchange_ts_ms=move.ts_ms)
            if self.ledger.add_move(row):
                lines.append(f"ledger: recorded {move.kind.replace('_', ' ')} "
                             f"{plain(move.amount_usdt)} USDT ({move.exchange_id}) from the "
                             "exchange's history: it was missing from the records")
        self.ledger.set_cursor(self.hedge_id, stream, end)
        return lines

    def _end(self, since: int, now: int) -> int:
        """Where a read from ``since`` stops: the exchange's now, or one span on."""
        if since + SPAN_MS < now:
            self._behind = True
            return since + SPAN_MS
        return now

    def _settle(self, claim: Claim, read_from: int, read_until: int, now: int,
                ts_ms: int) -> list[str]:
        """Tie a recorded move to its id, record an unresolved send that happened, or give
        one up once the history read would show it: read past ``MAX_LAG_MS`` after it (the
        exchange's time), or read from before it through the exchange's now at least
        ``SETTLE_AFTER_MS`` after it was sent (the engine's clock)."""
        if isinstance(claim.source, _Recorded):
            if claim.move is not None:
                self.ledger.claim(claim.source.move.id, claim.move.exchange_id,
                                  claim.move.ts_ms)
            return []
        hedge_id, pending = claim.source
        what = f"{pending['kind'].replace('_', ' ')} {pending['amount']} USDT"
        if claim.move is not None:
            send = MoneySend(hedge_id, self.account, pending["kind"], pending["symbol"],
                             Decimal(pending["amount"]), bool(pending["from_reserve"]))
            self.ledger.add_move(_row(send, ts_ms, claim.move))
            self._resolve(hedge_id, pending, ts_ms, claim.move.exchange_id)
            return [f"ledger: the {what} whose reply was lost did happen "
                    f"({claim.move.exchange_id}): recorded"]
        before = int(pending["before_ms"])
        sent = pending.get("sent_ms")
        waited = (sent is not None and ts_ms - int(sent) >= SETTLE_AFTER_MS
                  and read_from <= before - SKEW_MS and read_until >= now)
        if waited or read_until - before > MAX_LAG_MS:
            self._resolve(hedge_id, pending, ts_ms, None)
            return [f"ledger: the {what} whose reply was lost is not in the exchange's history: "
                    "it did not happen"]
        return []

    def _resolve(self, hedge_id: str, pending: dict[str, Any], ts_ms: int,
                 exchange_id: str | None) -> None:
        self.ledger.note(hedge_id, ts_ms, RESOLVED, {
            "unresolved_id": pending["id"], "exchange_id": exchange_id,
            "happened": exchange_id is not None})

    # -- funding --------------------------------------------------------------------------------

    async def _funding(self, now: int, ts_ms: int) -> list[str]:
        """Settlements from the income history missing in the store (each recorded once)."""
        stream = f"funding:{self.symbol}"
        since = self._since(stream, ts_ms)
        if since is None:
            return []
        count, total = 0, ZERO
        for pay in await self.venue.funding_history(self.symbol, since):
            if self.ledger.add_funding(self.hedge_id, pay.symbol, pay.ts_ms, pay.amount_usdt):
                count, total = count + 1, total + pay.amount_usdt
        self.ledger.set_cursor(self.hedge_id, stream, now)
        return [f"ledger: recorded {count} funding settlement(s), {plain(total)} USDT, from the "
                "exchange's income history"] if count else []

    # -- fills and fees -----------------------------------------------------------------------

    async def _fills(self, venue: ReadsLedger, market: Market, symbol: str,
                     now: int, ts_ms: int) -> list[str]:
        stream = f"fills:{market.value}:{symbol}"
        since = self._since(stream, ts_ms)
        if since is None:
            return []
        end = self._end(since, now)
        trades: dict[str, list[LedgerFill]] = {}
        for fill in await venue.ledger_fills(market, symbol, since, until_ms=end):
            trades.setdefault(fill.exchange_order_id, []).append(fill)
        rows = self.ledger.orders_by_exchange_id(self.account, market.value, symbol,
                                                 list(trades))
        mine = [r for r in rows if r.hedge_id == self.hedge_id]
        recorded = self.ledger.fills_of([r.id for r in mine])
        cursor, lines = end, []
        for row in mine:
            got = trades[str(row.exchange_order_id)]
            if row.state not in _FINAL:
                cursor = min(cursor, got[0].ts_ms)  # read it again once it is settled
                continue
            if sum((f.qty_base for f in got), ZERO) < row.filled_qty_base:
                # Its first trades are before this read: ask for the order's own trades.
                got = await venue.ledger_fills(market, symbol, 0, str(row.exchange_order_id))
            lines += self._fill(row, got, recorded.get(row.id, []))
        known = {str(r.exchange_order_id) for r in rows}
        # Said once: only for trades after the last pass (the overlap reads them again).
        last = self.ledger.cursor(self.hedge_id, stream)
        lines += [f"ledger: exchange order {oid} on {symbol} has trades but is not in "
                  "perphedge's records (placed outside perphedge?)"
                  for oid, got in trades.items()
                  if oid not in known and (last is None or got[-1].ts_ms > last)]
        self.ledger.set_cursor(self.hedge_id, stream, cursor)
        return lines

    def _fill(self, row: StoredOrder, trades: Sequence[LedgerFill],
              recorded: Sequence[StoredFill]) -> list[str]:
        """The order's fill row made to agree with its trades (quantity and USDT fee)."""
        qty = sum((f.qty_base for f in trades), ZERO)
        fee = sum((f.fee_usdt for f in trades), ZERO)
        if qty != row.filled_qty_base or qty == 0:
            return [f"ALERT ledger: order {row.client_order_id} is recorded with "
                    f"{plain(row.filled_qty_base)} filled, its trades add up to {plain(qty)}"]
        trade_id = str(row.exchange_order_id)
        mine = [r for r in recorded if r.trade_id == trade_id]
        if not recorded:
            price = row.avg_price_usdt or sum((f.qty_base * f.price_usdt for f in trades),
                                              ZERO) / qty
            self.ledger.add_fill(NewLedgerFill(order_id=row.id, trade_id=trade_id,
                                               ts_ms=trades[-1].ts_ms, qty_base=qty,
                                               price_usdt=price, fee_usdt=fee))
            return [f"ledger: recorded the fill of order {row.client_order_id} "
                    f"({plain(qty)}, fee {plain(fee)} USDT) from the exchange's trades"]
        if len(mine) == 1 and len(recorded) == 1 and (mine[0].qty_base, mine[0].fee_usdt) != (
                qty, fee):
            old = mine[0].fee_usdt
            self.ledger.correct_fill(mine[0].id, qty=qty, price=mine[0].price_usdt, fee=fee)
            return [f"ledger: the fee of order {row.client_order_id} corrected from "
                    f"{plain(old)} to {plain(fee)} USDT (the exchange's trades)"]
        return []

