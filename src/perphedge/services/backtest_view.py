"""Backtest results as plain data (decimal strings) for JSON, the CLI summary and the report.

Money is rounded to the cent, quantities are exact, percentages have two decimals, and times
are ISO-8601 UTC with a ``Z``. The web layer will serve the same dictionaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from perphedge.backtest.result import ActionEvent, BacktestResult, FloatArray
from perphedge.domain.money import plain, to_cents

if TYPE_CHECKING:  # the service imports this module; only the types flow back
    from perphedge.services.backtest_service import Sweep

PCT = Decimal("0.01")

#: Action kinds that count as a change of the hedge, for the report's markers.
REBALANCE_KINDS = frozenset({"open", "rebalance", "close", "roll", "delivery"})
MARGIN_KINDS = frozenset({"margin_add", "margin_remove", "transfer", "spot_sell", "spot_buy"})


def money(value: Decimal) -> str:
    """A USDT amount to the cent, as a plain string: ``Decimal('1114.785')`` → ``'1114.78'``."""
    return f"{to_cents(value):f}"


def pct(value: Decimal) -> str:
    """A percentage to two decimals: ``Decimal('-1.2345')`` → ``'-1.23'``."""
    return plain(value.quantize(PCT))


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC: ``1672531200000`` → ``'2023-01-01T00:00:00Z'``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def day(ms: int) -> str:
    """Epoch milliseconds as a UTC date: ``1672531200000`` → ``'2023-01-01'``."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def hedge_side(result: BacktestResult) -> str:
    """``short`` for a holding, ``long`` for a planned purchase (the side of the perpetual)."""
    return "long" if result.purchase else "short"


def _action(event: ActionEvent) -> dict[str, Any]:
    return {
        "time": iso(event.ts_ms),
        "kind": event.kind,
        "quantity": plain(event.qty_base),
        "amount": money(event.amount_usdt),
        "price": money(event.price_usdt),
        "note": event.note,
    }


def result_to_dict(
    result: BacktestResult, *, quantity: Decimal | None = None, with_actions: bool = False
) -> dict[str, Any]:
    """Every summary figure of one run; ``with_actions`` adds the decision log."""
    out: dict[str, Any] = {
        "asset": result.asset,
        "policy": result.policy,
        "side": hedge_side(result),
        "purchase": result.purchase,
        "quantity": None if quantity is None else plain(quantity),
        "leverage": plain(result.leverage),
        "start": iso(result.start_ms),
        "end": iso(result.end_ms),
        "liquidated": bool(result.liquidations),
        "liquidations": [
            {
                "time": iso(liq.ts_ms),
                "price": money(liq.price_usdt),
                "margin_lost": money(liq.margin_lost_usdt),
            }
            for liq in result.liquidations
        ],
        "reserve_start": money(result.reserve_start_usdt),
        "value_start": money(result.value_start),
        "value_end": money(result.value_end),
        "value_min": money(result.value_min),
        "value_max": money(result.value_max),
        "unhedged_start": money(result.unhedged_start),
        "unhedged_end": money(result.unhedged_end),
        "unhedged_min": money(result.unhedged_min),
        "unhedged_max": money(result.unhedged_max),
        "deviation_min_pct": pct(result.deviation_min_pct),
        "deviation_max_pct": pct(result.deviation_max_pct),
        "deviation_min_with_funding_pct": pct(result.deviation_min_with_funding_pct),
        "deviation_max_with_funding_pct": pct(result.deviation_max_with_funding_pct),
        "funding_received": money(result.funding_received),
        "funding_paid": money(result.funding_paid),
        "funding_total": money(result.funding_total),
        "fees_total": money(result.fees_total),
        "rebalances": result.rebalances,
        "margin_moves": result.margin_moves,
        "final_spot_quantity": plain(result.final_spot_qty),
        "final_hedge_quantity": plain(result.final_hedge_qty),
        "contracts_held": list(result.contracts_held),
        "rolls": result.rolls,
        "roll_fees": money(result.roll_fees),
        "deliveries_settled": result.deliveries_settled,
        "notes": list(result.notes),
    }
    if with_actions:
        out["actions"] = [_action(a) for a in result.actions]
    return out


def worst_deviation_pct(result: BacktestResult) -> Decimal:
    """The largest distance of the hedged value from the locked value, excluding funding (%)."""
    return max(abs(result.deviation_min_pct), abs(result.deviation_max_pct))


def _sentence(result: BacktestResult) -> str:
    what = f"The {plain(result.leverage)}x {result.policy} {hedge_side(result)}"
    carry = (
        f"net funding {'received' if result.funding_total >= 0 else 'paid'} was "
        f"{money(abs(result.funding_total))} USDT and fees {money(result.fees_total)} USDT"
    )
    if result.liquidations:
        first = result.liquidations[0]
        more = len(result.liquidations) - 1
        again = f" (and {more} more time{'s' if more > 1 else ''})" if more else ""
        return (
            f"{what} was liquidated on {day(first.ts_ms)} at {money(first.price_usdt)} USDT"
            f"{again}, losing {money(first.margin_lost_usdt)} USDT of margin; {carry}."
        )
    return (
        f"{what} held, staying within {pct(worst_deviation_pct(result))} % of the locked value "
        f"(from {pct(result.deviation_min_pct)} % to {pct(result.deviation_max_pct)} % "
        f"before funding); {carry}."
    )


