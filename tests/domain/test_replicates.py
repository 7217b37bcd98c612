"""The replicate-set, baseline and change rules of exolab.domain.replicates."""

from __future__ import annotations

import math

import pytest

from exolab.domain.replicates import (
    Baseline,
    baselines,
    censor_direction,
    change_from,
    mean_and_cv,
    set_limit,
    set_mean,
    summarise,
)


def test_summary_counts_censored_and_averages_the_rest() -> None:
    s = summarise([10.0, 12.0, 14.0], 1)
    assert (s.mean, s.n, s.n_censored) == (12.0, 3, 1)
    assert s.cv is not None and math.isclose(s.cv, 100 * 2.0 / 12.0)
    assert not s.censored
    all_censored = summarise([], 2)
    assert all_censored.censored and all_censored.mean is None and all_censored.n == 0
    assert summarise([5.0], 0).cv is None  # CV needs two values
    assert mean_and_cv([0.0, 0.0]) == (0.0, None)  # and a non-zero mean
    assert set_mean(30.0, 3) == 10.0 and set_mean(None, 0) is None


@pytest.mark.parametrize(
    ("censor", "direction"),
    [("lt_lod", "<"), ("lt_lloq", "<"), ("not_detected", "<"), ("gt_uloq", ">"), ("none", None)],
)
def test_censor_direction(censor: str, direction: str | None) -> None:
    assert censor_direction(censor) == direction


def test_baseline_is_the_earliest_collection_with_a_result() -> None:
    found = baselines(
        [
            ("a", 2, 300.0, None, None),
            ("a", 1, None, "<", 50.0),  # censored, and earliest: the baseline stays here
            ("a", 1, None, "<", 40.0),
            ("b", 1, 10.0, None, None),
            ("b", 1, None, "<", 5.0),  # a mean at the same collection wins
            ("b", 1, 20.0, None, None),
            ("b", 3, 99.0, None, None),
            ("c", 1, None, ">", 1000.0),
            ("c", 1, None, ">", 800.0),
            ("d", 1, None, "<", 5.0),
            ("d", 1, None, ">", 900.0),
            ("e", 1, None, None, 7.0),  # direction not known
        ]
    )
    assert found["a"] == Baseline(1, 50.0, "<")
    assert found["b"] == Baseline(1, 15.0, None)
    assert found["c"] == Baseline(1, 800.0, ">")
    assert found["d"] == Baseline(1, None, "<>")
    assert found["e"] == Baseline(1, None, "<>")


def test_a_set_limit_is_unknown_when_one_replicate_has_none() -> None:
    """docs/longitudinal.md: a censored set's bound is the highest of its ``<`` limits (the
    lowest of its ``>`` limits); a replicate whose limit was not recorded is below (above) a
    limit nobody knows, so the set has no bound; nor has a set censored both ways."""
    assert set_limit([]) == (None, None)
    assert set_limit([("<", 50.0), ("<", 40.0)]) == ("<", 50.0)
    assert set_limit([("<", 50.0), ("<", None)]) == ("<", None)
    assert set_limit([("<", None), ("<", 50.0)]) == ("<", None)
    assert set_limit([(">", 1000.0), (">", 800.0)]) == (">", 800.0)
    assert set_limit([(">", None), (">", 800.0)]) == (">", None)
    assert set_limit([("<", 5.0), (">", 900.0)]) == ("<>", None)
    assert set_limit([(None, 7.0)]) == ("<>", None)


def test_a_censored_baseline_over_a_set_without_a_limit_has_no_bound() -> None:
    """Two censored sets at the baseline collection (two runs), one without a recorded limit:
    the baseline is below a limit nobody knows, whatever the other set's limit."""
    found = baselines(
        [
            ("a", 1, None, "<", 50.0),
            ("a", 1, None, "<", None),
            ("a", 2, 300.0, None, None),
            ("b", 1, None, "<", None),
            ("b", 1, None, "<", 50.0),
            ("c", 1, None, ">", None),
            ("c", 1, None, ">", 800.0),
            ("d", 1, None, "<", 50.0),  # an unknown limit at a later collection: no matter
            ("d", 2, None, "<", None),
            ("e", 1, 10.0, None, None),  # a mean at the collection: the sets' limits no matter
            ("e", 1, None, "<", None),
        ]
    )
    assert found["a"] == Baseline(1, None, "<")
    assert found["b"] == Baseline(1, None, "<")
    assert found["c"] == Baseline(1, None, ">")
    assert found["d"] == Baseline(1, 50.0, "<")
    assert found["e"] == Baseline(1, 10.0, None)
    assert change_from(300.0, found["a"]).change is None


def test_changes_are_exact_or_bounds() -> None:
    exact = change_from(150.0, Baseline(0, 100.0))
    assert (exact.change, exact.pct, exact.fold, exact.censor) == (50.0, 50.0, 1.5, None)
    below = change_from(300.0, Baseline(0, 50.0, "<"))
    assert (below.change, below.pct, below.fold, below.censor) == (250.0, 500.0, 6.0, ">")
    above = change_from(400.0, Baseline(0, 1000.0, ">"))
    assert (above.change, above.fold, above.censor) == (-600.0, 0.4, "<")
    zero = change_from(5.0, Baseline(0, 0.0))
    assert (zero.change, zero.pct, zero.fold) == (5.0, None, None)
    for base in (Baseline(0, None, "<"), Baseline(0, None, "<>"), None):
        assert change_from(5.0, base).change is None
    assert change_from(None, Baseline(0, 1.0)).change is None


def test_exact_change_leaves_bounds_out() -> None:
    from exolab.domain.replicates import exact_change

    assert exact_change(150.0, Baseline(0, 100.0)) == 50.0
    assert exact_change(300.0, Baseline(0, 50.0, "<")) is None
    assert exact_change(None, Baseline(0, 100.0)) is None
    assert exact_change(1.0, None) is None


def test_the_set_statistic_is_one_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """SET_STATISTIC decides a set's value for every reader (the mean today); the median is
    the middle value, or the mean of the two middle ones, on the typed decimals."""
    from decimal import Decimal

    from exolab.domain import replicates

    assert replicates.set_statistic() is replicates.MEAN
    assert replicates.MEAN.sums_sql is not None  # follows from readout_sets' count and sum
    assert replicates.MEDIAN.sums_sql is None  # does not: readers take readouts' values
    assert summarise([226.3, 226.4, 300.0], 0).mean == pytest.approx(250.9)
    monkeypatch.setattr(replicates, "SET_STATISTIC", replicates.MEDIAN)
    odd = summarise([300.0, 226.3, 226.4], 2)
    assert (odd.mean, odd.exact, odd.n, odd.n_censored) == (226.4, Decimal("226.4"), 3, 2)
    assert odd.cv is not None and math.isclose(odd.cv, mean_and_cv([300.0, 226.3, 226.4])[1] or 0)
    even = summarise([226.3, 226.4], 0)
    assert even.mean == 226.35 and even.exact == Decimal("226.35")  # no float noise
    assert summarise([], 1).censored and summarise([], 1).mean is None
    assert summarise([math.inf, 1.0, 2.0], 0).mean == 2.0 and summarise([math.inf], 0).exact is None
