"""Longitudinal queries against expectations computed independently from the generated spec."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from exolab.services.context import Lab
from exolab.services.errors import NotFound, ValidationFailed
from exolab.services.queries import (
    LONGITUDINAL_COLUMNS,
    LongitudinalFilter,
    cohort_points,
    cohort_summary,
    compare_methods,
    iter_longitudinal,
    trajectory_for_subject,
)
from tests.conftest import BACKENDS
from tests.queries import data
from tests.queries.data import STUDY, close


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(
    request: pytest.FixtureRequest,
    _templates: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Lab, data.Cohort]]:
    """One generated cohort per backend, shared by this module's read-only tests."""
    yield from data.loaded_cohort(request.param, _templates, tmp_path_factory)


@pytest.fixture
def lab(loaded: tuple[Lab, data.Cohort]) -> Lab:
    return loaded[0]


@pytest.fixture
def cohort(loaded: tuple[Lab, data.Cohort]) -> data.Cohort:
    return loaded[1]


def _result_key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["target"], r["unit"], r["at"])


def test_trajectory_matches_plain_python(lab: Lab, cohort: data.Cohort) -> None:
    expected = [e for e in data.expected_results(cohort, "GPC1")]
    with lab.read() as tx:
        for subject in ("S01", "S02", "S03", "S04", "S06"):
            points = trajectory_for_subject(tx, STUDY, subject, ["GPC1"])
            want = {(e["target"], e["unit"]): e for e in expected if e["subject"] == subject}
            got_sets = {(p.isolation_id or p.sample_id, p.std_unit) for p in points}
            assert got_sets == set(want)
            n_readouts = sum(
                1
                for r in cohort.readouts
                if r["analyte"] == "GPC1" and data.context(cohort, r)["subject"] == subject
            )
            assert len(points) == n_readouts
            for p in points:
                e = want[(p.isolation_id or p.sample_id, p.std_unit)]
                assert p.visit_day == e["visit_day"], (subject, p.sample_id)
                assert p.replicate_n == len(e["values"])
                assert p.replicate_n_censored == e["censored"]
                assert close(p.replicate_mean, e["mean"])
                assert close(p.baseline_value, e["baseline"])
                assert p.baseline_censor == e["baseline_censor"]
                assert (p.baseline_flag == "Y") == (p.collected_at == e["baseline_at"])
                if p.censor != "none":
                    assert p.change_from_baseline is None and p.change_censor is None
                elif e["baseline_censor"]:
                    assert close(p.change_from_baseline, e["change_bound"])
                    assert p.change_censor == ">"
                else:
                    assert close(p.change_from_baseline, e["change"])
                    assert p.change_censor is None
                    if e["baseline"]:
                        assert close(p.pct_change_from_baseline, 100 * e["change"] / e["baseline"])
                        assert close(p.fold_change, e["mean"] / e["baseline"])
            # time order within each series
            series: dict[Any, list[Any]] = {}
            for p in points:
                series.setdefault((p.biofluid, p.method), []).append(p.collected_at)
            assert all(v == sorted(v) for v in series.values())


def test_censored_baseline_stays_at_its_visit_and_changes_are_bounds(
    lab: Lab, cohort: data.Cohort
) -> None:
    """S01's sec GPC1 is <40 pg/mL (every replicate) at baseline: the baseline is censored
    (below 40) and stays at the baseline visit; later changes are lower bounds."""
    with lab.read() as tx:
        points = trajectory_for_subject(tx, STUDY, "S01", ["GPC1"])
    sec = [p for p in points if p.method == "sec" and p.std_unit == "pg/mL"]
    assert sec[0].visit == "baseline" and sec[0].censor == "lt_lod"
    assert sec[0].replicate_mean is None and sec[0].replicate_n == 0
    assert {p.visit for p in sec if p.baseline_flag == "Y"} == {"baseline"}
    assert all(p.baseline_value == 40 and p.baseline_censor == "<" for p in sec)
    m3 = [p for p in sec if p.visit == "M3"]
    assert m3 and m3[0].replicate_mean is not None
    for p in m3:
        assert p.change_censor == ">"
        assert close(p.change_from_baseline, p.replicate_mean - 40)
        assert close(p.pct_change_from_baseline, 100 * (p.replicate_mean - 40) / 40)
        assert close(p.fold_change, p.replicate_mean / 40)
    # the other method of S01 has a measured baseline: exact changes
    other_method = [p for p in points if p.method != "sec" and p.std_unit == "pg/mL"]
    assert other_method and all(p.baseline_censor is None for p in other_method)
    assert all(p.change_censor is None for p in other_method)
    # the inconvertible U/mL series has its own baseline, never mixed with pg/mL
    other = [p for p in points if p.std_unit == "U/mL"]
    assert other and all(p.baseline_value == other[0].replicate_mean for p in other)
    assert other[0].baseline_flag == "Y"


