"""Hostile QA of the longitudinal side (docs/longitudinal.md, docs/import-formats.md#exports):
a hand-built cohort whose right answers are worked out below, checked through `exolab export
longitudinal` (long, --wide, --deidentify, filters, manifest), `exolab patient`, `exolab
cohort` and `exolab compare-methods`, on SQLite and PostgreSQL.

The cohort (GPC1 in pg/mL unless said):

- A1 plasma, one tube split into a sec and a precipitation isolation at every visit, plus urine:
  - sec: baseline {<LOD (lod 50), 120} -> mean 120 (n 1, 1 censored), baseline 120;
    M6 collected 2024-03-01, *before* M3 (out of label order): 150, day 51, change 30 (25 %);
    M3 {0.2 ng/mL, 300 pg/mL} -> 200 and 300 pg/mL, mean 250, CV 28.28 %, change 130;
  - precipitation: baseline {<LOD lod 40, <LOD lod 60} all censored -> baseline `<` 60;
    M3 {>ULOQ (1000), 500} -> mean 500, change bound 440 (`>`), pct 733.33, fold 8.33;
  - urine sec: baseline 0 -> pct and fold empty; M3 70, change 70.
- A2: baseline 80; two M3 tubes the same day (09:00 and 15:00): 100 and 120, day 90.
- A3: a screening tube 14 days before baseline with an isolation but no result: visit days
  count from it (baseline day 14), the baseline is the first visit with a result (60).
- A4: no result at baseline: the baseline is M3 (200), change 0.
- A5: no readouts at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.queries.cli import import_files, run

SUBJECTS = """study,subject_id,group,notes
H,A1,case,secret note alpha
H,A2,control,
H,A3,case,
H,A4,control,
H,A5,case,
"""

SAMPLES = """sample_id,biofluid,collected_at,study,subject_id,visit,notes
A1-BL,plasma,2024-01-10 09:00,H,A1,baseline,tube note beta
A1-M3,plasma,2024-04-10 09:00,H,A1,M3,
A1-M6,plasma,2024-03-01 09:00,H,A1,M6,
A1-U-BL,urine,2024-01-10 10:00,H,A1,baseline,
A1-U-M3,urine,2024-04-10 10:00,H,A1,M3,
A2-BL,plasma,2024-02-01 09:00,H,A2,baseline,
A2-M3,plasma,2024-05-01 09:00,H,A2,M3,
A2-M3b,plasma,2024-05-01 15:00,H,A2,M3,
A3-SCR,plasma,2024-01-01 09:00,H,A3,screening,
A3-BL,plasma,2024-01-15 09:00,H,A3,baseline,
A3-M3,plasma,2024-04-15 09:00,H,A3,M3,
A4-BL,plasma,2024-01-20 09:00,H,A4,baseline,
A4-M3,plasma,2024-04-20 09:00,H,A4,M3,
A5-BL,plasma,2024-01-21 09:00,H,A5,baseline,
"""

ISOLATIONS = """isolation_id,sample_id,isolated_on,method,input_volume_ml
I-A1-BL-S,A1-BL,2024-05-01,sec,0.5
I-A1-BL-P,A1-BL,2024-05-01,precipitation,0.5
I-A1-M3-S,A1-M3,2024-05-01,sec,0.5
I-A1-M3-P,A1-M3,2024-05-01,precipitation,0.5
I-A1-M6-S,A1-M6,2024-05-01,sec,0.5
I-A1-U-BL,A1-U-BL,2024-05-01,sec,0.5
I-A1-U-M3,A1-U-M3,2024-05-01,sec,0.5
I-A2-BL,A2-BL,2024-05-01,sec,0.5
I-A2-M3,A2-M3,2024-05-02,sec,0.5
I-A2-M3b,A2-M3b,2024-05-02,sec,0.5
I-A3-SCR,A3-SCR,2024-05-01,sec,0.5
I-A3-BL,A3-BL,2024-05-01,sec,0.5
I-A3-M3,A3-M3,2024-05-01,sec,0.5
I-A4-BL,A4-BL,2024-05-01,sec,0.5
I-A4-M3,A4-M3,2024-05-01,sec,0.5
"""

READOUTS = """isolation_id,analyte,value,unit,assay,run_id,replicate,lod,uloq,notes
I-A1-BL-S,GPC1,<LOD,pg/mL,elisa,E1,1,50,,
I-A1-BL-S,GPC1,120,pg/mL,elisa,E1,2,50,,
I-A1-BL-P,GPC1,<LOD,pg/mL,elisa,E1,1,40,,
I-A1-BL-P,GPC1,<LOD,pg/mL,elisa,E1,2,60,,
I-A1-M3-S,GPC1,0.2,ng/mL,elisa,E2,1,50,,
I-A1-M3-S,GPC1,300,pg/mL,elisa,E2,2,50,,
I-A1-M3-P,GPC1,>ULOQ,pg/mL,elisa,E2,1,,1000,
I-A1-M3-P,GPC1,500,pg/mL,elisa,E2,2,,1000,
I-A1-M6-S,GPC1,150,pg/mL,elisa,E3,1,50,,
I-A1-U-BL,GPC1,0,pg/mL,elisa,E1,1,,,
I-A1-U-M3,GPC1,70,pg/mL,elisa,E2,1,,,
I-A2-BL,GPC1,80,pg/mL,elisa,E1,1,,,run note gamma
I-A2-M3,GPC1,100,pg/mL,elisa,E2,1,,,
I-A2-M3b,GPC1,120,pg/mL,elisa,E2,1,,,
I-A3-BL,GPC1,60,pg/mL,elisa,E1,1,,,
I-A3-M3,GPC1,90,pg/mL,elisa,E2,1,,,
I-A3-M3,CD63,12,AU,elisa,E2,1,,,
I-A4-M3,GPC1,200,pg/mL,elisa,E2,1,,,
"""

REAL_DATES = (
    "2024-01-10", "2024-04-10", "2024-03-01", "2024-02-01", "2024-05-01", "2024-05-02",
    "2024-01-01", "2024-01-15", "2024-04-15", "2024-01-20", "2024-04-20", "2024-01-21",
)  # fmt: skip


@pytest.fixture
def cohort(db_url: str, tmp_path: Path) -> str:
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


def _num(text: str) -> float | None:
    return float(text) if text != "" else None


def _export(db: str, tmp_path: Path, *args: str, name: str = "out.csv") -> list[dict[str, str]]:
    out = tmp_path / name
    r = run(db, "export", "longitudinal", *args, "--out", str(out))
    assert r.returncode == 0, r.stderr
    return list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))


def _sets(rows: list[dict[str, str]]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """(subject, biofluid, method, visit) -> the set's summary and baseline fields."""
    out: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for r in rows:
        if r["analyte"] != "GPC1":
            continue
        key = (r["subject_id"], r["biofluid"], r["method"], r["visit"])
        out.setdefault(key, {"rows": []})["rows"].append(r)
    return out


