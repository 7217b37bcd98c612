"""The fast paths of the query functions give exactly what the general paths give.

- a subject's rows (readout columns from the database, sample/isolation columns joined in
  Python) equal the same subject's rows in the full ordered stream (one joined query);
- trajectory points made without per-field validation equal ``model_validate``'s;
- the lean cohort summary (read straight from readout_sets) equals statistics over
  ``cohort_points`` (the general replicate results).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest

from exolab.services.context import Lab
from exolab.services.queries import (
    LongitudinalFilter,
    TrajectoryPoint,
    cohort_points,
    cohort_summary,
    describe,
    iter_longitudinal,
    trajectory_for_subject,
)
from tests.conftest import BACKENDS
from tests.queries import data
from tests.queries.data import STUDY


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(
    request: pytest.FixtureRequest,
    _templates: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Lab, data.Cohort]]:
    yield from data.loaded_cohort(
        request.param, _templates, tmp_path_factory, seed=11, n_subjects=6
    )


def _subjects(c: data.Cohort) -> list[str]:
    return [s["subject_id"] for s in c.subjects]


def test_subject_rows_equal_the_full_stream(loaded: tuple[Lab, data.Cohort]) -> None:
    lab, c = loaded
    with lab.read() as tx:
        stream = [r for r in iter_longitudinal(tx, LongitudinalFilter()) if r["study"] == STUDY]
        for flt_kw in ({}, {"biofluid": "plasma"}, {"analytes": ["GPC1"]}):
            for sid in _subjects(c):
                mine = list(
                    iter_longitudinal(tx, LongitudinalFilter(study=STUDY, subjects=[sid], **flt_kw))
                )
                want = [
                    r
                    for r in stream
                    if r["subject_id"] == sid
                    and (not flt_kw.get("biofluid") or r["biofluid"] == flt_kw["biofluid"])
                    and (not flt_kw.get("analytes") or r["analyte"] == "GPC1")
                ]
                assert mine == want
                assert mine or flt_kw
        # several subjects at once come in subject order, as in the stream
        both = list(iter_longitudinal(tx, LongitudinalFilter(subjects=_subjects(c)[:3])))
        assert both == [r for r in stream if r["subject_id"] in _subjects(c)[:3]]


def test_points_equal_validated_points(loaded: tuple[Lab, data.Cohort]) -> None:
    lab, c = loaded
    with lab.read() as tx:
        for sid in _subjects(c):
            points = trajectory_for_subject(tx, STUDY, sid)
            rows = list(iter_longitudinal(tx, LongitudinalFilter(study=STUDY, subjects=[sid])))
            assert points == [TrajectoryPoint.model_validate(r) for r in rows]
            assert all(p.model_fields_set == set(TrajectoryPoint.model_fields) for p in points)
            if points:
                copy = points[0].model_copy(update={"value": "x"})
                assert copy.value == "x" and points[0].value != "x"


@pytest.mark.parametrize("by", ["visit", "group", "method", "biofluid"])
@pytest.mark.parametrize("change", [False, True])
def test_lean_cohort_equals_statistics_of_points(
    loaded: tuple[Lab, data.Cohort], by: str, change: bool
) -> None:
    lab, _ = loaded
    with lab.read() as tx:
        rows = cohort_summary(tx, "GPC1", by=by, change=change)
        points = cohort_points(tx, "GPC1", by=by, change=change)
    cells: dict[tuple[Any, Any], list[Any]] = {}
    for p in points:
        cell = cells.setdefault((p.by_value, p.unit), [[], set(), 0])
        cell[1].add(p.subject_id)
        if p.censored:
            cell[2] += 1
        elif p.value is not None:
            cell[0].append(p.value)
    assert {(r.value, r.unit) for r in rows} == set(cells)
    for r in rows:
        vals, subjects, censored = cells[(r.value, r.unit)]
        assert (r.n, r.n_subjects, r.n_censored) == (len(vals), len(subjects), censored)
        for k, v in asdict(describe(vals)).items():
            got = getattr(r, k)
            assert (got is None) == (v is None), k
            if v is not None:
                assert math.isclose(got, v, rel_tol=1e-9, abs_tol=1e-9), k


def test_compare_choices_from_the_set_summary(loaded: tuple[Lab, data.Cohort]) -> None:
    """The compare view offers the analytes with numeric results on isolations, most
    replicate sets first (computed here from the generated readouts)."""
    from exolab.domain.markers import normalize_analyte_code
    from exolab.services.picker_choices import compare_choices

    lab, c = loaded
    sets: dict[str, set[tuple[Any, ...]]] = {}
    on_isolation: set[str] = set()
    for r in c.readouts:
        if not r.get("unit"):
            continue
        code = normalize_analyte_code(r["analyte"])
        target = (r.get("isolation_id"), r.get("sample_id"), r.get("assay"), r.get("run_id"))
        sets.setdefault(code, set()).add((*target, r["unit"]))
        if r.get("isolation_id"):
            on_isolation.add(code)
    want = sorted(on_isolation, key=lambda a: (-len(sets[a]), a))
    with lab.read() as tx:
        got = compare_choices(tx)
    assert got.analytes == want and want
    assert got.studies == [STUDY]
