"""Numbers on a page and on a chart's axis, whatever they are: integers of any size
(past 2**64, past the largest float), floats, NaN and the infinities. Pure
functions, no I/O.

A chart places a value between its axis' ends with exact arithmetic: steps such
as ``time.time_ns()`` are past 2**53, where neighbouring integers are one float,
and a range from -1e308 to 1e308 is wider than the largest float.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

Number = int | float
"""A value that can be charted: an int (not a bool) or a finite float."""

EXACT_DIGITS = 24
"""Integers of up to this many digits are shown in full (2**70 has 22)."""


def fmt_number(value: Number, *, digits: int = 6, exact_digits: int = EXACT_DIGITS) -> str:
    """`value` to `digits` significant digits (``%g``), integers of up to `exact_digits`
    digits in full; ``NaN``, ``∞`` and ``-∞`` for the others."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if -(10**exact_digits) < value < 10**exact_digits:
            return str(value)
        if -(2**53) <= value <= 2**53:
            return f"{float(value):.{digits}g}"
        # Decimal takes any int exactly (float() cannot past 1e308, nor str() past
        # 4,300 digits); unlike a float's, its %g keeps trailing zeros.
        mantissa, _, exponent = format(Decimal(value), f".{digits - 1}e").partition("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{digits}g}"


def chartable(value: object) -> bool:
    """Whether `value` can be a point on a chart: a number that is not a bool, NaN or
    infinite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def position(value: Number, low: Number, high: Number) -> float:
    """Where `value` lies from `low` (0.0) to `high` (1.0); 0.5 when they are equal."""
    if high == low:
        return 0.5
    if isinstance(value, float) or isinstance(low, float) or isinstance(high, float):
        span = float(high) - float(low) if _floatable(high, low) else math.inf
        if math.isfinite(span):
            return (float(value) - float(low)) / span
        return float((Fraction(value) - Fraction(low)) / (Fraction(high) - Fraction(low)))
    # Integers: exact, and `/` of two ints is correctly rounded however large they are.
    return (value - low) / (high - low)


def _floatable(*values: Number) -> bool:
    """Whether each value converts to a float that tells it apart from its neighbours."""
    return all(isinstance(v, float) or -(2**53) <= v <= 2**53 for v in values)
