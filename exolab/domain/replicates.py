"""Replicate sets, baselines and change from baseline: the one home of these rules
(docs/longitudinal.md). The longitudinal stream (:mod:`exolab.services.history`), cohort
summaries and points (:mod:`exolab.services.cohort_summary`), method comparison
(:mod:`exolab.services.method_comparison`), the MISEV ratio, the wide export and the
``exolab patient`` table all take a set's value from here.

**The set statistic** (:data:`SET_STATISTIC`, the mean today) is decided here only: every
reader calls :func:`summarise` (or :func:`set_statistic`). The replicate-set table
(``readout_sets``) stores each set's count and sum of non-censored values; readers over it
use them only when the statistic says it follows from them (:attr:`Statistic.sums_sql`, the
mean), and otherwise take the set's values from ``readouts`` and call :func:`summarise`
(:class:`exolab.services.set_reads.SetTerms`). Changing the statistic is one line here.

Pure Python without SQLAlchemy or pydantic, so that the driver-only read paths can use it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from exolab.domain import decimals

__all__ = [
    "ABOVE",
    "BASELINE_RULE",
    "BELOW",
    "MEAN",
    "MEDIAN",
    "SET_STATISTIC",
    "Baseline",
    "BaselineFinder",
    "Change",
    "SetSummary",
    "Statistic",
    "baselines",
    "censor_direction",
    "change_from",
    "exact_change",
    "mean_and_cv",
    "set_limit",
    "set_mean",
    "set_statistic",
    "summarise",
]

K = TypeVar("K", bound=Hashable)

#: Censor flags whose value is an upper limit of the truth (the result is below it).
BELOW = frozenset({"lt_lod", "lt_lloq", "not_detected"})
#: Censor flags whose value is a lower limit of the truth (the result is above it).
ABOVE = frozenset({"gt_uloq"})

#: The rule as one sentence, for help texts and export manifests.
BASELINE_RULE = (
    "baseline = the earliest collection with a result (per subject, analyte, biofluid, "
    "method and unit): the mean of its replicate-set means; when every result there is "
    "censored the baseline is censored (baseline_censor '<' or '>', baseline_value the "
    "limit) and changes against it are bounds (change_censor '>' or '<'), never moved to a "
    "later visit"
)


def censor_direction(censor: str | None, comparator: str | None = None) -> str | None:
    """``<`` for a result below a limit, ``>`` above one, None for an uncensored result.

    The stored comparator says which side of its limit a censored result is on; the flag
    alone does not: a not-detected qPCR Ct (``Undetermined``) is above the run's cycles
    (``>``), a not-detected concentration below the LOD (``<``) (docs/import-formats.md).
    """
    if censor is None or censor == "none":
        return None
    if comparator and comparator[0] in "<>":
        return comparator[0]
    if censor in BELOW:
        return "<"
    if censor in ABOVE:
        return ">"
    return None


def _exact_median(values: Sequence[float]) -> Decimal:
    xs = sorted(values)
    mid = len(xs) // 2
    if len(xs) % 2:
        return decimals.exact(xs[mid])
    return decimals.exact_mean(xs[mid - 1 : mid + 1])


def _median(values: Sequence[float]) -> float:
    if not all(map(math.isfinite, values)):
        xs = sorted(values)
        mid = len(xs) // 2
        return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2
    return float(_exact_median(values))


@dataclass(frozen=True, slots=True)
class Statistic:
    """How the value of a replicate set is computed from its non-censored numeric
    replicates (a non-empty list): ``value`` as a float, ``exact`` unrounded (finite values
    only; docs/exports.md). ``sums_sql`` is the statistic as a SQL expression of the set's
    count ``{n}`` and sum ``{total}`` (what ``readout_sets`` stores) when it follows from
    them, else None: then readers over ``readout_sets`` take the values from ``readouts``."""

    name: str
    value: Callable[[Sequence[float]], float]
    exact: Callable[[Sequence[float]], Decimal]
    sums_sql: str | None = None


MEAN = Statistic("mean", decimals.mean, decimals.exact_mean, "{total} / {n}")
MEDIAN = Statistic("median", _median, _exact_median)

#: The statistic of a replicate set (docs/longitudinal.md, "Replicate sets"), read by every
#: reader at call time through :func:`set_statistic`.
SET_STATISTIC: Statistic = MEAN


def set_statistic() -> Statistic:
    """The statistic of a replicate set now in force (:data:`SET_STATISTIC`)."""
    return SET_STATISTIC


def mean_and_cv(values: Sequence[float]) -> tuple[float | None, float | None]:
    """(mean, CV %) of replicate values; CV needs two values and a non-zero mean."""
    if not values:
        return None, None
    n = len(values)
    mean = decimals.mean(values)
    if n < 2 or mean == 0:
        return mean, None
    try:
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    except OverflowError:  # a square beyond the float range (values near 1e300)
        sd = statistics.stdev(values)  # (exact: no square is taken as a float)
    return mean, 100.0 * sd / abs(mean)


def set_mean(total: float | None, n: int) -> float | None:
    """A replicate set's mean from the sum and count of its non-censored values (the form
    ``readout_sets`` stores); None when every replicate was censored."""
    return None if n == 0 or total is None else total / n


@dataclass(frozen=True, slots=True)
class SetSummary:
    """The summary of one replicate set: its value (``mean``: the :data:`SET_STATISTIC` of
    its non-censored numeric replicates, the mean today) and CV (SD / mean), their number
    and the number of censored replicates."""

    mean: float | None
    n: int
    n_censored: int
    cv: float | None
    exact: Decimal | None = None  # the value on the typed decimals, unrounded (docs/exports.md)

    @property
    def censored(self) -> bool:
        """Every replicate with a result was censored: the set has no mean."""
        return self.n == 0 and self.n_censored > 0


def summarise(values: Sequence[float], n_censored: int) -> SetSummary:
    """Summary of a replicate set from its non-censored numeric values and censored count:
    the set's value by :func:`set_statistic`. A censored replicate is counted, never
    averaged as a number."""
    mean, cv = mean_and_cv(values)
    statistic = SET_STATISTIC
    if values and statistic is not MEAN:
        mean = statistic.value(values)
    exact = statistic.exact(values) if values and all(map(math.isfinite, values)) else None
    return SetSummary(mean, len(values), n_censored, cv, exact)


def set_limit(
    censored: Iterable[tuple[str | None, float | None]],
) -> tuple[str | None, float | None]:
    """(direction, bound) of a replicate set from the (direction, limit) of its censored
    replicates (:func:`censor_direction`, the stored value): the direction when they all agree
    (``<>`` when they do not, or it is not known; None when none is censored), and the bound,
    the highest limit of a ``<`` set (its truth is below it), the lowest of a ``>`` set.
    There is no bound (None) when a replicate's limit was not recorded -- its truth is below
    (above) a limit nobody knows, so no recorded limit bounds the set -- nor for ``<>``.

    The replicate-set table stores the same bound (``readout_sets.censor_limit``, computed in
    SQL by :data:`exolab.services.readout_sets.AGGREGATE_SQL`; tests/queries/
    test_readout_sets.py checks the two agree after every write path)."""
    directions: set[str | None] = set()
    limits: list[float] = []
    unknown = False
    for direction, limit in censored:
        directions.add(direction)
        if limit is None:
            unknown = True
        else:
            limits.append(limit)
    if not directions:
        return None, None
    if len(directions) != 1 or None in directions:
        return "<>", None
    (direction,) = directions
    if unknown:
        return direction, None
    return direction, (max(limits) if direction == "<" else min(limits))


@dataclass(frozen=True, slots=True)
class Baseline:
    """A baseline: its collection (``at``), value and censoring.

    ``censor`` is None for a measured baseline (``value`` is the mean of the set means at
    ``at``); ``<`` when every result at ``at`` was below a limit (``value`` is the highest
    limit; None when one of the sets has no bound, :func:`set_limit`: a limit was not
    recorded); ``>`` when every one was above a limit (``value`` the lowest limit, None
    likewise); ``<>`` when both occurred, or the direction is not known (no bound, ``value``
    None).
    """

    at: Any
    value: float | None
    censor: str | None = None
    exact: Decimal | None = None  # a measured baseline's unrounded mean, when known

    @property
    def censored(self) -> bool:
        return self.censor is not None


@dataclass(frozen=True, slots=True)
class Change:
    """Change from baseline of one value. ``censor`` None: exact; ``>``: the true change is
    larger (the baseline was below its limit); ``<``: smaller. Applies to all three."""

    change: float | None = None
    pct: float | None = None
    fold: float | None = None
    censor: str | None = None


NO_CHANGE = Change()


class BaselineFinder:
    """Collects replicate sets per key (subject x analyte x biofluid x method x unit) and
    gives each key's :class:`Baseline`: the earliest collection with a result (a set with a
    mean, or a censored set); its mean over the sets with a mean there, else censored."""

    __slots__ = ("_best",)

    def __init__(self) -> None:
        # key -> [at, means, censored sets' (direction, bound), exact means or None]
        self._best: dict[Any, list[Any]] = {}

    def add(
        self,
        key: Any,
        at: Any,
        mean: float | None,
        direction: str | None = None,
        limit: float | None = None,
        *,
        exact: Decimal | None = None,
    ) -> None:
        """One replicate set at collection ``at``: its mean (and, when known, its unrounded
        ``exact`` mean), or (censored, mean None) the direction of its censoring (``<``,
        ``>``, or None when not known) and its bound (:func:`set_limit`; None when it has
        none: then a baseline censored that way has none either)."""
        cur = self._best.get(key)
        if cur is None or at < cur[0]:
            cur = self._best[key] = [at, [], [], []]
        elif at != cur[0]:
            return
        if mean is not None:
            cur[1].append(mean)
            if cur[3] is not None:
                cur[3] = None if exact is None else [*cur[3], exact]
            return
        cur[2].append((direction, limit))

    def result(self) -> dict[Any, Baseline]:
        out: dict[Any, Baseline] = {}
        for key, (at, means, censored, exacts) in self._best.items():
            if means and exacts:
                mean = decimals.mean_exact(exacts)
                out[key] = Baseline(at, float(mean), exact=mean)
            elif means:
                out[key] = Baseline(at, decimals.mean(means))
            else:  # the sets' bounds combine as a set's replicates' do (set_limit)
                direction, bound = set_limit(censored)
                if direction in ("<", ">"):
                    out[key] = Baseline(at, bound, direction)
                else:
                    out[key] = Baseline(at, None, "<>")
        return out


def baselines(
    sets: Iterable[tuple[K, Any, float | None, str | None, float | None]],
) -> dict[K, Baseline]:
    """Baseline per key from ``(key, collected_at, set mean, censor direction, limit)`` of
    replicate sets: :class:`BaselineFinder`'s rule, in one loop (cohorts have ~10^5 sets)."""
    best: dict[Any, list[Any]] = {}
    for key, at, mean, direction, limit in sets:
        cur = best.get(key)
        if cur is None or at < cur[0]:
            best[key] = [at, [mean] if mean is not None else [], None]
            if mean is None:
                best[key][2] = [(direction, limit)]
        elif at == cur[0]:
            if mean is not None:
                cur[1].append(mean)
            elif cur[2] is None:
                cur[2] = [(direction, limit)]
            else:
                cur[2].append((direction, limit))
    finder = BaselineFinder()
    for key, (at, means, censored) in best.items():
        for mean in means:
            finder.add(key, at, mean)
        if not means:
            for direction, limit in censored or ():
                finder.add(key, at, None, direction, limit)
    return finder.result()


