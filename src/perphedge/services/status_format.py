"""A hedge's view as a person reads it: USDT to the cent, quantities to the lot, percents to 0.01.

Used by ``perphedge status`` / ``run`` (the table) and the dashboard (the cards), so both round
the same way. JSON (``status --json``, the API) keeps the exact Decimals.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from functools import cache

from perphedge.domain.money import CENT
from perphedge.errors import PerphedgeError
from perphedge.services.hedge_models import HedgeView

DASH = "—"


def money(value: Decimal | None) -> str:
    """USDT to the cent with thousands separators (half-even, as accountants round).

    >>> money(Decimal("49321.005")), money(Decimal("-0.004")), money(None)
    ('49,321.00', '0.00', '—')
    """
    if value is None:
        return DASH
    rounded = value.quantize(CENT, rounding=ROUND_HALF_EVEN)
    return f"{rounded + 0:,.2f}" if rounded else "0.00"


def percent(value: Decimal | None) -> str:
    """A percentage to two places.

    >>> percent(Decimal("49.32787096337370799108260512"))
    '49.33 %'
    """
    return DASH if value is None else f"{value.quantize(CENT, rounding=ROUND_HALF_EVEN)} %"


def quantity(value: Decimal | None, lot_step: Decimal | None) -> str:
    """A quantity cut to the lot step (towards zero: a shown size is never more than held).

    >>> step = Decimal("0.001")
    >>> quantity(Decimal("1.50049"), step), quantity(Decimal("-0.0019"), step)
    ('1.500', '-0.001')
    """
    if value is None:
        return DASH
    if lot_step is None:
        return format(value.normalize(), "f")
    return format(value.quantize(lot_step, rounding=ROUND_DOWN), "f")


@cache
def lot_step(asset: str) -> Decimal | None:
    """The bundled perpetual's lot step of ``asset`` (None when the bundle does not list it)."""
    from perphedge.adapters.marketdata.bundled import BundledMarketData

    try:
        return BundledMarketData().instrument(asset).lot_step
    except PerphedgeError:
        return None


def funding_text(view: HedgeView) -> str:
    """Net funding with its direction: ``12.00 received`` or ``3.10 paid``."""
    if view.funding_total >= 0:
        return f"{money(view.funding_total)} received"
    return f"{money(-view.funding_total)} paid"


def ratio(value: Decimal | None) -> str:
    """A ratio (1 = 100 %) as a percent to two places."""
    return DASH if value is None else percent(value * 100)


def status_lines(view: HedgeView) -> list[tuple[str, str]]:
    """(label, text) rows of one hedge, in display order."""
    lot = lot_step(view.asset)
    hedge_leg, spot_leg = view.hedge_leg, view.spot_leg
    return [
        ("asset", view.asset), ("kind", view.kind), ("state", view.state),
        (f"spot quantity ({view.asset})", quantity(view.spot_quantity, lot)),
        (f"target quantity ({view.asset})", quantity(view.target_quantity, lot)),
        (f"hedge quantity ({view.asset})", quantity(view.hedge_quantity, lot)),
        (f"drift ({view.asset})", quantity(view.drift, lot)),
        ("drift", percent(view.drift_pct)),
        ("mark price (USDT)", money(view.mark_price)),
        ("liquidation price (USDT)", money(view.liquidation_price)),
        ("runway", percent(view.runway_pct)),
        ("margin ratio", ratio(view.margin_ratio)),
        ("hedge entry (USDT)", money(view.hedge_entry_price)),
        ("locked value (USDT)", money(view.locked_value)),
        ("hedged value (USDT)", money(view.hedged_value)),
        ("deviation", percent(view.deviation_pct)),
        ("effective locked price (USDT)", money(view.effective_locked_price)),
        ("hedge effectiveness", ratio(view.hedge_effectiveness)),
        ("unrealized pnl (USDT)", money(view.unrealized_pnl)),
        ("hedge realized pnl (USDT)", money(hedge_leg.realized if hedge_leg else None)),
        ("spot pnl vs lock (USDT)", money(spot_leg.unrealized if spot_leg else None)),
        ("funding (USDT)", funding_text(view)),
        ("fees (USDT)", money(view.fees_total)),
        ("last cycle", view.last_cycle_at or DASH),
        ("lease holder", view.lease_holder or DASH),
    ]