def verdict(results: Sequence[BacktestResult]) -> str:
    """One plain-English paragraph: which hedges were liquidated and how well the others held."""
    if not results:
        return "No backtest was run."
    first = results[0]
    unhedged_change = (
        (first.unhedged_end - first.unhedged_start) / first.unhedged_start * 100
        if first.unhedged_start
        else Decimal(0)
    )
    opening = (
        f"From {day(first.start_ms)} to {day(first.end_ms)} the unhedged {first.asset} "
        f"{'purchase' if first.purchase else 'holding'} went from "
        f"{money(first.unhedged_start)} to {money(first.unhedged_end)} USDT "
        f"({'+' if unhedged_change >= 0 else ''}{pct(unhedged_change)} %)."
    )
    return " ".join([opening, *(_sentence(r) for r in results)])


def compare_to_dict(
    results: Sequence[BacktestResult], *, quantity: Decimal | None = None
) -> dict[str, Any]:
    """Several policies on the same data: ``{"results": [...], "verdict": ...}``."""
    return {
        "results": [result_to_dict(r, quantity=quantity) for r in results],
        "verdict": verdict(results),
    }


def sweep_to_dict(sweep: Sweep) -> dict[str, Any]:
    """A sweep: ``summary`` (one row per policy) and ``rows`` (one per start and policy)."""
    return {
        "asset": sweep.asset,
        "quantity": plain(sweep.quantity),
        "leverage": plain(sweep.leverage),
        "horizon_days": sweep.horizon_days,
        "summary": [
            {
                "policy": s.policy,
                "runs": s.runs,
                "liquidated": s.liquidated,
                "worst_deviation_pct": pct(s.worst_deviation_pct),
                "worst_start": iso(s.worst_start_ms),
                "funding_total": money(s.funding_total),
                "fees_total": money(s.fees_total),
            }
            for s in sweep.summaries
        ],
        "rows": [
            {
                "policy": r.policy,
                "start": iso(r.start_ms),
                "end": iso(r.end_ms),
                "liquidated": None if r.liquidated_ms is None else iso(r.liquidated_ms),
                "worst_deviation_pct": pct(r.worst_deviation_pct),
                "funding_total": money(r.funding_total),
                "fees_total": money(r.fees_total),
            }
            for r in sweep.rows
        ],
        "sources": list(sweep.sources),
    }


def locked_end(result: BacktestResult) -> Decimal:
    """The locked value at the last bar (the start value plus exposure changes), USDT."""
    return to_cents(Decimal(repr(float(result.series.locked_value[-1]))))


def carry_series(result: BacktestResult) -> tuple[FloatArray, FloatArray]:
    """Per bar: cumulative funding, and the basis-and-other P&L (hedged − locked − funding +
    fees) — what the hedge made or lost apart from funding and fees, USDT."""
    s = result.series
    return s.funding_cum, s.hedged_value - s.locked_value - s.funding_cum + s.fees_cum


def instrument_row(result: BacktestResult) -> dict[str, Any]:
    """One run of the perpetual-vs-delivery comparison, as decimal strings.

    ``result_vs_locked`` = hedged value at the end − locked value at the end: what the hedge
    cost (negative) or earned over the window, all in. It splits into ``funding_total`` +
    ``basis_and_other_pnl`` − ``fees_total``; the middle term is the residual — for a delivery
    hedge mostly the premium it sold converging to spot, for the perpetual the perp/spot gap.
    """
    vs_locked = result.value_end - locked_end(result)
    # The residual is taken from the rounded figures, so the printed parts add up to the cent.
    residual = (Decimal(money(vs_locked)) - Decimal(money(result.funding_total))
                + Decimal(money(result.fees_total)))
    return {
        "policy": result.policy,
        "contracts_held": list(result.contracts_held),
        "deviation_min_pct": pct(result.deviation_min_with_funding_pct),
        "deviation_max_pct": pct(result.deviation_max_with_funding_pct),
        "result_vs_locked": money(vs_locked),
        "funding_total": money(result.funding_total),
        "basis_and_other_pnl": money(residual),
        "fees_total": money(result.fees_total),
        "roll_fees": money(result.roll_fees),
        "rolls": result.rolls,
        "deliveries_settled": result.deliveries_settled,
        "liquidated": bool(result.liquidations),
    }


def instruments_comparison(results: Sequence[BacktestResult]) -> dict[str, Any]:
    """Perpetual (``managed``) against delivery-contract hedges: rows and a one-line verdict."""
    rows = [instrument_row(r) for r in results]
    perp = next((r for r in results if r.policy == "managed"), None)
    text = []
    for r in results:
        if perp is None or r is perp:
            continue
        gap = (r.value_end - locked_end(r)) - (perp.value_end - locked_end(perp))
        better = "better" if gap >= 0 else "worse"
        text.append(
            f"The {r.policy} hedge ({', '.join(r.contracts_held) or 'flat'}) ended "
            f"{money(abs(gap))} USDT {better} than the perpetual: it took "
            f"{money(r.funding_total)} USDT of funding and {row_of(rows, r.policy)} USDT of "
            f"basis and other P&L, paid {money(r.fees_total)} USDT of fees with "
            f"{r.rolls} roll{'s' if r.rolls != 1 else ''}; the perpetual took "
            f"{money(perp.funding_total)} USDT of funding and paid {money(perp.fees_total)} "
            "USDT of fees.")
    return {"rows": rows, "verdict": " ".join(text)}


def row_of(rows: Sequence[dict[str, Any]], policy: str) -> str:
    """The basis-and-other P&L of ``policy`` in ``rows``."""
    return str(next(r["basis_and_other_pnl"] for r in rows if r["policy"] == policy))