def test_units_are_converted_to_the_standard_unit(lab: Lab, cohort: data.Cohort) -> None:
    with lab.read() as tx:
        points = trajectory_for_subject(tx, STUDY, "S04", ["GPC1"])
    ng = [p for p in points if p.unit == "ng/mL"]
    assert ng
    for p in ng:
        assert p.std_unit == "pg/mL"
        assert p.numeric_value is not None and p.std_value is not None
        assert math.isclose(p.std_value, p.numeric_value * 1000)


def test_visit_day_counts_from_the_first_collection_of_any_kind(
    lab: Lab, cohort: data.Cohort
) -> None:
    with lab.read() as tx:
        points = trajectory_for_subject(tx, STUDY, "S03", ["GPC1"])
    info = cohort.sample_info
    day = (info["S03-baseline-PL"]["at"].date() - info["S03-pre-SER"]["at"].date()).days
    base = [p for p in points if p.visit == "baseline"]
    assert day >= 2 and base and all(p.visit_day == day for p in base)


def test_stream_rows_columns_filters_and_conditioned_medium(lab: Lab, cohort: data.Cohort) -> None:
    with lab.read() as tx:
        everything = list(iter_longitudinal(tx, LongitudinalFilter()))
        in_study = list(iter_longitudinal(tx, LongitudinalFilter(study=STUDY)))
        gpc1 = list(iter_longitudinal(tx, LongitudinalFilter(analytes=["gpc1"])))
        windowed = list(
            iter_longitudinal(
                tx,
                LongitudinalFilter(
                    study=STUDY, analytes=["GPC1"], since=date(2024, 4, 1), until=date(2024, 8, 31)
                ),
            )
        )
        urine = list(iter_longitudinal(tx, LongitudinalFilter(biofluid="urine")))
        sec = list(iter_longitudinal(tx, LongitudinalFilter(method="sec", subjects=["S02"])))
    assert len(everything) == len(cohort.readouts)
    assert all(list(r) == LONGITUDINAL_COLUMNS for r in everything)
    cm = [r for r in everything if r["biofluid"] == "conditioned_medium"]
    assert len(cm) == 1 and cm[0]["subject_id"] is None and cm[0]["baseline_value"] is None
    assert len(in_study) == len(cohort.readouts) - 1
    assert {r["analyte"] for r in gpc1} == {"GPC1"}
    assert len(gpc1) == sum(1 for r in cohort.readouts if r["analyte"] == "GPC1")
    # the window selects rows but baselines still come from the whole history
    assert windowed and all(
        date(2024, 4, 1) <= r["collected_at"].date() <= date(2024, 8, 31) for r in windowed
    )
    full = {
        (r["sample_id"], r["isolation_id"], r["run_id"], r["replicate"], r["assay"]): r
        for r in in_study
    }
    for r in windowed:
        f = full[(r["sample_id"], r["isolation_id"], r["run_id"], r["replicate"], r["assay"])]
        assert r["baseline_value"] == f["baseline_value"]
        assert r["visit_day"] == f["visit_day"]
    assert urine and {r["biofluid"] for r in urine} == {"urine"}
    assert sec and {(r["method"], r["subject_id"]) for r in sec} == {("sec", "S02")}
    # order: subject, analyte, biofluid, method, time
    keys = [(r["subject_id"], r["analyte"], r["biofluid"], r["method"]) for r in in_study]
    seen: list[Any] = []
    for k in keys:
        if not seen or seen[-1] != k:
            assert k not in seen, "a group appears twice: the stream is not grouped"
            seen.append(k)


