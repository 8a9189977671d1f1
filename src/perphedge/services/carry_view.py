"""A carry comparison as plain data (decimal strings) for JSON output and the table."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from perphedge.domain.carry import Recommendation
from perphedge.domain.money import HUNDRED, plain
from perphedge.domain.types import Side
from perphedge.services.carry_service import CarryReport, CarryRow

#: Percentages are shown to 4 decimals (0.0001 % = 1e-6 of notional per year).
PCT = Decimal("0.0001")
DAYS = Decimal("0.0001")
RATE = Decimal("0.00000001")


def pct(fraction: Decimal) -> str:
    """A fraction as a percentage string to 4 decimals: 0.0123456 → '1.2346'."""
    return plain((fraction * HUNDRED).quantize(PCT))


def iso(ms: int) -> str:
    """UTC ms as ISO 8601 with Z."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _row(row: CarryRow) -> dict[str, Any]:
    q = row.quote
    return {
        "symbol": q.symbol,
        "kind": q.kind.value,
        "price": None if row.price is None else plain(row.price),
        "basis_pct": None if row.basis is None else pct(row.basis),
        "expiry": None if row.expiry_ms is None else iso(row.expiry_ms),
        "days_to_expiry": None if row.days_to_expiry is None
        else plain(row.days_to_expiry.quantize(DAYS)),
        "holding_days": plain(q.holding_days.quantize(DAYS)),
        "paid_by_longs_pct_per_year": pct(q.paid_by_longs_per_year),
        "fees_pct_per_year": pct(q.fee_drag_per_year),
        "carry_short_pct_per_year": pct(q.carry(Side.SHORT)),
        "carry_long_pct_per_year": pct(q.carry(Side.LONG)),
    }


def _recommendation(rec: Recommendation) -> dict[str, Any]:
    return {
        "hedge_side": rec.side.value,
        "choice": rec.choice.symbol,
        "choice_carry_pct_per_year": pct(rec.choice.carry(rec.side)),
        "alternative": None if rec.alternative is None else rec.alternative.symbol,
        "advantage_pct_per_year": pct(rec.advantage_per_year),
        "switch": rec.switch,
        "reason": rec.reason,
    }


def carry_to_dict(report: CarryReport) -> dict[str, Any]:
    """Every figure of the comparison; rates exact to 1e-8, percentages to 4 decimals."""
    m = report.market
    return {
        "asset": m.asset,
        "as_of": iso(m.as_of_ms),
        "source": m.source,
        "spot_price": plain(m.spot_price),
        "spot_source": m.spot_source,
        "funding_interval_hours": m.perpetual.funding_interval_hours,
        "funding": [
            {"window": a.label, "rate_per_interval": plain(a.rate_per_interval.quantize(RATE)),
             "annualized_pct": pct(a.annualized), "settlements": a.settlements}
            for a in report.funding
        ],
        "funding_basis": report.funding_basis,
        "perpetual_horizon_days": report.horizon_days,
        "taker_fee_rate": plain(report.fees.taker_rate),
        "margin_pct_per_year": pct(report.margin_per_year),
        "rows": [_row(r) for r in report.rows],
        "recommendation": {r.side.value: _recommendation(r) for r in report.recommendations},
        "convention": "carry for a hedge side; positive = the hedger earns (per year, after "
                      "one round trip of taker fees)",
    }
