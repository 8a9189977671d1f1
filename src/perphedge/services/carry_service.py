"""Use case: compare the carry of a perpetual and of delivery contracts (``perphedge carry``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Protocol

from perphedge.domain.carry import (
    DAY_MS,
    FUNDING_WINDOWS_DAYS,
    CarryQuote,
    Recommendation,
    basis,
    days_between,
    delivery_quote,
    mean_rate,
    perpetual_quote,
    recommend,
    trailing_rates,
)
from perphedge.domain.fees import BINANCE_USDM_STANDARD, FeeSchedule
from perphedge.domain.funding import annualized_rate
from perphedge.domain.instrument import Instrument
from perphedge.domain.money import HUNDRED
from perphedge.domain.types import Side
from perphedge.errors import DataError, InputError

#: Which funding estimate stands for the perpetual's future carry: a trailing window or "current".
FUNDING_BASES = ("current", *(f"{d}d" for d in FUNDING_WINDOWS_DAYS))


@dataclass(frozen=True, slots=True)
class DeliveryPrice:
    """A listed delivery contract's last price (USDT) and its delivery time (UTC ms)."""

    symbol: str
    expiry_ms: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class CarryMarket:
    """Everything carry needs at one instant ``as_of_ms`` (UTC ms), from bundled data or live.

    ``settlements`` are (time ms, rate per interval) up to ``as_of_ms``, at least the longest
    trailing window; ``current_rate`` is the last settled rate (bundled) or the exchange's
    predicted next rate (live).
    """

    asset: str
    perpetual: Instrument
    as_of_ms: int
    spot_price: Decimal
    perp_price: Decimal | None
    current_rate: Decimal
    settlements: tuple[tuple[int, Decimal], ...]
    deliveries: tuple[DeliveryPrice, ...]
    source: str
    spot_source: str


class CarrySource(Protocol):
    """Spot, perpetual funding and delivery prices of one asset at a day (None: the latest)."""

    def carry_market(self, asset: str, day: date | None) -> CarryMarket:
        """Raises InputError for an unknown asset or a day outside the data."""
        ...


@dataclass(frozen=True, slots=True)
class CarryOptions:
    """User input for ``perphedge carry``, typed at the edge: ``as_of`` a UTC day
    (``perphedge.parse.parse_day``), ``margin_pct`` a Decimal of 0 or more (%/yr); the names
    (``funding_basis``, ``current``) are checked here against the data."""

    asset: str
    as_of: date | None = None
    funding_basis: str = "30d"
    horizon_days: int = 90
    margin_pct: Decimal = Decimal("0.5")
    current: str | None = None


@dataclass(frozen=True, slots=True)
class FundingAverage:
    """Mean funding rate per interval over a trailing window, and how many settlements it used."""

    label: str
    rate_per_interval: Decimal
    annualized: Decimal
    settlements: int


@dataclass(frozen=True, slots=True)
class CarryRow:
    """One instrument of the table: its price, basis, expiry and carry quote."""

    quote: CarryQuote
    price: Decimal | None
    basis: Decimal | None
    expiry_ms: int | None
    days_to_expiry: Decimal | None


@dataclass(frozen=True, slots=True)
class CarryReport:
    """The comparison and one recommendation per hedge side."""

    market: CarryMarket
    funding: tuple[FundingAverage, ...]
    funding_basis: str
    horizon_days: int
    margin_per_year: Decimal
    fees: FeeSchedule
    rows: tuple[CarryRow, ...]
    recommendations: tuple[Recommendation, ...]


def day_close_ms(day: date) -> int:
    """UTC ms at which the daily bar of ``day`` closes (the next midnight): the carry instant."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int(midnight.timestamp() * 1000) + DAY_MS


def funding_averages(market: CarryMarket) -> tuple[FundingAverage, ...]:
    """The current rate and the trailing 7-, 30- and 90-day means, each also annualised."""
    hours = market.perpetual.funding_interval_hours or 8
    out = [FundingAverage("current", market.current_rate,
                          annualized_rate(market.current_rate, hours), 1)]
    for days in FUNDING_WINDOWS_DAYS:
        rates = trailing_rates(market.settlements, market.as_of_ms, days)
        expected = days * 24 // hours
        # A window with settlements missing would be an average of something else.
        if len(rates) < expected:
            raise DataError(f"funding of {market.perpetual.symbol}: {len(rates)} settlements in "
                            f"the {days} days to the as-of time, {expected} expected")
        mean = mean_rate(rates)
        out.append(FundingAverage(f"{days}d", mean, annualized_rate(mean, hours), len(rates)))
    return tuple(out)


def _options(options: CarryOptions) -> tuple[str, Decimal]:
    basis_label = options.funding_basis.strip().lower()
    if basis_label not in FUNDING_BASES:
        raise InputError("--funding-basis", f"one of {', '.join(FUNDING_BASES)}",
                         options.funding_basis)
    if not 1 <= options.horizon_days <= 3650:
        raise InputError("--horizon-days", "a whole number of days from 1 to 3650",
                         options.horizon_days)
    return basis_label, options.margin_pct / HUNDRED


def compare_carry(
    options: CarryOptions, source: CarrySource, fees: FeeSchedule = BINANCE_USDM_STANDARD
) -> CarryReport:
    """Parse ``options``, read the market at the as-of day and compare every instrument."""
    basis_label, margin = _options(options)
    market = source.carry_market(options.asset, options.as_of)
    averages = funding_averages(market)
    chosen = next(a for a in averages if a.label == basis_label)
    perp = market.perpetual
    perp_row = CarryRow(
        quote=perpetual_quote(perp.symbol, chosen.rate_per_interval,
                              perp.funding_interval_hours or 8, fees.taker_rate,
                              Decimal(options.horizon_days)),
        price=market.perp_price,
        basis=None if market.perp_price is None else basis(market.perp_price, market.spot_price),
        expiry_ms=None,
        days_to_expiry=None,
    )
    rows = [perp_row]
    for d in sorted(market.deliveries, key=lambda d: d.expiry_ms):
        days = days_between(market.as_of_ms, d.expiry_ms)
        if days <= 0:
            continue  # delivered already: not a hedge one can open
        rows.append(CarryRow(
            quote=delivery_quote(d.symbol, d.price, market.spot_price, days, fees.taker_rate),
            price=d.price, basis=basis(d.price, market.spot_price), expiry_ms=d.expiry_ms,
            days_to_expiry=days,
        ))
    quotes = [r.quote for r in rows]
    if options.current is not None and options.current not in {q.symbol for q in quotes}:
        raise InputError("--current", f"one of {', '.join(q.symbol for q in quotes)}",
                         options.current)
    recs = tuple(
        recommend(side, quotes, current=options.current, margin_per_year=margin)
        for side in (Side.SHORT, Side.LONG)
    )
    return CarryReport(market, averages, basis_label, options.horizon_days, margin, fees,
                       tuple(rows), recs)