def test_cohort_summary_by_visit_and_group(lab: Lab, cohort: data.Cohort) -> None:
    expected = [e for e in data.expected_results(cohort, "GPC1") if e["unit"] == "pg/mL"]
    visit_of = {}
    for s in cohort.samples:
        if s.get("visit"):
            visit_of[s["sample_id"]] = s["visit"]
    for s in cohort.samples:
        if s.get("parent_sample_id"):
            visit_of[s["sample_id"]] = visit_of[s["parent_sample_id"]]
    group_of = {s["subject_id"]: s["group"] for s in cohort.subjects}
    iso_sample = {i["isolation_id"]: i["sample_id"] for i in cohort.isolations}
    for e in expected:
        e["visit"] = visit_of[iso_sample.get(e["target"], e["target"])]
        e["group"] = group_of[e["subject"]]
    with lab.read() as tx:
        for by in ("visit", "group", "method", "biofluid"):
            for change in (False, True):
                rows = cohort_summary(tx, "GPC1", study=STUDY, by=by, change=change)
                main = {r.value: r for r in rows if r.unit == "pg/mL"}
                cats = {e[by] for e in expected}
                assert set(main) == cats
                for cat in cats:
                    members = [e for e in expected if e[by] == cat]
                    if change:
                        values = [e["change"] for e in members if e["change"] is not None]
                    else:
                        values = [e["mean"] for e in members if e["mean"] is not None]
                    row = main[cat]
                    assert row.n == len(values)
                    n_censored = sum(1 for e in members if e["mean"] is None)
                    if change:  # a change against a censored baseline is only a bound
                        n_censored += sum(1 for e in members if e["change_bound"] is not None)
                    assert row.n_censored == n_censored
                    assert row.n_subjects == len({e["subject"] for e in members})
                    assert close(row.mean, statistics.fmean(values))
                    assert close(row.sd, statistics.stdev(values) if len(values) > 1 else None)
                    q1, med, q3 = data.quartiles(values)
                    assert close(row.median, med) and close(row.q1, q1) and close(row.q3, q3)
                    assert close(row.min, min(values)) and close(row.max, max(values))
                    assert row.as_row()[by] == cat
        rows = cohort_summary(tx, "GPC1", study=STUDY, by="visit")
    # visits in time order; the U/mL results in rows of their own, after the standard unit
    assert [r.value for r in rows if r.unit == "pg/mL"] == ["baseline", "M3", "M6", "M12"]
    assert {r.unit for r in rows} == {"pg/mL", "U/mL"}
    assert rows[-1].unit == "U/mL"
    # conditioned medium is never in a cohort
    assert sum(r.n for r in rows) == sum(
        1 for e in data.expected_results(cohort, "GPC1") if e["mean"] is not None
    )


def test_cohort_points_match_summary(lab: Lab, cohort: data.Cohort) -> None:
    with lab.read() as tx:
        points = cohort_points(tx, "GPC1", study=STUDY, by="visit")
        rows = cohort_summary(tx, "GPC1", study=STUDY, by="visit")
    for row in rows:
        pts = [p for p in points if p.by_value == row.value and p.unit == row.unit]
        assert row.n == sum(1 for p in pts if p.value is not None)
        assert row.n_censored == sum(1 for p in pts if p.censored)
    censored = [p for p in points if p.censored]
    assert censored and all(p.limit == data.LOD for p in censored)


def test_compare_methods_bland_altman(lab: Lab, cohort: data.Cohort) -> None:
    expected = [e for e in data.expected_results(cohort, "GPC1") if e["unit"] == "pg/mL"]
    parent = {
        i["isolation_id"]: cohort.iso_info[i["isolation_id"]]["parent"]
        for i in cohort.isolations
        if i["isolation_id"] in cohort.iso_info
    }
    by_parent: dict[str, dict[str, float | None]] = {}
    for e in expected:
        if e["method"] is None:
            continue
        by_parent.setdefault(parent[e["target"]], {})[e["method"]] = e["mean"]
    pairs = [
        (m["precipitation"], m["sec"])
        for m in by_parent.values()
        if m.get("sec") is not None and m.get("precipitation") is not None
    ]
    censored = sum(
        1 for m in by_parent.values() if m.get("sec") is None or m.get("precipitation") is None
    )
    with lab.read() as tx:
        result = compare_methods(tx, "GPC1", study=STUDY, with_pairs=True)
    row = next(r for r in result if r.unit == "pg/mL" and r.assay == "elisa")
    assert (row.method_a, row.method_b) == ("precipitation", "sec")
    assert row.n_pairs == len(pairs)
    assert row.n_censored_pairs == censored
    diffs = [b - a for a, b in pairs]
    mean_d, sd_d = statistics.fmean(diffs), statistics.stdev(diffs)
    assert close(row.mean_difference, mean_d)
    assert close(row.sd_difference, sd_d)
    assert close(row.loa_lower, mean_d - 1.96 * sd_d)
    assert close(row.loa_upper, mean_d + 1.96 * sd_d)
    xa, xb = [a for a, _ in pairs], [b for _, b in pairs]
    assert close(row.pearson_r, statistics.correlation(xa, xb), rel=1e-9)

    def ranks(xs: list[float]) -> list[float]:
        s = sorted(xs)
        return [s.index(x) + 1.0 for x in xs]  # generated values have no ties

    assert close(row.spearman_rho, statistics.correlation(ranks(xa), ranks(xb)), rel=1e-9)
    assert len(row.pairs) == len(pairs)
    want = sorted(
        (root, m["precipitation"], m["sec"])
        for root, m in by_parent.items()
        if m.get("sec") is not None and m.get("precipitation") is not None
    )
    assert [p.sample_id for p in row.pairs] == [w[0] for w in want]  # the split tube, sorted
    for p, (_root, a, b) in zip(row.pairs, want, strict=True):
        assert close(p.a, a) and close(p.b, b)


