"""A censored baseline stays at its visit and changes against it are bounds (issue 11,
finding 9), through `exolab patient`, `exolab export longitudinal` (with its manifest) and
`exolab cohort --change`, on SQLite and PostgreSQL (docs/longitudinal.md)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.queries.cli import import_files, run

SUBJECTS = """study,subject_id,group
PDAC,P1,case
PDAC,P2,case
PDAC,P3,case
PDAC,P4,case
"""

SAMPLES = """sample_id,biofluid,collected_at,study,subject_id,visit
P1-BL,plasma,2024-01-10 09:00,PDAC,P1,baseline
P1-M3,plasma,2024-04-10 09:00,PDAC,P1,M3
P2-BL,plasma,2024-01-11 09:00,PDAC,P2,baseline
P2-M3,plasma,2024-04-11 09:00,PDAC,P2,M3
P3-BL,plasma,2024-01-12 09:00,PDAC,P3,baseline
P3-M3,plasma,2024-04-12 09:00,PDAC,P3,M3
P4-BL,plasma,2024-01-13 09:00,PDAC,P4,baseline
P4-M3,plasma,2024-04-13 09:00,PDAC,P4,M3
"""

ISOLATIONS = "isolation_id,sample_id,isolated_on,method,input_volume_ml\n" + "".join(
    f"I-{s},{s},2024-05-01,sec,0.5\n"
    for s in ("P1-BL", "P1-M3", "P2-BL", "P2-M3", "P3-BL", "P3-M3", "P4-BL", "P4-M3")
)

# P1: <LOD (lod 50) at baseline, 300 at M3 -- the case of the finding.
# P2: measured baseline 100, 250 at M3 -- an exact change.
# P3: >ULOQ (uloq 1000) at baseline, 400 at M3 -- a fall by more than 600.
# P4: <LOD without a recorded lod at baseline, 80 at M3 -- a rise that cannot be bounded.
READOUTS = """isolation_id,analyte,value,unit,assay,run_id,replicate,lod,uloq
I-P1-BL,GPC1,<LOD,pg/mL,elisa,E1,1,50,
I-P1-BL,GPC1,<LOD,pg/mL,elisa,E1,2,50,
I-P1-M3,GPC1,300,pg/mL,elisa,E2,1,50,
I-P2-BL,GPC1,100,pg/mL,elisa,E1,1,50,
I-P2-M3,GPC1,250,pg/mL,elisa,E2,1,50,
I-P3-BL,GPC1,>ULOQ,pg/mL,elisa,E1,1,,1000
I-P3-M3,GPC1,400,pg/mL,elisa,E2,1,,1000
I-P4-BL,GPC1,<LOD,pg/mL,elisa,E1,1,,
I-P4-M3,GPC1,80,pg/mL,elisa,E2,1,,
"""


@pytest.fixture
def pdac(db_url: str, tmp_path: Path) -> str:
    import_files(
        db_url,
        tmp_path,
        (
            ("subjects", SUBJECTS),
            ("samples", SAMPLES),
            ("isolations", ISOLATIONS),
            ("readouts", READOUTS),
        ),
    )
    return db_url


def _patient(db: str, subject: str) -> list[dict[str, object]]:
    r = run(db, "patient", "PDAC", subject, "--analyte", "GPC1", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows: list[dict[str, object]] = json.loads(r.stdout)
    return rows


def test_censored_baseline_is_kept_and_the_rise_is_a_lower_bound(pdac: str) -> None:
    rows = _patient(pdac, "P1")
    assert [r["visit"] for r in rows] == ["baseline", "baseline", "M3"]
    # the baseline stays at the baseline visit: below 50, never 300 at M3
    assert [r["baseline_flag"] for r in rows] == ["Y", "Y", None]
    assert {(r["baseline_value"], r["baseline_censor"]) for r in rows} == {(50.0, "<")}
    m3 = rows[2]
    assert m3["change_from_baseline"] == 250.0 and m3["change_censor"] == ">"
    assert m3["pct_change_from_baseline"] == 500.0 and m3["fold_change"] == 6.0
    assert rows[0]["change_from_baseline"] is None and rows[0]["change_censor"] is None
    r = run(pdac, "patient", "PDAC", "P1", "--analyte", "GPC1")
    assert r.returncode == 0, r.stderr
    assert ">250" in r.stdout and ">500" in r.stdout and "<50" in r.stdout


def test_measured_above_limit_and_unbounded_baselines(pdac: str) -> None:
    p2 = _patient(pdac, "P2")
    assert [(r["baseline_value"], r["baseline_censor"]) for r in p2] == [(100.0, None)] * 2
    assert p2[1]["change_from_baseline"] == 150.0 and p2[1]["change_censor"] is None
    p3 = _patient(pdac, "P3")
    assert p3[0]["baseline_flag"] == "Y" and p3[0]["baseline_censor"] == ">"
    assert p3[1]["baseline_value"] == 1000.0
    # above 1000 at baseline, 400 at M3: the change is below -600
    assert p3[1]["change_from_baseline"] == -600.0 and p3[1]["change_censor"] == "<"
    p4 = _patient(pdac, "P4")
    assert p4[0]["baseline_flag"] == "Y"
    assert (p4[1]["baseline_value"], p4[1]["baseline_censor"]) == (None, "<")
    assert p4[1]["change_from_baseline"] is None and p4[1]["fold_change"] is None


def test_export_columns_and_manifest_state_the_rule(pdac: str, tmp_path: Path) -> None:
    out = tmp_path / "gpc1.csv"
    r = run(pdac, "export", "longitudinal", "--analyte", "GPC1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    p1 = [row for row in rows if row["subject_id"] == "P1"]
    assert [row["baseline_censor"] for row in p1] == ["<", "<", "<"]
    assert p1[2]["change_from_baseline"] == "250" or float(p1[2]["change_from_baseline"]) == 250
    assert p1[2]["change_censor"] == ">"
    manifest = json.loads((tmp_path / "gpc1.csv.manifest.json").read_text())
    assert "censored" in manifest["baseline_rule"]
    assert "never moved to a later visit" in manifest["baseline_rule"]
    r = run(pdac, "export", "--help")
    assert "baseline_censor" in r.stdout.replace("\n", " ")
    r = run(pdac, "patient", "--help")
    assert "never moved to a later" in " ".join(r.stdout.split())


def test_cohort_change_counts_bounds_as_censored(pdac: str) -> None:
    r = run(pdac, "cohort", "GPC1", "--study", "PDAC", "--change", "--format", "json")
    assert r.returncode == 0, r.stderr
    by_visit = {row["visit"]: row for row in json.loads(r.stdout)}
    # baseline: P2's change 0 (P1, P3, P4 censored sets); M3: only P2's exact change 150,
    # the three changes against censored baselines are bounds, counted but not averaged
    assert (by_visit["baseline"]["n"], by_visit["baseline"]["n_censored"]) == (1, 3)
    assert (by_visit["M3"]["n"], by_visit["M3"]["n_censored"]) == (1, 3)
    assert by_visit["M3"]["mean"] == 150.0
    r = run(pdac, "cohort", "GPC1", "--study", "PDAC", "--format", "json")
    by_visit = {row["visit"]: row for row in json.loads(r.stdout)}
    assert (by_visit["M3"]["n"], by_visit["M3"]["n_censored"]) == (4, 0)


def cohort_points_at(url: str, analyte: str, visit: str) -> dict[str, Any]:
    """The PDAC cohort's points of ``analyte`` with change, at ``visit``, by subject."""
    from exolab.db.engine import Database
    from exolab.services.context import Lab
    from exolab.services.queries import cohort_points

    db = Database(url)
    try:
        with Lab(db, "tester").read() as tx:
            points = cohort_points(tx, analyte, study="PDAC", change=True)
    finally:
        db.dispose()
    return {p.subject_id: p for p in points if p.visit == visit}


