"""A plan as plain data (decimal strings) for JSON output and, later, the web layer."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from perphedge.domain.money import plain, to_cents
from perphedge.planning.hedge_plan import RiskFigures
from perphedge.services.plan_service import PlanResult

PCT = Decimal("0.01")
RATE = Decimal("0.00000001")


def _money(value: Decimal) -> str:
    return f"{to_cents(value):f}"


def _opt_money(value: Decimal | None) -> str | None:
    return None if value is None else _money(value)


def _pct(value: Decimal) -> str:
    return plain(value.quantize(PCT))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _risk(risk: RiskFigures) -> dict[str, Any]:
    return {
        "wallet_balance": _money(risk.wallet_balance_usdt),
        "initial_margin": _money(risk.initial_margin_usdt),
        "maintenance_margin": _money(risk.maintenance_margin_usdt),
        "maintenance_margin_rate": plain(risk.entry_bracket.maint_margin_rate),
        "entry_bracket": risk.entry_bracket.number,
        "liquidation_price": _opt_money(risk.liquidation_price_usdt),
        "liquidation_bracket": None if risk.liquidation_bracket is None
        else risk.liquidation_bracket.number,
        "liquidation_maintenance_margin_rate": None if risk.liquidation_bracket is None
        else plain(risk.liquidation_bracket.maint_margin_rate),
        "runway_pct": _pct(risk.runway_pct),
    }


def plan_to_dict(result: PlanResult) -> dict[str, Any]:
    """Every figure of the plan; money to the cent, quantities and rates exact, as strings."""
    plan = result.plan
    req = plan.request
    funding = plan.funding
    out: dict[str, Any] = {
        "exchange": result.sources.get("exchange", "binance"),
        "asset": req.exposure.asset,
        "exposure": req.exposure.kind.value,
        "exposure_quantity": plain(req.exposure.qty_base),
        "symbol": plan.order.symbol,
        "side": plan.order.side.order_side,
        "position_side": plan.order.side.value,
        "quantity": plain(plan.order.qty_base),
        "unhedged_remainder": plain(plan.remainder_qty_base),
        "entry_price": plain(req.mark_price),
        "price_source": result.price_source,
        "price_time": _iso(result.snapshot.ts_ms) if result.price_source != "given" else None,
        "notional": _money(plan.order.notional_usdt),
        "locked_value": _money(plan.locked_value_usdt),
        "leverage": plain(req.leverage),
        "margin_mode": req.margin_mode.value,
        **_risk(plan.risk),
        "funding_rate": None if funding is None else plain(funding.rate_per_interval),
        "funding_source": result.funding_source,
        "funding_interval_hours": None if funding is None else funding.interval_hours,
        "funding_per_interval": None if funding is None
        else _money(funding.received_per_interval_usdt),
        "funding_per_day": None if funding is None else _money(funding.received_per_day_usdt),
        "funding_annualized_pct": None if funding is None
        else plain(funding.annualized_pct.quantize(Decimal("0.0001"))),
        "funding_direction": None if funding is None else funding.direction.value,
        "fees": _money(plan.entry_fee_usdt),
        "fee_rate": plain(req.fees.taker_rate),
        "usdt_available": None if req.usdt_available is None else plain(req.usdt_available),
        "margin_shortfall": _money(plan.margin_shortfall_usdt),
        "historical_move": None,
        "warnings": [{"code": w.code, "message": w.message} for w in plan.warnings],
        "sources": result.sources,
    }
    move = req.adverse_move
    if move is not None:
        out["historical_move"] = {
            "horizon_days": move.horizon_bars,
            "move_pct": _pct(Decimal(str(move.move_pct))),
            "from": _iso(move.start_ms),
            "to": _iso(move.end_ms),
            "from_price": plain(Decimal(str(move.from_price))),
            "to_price": plain(Decimal(str(move.to_price))),
        }
    if plan.self_funded is not None:
        sf = plan.self_funded
        out["self_funded"] = {
            "sell_quantity": plain(sf.sell_qty_base),
            "sell_proceeds": _money(sf.sell_proceeds_usdt),
            "hedge_quantity": plain(sf.hedge.qty_base),
            **_risk(sf.risk),
        }
    return out
