"""Carry of a hedge: what holding it earns or costs per year, perpetual vs delivery contracts.

The one sign convention of carry: **carry is for a hedge side, and positive means the hedger
earns.** It is built on the funding convention of :mod:`perphedge.domain.funding` (a positive
rate is paid by longs to shorts) and not restated: a perpetual's carry is the funding a one-unit
position of that side receives, and a delivery contract's basis is treated the same way — a
positive basis (contango) is paid by the long to the short, because the short sells at the
futures price and the price converges to spot by delivery.

All carries are simple annual fractions of the hedged notional (0.05 = 5 %/yr), ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from perphedge.domain.funding import DAYS_PER_YEAR, annualized_rate, funding_received
from perphedge.domain.money import ONE, ZERO
from perphedge.domain.types import ContractKind, Side
from perphedge.errors import InputError

DAY_MS = 86_400_000
#: Open and close (or the closing leg of a roll) — each a taker fill on the hedged notional.
ROUND_TRIP_FILLS = 2
#: Trailing windows of funding shown next to the current rate, in days.
FUNDING_WINDOWS_DAYS = (7, 30, 90)


def carry_of(side: Side, paid_by_longs_per_year: Decimal) -> Decimal:
    """Carry of ``side`` from a yearly rate that longs pay shorts (funding or basis), per year.

    >>> carry_of(Side.SHORT, Decimal("0.1095")), carry_of(Side.LONG, Decimal("0.1095"))
    (Decimal('0.1095'), Decimal('-0.1095'))
    """
    # One unit of notional at a price of one: the funding convention, applied once.
    return funding_received(side, ONE, ONE, paid_by_longs_per_year)


def days_between(from_ms: int, to_ms: int) -> Decimal:
    """Days (fractional) from ``from_ms`` to ``to_ms``, both UTC epoch milliseconds.

    >>> days_between(0, 36 * 3_600_000)
    Decimal('1.5')
    """
    return Decimal(to_ms - from_ms) / Decimal(DAY_MS)


def basis(futures_price: Decimal, spot_price: Decimal) -> Decimal:
    """Basis as a fraction of spot: ``(futures − spot) / spot``.

    >>> basis(Decimal("101000"), Decimal("100000"))
    Decimal('0.01')
    """
    if not spot_price.is_finite() or spot_price <= ZERO:
        raise InputError("spot_price", "a price greater than 0", spot_price)
    if not futures_price.is_finite() or futures_price <= ZERO:
        raise InputError("futures_price", "a price greater than 0", futures_price)
    return (futures_price - spot_price) / spot_price


def annualized_basis(basis_fraction: Decimal, days_to_expiry: Decimal) -> Decimal:
    """Simple yearly rate of a basis that converges over ``days_to_expiry``: basis × 365 / days.

    A 1 % basis with 73 days left is 1 % × 365 / 73 = 5 %/yr:

    >>> annualized_basis(Decimal("0.01"), Decimal(73))
    Decimal('0.05')
    """
    if not days_to_expiry.is_finite() or days_to_expiry <= ZERO:
        raise InputError("days_to_expiry", "a positive number of days before delivery",
                         days_to_expiry)
    return basis_fraction * DAYS_PER_YEAR / days_to_expiry


def fee_drag_per_year(taker_rate: Decimal, holding_days: Decimal) -> Decimal:
    """Yearly cost of one round trip (two taker fills) spread over ``holding_days``.

    Binance standard taker 0.05 %, held 73 days: 2 × 0.0005 × 365 / 73 = 0.5 %/yr:

    >>> fee_drag_per_year(Decimal("0.0005"), Decimal(73))
    Decimal('0.0050')
    """
    if not holding_days.is_finite() or holding_days <= ZERO:
        raise InputError("holding_days", "a positive number of days", holding_days)
    return ROUND_TRIP_FILLS * taker_rate * DAYS_PER_YEAR / holding_days


def mean_rate(rates: Sequence[Decimal]) -> Decimal:
    """Arithmetic mean of per-interval funding rates.

    >>> mean_rate([Decimal("0.0001"), Decimal("0.0002"), Decimal("-0.00003")])
    Decimal('0.00009')
    """
    if not rates:
        raise InputError("rates", "at least one funding rate", "none")
    return sum(rates, ZERO) / len(rates)


def trailing_rates(
    settlements: Sequence[tuple[int, Decimal]], as_of_ms: int, window_days: int
) -> list[Decimal]:
    """Rates settled in the window ``(as_of − window_days, as_of]``; settlements as (ms, rate).

    A settlement at exactly ``as_of_ms`` counts: its rate is known at that instant.

    >>> day = 86_400_000
    >>> trailing_rates([(0, Decimal(1)), (day, Decimal(2)), (2 * day, Decimal(3))], 2 * day, 1)
    [Decimal('3')]
    """
    start_ms = as_of_ms - window_days * DAY_MS
    return [rate for ts_ms, rate in settlements if start_ms < ts_ms <= as_of_ms]


@dataclass(frozen=True, slots=True)
class CarryQuote:
    """One instrument's carry, annualised, before and after the fees of one round trip.

    ``paid_by_longs_per_year`` is the annualised funding rate (perpetual) or annualised basis
    (delivery), signed as the market quotes it; :meth:`carry` turns it into a side's carry.
    ``holding_days`` is what the fees are spread over: the days to expiry of a delivery
    contract (held to delivery), a chosen horizon for a perpetual.
    """

    symbol: str
    kind: ContractKind
    paid_by_longs_per_year: Decimal
    fee_drag_per_year: Decimal
    holding_days: Decimal

    def __post_init__(self) -> None:
        if not self.paid_by_longs_per_year.is_finite():
            raise InputError("paid_by_longs_per_year", "a finite rate",
                             self.paid_by_longs_per_year)
        if not self.fee_drag_per_year.is_finite() or self.fee_drag_per_year < ZERO:
            raise InputError("fee_drag_per_year", "a fee of 0 or more", self.fee_drag_per_year)

    def carry_before_fees(self, side: Side) -> Decimal:
        """Yearly carry of ``side`` before fees (the short's and the long's are opposites)."""
        return carry_of(side, self.paid_by_longs_per_year)

    def carry(self, side: Side) -> Decimal:
        """Yearly carry of ``side`` after fees; both sides pay the fees."""
        return self.carry_before_fees(side) - self.fee_drag_per_year


def perpetual_quote(
    symbol: str, rate_per_interval: Decimal, interval_hours: int, taker_rate: Decimal,
    horizon_days: Decimal,
) -> CarryQuote:
    """A perpetual's carry at a per-interval funding rate, fees spread over ``horizon_days``.

    0.01 % per 8 h is 10.95 %/yr; one round trip at 0.05 % taker over 73 days is 0.5 %/yr,
    so a short hedge earns 10.45 %/yr and a long one pays 11.45 %/yr:

    >>> q = perpetual_quote("BTCUSDT", Decimal("0.0001"), 8, Decimal("0.0005"), Decimal(73))
    >>> q.carry(Side.SHORT), q.carry(Side.LONG)
    (Decimal('0.1045'), Decimal('-0.1145'))
    """
    return CarryQuote(
        symbol=symbol,
        kind=ContractKind.PERPETUAL,
        paid_by_longs_per_year=annualized_rate(rate_per_interval, interval_hours),
        fee_drag_per_year=fee_drag_per_year(taker_rate, horizon_days),
        holding_days=horizon_days,
    )


def delivery_quote(
    symbol: str, futures_price: Decimal, spot_price: Decimal, days_to_expiry: Decimal,
    taker_rate: Decimal,
) -> CarryQuote:
    """A delivery contract's carry, held to expiry: annualised basis net of a round trip.

    Futures 101,000 over spot 100,000 with 73 days left: basis 1 %, 5 %/yr; fees 0.5 %/yr;
    a short hedge earns 4.5 %/yr, a long one pays 5.5 %/yr:

    >>> q = delivery_quote("BTCUSDT_X", Decimal(101000), Decimal(100000), Decimal(73),
    ...                    Decimal("0.0005"))
    >>> q.carry(Side.SHORT), q.carry(Side.LONG)
    (Decimal('0.0450'), Decimal('-0.0550'))
    """
    return CarryQuote(
        symbol=symbol,
        kind=ContractKind.DELIVERY,
        paid_by_longs_per_year=annualized_basis(basis(futures_price, spot_price), days_to_expiry),
        fee_drag_per_year=fee_drag_per_year(taker_rate, days_to_expiry),
        holding_days=days_to_expiry,
    )


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The instrument to hedge ``side`` with, the alternative it was weighed against, and why.

    ``advantage_per_year`` is the choice's carry minus the alternative's (after fees);
    ``switch`` is True when the choice differs from the instrument currently held.
    """

    side: Side
    choice: CarryQuote
    alternative: CarryQuote | None
    advantage_per_year: Decimal
    switch: bool
    reason: str


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).quantize(Decimal('0.01'))} %/yr"


