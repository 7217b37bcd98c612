"""Descriptive statistics and correlations over lists of numbers (cohort summaries, method
comparison; docs/longitudinal.md). Pure Python."""

from __future__ import annotations

import math
import operator
import statistics
from dataclasses import dataclass

__all__ = ["Description", "describe", "pearson", "spearman"]


@dataclass(frozen=True, slots=True)
class Description:
    """mean, sample SD (n >= 2), median, quartiles, min and max of some numbers (all None
    when there are none)."""

    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    min: float | None = None
    max: float | None = None


EMPTY = Description()


def describe(values: list[float]) -> Description:
    """n-independent summary: mean, sample SD (n >= 2), median, quartiles (linear
    interpolation between order statistics, as numpy's default / R type 7), min, max."""
    if not values:
        return EMPTY
    xs = sorted(values)
    n = len(xs)
    try:
        mean = math.fsum(xs) / n
    except OverflowError:  # a sum beyond the float range (values near 1e308)
        mean = statistics.mean(xs)  # (exact)
    sd = None
    if n > 1:
        dev = [x - mean for x in xs]
        sd = math.sqrt(math.fsum(map(operator.mul, dev, dev)) / (n - 1))
        if math.isinf(sd) and math.isfinite(mean):  # a square beyond the float range (1e300)
            sd = statistics.stdev(xs)  # (exact: no square is taken as a float)

    def quantile(p: float) -> float:
        h = (n - 1) * p
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        return xs[lo] + (h - lo) * (xs[hi] - xs[lo])

    return Description(mean, sd, quantile(0.5), quantile(0.25), quantile(0.75), xs[0], xs[-1])


def _ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=xs.__getitem__)
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson correlation, or None with fewer than 3 pairs or a constant variable."""
    n = len(xs)
    if n < 3:
        return None
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman rank correlation (Pearson on average ranks, so ties are handled)."""
    return pearson(_ranks(xs), _ranks(ys)) if len(xs) >= 3 else None
