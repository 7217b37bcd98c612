"""One replicate rule (exolab.domain.replicates; docs/longitudinal.md, "Replicate sets"):
the trajectory, cohort summary and points, method comparison, the MISEV ratio and the wide
export give the same value and n for the same replicate sets, on SQLite and PostgreSQL; and
when the domain's set statistic becomes the median, every one of them follows."""

from __future__ import annotations

import csv
import io
import math
import statistics

import pytest

from exolab.domain import replicates
from exolab.domain.replicates import summarise
from exolab.io.export import write_wide
from exolab.services.context import Lab
from exolab.services.queries import (
    LongitudinalFilter,
    cohort_points,
    cohort_summary,
    compare_methods,
    iter_longitudinal,
    trajectory_for_subject,
)
from exolab.services.samples import register_sample
from exolab.services.standards import misev_report
from exolab.services.subjects import create_subject

STUDY = "REP"
# per subject: a tube split into two aliquots, one isolated by sec, one by uf; GPC1 in
# triplicate on each (one replicate of S2's uf set below the LOD), particles in triplicate
# and protein in duplicate on the sec isolations.
GPC1 = {
    ("S1", "sec"): ["101.5", "99.25", "104.0"],
    ("S1", "uf"): ["150.0", "161.2", "149.9"],
    ("S2", "sec"): ["80.1", "77.7", "83.3"],
    ("S2", "uf"): ["120.5", "<40", "118.1"],
}
PARTICLES = {"S1": ["2.1e10", "2.4e10", "2.2e10"], "S2": ["1.1e10", "1.3e10", "1.25e10"]}
PROTEIN = {"S1": ["55.5", "60.25"], "S2": ["40.0", "44.4"]}


def _load(lab: Lab) -> None:
    from exolab.services.isolations import record_isolation
    from exolab.services.readouts import record_readout

    with lab.write() as tx:
        for subject in ("S1", "S2"):
            create_subject(tx, {"study": STUDY, "subject_id": subject})
            parent = f"{subject}-PL"
            register_sample(
                tx,
                {
                    "sample_id": parent,
                    "biofluid": "plasma",
                    "collected_at": "2024-03-01T09:00",
                    "study": STUDY,
                    "subject_id": subject,
                    "visit": "baseline",
                },
            )
            for method in ("sec", "uf"):
                aliquot = f"{parent}-{method}"
                register_sample(
                    tx,
                    {
                        "sample_id": aliquot,
                        "biofluid": "plasma",
                        "collected_at": "2024-03-01T09:00",
                        "parent_sample_id": parent,
                    },
                )
                iso = f"ISO-{subject}-{method}"
                record_isolation(
                    tx,
                    {
                        "isolation_id": iso,
                        "sample_id": aliquot,
                        "isolated_on": "2024-03-02",
                        "method": method,
                        "input_volume_ml": "0.5",
                    },
                )
                rows = [("GPC1", v, "pg/mL", "elisa") for v in GPC1[(subject, method)]]
                if method == "sec":
                    rows += [
                        ("particle_concentration", v, "/mL", "nta") for v in PARTICLES[subject]
                    ]
                    rows += [("protein_total", v, "ug/mL", "bca") for v in PROTEIN[subject]]
                reps: dict[str, int] = {}
                for analyte, value, unit, assay in rows:
                    reps[analyte] = reps.get(analyte, 0) + 1
                    record_readout(
                        tx,
                        {
                            "isolation_id": iso,
                            "analyte": analyte,
                            "value": value,
                            "unit": unit,
                            "assay": assay,
                            "run_id": f"RUN-{assay}",
                            "replicate": reps[analyte],
                            "lod": "40",
                        },
                    )


STATISTIC = {"mean": statistics.fmean, "median": statistics.median}


def _expected(
    values: list[str], statistic: str = "mean"
) -> tuple[float | None, int, int, float | None]:
    """By the definition: the set's value (its statistic) and sample-SD CV (SD / mean) of the
    uncensored values, censored counted."""
    numbers = [float(v) for v in values if not v.startswith("<")]
    value = STATISTIC[statistic](numbers) if numbers else None
    mean = statistics.fmean(numbers) if numbers else None
    cv = 100 * statistics.stdev(numbers) / mean if mean and len(numbers) > 1 else None
    return value, len(numbers), len(values) - len(numbers), cv


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12)


@pytest.mark.parametrize("statistic", ["mean", "median"])
def test_replicate_summary_is_the_same_everywhere(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, statistic: str
) -> None:
    """With the median, nothing but the domain's setting changes: every reader follows."""
    monkeypatch.setattr(replicates, "SET_STATISTIC", getattr(replicates, statistic.upper()))
    _load(lab)
    want = {key: _expected(values, statistic) for key, values in GPC1.items()}
    # the rule the paths below call
    assert summarise([1.0, 2.0, 6.0], 1).mean == {"mean": 3.0, "median": 2.0}[statistic]
    if statistic == "median":  # the data tell the two apart
        assert want[("S1", "sec")][0] != _expected(GPC1[("S1", "sec")])[0]
    with lab.read() as tx:
        # the trajectory: every row of a set carries the set's summary
        for subject in ("S1", "S2"):
            for p in trajectory_for_subject(tx, STUDY, subject, ["GPC1"]):
                mean, n, n_censored, cv = want[(subject, p.method)]
                assert close(p.replicate_mean, mean) and close(p.replicate_cv, cv)
                assert (p.replicate_n, p.replicate_n_censored) == (n, n_censored)
        # cohort points and summary (read from the replicate-set table, in SQL)
        points = cohort_points(tx, "GPC1", study=STUDY, by="method")
        assert {(p.subject_id, p.method): p.value for p in points}.keys() == want.keys()
        for p in points:
            assert close(p.value, want[(p.subject_id, p.method)][0])
        rows = {r.value: r for r in cohort_summary(tx, "GPC1", study=STUDY, by="method")}
        for method in ("sec", "uf"):
            means = [want[(s, method)][0] for s in ("S1", "S2")]
            assert rows[method].n == 2 and rows[method].n_censored == 0
            assert close(rows[method].mean, statistics.fmean(m for m in means if m is not None))
        # method comparison on the split tubes: each side is the set's mean
        (pair,) = compare_methods(tx, "GPC1", STUDY, with_pairs=True)
        assert (pair.method_a, pair.method_b, pair.n_pairs) == ("sec", "uf", 2)
        for pv in pair.pairs:
            subject = pv.sample_id.split("-")[0]
            assert close(pv.a, want[(subject, "sec")][0])
            assert close(pv.b, want[(subject, "uf")][0])
        # MISEV: particles per ug protein from the replicate means
        for subject in ("S1", "S2"):
            report = misev_report(tx, f"ISO-{subject}-sec")
            particles = _expected(PARTICLES[subject], statistic)[0]
            protein = _expected(PROTEIN[subject], statistic)[0]
            assert particles is not None and protein is not None
            assert report.particles_per_ug_protein == pytest.approx(particles / protein, 1e-12)
        # the wide export: a cell of uncensored replicates holds their mean
        out = io.StringIO()
        write_wide(out, lambda: iter_longitudinal(tx, LongitudinalFilter(study=STUDY)))
    cells = {
        row["isolation_id"]: row["GPC1 [pg/mL]"]
        for row in csv.DictReader(io.StringIO(out.getvalue()))
    }
    for (subject, method), values in GPC1.items():
        cell = cells[f"ISO-{subject}-{method}"]
        if any(v.startswith("<") for v in values):  # censored replicates stay visible
            assert cell == "; ".join(values)
        else:
            assert close(float(cell), want[(subject, method)][0])
