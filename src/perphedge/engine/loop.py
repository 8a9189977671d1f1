"""The live engine: per hedge and cycle, observe → plan → execute → record.

Each cycle honours the kill switch first (a ``paused`` or ``closed`` hedge touches nothing),
refuses Binance hedge mode, resolves open orders by client id, checks the position against the
records (:mod:`perphedge.engine.reconcile`), then asks the **same** policy the backtest uses for
its actions, translates and executes them, and writes the audit log, funding and a snapshot.
Every exchange failure is caught here, recorded and retried on the next cycle; an order is
never resent (see :mod:`perphedge.engine.execute`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from perphedge.config.models import HedgeConfig
from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument
from perphedge.domain.money import ZERO
from perphedge.engine import reconcile as rc
from perphedge.engine.backoff import HOUR_MS, FreeMargin, pace
from perphedge.engine.clock import Clock
from perphedge.engine.execute import Executor, describe
from perphedge.engine.ledger import LedgerReconciler, MoneyInDoubt
from perphedge.engine.observe import (
    Observation,
    build_state,
    hedge_side,
    observe,
    policy_params,
    risk_figures,
    spot_symbol,
    venue_symbol,
)
from perphedge.engine.store_port import (
    HedgeRepository,
    NewFunding,
    NewHedge,
    NewSnapshot,
    Refusal,
    StoredHedge,
)
from perphedge.engine.venue import Venue
from perphedge.errors import (
    ExchangeError,
    HedgeStopped,
    PerphedgeError,
    RetryableExchangeError,
    TerminalExchangeError,
)
from perphedge.planning.hedge_state import Action, AdjustHedge, Alert, HedgeState, SellSpot
from perphedge.planning.policies import get_policy
from perphedge.planning.translate import (
    Note,
    Step,
    Target,
    allowance_after,
    translate,
    venue_calls,
)


@dataclass(slots=True)
class CycleReport:
    """What one cycle saw and did; ``status`` is one of the ``STATUSES``.

    ``problem`` (status ``error`` or ``refused``): one line saying what stopped the cycle;
    ``final``: the exchange's answer was one retrying cannot change (a wrong key, say).
    """

    hedge_id: str
    ts_ms: int
    status: str
    lines: list[str] = field(default_factory=list)
    state: HedgeState | None = None
    actions: tuple[Action, ...] = ()
    figures: dict[str, Decimal | None] = field(default_factory=dict)
    problem: str | None = None
    final: bool = False


STATUSES = ("acted", "idle", "paused", "closed", "refused", "waiting", "error")
_NEWER_CHANGE = "the hedge's state changed (pause, resume or close) while this cycle ran"


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "value"):  # enums
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def state_dict(state: HedgeState) -> dict[str, object]:
    """The observed state as JSON-ready values (Decimals as exact strings)."""
    return {f.name: _plain(getattr(state, f.name)) for f in dataclasses.fields(state)}


def action_dict(action: Action) -> dict[str, object]:
    """An action as ``{"type": ..., fields...}``."""
    data = {f.name: _plain(getattr(action, f.name)) for f in dataclasses.fields(action)}
    return {"type": type(action).__name__, **data}


class HedgeEngine:
    """One hedge on one venue; ``cycle()`` runs observe → plan → execute → record once."""

    def __init__(self, hedge: HedgeConfig, venue: Venue, store: HedgeRepository,
                 executor: Executor,
                 clock: Clock) -> None:
        self.hedge = hedge
        self.venue = venue
        self.store = store
        self.executor = executor
        self.clock = clock
        self.symbol = venue_symbol(hedge)
        self._specs: tuple[Instrument, BracketTable] | None = None
        # What the cycle already knows need not be read again: a fill never un-happens, and
        # funding is read from the last settlement recorded (duplicates are refused anyway).
        self._filled_once = False
        self._funding_since: int | None = None
        self._reserve_spent = ZERO
        # The hedge's state version as this cycle read it: the engine's own state changes are
        # compare-and-set against it, so a pause or resume that lands mid-cycle wins.
        self._seen_version = 0
        # The hedge's refused orders of the last hour (see engine.backoff), read each cycle.
        self._refusals: list[Refusal] = []
        self.ledger = LedgerReconciler(venue, store.ledger(), hedge.name, hedge.account,
                                       self.symbol, spot_symbol(hedge))

    # -------------------------------------------------------------------- store helpers
    def hedge_row(self, ts_ms: int) -> StoredHedge:
        """The hedge's row, created (active) the first time the engine sees it.

        Remembers the row's state version: the cycle's state changes are decided on it.
        """
        row = ensure_hedge_row(self.store, self.hedge, ts_ms)
        self._seen_version = row.state_version
        return row

    def _transition(self, state: str, ts: int) -> bool:
        """Set the hedge's state unless a newer change landed since this cycle read it."""
        won = self.store.set_hedge_state(self.hedge.name, state, ts,
                                         expected_version=self._seen_version)
        if won:
            self._seen_version += 1
        return won

    def _record(self, kind: str, ts_ms: int, payload: dict[str, Any], *,
                defer: bool = False) -> None:
        """Append to the audit log; ``defer``: in the next write (the first order's intent)."""
        payload = {**payload, "dry_run": not self.executor.sends}
        if defer:
            self.store.defer_decision(self.hedge.name, ts_ms, kind, payload)
        else:
            self.store.record_decision(self.hedge.name, ts_ms, kind, payload)

    # -------------------------------------------------------------------- the cycle
    async def cycle(self) -> CycleReport:
        """Run one cycle; exchange failures end it with status ``error`` (retried next time)."""
        ts = self.clock.now_ms()
        row = self.hedge_row(ts)
        if row.state in (rc.PAUSED, rc.CLOSED):
            return CycleReport(self.hedge.name, ts, row.state,
                               [f"hedge is {row.state}: nothing observed, nothing sent"])
        try:
            return await self._cycle(ts, row.state)
        except ExchangeError as err:
            self._record("error", ts, {"error": str(err)})
            return CycleReport(self.hedge.name, ts, "error",
                               [f"exchange error, will retry next cycle: {err}"],
                               problem=f"exchange error: {err}",
                               final=isinstance(err, TerminalExchangeError))

    async def _prepare(self, ts: int, hedge_state: str) -> tuple[CycleReport, Observation | None]:
        """Mode check, order resolution and the records' side first; then the observation
        (the spot balance last: it is what usually changes) and the position check.

        Everything that does not depend on what is observed is done before observing, so
        the time from a new balance to the order leaving is the decision and the order's
        intent alone (``bench/bench_latency.py``).
        """
        lines: list[str] = []
        modes = await self.venue.account_modes()
        if modes.hedge_mode:
            return self._refuse(ts, [
                "REFUSED: the account is in Binance hedge mode (dual-side positions); perphedge "
                "manages one-way positions only. Switch the account to one-way mode."]), None
        resolved, still_open = await rc.resolve_open_orders(
            self.venue, self.store, self.hedge.name, ts)
        lines += resolved
        if still_open:
            self._record("waiting", ts, {"open_orders": still_open, "lines": lines})
            return CycleReport(self.hedge.name, ts, "waiting", [
                *lines, f"waiting for orders {', '.join(still_open)} before acting"]), None
        if self._specs is None:
            self._specs = (await self.venue.instrument(self.symbol),
                           await self.venue.brackets(self.symbol))
        lines += await rc.foreign_orders(self.venue, self.store, self.symbol, self.hedge.account)
        lines += await self._sync_funding(ts)
        if self.executor.sends:  # the exchange's history: fills, fees, transfers, margin moves
            lines += await self.ledger.reconcile(ts)
        expected = rc.expected_position(self.store, self.hedge.name)
        self._refusals = self.store.refusals(self.hedge.name, ts - HOUR_MS)
        self._reserve_spent = self._read_reserve_spent()
        obs = await self._observe_confirmed(ts, expected)
        if obs.signed_position_qty * hedge_side(self.hedge).sign < 0:
            return self._refuse(ts, [*lines, (
                f"REFUSED: the position on {self.symbol} is {obs.signed_position_qty}, on the "
                f"wrong side for a {self.hedge.kind} hedge")]), obs
        verdict = rc.check_position(self.store, self.hedge.name, self.hedge.account,
                                    hedge_state, obs, expected)
        if verdict.refused:
            verdict = await self._delivered(obs) or verdict
        lines += verdict.lines
        if not verdict.may_act:
            return self._refuse(ts, lines), obs
        if hedge_state in (rc.ADOPTING, rc.HALTED):
            # Adopted on resume, or the account was put back as the records say: act again.
            if self._transition(rc.ACTIVE, ts):
                lines.append(
                    f"the exchange and the records agree: {self.hedge.name} is active again")
            else:
                lines.append(_NEWER_CHANGE)
        return CycleReport(self.hedge.name, ts, "idle", lines), obs

    async def _observe_confirmed(self, ts: int, expected: Decimal) -> Observation:
        """The observation; a position that differs from the records is read a second time.

        A halt (or an adopted liquidation) must come from the account, never from one reply:
        a well-formed but garbled read (an empty position list, which on OKX or Bybit is also
        what "flat" looks like) would otherwise halt the hedge for nothing. Two reads that
        disagree with the records and with each other end the cycle in error (retried next
        cycle), never in a refusal.
        """
        obs = await observe(self.venue, self.hedge, ts, self._specs)
        half_lot = obs.instrument.lot_step / 2
        if abs(obs.signed_position_qty - expected) < half_lot:
            return obs
        again = await observe(self.venue, self.hedge, ts, self._specs)
        if abs(again.signed_position_qty - expected) < half_lot:
            return again  # the first read was the odd one
        if abs(again.signed_position_qty - obs.signed_position_qty) >= half_lot:
            raise RetryableExchangeError(
                f"two reads of the position on {self.symbol} disagree "
                f"({obs.signed_position_qty}, then {again.signed_position_qty}); "
                "the next cycle reads it again")
        return again

    async def _cycle(self, ts: int, hedge_state: str) -> CycleReport:
        report, obs = await self._prepare(ts, hedge_state)
        if obs is None or report.status != "idle":
            return report
        state = build_state(self.hedge, obs, opened_before=self._opened_before(),
                            reserve_spent=self._reserve_spent)
        params = policy_params(self.hedge)
        actions = get_policy(self.hedge.policy).decide(state, params)
        return await self._act(report, obs, state, actions, params_name=self.hedge.policy)

    async def close(self, *, sell_spot: bool) -> CycleReport:
        """Unwind the hedge with reduce-only orders (and sell the spot with it if asked)."""
        ts = self.clock.now_ms()
        row = self.hedge_row(ts)
        try:
            report, obs = await self._prepare(ts, row.state)
            if obs is None or report.status != "idle":
                return report
            state = build_state(self.hedge, obs, opened_before=True,
                                reserve_spent=self._reserve_spent)
            actions: tuple[Action, ...] = (AdjustHedge(-state.hedge_qty),)
            if sell_spot and state.spot_qty > 0:
                actions += (SellSpot(min(state.spot_qty, obs.exposure_qty)),)
            # An explicit close goes ahead on a paused hedge: the user asked for exactly this.
            report = await self._act(report, obs, state, actions, params_name="close",
                                     honour_pause=False)
        except ExchangeError as err:
            self._record("error", ts, {"error": str(err), "during": "close"})
            return CycleReport(self.hedge.name, ts, "error", [f"exchange error: {err}"],
                               problem=f"exchange error: {err}")
        if self.executor.sends and report.status != "error":
            if self._transition(rc.CLOSED, ts):
                report.lines.append("hedge closed: the loop leaves it alone from now on")
            else:
                report.lines.append(f"{_NEWER_CHANGE}; not marked closed")
        return report

    # -------------------------------------------------------------------- parts
    async def _act(self, report: CycleReport, obs: Observation, state: HedgeState,
                   actions: tuple[Action, ...], params_name: str,
                   honour_pause: bool = True) -> CycleReport:
        ts = report.ts_ms
        steps = self.steps(state, actions, obs.instrument, obs.specs, len(self._refusals))
        steps, paced = pace(steps, self._refusals,
                            FreeMargin(state.futures_wallet_usdt, state.mark_price, obs.instrument))
        calls = venue_calls(steps)
        figures = risk_figures(state, obs.brackets)
        # Deferred: written in one transaction with the first order's intent (or just below).
        self._record("decision", ts, defer=True, payload={
            "policy": params_name, "observed": state_dict(state),
            "figures": {k: _plain(v) for k, v in figures.items()},
            "actions": [action_dict(a) for a in actions],
            "calls": [describe(c) for c in calls],
        })
        report.lines += [describe(n) for n in steps
                         if isinstance(n, Note) and not n.alert]
        report.lines += paced
        report.state, report.actions, report.figures = state, actions, figures
        report.lines += [f"ALERT {a.code}: {a.message}" for a in actions if isinstance(a, Alert)]
        try:
            # The kill switch is read before every step: a pause while this cycle observed or
            # acted wins over what is left of the plan.
            report.lines += await self.executor.execute(
                steps, self.hedge.name, ts,
                stop_states=(rc.PAUSED, rc.CLOSED) if honour_pause else ())
        except HedgeStopped as stop:
            report.status = stop.state
            report.lines.append(f"hedge was {stop.state} during the cycle: nothing more sent")
        except MoneyInDoubt as doubt:
            # Like an order in doubt: nothing failed, the plan waits for the history.
            self._record("waiting", ts, {"money_in_doubt": str(doubt)})
            report.status = "waiting"
            report.lines.append(str(doubt))
        except ExchangeError as err:
            self._record("error", ts, {"error": str(err), "calls": [describe(c) for c in calls]})
            report.status = "error"
            report.problem = f"exchange error: {err}"
            report.lines.append(f"exchange error, stopped; the next cycle retries: {err}")
        else:
            report.status = "acted" if calls else "idle"
        if calls and self.executor.sends:
            obs = await observe(self.venue, self.hedge, ts, self._specs)
            state = build_state(self.hedge, obs, opened_before=True,
                                reserve_spent=self._read_reserve_spent())
            report.state, report.figures = state, risk_figures(state, obs.brackets)
        self._snapshot(ts, state)
        # The outcome, after the decision row: status reads its state and risk figures.
        self._record("result", ts, {
            "status": report.status, "observed": state_dict(state),
            "figures": {k: _plain(v) for k, v in report.figures.items()},
            "lines": report.lines,
        })
        return report

    def steps(self, state: HedgeState, actions: tuple[Action, ...], instrument: Instrument,
              specs: dict[str, Instrument] | None = None, refusals: int = 0) -> list[Step]:
        """The steps this engine performs for ``actions`` (the backtest's translation).

        ``specs`` holds the delivery contracts' instruments when a carry policy may roll;
        ``refusals`` (recent refused orders) widens the price-move headroom of the transfers.
        """
        target = Target(self.symbol, spot_symbol(self.hedge), instrument, state.margin_mode,
                        self.hedge.execution.max_order_notional, dict(specs or {}),
                        price_move_allowance=allowance_after(refusals))
        return translate(actions, state, policy_params(self.hedge), target)

    async def _delivered(self, obs: Observation) -> rc.Verdict | None:
        """A position missing because its delivery contract expired (only read on a mismatch)."""
        expiries: dict[str, int] = {}
        for symbol in {r.symbol for r in self.store.orders(self.hedge.name)
                       if r.market == "futures" and r.symbol != self.symbol}:
            try:
                expiry = (await self.venue.instrument(symbol)).expiry_ms
            except PerphedgeError:
                continue  # no longer listed: its expiry cannot be read, nothing to explain
            if expiry is not None:
                expiries[symbol] = expiry
        if not expiries:
            return None
        return rc.check_delivery(self.store, self.hedge.name, self.hedge.account, obs, expiries)

    def _refuse(self, ts: int, lines: list[str]) -> CycleReport:
        if self.executor.sends and not self._transition(rc.HALTED, ts):
            # A resume (or pause) landed after this cycle read the state: the user's newer
            # word wins over a refusal decided on the older one.
            lines = [*lines, f"{_NEWER_CHANGE}; not halted"]
        self._record("refused", ts, {"lines": lines})
        reasons = [x.removeprefix("REFUSED: ") for x in lines if x.startswith("REFUSED")]
        return CycleReport(self.hedge.name, ts, "refused", lines,
                           problem=f"refused: {reasons[0] if reasons else '; '.join(lines)}")

    def _read_reserve_spent(self) -> Decimal:
        """What the reserve has given so far (read only for a hedge that has a reserve)."""
        if self.hedge.reserve_usdt is None:
            return ZERO
        return self.store.reserve_spent(self.hedge.name)

    def _opened_before(self) -> bool:
        if not self._filled_once:
            self._filled_once = self.store.has_futures_fill(self.hedge.name)
        return self._filled_once

    async def _sync_funding(self, ts: int) -> list[str]:
        """Record funding settlements from the venue's income history (each once)."""
        # Start at the last recorded settlement, else at the hedge's first fill: both are in
        # the exchange's own time, which may differ from ours (a replaying local exchange).
        since = self._funding_since
        if since is None:
            since = self.store.funding_sync_start(self.hedge.name)
            if since is None:
                return []  # never filled: no position, no funding
        new = ZERO
        count = 0
        for pay in await self.venue.funding_history(self.symbol, since):
            if self.store.record_funding(NewFunding(hedge_id=self.hedge.name, symbol=pay.symbol,
                                                    ts_ms=pay.ts_ms, rate=None,
                                                    amount_usdt=pay.amount_usdt)):
                new += pay.amount_usdt
                count += 1
            since = max(since, pay.ts_ms + 1)
        self._funding_since = since
        return [f"funding: {count} settlement(s), {new} USDT"] if count else []

    def _snapshot(self, ts: int, state: HedgeState) -> None:
        self.store.record_snapshot(NewSnapshot(
            hedge_id=self.hedge.name, ts_ms=ts, spot_qty_base=state.spot_qty,
            hedge_qty_base=state.hedge_qty, mark_price_usdt=state.mark_price,
            liquidation_price_usdt=state.liquidation_price,
            margin_balance_usdt=state.margin_balance_usdt,
            unrealized_pnl_usdt=state.unrealized_pnl_usdt,
        ))


def ensure_hedge_row(store: HedgeRepository, hedge: HedgeConfig, ts_ms: int) -> StoredHedge:
    """The hedge's row in the store, created (state ``active``) on first use."""
    row = store.hedge(hedge.name)
    if row is None:
        row = store.add_hedge(NewHedge(
            id=hedge.name, account=hedge.account, asset=hedge.asset.upper(),
            symbol=venue_symbol(hedge), exposure_kind=hedge.kind, policy=hedge.policy,
            state=rc.ACTIVE, created_ms=ts_ms, updated_ms=ts_ms,
            spec_json=hedge.model_dump_json(), state_version=0,
        ))
    return row


def decision_payload(raw: str) -> dict[str, Any]:
    """A decision row's payload back as a dict."""
    data: dict[str, Any] = json.loads(raw)
    return data
