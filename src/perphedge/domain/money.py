"""Decimal helpers: parsing user and exchange numbers, and rounding to a step.

Every amount that reaches an exchange or an account is a ``Decimal`` built from a string.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation

from perphedge.errors import InputError

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")


def to_decimal(value: object, field: str = "value") -> Decimal:
    """Parse ``value`` into a finite ``Decimal``, via ``str`` for floats.

    >>> to_decimal("90000.5")
    Decimal('90000.5')
    >>> to_decimal(0.1)
    Decimal('0.1')
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise InputError(field, "a number", value)
    elif isinstance(value, int | float | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise InputError(field, "a number", value) from None
    else:
        raise InputError(field, "a number", value)
    if not result.is_finite():
        raise InputError(field, "a finite number", value)
    return result


def positive(value: object, field: str) -> Decimal:
    """Parse ``value`` and require it to be strictly positive."""
    result = to_decimal(value, field)
    if result <= 0:
        raise InputError(field, "a number greater than 0", value)
    return result


def non_negative(value: object, field: str) -> Decimal:
    """Parse ``value`` and require it to be zero or more."""
    result = to_decimal(value, field)
    if result < 0:
        raise InputError(field, "a number of 0 or more", value)
    return result


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round ``value`` down to a multiple of ``step`` (quantities never grow by rounding).

    >>> floor_to_step(Decimal("5.0049"), Decimal("0.001"))
    Decimal('5.004')
    """
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round ``value`` up to a multiple of ``step``.

    >>> ceil_to_step(Decimal("134316.93"), Decimal("0.10"))
    Decimal('134317.00')
    """
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def to_cents(value: Decimal) -> Decimal:
    """Round a USDT amount to the cent, half to even (how results are shown and compared).

    >>> to_cents(Decimal("1114.785"))
    Decimal('1114.78')
    """
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def plain(value: Decimal) -> str:
    """Format a Decimal without exponent, as JSON money strings are written.

    >>> plain(Decimal("1E+2"))
    '100'
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