def recommend(
    side: Side, quotes: Sequence[CarryQuote], *, current: str | None = None,
    margin_per_year: Decimal = Decimal("0.005"),
) -> Recommendation:
    """Choose the instrument with the highest carry after fees for a hedge of ``side``.

    With ``current`` (the symbol held now), the hedge moves only when the best beats it by
    more than ``margin_per_year`` — hysteresis, so a policy re-run every day does not flap
    between two instruments of nearly equal carry. Ties keep the earlier quote.

    >>> perp = CarryQuote("P", ContractKind.PERPETUAL, Decimal("0.03"), ZERO, Decimal(90))
    >>> q = CarryQuote("Q", ContractKind.DELIVERY, Decimal("0.034"), ZERO, Decimal(90))
    >>> recommend(Side.SHORT, [perp, q]).choice.symbol
    'Q'
    >>> recommend(Side.SHORT, [perp, q], current="P").choice.symbol
    'P'
    """
    if not quotes:
        raise InputError("quotes", "at least one instrument to compare", "none")
    if margin_per_year < ZERO:
        raise InputError("margin_per_year", "a margin of 0 or more", margin_per_year)
    ranked = sorted(quotes, key=lambda q: q.carry(side), reverse=True)  # stable: ties keep order
    best = ranked[0]
    held = next((q for q in quotes if q.symbol == current), None)
    word = side.value
    if held is None:
        other = ranked[1] if len(ranked) > 1 else None
        if other is None:
            return Recommendation(side, best, None, ZERO, False,
                                  f"{best.symbol} is the only instrument quoted")
        gain = best.carry(side) - other.carry(side)
        reason = (f"{best.symbol} {_verb(best.carry(side))} {_pct(abs(best.carry(side)))} for a "
                  f"{word} hedge after fees, {_pct(gain)} better than {other.symbol}"
                  f"{_versus_perpetual(side, best, other, quotes)}")
        return Recommendation(side, best, other, gain, False, reason)
    gain = best.carry(side) - held.carry(side)
    if best is not held and gain > margin_per_year:
        reason = (f"switch from {held.symbol} to {best.symbol}: {_pct(gain)} better for a {word} "
                  f"hedge after fees, more than the {_pct(margin_per_year)} margin")
        return Recommendation(side, best, held, gain, True, reason)
    if best is held:
        reason = f"keep {held.symbol}: it has the best carry for a {word} hedge after fees"
        return Recommendation(side, held, None, ZERO, False, reason)
    reason = (f"keep {held.symbol}: {best.symbol} is only {_pct(gain)} better for a {word} "
              f"hedge, within the {_pct(margin_per_year)} margin")
    return Recommendation(side, held, best, -gain, False, reason)


def _versus_perpetual(
    side: Side, best: CarryQuote, other: CarryQuote, quotes: Sequence[CarryQuote]
) -> str:
    # The perpetual is the default hedge, so its gap is worth stating even when not runner-up.
    perp = next((q for q in quotes if q.kind is ContractKind.PERPETUAL), None)
    if perp is None or perp is best or perp is other:
        return ""
    return f" and {_pct(best.carry(side) - perp.carry(side))} better than {perp.symbol}"


def _verb(carry: Decimal) -> str:
    return "earns" if carry >= ZERO else "costs"