def test_normalisation(lab: Lab, cohort: data.Cohort) -> None:
    with lab.read() as tx:
        raw = trajectory_for_subject(tx, STUDY, "S02", ["GPC1"])
        per_ml = trajectory_for_subject(tx, STUDY, "S02", ["GPC1"], normalise="per_ml_biofluid")
        per_particles = trajectory_for_subject(
            tx, STUDY, "S02", ["GPC1"], normalise="per_1e9_particles"
        )
        per_creat = trajectory_for_subject(tx, STUDY, "S02", ["GPC1"], normalise="per_creatinine")
        with pytest.raises(ValidationFailed):
            trajectory_for_subject(tx, STUDY, "S02", normalise="per_banana")
    particles = {
        r["isolation_id"]: float(r["value"])
        for r in cohort.readouts
        if r["analyte"] == "particle_concentration"
    }
    creat = {
        r["sample_id"]: float(r["value"]) / 100.0  # mg/dL -> mg/mL
        for r in cohort.readouts
        if r["analyte"] == "creatinine"
    }
    for r, m, p, c in zip(raw, per_ml, per_particles, per_creat, strict=True):
        assert m.normalisation and m.normalisation.startswith("per_ml_biofluid")
        if r.std_value is None:
            continue
        if r.isolation_id:
            info = cohort.iso_info[r.isolation_id]
            assert close(m.std_value, r.std_value * info["final_ul"] / 1000 / info["input_ml"])
            assert m.std_unit == "pg/mL" and m.normalisation == "per_ml_biofluid"
            assert close(p.std_value, r.std_value / particles[r.isolation_id] * 1e9)
            assert p.std_unit == "pg/10*9{particles}"
            assert c.std_value is None and c.normalisation == "per_creatinine: not a urine sample"
        else:  # urine measured directly
            assert close(m.std_value, r.std_value)
            assert close(c.std_value, r.std_value / creat[r.sample_id])
            assert c.std_unit == "pg/mg{creatinine}"
            assert p.std_value is None
    # baselines follow the normalised values
    sec = [m for m in per_ml if m.method == "sec" and m.std_value is not None]
    flagged = [m.replicate_mean for m in sec if m.baseline_flag == "Y"]
    assert sec and close(sec[-1].baseline_value, flagged[0])


def test_unknown_subject_and_analyte(lab: Lab, cohort: data.Cohort) -> None:
    with lab.read() as tx:
        with pytest.raises(NotFound):
            trajectory_for_subject(tx, STUDY, "S99")
        with pytest.raises(NotFound):
            cohort_summary(tx, "NOPE")
        with pytest.raises(ValidationFailed):
            cohort_summary(tx, "GPC1", by="colour")
        assert trajectory_for_subject(tx, STUDY, "S01", ["CD9"]) == []


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_compare_methods_command_on_the_driver(
    lab: Lab, fmt: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`exolab compare-methods` prints the same on the driver path as on the service path."""
    from tests.queries.test_driver_paths import both_paths

    outputs = []
    for extra in ([], ["--pairs"], ["--study", STUDY]):
        argv = ["--db", lab.db.url, "compare-methods", "GPC1", *extra, "--format", fmt]
        direct, service = both_paths(capsys, monkeypatch, argv)
        assert direct[0] == 0 and service[0] == 0, direct[2] + service[2]
        assert direct[1] == service[1]
        outputs.append(direct[1])
    assert "precipitation" in outputs[0] and "sec" in outputs[0]
    assert outputs[1].count("\n") > outputs[0].count("\n")  # one line per pair
