"""Arithmetic on stored results without binary float noise (docs/exports.md).

A result typed as ``226.3`` is stored as the float nearest to 226.3; its ``repr`` is the
shortest text that reads back as that float, i.e. the decimal the user typed. Adding or
scaling such floats in binary leaves noise (``(226.3 + 226.4) / 2`` is
``226.35000000000002``). These helpers compute on those decimals exactly and round once to
the nearest float, so exports print ``226.35``; no precision is lost because every float's
``repr`` reads back as the same float.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Context, Decimal

__all__ = [
    "change",
    "exact",
    "exact_mean",
    "mean",
    "mean_exact",
    "minus",
    "percent_change",
    "ratio",
    "scaled",
]

# 60 digits hold the exact sum or product of a few 17-digit numbers; one rounding to float
# follows.
_CTX = Context(prec=60)


def _d(x: float) -> Decimal:
    return Decimal(repr(x))


def scaled(value: float, factor: float) -> float:
    """``value * factor`` computed on their decimal forms (a unit conversion)."""
    if factor == 1.0 or not (math.isfinite(value) and math.isfinite(factor)):
        return value * factor
    return float(_CTX.multiply(_d(value), _d(factor)))


def mean(values: Sequence[float]) -> float:
    """The mean of ``values`` computed on their decimal forms."""
    if not all(math.isfinite(v) for v in values):
        return math.fsum(values) / len(values)
    if len(values) == 1:
        return float(values[0])
    total = Decimal(0)
    for v in values:
        total = _CTX.add(total, _d(v))
    return float(_CTX.divide(total, len(values)))


def minus(a: float, b: float) -> float:
    """``a - b`` on the decimal forms."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return a - b
    return float(_CTX.subtract(_d(a), _d(b)))


def ratio(a: float, b: float) -> float:
    """``a / b`` on the decimal forms (``b`` must not be 0)."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return a / b
    return float(_CTX.divide(_d(a), _d(b)))


def percent_change(a: float, b: float) -> float:
    """``100 * (a - b) / b`` on the decimal forms (``b`` must not be 0)."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return 100.0 * (a - b) / b
    db = _d(b)
    return float(_CTX.divide(_CTX.multiply(100, _CTX.subtract(_d(a), db)), db))


def exact(x: float) -> Decimal:
    """The decimal ``x`` was typed as."""
    return Decimal(repr(x))


def exact_mean(values: Sequence[float]) -> Decimal:
    """The mean of the decimal forms of finite ``values`` to 60 significant digits (a
    repeating mean such as 1/3 keeps far more digits than a float, so a difference of two
    means rounds to the same float as the exact difference)."""
    total = Decimal(0)
    for v in values:
        total = _CTX.add(total, exact(v))
    return _CTX.divide(total, len(values))


def mean_exact(values: Sequence[Decimal]) -> Decimal:
    """The mean of exact values (e.g. of replicate-set means)."""
    total = Decimal(0)
    for v in values:
        total = _CTX.add(total, v)
    return _CTX.divide(total, len(values))


def change(value: Decimal, base: Decimal) -> tuple[float, float | None, float | None]:
    """(value - base, 100 * (value - base) / base, value / base) as floats; the last two are
    None when ``base`` is 0."""
    diff = _CTX.subtract(value, base)
    if not base:
        return float(diff), None, None
    return (
        float(diff),
        float(_CTX.divide(_CTX.multiply(100, diff), base)),
        float(_CTX.divide(value, base)),
    )