def test_baselines_replicates_and_changes_by_hand(cohort: str, tmp_path: Path) -> None:
    rows = _export(cohort, tmp_path)
    assert len(rows) == 18
    sets = _sets(rows)

    def summary(key: tuple[str, str, str, str]) -> tuple[Any, ...]:
        r = sets[key]["rows"][-1]
        return (
            _num(r["replicate_mean"]),
            int(r["replicate_n"]),
            int(r["replicate_n_censored"]),
            r["baseline_flag"],
            _num(r["baseline_value"]),
            r["baseline_censor"],
        )

    # every replicate censored at baseline: censored baseline, the highest limit
    assert summary(("A1", "plasma", "precipitation", "baseline")) == (None, 0, 2, "Y", 60.0, "<")
    # one censored, one numeric replicate: the numeric one is the mean, the other counted
    assert summary(("A1", "plasma", "sec", "baseline")) == (120.0, 1, 1, "Y", 120.0, "")
    # pg/mL and ng/mL replicates of one set: 200 and 300 pg/mL
    m3 = sets[("A1", "plasma", "sec", "M3")]["rows"]
    assert {r["std_value"] for r in m3} == {"200.0", "300.0"} or {
        _num(r["std_value"]) for r in m3
    } == {200.0, 300.0}
    assert _num(m3[0]["replicate_mean"]) == 250.0 and m3[0]["replicate_n"] == "2"
    assert math.isclose(_num(m3[0]["replicate_cv"]) or 0, 100 * math.sqrt(5000) / 250)
    assert _num(m3[0]["change_from_baseline"]) == 130.0 and m3[0]["change_censor"] == ""
    assert math.isclose(_num(m3[0]["pct_change_from_baseline"]) or 0, 100 * 130 / 120)
    # collected before M3 though labelled M6: its day counts from the calendar
    m6 = sets[("A1", "plasma", "sec", "M6")]["rows"][0]
    assert (m6["visit_day"], _num(m6["change_from_baseline"])) == ("51", 30.0)
    assert _num(m6["pct_change_from_baseline"]) == 25.0 and m6["replicate_cv"] == ""
    # a >ULOQ replicate is counted, not averaged; the change against `<60` is a bound
    pm3 = sets[("A1", "plasma", "precipitation", "M3")]["rows"]
    uloq, num = sorted(pm3, key=lambda r: r["censor"] == "none")
    assert (uloq["value"], num["value"]) == (">ULOQ", "500")
    assert _num(num["replicate_mean"]) == 500.0 and num["replicate_n_censored"] == "1"
    assert (_num(num["change_from_baseline"]), num["change_censor"]) == (440.0, ">")
    assert math.isclose(_num(num["fold_change"]) or 0, 500 / 60)
    assert uloq["change_from_baseline"] == "" and uloq["change_censor"] == ""
    # urine has its own baseline, 0: percent and fold change empty, the difference kept
    ubl = sets[("A1", "urine", "sec", "baseline")]["rows"][0]
    um3 = sets[("A1", "urine", "sec", "M3")]["rows"][0]
    assert (ubl["visit_day"], _num(ubl["baseline_value"])) == ("0", 0.0)
    assert _num(um3["change_from_baseline"]) == 70.0
    assert um3["pct_change_from_baseline"] == "" and um3["fold_change"] == ""
    # two tubes of one visit on one day: two rows, same day, each its own change
    a2 = sets[("A2", "plasma", "sec", "M3")]["rows"]
    assert sorted((r["visit_day"], _num(r["change_from_baseline"])) for r in a2) == [
        ("90", 20.0),
        ("90", 40.0),
    ]
    # a screening tube without a result: days count from it, the baseline does not move to it
    a3 = sets[("A3", "plasma", "sec", "baseline")]["rows"][0]
    assert (a3["visit_day"], a3["baseline_flag"], _num(a3["baseline_value"])) == ("14", "Y", 60.0)
    assert sets[("A3", "plasma", "sec", "M3")]["rows"][0]["visit_day"] == "105"
    # no result at the first visit: the baseline is the first visit with one
    a4 = sets[("A4", "plasma", "sec", "M3")]["rows"][0]
    assert (a4["baseline_flag"], _num(a4["baseline_value"]), _num(a4["change_from_baseline"])) == (
        "Y",
        200.0,
        0.0,
    )
    assert not any(r["subject_id"] == "A5" for r in rows)