def exact_change(value: float | None, base: Baseline | None) -> float | None:
    """``value - baseline`` when both are known exactly (:func:`change_from`'s change
    without the bounds), for summaries that leave bounds out."""
    if value is None or base is None or base.censor is not None or base.value is None:
        return None
    return decimals.minus(value, base.value)


def change_from(value: float | None, base: Baseline | None, exact: Decimal | None = None) -> Change:
    """Change of an uncensored value (a replicate mean) from a baseline: value - baseline,
    100 x that / baseline and value / baseline (the last two empty when the baseline is 0).
    Against a censored baseline with a limit L the same expressions with L are bounds
    (``censor`` ``>`` below a ``<`` baseline, ``<`` above a ``>`` one); with no limit, or
    limits both ways, there is no change."""
    if value is None or base is None or base.value is None:
        return NO_CHANGE
    if base.censor is None:
        censor = None
    elif base.censor == "<":
        censor = ">"
    elif base.censor == ">":
        censor = "<"
    else:
        return NO_CHANGE
    # On the typed decimals (``exact``: the value's unrounded mean when known), rounded once,
    # so a change prints as 0.21, not 0.21000000000000002 (docs/exports.md).
    if not (math.isfinite(value) and math.isfinite(base.value)):
        b = base.value
        change = value - b
        if b == 0:
            return Change(change, None, None, censor)
        return Change(change, 100.0 * change / b, value / b, censor)
    v = exact if exact is not None else decimals.exact(value)
    b_exact = base.exact if base.exact is not None else decimals.exact(base.value)
    diff, pct, fold = decimals.change(v, b_exact)
    return Change(diff, pct, fold, censor)