def test_cohort_points_carry_the_censored_baseline(pdac: str) -> None:
    m3 = cohort_points_at(pdac, "GPC1", "M3")
    assert (m3["P1"].baseline_value, m3["P1"].baseline_censor) == (50.0, "<")
    assert (m3["P3"].baseline_value, m3["P3"].baseline_censor) == (1000.0, ">")
    assert m3["P1"].censored and m3["P1"].value is None
    assert not m3["P2"].censored and m3["P2"].value == 150.0


# qPCR: "Undetermined"/"NaN" is a Ct above the run's cycles (comparator '>', docs/import-formats.md),
# so a baseline of only undetermined Cts is above its limit: a later Ct of 25 against an
# undetermined baseline (lod 40 cycles) is a fall by more than 15 cycles, not a rise.
CT_READOUTS = """isolation_id,analyte,value,unit,assay,run_id,replicate,lod
I-P1-BL,miR-155-5p,Undetermined,Ct,qpcr,Q1,1,40
I-P1-BL,miR-155-5p,NaN,Ct,qpcr,Q1,2,40
I-P1-M3,miR-155-5p,25,Ct,qpcr,Q2,1,40
I-P2-BL,miR-155-5p,ND,Ct,qpcr,Q1,1,38
I-P2-M3,miR-155-5p,30,Ct,qpcr,Q2,1,38
"""


def test_undetermined_ct_baseline_is_above_its_limit(pdac: str, tmp_path: Path) -> None:
    (tmp_path / "ct").mkdir()
    import_files(pdac, tmp_path / "ct", (("readouts", CT_READOUTS),))
    for subject, limit, change in (("P1", 40.0, -15.0), ("P2", 38.0, -8.0)):
        r = run(pdac, "patient", "PDAC", subject, "--analyte", "miR-155-5p", "--format", "json")
        assert r.returncode == 0, r.stderr
        rows = json.loads(r.stdout)
        assert {r["comparator"] for r in rows if r["baseline_flag"] == "Y"} == {">"}
        assert {(r["baseline_value"], r["baseline_censor"]) for r in rows} == {(limit, ">")}
        m3 = rows[-1]
        # the true baseline is above the limit, so the true change is below the bound
        assert m3["change_from_baseline"] == change and m3["change_censor"] == "<"
    r = run(pdac, "cohort", "miR-155-5p", "--study", "PDAC", "--change", "--format", "json")
    assert r.returncode == 0, r.stderr
    m3 = cohort_points_at(pdac, "miR-155-5p", "M3")
    assert (m3["P1"].baseline_value, m3["P1"].baseline_censor) == (40.0, ">")
    assert (m3["P2"].baseline_value, m3["P2"].baseline_censor) == (38.0, ">")