def test_patient_csv_and_json_equal_the_export(cohort: str, tmp_path: Path) -> None:
    out = tmp_path / "a1.csv"
    r = run(cohort, "export", "longitudinal", "--study", "H", "--subject", "A1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    p = run(cohort, "patient", "H", "A1", "--format", "csv")
    assert p.returncode == 0, p.stderr
    assert p.stdout.replace("\r\n", "\n") == out.read_text().replace("\r\n", "\n")
    j = run(cohort, "patient", "H", "A1", "--format", "json")
    assert j.returncode == 0, j.stderr
    assert "NaN" not in j.stdout and "Infinity" not in j.stdout
    data = json.loads(j.stdout)
    exported = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [list(d) for d in data] == [list(e) for e in exported]
    censored = [d for d in data if d["censor"] == "lt_lod"]
    # censored values: the limit as the number, with the comparator beside it, never averaged
    assert {(d["comparator"], d["numeric_value"]) for d in censored} == {
        ("<", 40.0),
        ("<", 50.0),
        ("<", 60.0),
    }
    urine = next(d for d in data if d["biofluid"] == "urine" and d["visit"] == "M3")
    assert urine["pct_change_from_baseline"] is None and urine["change_from_baseline"] == 70.0


def test_patient_without_readouts_and_unknown_subject(cohort: str) -> None:
    r = run(cohort, "patient", "H", "A5")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert "no results" in (r.stdout + r.stderr)
    r = run(cohort, "patient", "H", "ZZ")
    assert r.returncode == 1 and "ZZ" in r.stderr and "Traceback" not in r.stderr


def _cohort(db: str, *args: str) -> list[dict[str, Any]]:
    r = run(db, "cohort", "GPC1", *args, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert "NaN" not in r.stdout and "Infinity" not in r.stdout
    rows: list[dict[str, Any]] = json.loads(r.stdout)
    return rows


def test_cohort_tiny_groups_by_hand(cohort: str) -> None:
    by_method = {r["method"]: r for r in _cohort(cohort, "--by", "method")}
    # precipitation: one all-censored set (baseline) and one mean (500): n=1, no sd
    p = by_method["precipitation"]
    assert (p["n"], p["n_censored"], p["n_subjects"]) == (1, 1, 1)
    assert (p["mean"], p["sd"], p["median"], p["q1"], p["q3"]) == (500.0, None, 500.0, 500.0, 500.0)
    # a group whose only set is censored: n 0, counted in n_censored, no statistics
    (bl, m3p) = _cohort(cohort, "--by", "visit", "--method", "precipitation")
    assert (bl["visit"], bl["n"], bl["n_censored"], bl["n_subjects"]) == ("baseline", 0, 1, 1)
    stats = ("mean", "sd", "median", "q1", "q3", "min", "max")
    assert [bl[k] for k in stats] == [None] * 7 and bl["unit"] == "pg/mL"
    assert (m3p["visit"], m3p["n"], m3p["median"]) == ("M3", 1, 500.0)
    by_visit = {r["visit"]: r for r in _cohort(cohort, "--by", "visit")}
    # baseline sets: 120 (A1 sec), 0 (A1 urine), 80 (A2), 60 (A3); A1 precipitation censored
    b = by_visit["baseline"]
    assert (b["n"], b["n_subjects"], b["n_censored"]) == (4, 3, 1)
    assert (b["mean"], b["sd"], b["median"], b["q1"], b["q3"]) == (65.0, 50.0, 70.0, 45.0, 90.0)
    assert (b["min"], b["max"], b["unit"]) == (0.0, 120.0, "pg/mL")
    # M6 is collected before M3: visits ordered by their mean day
    assert list(by_visit) == ["baseline", "M6", "M3"]
    m3 = by_visit["M3"]  # 500, 250, 70, 100, 120, 90, 200
    assert (m3["n"], m3["median"], m3["mean"]) == (7, 120.0, 190.0)
    change = {r["biofluid"]: r for r in _cohort(cohort, "--by", "biofluid", "--change")}
    # urine: 0 and 70 (n=2: q1 17.5, q3 52.5); plasma: the bound 440 and the censored
    # baseline set are counted in n_censored, not averaged
    u = change["urine"]
    assert (u["n"], u["mean"], u["q1"], u["q3"]) == (2, 35.0, 17.5, 52.5)
    assert (change["plasma"]["n"], change["plasma"]["n_censored"]) == (9, 2)


def test_compare_methods_pairs_split_tubes(cohort: str) -> None:
    r = run(cohort, "compare-methods", "GPC1", "--format", "json")
    assert r.returncode == 0, r.stderr
    (m,) = json.loads(r.stdout)
    # one usable pair (M3: precipitation 500, sec 250); the baseline pair has a censored side
    assert (m["n_pairs"], m["n_censored_pairs"]) == (1, 1)
    assert (m["mean_a"], m["mean_b"]) == (500.0, 250.0)
    assert m["mean_difference"] == m["mean_b"] - m["mean_a"]  # b - a (docs/longitudinal.md)
    assert m["sd_difference"] is None and m["pearson_r"] is None


def test_deidentified_export_leaves_no_id_date_or_note(cohort: str, tmp_path: Path) -> None:
    salt = "pepper-0123456789"
    plain = _export(cohort, tmp_path, name="plain.csv")
    one = _export(cohort, tmp_path, "--deidentify", "--salt", salt, name="de1.csv")
    two = _export(cohort, tmp_path, "--deidentify", "--salt", salt, name="de2.csv")
    assert (tmp_path / "de1.csv").read_bytes() == (tmp_path / "de2.csv").read_bytes()
    other = _export(cohort, tmp_path, "--deidentify", "--salt", salt + "x", name="de3.csv")
    assert {r["subject_id"] for r in other}.isdisjoint({r["subject_id"] for r in one})
    assert [r["visit_day"] for r in one] == [r["visit_day"] for r in plain]
    assert len(one) == len(two) == len(plain)
    for name in ("de1.csv", "de1.csv.manifest.json"):
        text = (tmp_path / name).read_text()
        for real in ("A1", "A2", "A3", "A4", "I-A1", "A1-BL", "secret", "beta", "gamma"):
            assert real not in text, (name, real)
        for d in REAL_DATES:
            assert d not in text and d.replace("-", "") not in text, (name, d)
    manifest = json.loads((tmp_path / "de1.csv.manifest.json").read_text())
    digest = hashlib.sha256((tmp_path / "de1.csv").read_bytes()).hexdigest()
    assert manifest["sha256"] == digest and manifest["rows"] == 18
    assert manifest["deidentified"] is True
    wide = tmp_path / "dw.csv"
    r = run(cohort, "export", "longitudinal", "--wide", "--deidentify", "--salt", salt,
            "--out", str(wide))  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = wide.read_text()
    assert not any(d in text for d in REAL_DATES) and "A1" not in text


def test_filters_combined_and_synonym(cohort: str, tmp_path: Path) -> None:
    r = run(cohort, "analyte", "set", "GPC1", "--synonyms", "glypican-1", "--reason", "qa")
    assert r.returncode == 0, r.stderr
    rows = _export(
        cohort, tmp_path, "--analyte", "Glypican-1", "--biofluid", "plasma", "--method", "sec",
        "--subject", "A1", "--since", "2024-03-01", "--until", "2024-04-10",
    )  # fmt: skip
    assert [(r["visit"], r["value"]) for r in rows] == [("M6", "150"), ("M3", "0.2"), ("M3", "300")]
    # the baseline stays the real one (120, outside the window)
    assert {r["baseline_value"] for r in rows} == {"120.0"} or {
        _num(r["baseline_value"]) for r in rows
    } == {120.0}


def test_wide_columns_follow_the_standard_unit(cohort: str, tmp_path: Path) -> None:
    """Defect: ``--wide`` made one column per unit *as typed*, so the M3 set of A1 (0.2 ng/mL
    and 300 pg/mL, mean 250 pg/mL) was split into ``GPC1 [ng/mL]`` 0.2 and ``GPC1 [pg/mL]``
    300: neither column held the set's value, and a subject measured in ng/mL only was in a
    column of its own. Now a unit that converts goes to the standard unit's column."""
    extra = (
        ("isolations", "isolation_id,sample_id,isolated_on,method,input_volume_ml\n"
                       "I-A5-BL,A5-BL,2024-05-01,sec,0.5\n"),
        ("readouts", "isolation_id,analyte,value,unit,assay,run_id,replicate\n"
                     "I-A5-BL,GPC1,0.1,ng/mL,elisa,E9,1\n"
                     "I-A5-BL,GPC1,<0.05,ng/mL,elisa,E9,2\n"
                     "I-A5-BL,GPC1,7,AU,simoa,S1,1\n"),
    )  # fmt: skip
    import_files(cohort, tmp_path, extra)
    out = tmp_path / "wide.csv"
    r = run(cohort, "export", "longitudinal", "--wide", "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0])[10:] == ["CD63 [AU]", "GPC1 [AU]", "GPC1 [pg/mL]"]
    by_iso = {r["isolation_id"]: r for r in rows}
    assert by_iso["I-A1-M3-S"]["GPC1 [pg/mL]"] == "250"  # the set's mean, in pg/mL
    assert by_iso["I-A1-M3-P"]["GPC1 [pg/mL]"] == ">ULOQ; 500"  # censored: texts kept
    assert by_iso["I-A1-BL-S"]["GPC1 [pg/mL]"] == "<LOD; 120"
    # typed in ng/mL: converted, the censored one as its converted limit
    assert by_iso["I-A5-BL"]["GPC1 [pg/mL]"] == "100; <50"
    assert by_iso["I-A5-BL"]["GPC1 [AU]"] == "7"  # a unit that does not convert: own column
    assert by_iso["I-A2-BL"]["GPC1 [pg/mL]"] == "80"


def test_since_after_until_is_a_usage_error(cohort: str, tmp_path: Path) -> None:
    """Defect: ``--since`` after ``--until`` wrote a header-only file and exited 0, as if the
    cohort had no results in the window. Now it is a usage error naming both dates."""
    out = tmp_path / "none.csv"
    r = run(cohort, "export", "longitudinal", "--since", "2024-05-01", "--until", "2024-01-01",
            "--out", str(out))  # fmt: skip
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "2024-05-01" in r.stderr and "2024-01-01" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and not (tmp_path / "none.csv.manifest.json").exists()
    # one day (since == until) is a window, not an error
    rows = _export(cohort, tmp_path, "--since", "2024-03-01", "--until", "2024-03-01")
    assert [r["sample_id"] for r in rows] == ["A1-M6"]


def test_service_refuses_since_after_until(lab: Any) -> None:
    from datetime import date

    from exolab.services.errors import ValidationFailed
    from exolab.services.queries import LongitudinalFilter, iter_longitudinal

    flt = LongitudinalFilter(since=date(2024, 5, 1), until=date(2024, 1, 1))
    with lab.read() as tx, pytest.raises(ValidationFailed, match="after until"):
        list(iter_longitudinal(tx, flt))


def test_wide_never_averages_two_assays_or_runs(cohort: str, tmp_path: Path) -> None:
    """Defect: ``--wide`` averaged every readout of one isolation and analyte, so an ELISA
    set (80) and a Simoa set (200, 220) of the same isolation came out as 166.667, a number
    neither assay measured. Replicates are readouts of one assay run (docs/longitudinal.md);
    now each set keeps its own value and the cell joins them with '; '."""
    extra = (
        ("readouts", "isolation_id,analyte,value,unit,assay,run_id,replicate\n"
                     "I-A2-BL,GPC1,200,pg/mL,simoa,S1,1\n"
                     "I-A2-BL,GPC1,220,pg/mL,simoa,S1,2\n"
                     "I-A3-BL,GPC1,<LOD,pg/mL,elisa,E8,1\n"),
    )  # fmt: skip
    import_files(cohort, tmp_path, extra)
    out = tmp_path / "wide.csv"
    r = run(cohort, "export", "longitudinal", "--wide", "--out", str(out))
    assert r.returncode == 0, r.stderr
    by_iso = {r["isolation_id"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    assert sorted(by_iso["I-A2-BL"]["GPC1 [pg/mL]"].split("; ")) == ["210", "80"]
    # a re-run of the same assay is a set of its own too; its censored value stays visible
    assert sorted(by_iso["I-A3-BL"]["GPC1 [pg/mL]"].split("; ")) == ["60", "<LOD"]
    assert by_iso["I-A2-M3"]["GPC1 [pg/mL]"] == "100"


def test_censored_baseline_with_an_unrecorded_limit_has_no_bound(
    cohort: str, tmp_path: Path
) -> None:
    """docs/longitudinal.md: "When a limit was not recorded (`<LOD` without an `lod`),
    `baseline_value` is empty." A4's first collection gets two <LOD replicates, one with lod
    50, one without: the true baseline is below a limit nobody knows, so no bound (50) may be
    given, and the 200 at M3 must not be reported as a rise of more than 150."""
    extra = (
        ("readouts", "isolation_id,analyte,value,unit,assay,run_id,replicate,lod\n"
                     "I-A4-BL,GPC1,<LOD,pg/mL,elisa,E1,1,\n"
                     "I-A4-BL,GPC1,<LOD,pg/mL,elisa,E1,2,50\n"),
    )  # fmt: skip
    import_files(cohort, tmp_path, extra)
    r = run(cohort, "patient", "H", "A4", "--analyte", "GPC1", "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(d["visit"], d["baseline_flag"]) for d in rows] == [
        ("baseline", "Y"),
        ("baseline", "Y"),
        ("M3", None),
    ]
    assert {(d["baseline_value"], d["baseline_censor"]) for d in rows} == {(None, "<")}
    assert rows[2]["change_from_baseline"] is None
    assert rows[2]["change_censor"] is None and rows[2]["fold_change"] is None
    # the export says the same, and A1's precipitation baseline (limits 40 and 60) keeps 60
    exported = _sets(_export(cohort, tmp_path))
    for row in exported["A4", "plasma", "sec", "baseline"]["rows"]:
        assert (row["baseline_value"], row["baseline_censor"]) == ("", "<")
        assert row["replicate_n_censored"] == "2"
    (m3,) = exported["A4", "plasma", "sec", "M3"]["rows"]
    assert (_num(m3["value"]), m3["change_from_baseline"], m3["change_censor"]) == (200.0, "", "")
    for row in exported["A1", "plasma", "precipitation", "baseline"]["rows"]:
        assert (_num(row["baseline_value"]), row["baseline_censor"]) == (60.0, "<")


def test_patient_plot_draws_a_set_without_a_bound_as_not_detected(
    cohort: str, tmp_path: Path
) -> None:
    """The trajectory plot draws a censored set at its bound, and one without a bound (a <LOD
    whose lod was not recorded beside one with lod 50) at the bottom edge, marked ND, not at
    the 50; A1's precipitation baseline (lod 40 and 60) at 60."""
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from exolab import plots
    from exolab.db.engine import Database
    from exolab.services.context import Lab
    from exolab.services.queries import trajectory_for_subject

    extra = (
        ("readouts", "isolation_id,analyte,value,unit,assay,run_id,replicate,lod\n"
                     "I-A4-BL,GPC1,<LOD,pg/mL,elisa,E1,1,\n"
                     "I-A4-BL,GPC1,<LOD,pg/mL,elisa,E1,2,50\n"),
    )  # fmt: skip
    import_files(cohort, tmp_path, extra)
    db = Database(cohort)
    try:
        with Lab(db, "tester").read() as tx:
            a4 = trajectory_for_subject(tx, "H", "A4", ["GPC1"])
            a1 = trajectory_for_subject(tx, "H", "A1", ["GPC1"])
    finally:
        db.dispose()
    drawn = {}
    for name, points, key in (
        ("A4", a4, ("plasma", "sec")),
        ("A1", a1, ("plasma", "precipitation")),
    ):
        ax = Figure().subplots()
        pts = [p for p in points if (p.biofluid, p.method) == key]
        plots._patient_panel(ax, pts, "GPC1", {}, {key: "#000000"})
        censored = [c.get_offsets()[0] for c in ax.collections if c.get_offsets().shape[0] == 1]
        drawn[name] = ([t.get_text() for t in ax.texts], [float(y) for _, y in censored])
    assert drawn["A4"] == (["ND"], [200.0])  # at the floor: the lowest value drawn, 200
    assert drawn["A1"] == ([], [60.0])


def test_cohort_points_carry_no_bound_for_an_unrecorded_limit(cohort: str, tmp_path: Path) -> None:
    """The cohort's points (the cohort plot, the UI) read the stored replicate sets: A4's
    baseline set (<LOD without a lod, <LOD lod 50) has no limit, its baseline no bound; A1's
    precipitation baseline keeps 60. GPC1 has sets split over ng/mL and pg/mL here, so the
    points are read with sets merged (SetTerms.limit's merged form)."""
    from exolab.db.engine import Database
    from exolab.services.context import Lab
    from exolab.services.queries import cohort_points

    extra = (
        ("readouts", "isolation_id,analyte,value,unit,assay,run_id,replicate,lod\n"
                     "I-A4-BL,GPC1,<LOD,pg/mL,elisa,E1,1,\n"
                     "I-A4-BL,GPC1,<LOD,pg/mL,elisa,E1,2,50\n"),
    )  # fmt: skip
    import_files(cohort, tmp_path, extra)
    db = Database(cohort)
    try:
        with Lab(db, "tester").read() as tx:
            merged = cohort_points(tx, "GPC1")
    finally:
        db.dispose()
    a4 = {(p.visit, p.censored, p.limit, p.baseline_value, p.baseline_censor) for p in merged
          if p.subject_id == "A4"}  # fmt: skip
    assert a4 == {("baseline", True, None, None, "<"), ("M3", False, None, None, "<")}
    (a1,) = [p for p in merged if p.subject_id == "A1" and p.method == "precipitation"
             and p.visit == "baseline"]  # fmt: skip
    assert (a1.censored, a1.limit, a1.baseline_value, a1.baseline_censor) == (True, 60.0, 60.0, "<")


def test_deidentify_pseudonymises_samples_without_a_subject(cohort: str, tmp_path: Path) -> None:
    """Defect: a conditioned-medium sample (no subject) kept its sample id, its run id and its
    date in a de-identified export, though docs/security.md pseudonymises sample, isolation
    and run ids; its run E2 is shared with subjects' samples, so the plain row paired the run's
    pseudonym with its real id. Now its ids are pseudonymised and its dates shifted."""
    extra = (
        ("cell_sources", "cell_source_id,cell_type,species\nMSC-Q7,msc,Homo sapiens\n"),
        ("samples", "sample_id,biofluid,collected_at,cell_source_id\n"
                    "CCM-Q7,conditioned_medium,2024-04-11 09:00,MSC-Q7\n"),
        ("readouts", "sample_id,analyte,value,unit,assay,run_id,replicate\n"
                     "CCM-Q7,GPC1,40,pg/mL,elisa,E2,9\n"),
    )  # fmt: skip
    import_files(cohort, tmp_path, extra)
    salt = "pepper-0123456789"
    plain = _export(cohort, tmp_path, name="plain.csv")
    ccm = [r for r in plain if r["sample_id"] == "CCM-Q7"]
    assert len(ccm) == 1 and ccm[0]["subject_id"] == ""
    rows = _export(cohort, tmp_path, "--deidentify", "--salt", salt, name="de.csv")
    text = (tmp_path / "de.csv").read_text()
    for real in ("CCM-Q7", "MSC-Q7", "2024-04-11", ",E2,", ",E1,"):
        assert real not in text, real
    (row,) = [r for r in rows if r["biofluid"] == "conditioned_medium"]
    e2 = {r["run_id"] for r, p in zip(rows, plain, strict=True) if p["run_id"] == "E2"}
    assert len(e2) == 1 and row["run_id"] in e2  # one run, one pseudonym
    assert row["value"] == "40" and row["visit_day"] == ""


def test_deidentify_shifts_day_first_dates_in_visit_labels(cohort: str, tmp_path: Path) -> None:
    """Defect: a visit label holding a dotted day-first date (``M9_10.06.2024``, as European
    labs write them) kept the real date in a de-identified export; only ISO-like dates
    (``2024-06-10``, ``20240610``) inside text were shifted. Now it moves by the subject's
    offset like the collection date."""
    extra = (
        ("samples", "sample_id,biofluid,collected_at,study,subject_id,visit\n"
                    "A2-M9,plasma,2024-06-10 09:00,H,A2,M9_10.06.2024\n"
                    "A2-M10,plasma,2024-07-01 09:00,H,A2,M10_2024-07-01\n"),
        ("readouts", "sample_id,analyte,value,unit,assay,run_id,replicate\n"
                     "A2-M9,GPC1,90,pg/mL,elisa,E4,1\n"
                     "A2-M10,GPC1,95,pg/mL,elisa,E4,2\n"),
    )  # fmt: skip
    import_files(cohort, tmp_path, extra)
    rows = _export(
        cohort, tmp_path, "--deidentify", "--salt", "pepper-0123456789", "--analyte", "GPC1"
    )
    from datetime import date, datetime

    m9 = next(r for r in rows if r["visit"].startswith("M9_"))
    m10 = next(r for r in rows if r["visit"].startswith("M10_"))
    # (another subject's shifted date may happen to read 2024-07-01: look at A2's rows)
    a2 = ",".join(",".join(r.values()) for r in rows if r["subject_id"] == m9["subject_id"])
    for real in ("10.06.2024", "2024-06-10", "2024-07-01"):
        assert real not in a2, real
    offset = datetime.fromisoformat(m9["collected_at"]).date() - date(2024, 6, 10)
    moved = date(2024, 6, 10) + offset
    assert m9["visit"] == f"M9_{moved.day:02d}.{moved.month:02d}.{moved.year}"
    assert m10["visit"] == f"M10_{date(2024, 7, 1) + offset}"
    assert m9["visit_day"] == "130"  # 2024-02-01 -> 2024-06-10, kept
