"""The demo's scoreboard: the hedged account against the same holder without a hedge.

Pure bookkeeping over what the exchange reports (:class:`~perphedge.demo.exchange.ExchangeView`)
after each engine cycle. Three values are followed, in USDT:

* **hedged**: everything the account is worth (spot at the price, both wallets, isolated
  margin, unrealised PnL) — the exchange's numbers, not the engine's;
* **unhedged**: the same starting coins and USDT, the same deposit and the same sale, no hedge;
* **locked**: the value the hedge is meant to hold — the starting value, plus each deposit at
  its price when it arrived (a sale converts value, it does not change it).

The deviation ``(hedged − locked) / locked`` is shown with and without the funding received,
so the hedge's tracking error is not flattered by the funding it earned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from perphedge.demo.exchange import EventOutcome, ExchangeView
from perphedge.domain.money import HUNDRED, ZERO

__all__ = ["Point", "Tracker"]


@dataclass(frozen=True, slots=True)
class Point:
    """One cycle's picture, Decimal throughout (charts convert at the edge)."""

    ts_ms: int
    price_usdt: Decimal
    hedged_usdt: Decimal
    unhedged_usdt: Decimal
    locked_usdt: Decimal
    funding_usdt: Decimal
    fees_usdt: Decimal  # the engine's orders only (the holder's own sale fee is left out)
    spot_qty: Decimal
    hedge_qty: Decimal  # size of the short, ≥ 0
    liquidation_price_usdt: Decimal | None
    margin_balance_usdt: Decimal

    @property
    def deviation_pct(self) -> Decimal:
        """Hedged vs locked, funding included."""
        return (self.hedged_usdt - self.locked_usdt) / self.locked_usdt * HUNDRED

    @property
    def deviation_before_funding_pct(self) -> Decimal:
        """Hedged vs locked with the funding received taken out."""
        gap = self.hedged_usdt - self.funding_usdt - self.locked_usdt
        return gap / self.locked_usdt * HUNDRED

    @property
    def drift_qty(self) -> Decimal:
        """Hedge minus spot: how far the hedge is from the coins it covers (0 when aligned)."""
        return self.hedge_qty - self.spot_qty

    @property
    def leverage(self) -> Decimal | None:
        """Notional over margin balance; None when flat."""
        if self.hedge_qty == 0 or self.margin_balance_usdt <= 0:
            return None
        return self.hedge_qty * self.price_usdt / self.margin_balance_usdt


@dataclass
class Tracker:
    """Follows the account, its unhedged twin and the locked value across the run."""

    start: ExchangeView
    unhedged_qty: Decimal = ZERO
    unhedged_usdt: Decimal = ZERO
    locked_usdt: Decimal = ZERO
    holder_fees_usdt: Decimal = ZERO
    points: list[Point] = field(default_factory=list)
    outcomes: list[EventOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.unhedged_qty = self.start.spot_qty
        # The twin starts with every USDT the account has, wherever it sits.
        self.unhedged_usdt = self.start.equity_usdt - self.start.spot_qty * self.start.price_usdt
        self.locked_usdt = self.start.equity_usdt

    def on_event(self, outcome: EventOutcome) -> None:
        """The holder's spot event happens to the twin too; a deposit adds to the locked value."""
        self.outcomes.append(outcome)
        self.unhedged_qty += outcome.qty_base
        self.unhedged_usdt += outcome.usdt
        self.holder_fees_usdt += outcome.fee_usdt
        if outcome.event.kind == "deposit":
            self.locked_usdt += outcome.qty_base * outcome.price_usdt

    def add(self, view: ExchangeView) -> Point:
        """Record the account after a cycle."""
        point = Point(
            ts_ms=view.ts_ms, price_usdt=view.price_usdt, hedged_usdt=view.equity_usdt,
            unhedged_usdt=self.unhedged_qty * view.price_usdt + self.unhedged_usdt,
            locked_usdt=self.locked_usdt,
            funding_usdt=view.funding_usdt - self.start.funding_usdt,
            fees_usdt=view.fees_usdt - self.start.fees_usdt - self.holder_fees_usdt,
            spot_qty=view.spot_qty, hedge_qty=abs(view.position_qty),
            liquidation_price_usdt=view.liquidation_price_usdt,
            margin_balance_usdt=view.margin_balance_usdt,
        )
        self.points.append(point)
        return point

    @property
    def last(self) -> Point:
        return self.points[-1]

    def extremes(self) -> dict[str, Decimal]:
        """Lowest and highest deviation (with and without funding) and hedged value."""
        pts = self.points
        return {
            "deviation_min_pct": min(p.deviation_pct for p in pts),
            "deviation_max_pct": max(p.deviation_pct for p in pts),
            "deviation_before_funding_min_pct": min(p.deviation_before_funding_pct for p in pts),
            "deviation_before_funding_max_pct": max(p.deviation_before_funding_pct for p in pts),
            "hedged_min": min(p.hedged_usdt for p in pts),
            "hedged_max": max(p.hedged_usdt for p in pts),
            "unhedged_min": min(p.unhedged_usdt for p in pts),
            "unhedged_max": max(p.unhedged_usdt for p in pts),
        }
