"""`exolab export sdtm|omop|fhir` (docs/exports.md), checked against the published variable
lists and rules written out below, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest

from exolab.io.export import Deidentifier, deidentify_key
from exolab.io.standards_export import default_testcd, study_day
from exolab.services.context import Lab
from tests.io.helpers import base_cohort, load
from tests.standards.conftest import cli

SALT = "standards-test-salt-0123"  # keyed pseudonyms need 16+ characters (docs/security.md)

# --- the standards, as published -----------------------------------------------------------

# SDTMIG v3.2/v3.3 LB variable order (CDISC SDTMIG LB specification table); exolab fills a
# subset and must keep this order.
SDTMIG_LB_ORDER = [
    "STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBGRPID", "LBREFID", "LBSPID", "LBTESTCD",
    "LBTEST", "LBCAT", "LBSCAT", "LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI", "LBSTRESC",
    "LBSTRESN", "LBSTRESU", "LBSTNRLO", "LBSTNRHI", "LBSTNRC", "LBNRIND", "LBSTAT",
    "LBREASND", "LBNAM", "LBLOINC", "LBSPEC", "LBSPCCND", "LBMETHOD", "LBBLFL", "LBFAST",
    "LBDRVFL", "LBTOX", "LBTOXGR", "VISITNUM", "VISIT", "VISITDY", "LBDTC", "LBENDTC", "LBDY",
    "LBTPT", "LBTPTNUM", "LBELTM", "LBTPTREF", "LBRFTDTC",
]  # fmt: skip
# Core "Req" in SDTMIG v3.3 LB: present and populated in every record.
SDTMIG_LB_REQUIRED = ["STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBTESTCD", "LBTEST"]
# SDTMIG v3.3 SUPP-- dataset, all variables in order.
SDTMIG_SUPPQUAL = [
    "STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL", "QORIG",
    "QEVAL",
]  # fmt: skip
# SDTM RELSPEC (Related Specimens), all variables in order.
SDTM_RELSPEC = ["STUDYID", "USUBJID", "REFID", "SPEC", "PARENT", "LEVEL"]
# SDTMIG DM, leading variables in order (exolab writes a minimal DM).
SDTMIG_DM_ORDER = [
    "STUDYID", "DOMAIN", "USUBJID", "SUBJID", "RFSTDTC", "RFENDTC", "SITEID", "INVID",
    "INVNAM", "BRTHDTC", "AGE", "AGEU", "SEX",
]  # fmt: skip
# --TESTCD / QNAM rule: at most 8 characters, letters, digits and '_', no leading digit.
SHORT_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,7}$")

# OMOP CDM v5.4 DDL (OHDSI CommonDataModel inst/ddl/5.4), columns in order and NOT NULL ones.
OMOP_PERSON = [
    "person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth",
    "birth_datetime", "race_concept_id", "ethnicity_concept_id", "location_id", "provider_id",
    "care_site_id", "person_source_value", "gender_source_value", "gender_source_concept_id",
    "race_source_value", "race_source_concept_id", "ethnicity_source_value",
    "ethnicity_source_concept_id",
]  # fmt: skip
OMOP_PERSON_NOT_NULL = [
    "person_id", "gender_concept_id", "year_of_birth", "race_concept_id", "ethnicity_concept_id",
]  # fmt: skip
OMOP_SPECIMEN = [
    "specimen_id", "person_id", "specimen_concept_id", "specimen_type_concept_id",
    "specimen_date", "specimen_datetime", "quantity", "unit_concept_id",
    "anatomic_site_concept_id", "disease_status_concept_id", "specimen_source_id",
    "specimen_source_value", "unit_source_value", "anatomic_site_source_value",
    "disease_status_source_value",
]  # fmt: skip
OMOP_SPECIMEN_NOT_NULL = [
    "specimen_id", "person_id", "specimen_concept_id", "specimen_type_concept_id",
    "specimen_date",
]  # fmt: skip
OMOP_MEASUREMENT = [
    "measurement_id", "person_id", "measurement_concept_id", "measurement_date",
    "measurement_datetime", "measurement_time", "measurement_type_concept_id",
    "operator_concept_id", "value_as_number", "value_as_concept_id", "unit_concept_id",
    "range_low", "range_high", "provider_id", "visit_occurrence_id", "visit_detail_id",
    "measurement_source_value", "measurement_source_concept_id", "unit_source_value",
    "unit_source_concept_id", "value_source_value", "measurement_event_id",
    "meas_event_field_concept_id",
]  # fmt: skip
OMOP_MEASUREMENT_NOT_NULL = [
    "measurement_id", "person_id", "measurement_concept_id", "measurement_date",
    "measurement_type_concept_id",
]  # fmt: skip
# OMOP "Meas Value Operator" concepts.
OMOP_OPERATORS = {"<": 4171756, "<=": 4171754, "=": 4172703, ">=": 4171755, ">": 4172704}

MORE_SUBJECTS = """study,subject_id,sex,birth_year,group,enrolled_on
S1,P003,F,1980,case,2024-02-01
S1,P004,M,1975,control,
"""
MORE_SAMPLES = """sample_id,biofluid,collected_at,study,subject_id,visit,parent_sample_id,volume_ml
P001-V1-A1,plasma,2024-01-11 10:41,S1,P001,baseline,P001-V1,0.5
P003-V1,plasma,2024-01-31 08:00,S1,P003,baseline,,4
P004-V1,urine,2024-03-01 08:00,S1,P004,baseline,,20
P004-V2,urine,2024-03-11 08:00,S1,P004,M3,,20
"""
MORE_READOUTS = """isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod
,P001-V1-A1,CD81,not detected,,western_blot,W1,2024-03-06,1,
,P003-V1,creatinine,1.1,mg/dL,other,C1,2024-02-02,1,
,P004-V1,creatinine,0.9,mg/dL,other,C1,2024-03-12,1,
,P004-V2,creatinine,>5,mg/dL,other,C1,2024-03-12,1,
"""


def cohort(lab: Lab, tmp: Path) -> None:
    base_cohort(lab, tmp, readouts=True)
    load(lab, tmp, "subjects", MORE_SUBJECTS)
    load(lab, tmp, "samples", MORE_SAMPLES)
    load(lab, tmp, "readouts", MORE_READOUTS)


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return next(csv.reader(f))


def is_subsequence(part: list[str], whole: list[str]) -> bool:
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


# --- pure rules ---------------------------------------------------------------------------------


def test_study_day_has_no_day_zero() -> None:
    start = date(2024, 2, 1)
    assert study_day(date(2024, 2, 1), start) == 1
    assert study_day(date(2024, 2, 2), start) == 2
    assert study_day(date(2024, 1, 31), start) == -1
    assert study_day(date(2024, 1, 1), None) is None


def test_default_test_codes_follow_the_testcd_rule_and_are_unique() -> None:
    analytes = ["particle_concentration", "particle_mode_size", "miR-21-5p", "16S", "CD63"]
    codes = default_testcd(analytes)
    assert all(SHORT_NAME.match(c) for c in codes.values())
    assert len(set(codes.values())) == len(analytes)
    assert codes["CD63"] == "CD63"
    assert codes["16S"] == "X16S"


# --- SDTM -----------------------------------------------------------------------------------------


def test_sdtm_follows_sdtmig_lb(lab: Lab, db_url: str, tmp_path: Path) -> None:
    cohort(lab, tmp_path)
    out = tmp_path / "sdtm"
    assert cli(db_url, "export", "sdtm", "--study", "S1", "--out", str(out)) == 0
    lb = read(out / "LB.csv")
    assert header(out / "LB.csv")[:4] == ["STUDYID", "DOMAIN", "USUBJID", "LBSEQ"]
    assert is_subsequence(header(out / "LB.csv"), SDTMIG_LB_ORDER)
    for r in lb:
        assert all(r[v] for v in SDTMIG_LB_REQUIRED), r
        assert r["DOMAIN"] == "LB"
        assert SHORT_NAME.match(r["LBTESTCD"]) and len(r["LBTEST"]) <= 40
        assert r["LBDY"] != "0"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", r["LBDTC"])
    keys = [(r["USUBJID"], r["LBSEQ"]) for r in lb]
    assert len(keys) == len(set(keys))
    by = {(r["USUBJID"], r["LBREFID"], r["LBTESTCD"], r["LBORRES"]): r for r in lb}
    # USUBJID = STUDYID-SUBJID; VISITNUM from the visit order; LBDY from enrolment
    first = by[("S1-P001", "ISO-1", "CD63", "12.5")]
    assert first["LBDY"] == "1" and first["VISITNUM"] == "1" and first["VISIT"] == "baseline"
    assert first["LBSPEC"] == "EXTRACELLULAR VESICLE PREPARATION"
    assert first["LBSTRESC"] == "12.5" and first["LBSTRESN"] == "12.5"
    later = by[("S1-P001", "ISO-2", "CD63", "20")]
    assert later["VISITNUM"] == "2" and later["LBDY"] == "92"  # 2024-04-11 vs 2024-01-11
    censored = by[("S1-P001", "ISO-1", "CD63", "<0.5")]
    assert censored["LBSTRESC"] == "<0.5" and censored["LBSTRESN"] == ""
    nd = by[("S1-P001", "P001-V1-A1", "CD81", "not detected")]
    assert nd["LBSTRESC"] == "NOT DETECTED" and nd["LBSPEC"] == "PLASMA"
    before = by[("S1-P003", "P003-V1", "CREATINI", "1.1")]
    assert before["LBDY"] == "-1"  # the day before enrolment
    no_enrolment = by[("S1-P004", "P004-V2", "CREATINI", ">5")]
    assert no_enrolment["LBDY"] == "11"  # from the first collection
    assert no_enrolment["LBSTRESC"] == ">5" and no_enrolment["LBSPEC"] == "URINE"

    supp = read(out / "SUPPLB.csv")
    assert header(out / "SUPPLB.csv") == SDTMIG_SUPPQUAL
    lb_keys = {(r["USUBJID"], r["LBSEQ"]) for r in lb}
    for r in supp:
        assert SHORT_NAME.match(r["QNAM"]) and len(r["QLABEL"]) <= 40 and r["QVAL"]
        assert r["IDVAR"] == "LBSEQ" and (r["USUBJID"], r["IDVARVAL"]) in lb_keys
    qual = {(r["USUBJID"], r["IDVARVAL"], r["QNAM"]): r["QVAL"] for r in supp}
    seq = first["LBSEQ"]
    assert qual[("S1-P001", seq, "ISOMETH")] == "sec"
    assert qual[("S1-P001", seq, "LOD")] == "0.5"
    assert qual[("S1-P001", seq, "ISOID")] == "ISO-1"

    rel = read(out / "RELSPEC.csv")
    assert header(out / "RELSPEC.csv") == SDTM_RELSPEC
    level = {r["REFID"]: int(r["LEVEL"]) for r in rel}
    for r in rel:
        if r["LEVEL"] == "1":
            assert r["PARENT"] == ""
        else:
            assert level[r["PARENT"]] == int(r["LEVEL"]) - 1
    assert {r["REFID"]: r["PARENT"] for r in rel}["ISO-1"] == "P001-V1"
    assert level["P001-V1-A1"] == 2 and level["ISO-1"] == 2
    assert {r["LBREFID"] for r in lb} <= set(level)

    dm = read(out / "DM.csv")
    assert is_subsequence(header(out / "DM.csv"), SDTMIG_DM_ORDER)
    dm_by = {r["USUBJID"]: r for r in dm}
    assert set(dm_by) == {"S1-P001", "S1-P002", "S1-P003", "S1-P004"}
    assert dm_by["S1-P003"]["RFSTDTC"] == "2024-02-01"
    assert dm_by["S1-P004"]["RFSTDTC"] == "2024-03-01"  # no enrolment: first collection

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "sdtm" and manifest["study"] == "S1"
    assert {f["file"] for f in manifest["files"]} >= {"LB.csv", "SUPPLB.csv", "RELSPEC.csv"}
    assert next(f for f in manifest["files"] if f["file"] == "LB.csv")["rows"] == len(lb)


def test_an_edited_test_code_map_is_used(lab: Lab, db_url: str, tmp_path: Path) -> None:
    cohort(lab, tmp_path)
    out = tmp_path / "sdtm"
    assert cli(db_url, "export", "sdtm", "--study", "S1", "--out", str(out)) == 0
    rows = read(out / "testcd_map.csv")
    assert {r["analyte"] for r in rows} == {"CD63", "CD9", "CD81", "creatinine"}
    edited = tmp_path / "map.csv"
    with edited.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, ["analyte", "lbtestcd", "lbtest"])
        w.writeheader()
        for r in rows:
            if r["analyte"] == "creatinine":
                r |= {"lbtestcd": "CREAT", "lbtest": "Creatinine"}
            w.writerow(r)
    again = tmp_path / "sdtm2"
    assert (
        cli(
            db_url,
            "export",
            "sdtm",
            "--study",
            "S1",
            "--out",
            str(again),
            "--testcd-map",
            str(edited),
        )
        == 0
    )
    creat = [r for r in read(again / "LB.csv") if r["LBORRESU"] == "mg/dL"]
    assert {(r["LBTESTCD"], r["LBTEST"]) for r in creat} == {("CREAT", "Creatinine")}


@pytest.mark.parametrize(
    ("line", "column"),
    [
        ("CD63,CD63ANTIGEN,CD63", "lbtestcd"),  # 11 characters
        ("CD63,1CD63,CD63", "lbtestcd"),  # starts with a digit
        ("CD63,CD-63,CD63", "lbtestcd"),
        ("CD63,CD63," + "x" * 41, "lbtest"),
    ],
)
def test_a_bad_test_code_map_is_refused_with_file_row_column(
    lab: Lab,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    line: str,
    column: str,
) -> None:
    cohort(lab, tmp_path)
    bad = tmp_path / "map.csv"
    bad.write_text(f"analyte,lbtestcd,lbtest\nCD9,CD9,CD9\n{line}\n", encoding="utf-8")
    out = tmp_path / "sdtm"
    assert (
        cli(db_url, "export", "sdtm", "--study", "S1", "--out", str(out), "--testcd-map", str(bad))
        == 1
    )
    assert f"map.csv:3:{column}" in capsys.readouterr().err
    assert not out.exists()  # nothing written


def test_sdtm_needs_a_known_study_and_an_output(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort(lab, tmp_path)
    assert cli(db_url, "export", "sdtm", "--study", "NOPE", "--out", str(tmp_path / "y")) == 1
    assert "no study NOPE" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()  # nothing written
    assert cli(db_url, "export", "sdtm", "--study", "S1") == 2
    assert cli(db_url, "export", "sdtm", "--study", "S1", "--out", "d", "--wide") == 2
    assert "Traceback" not in capsys.readouterr().err


def test_sdtm_deidentified_hides_every_id_and_keeps_study_days(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    cohort(lab, tmp_path)
    plain, hidden = tmp_path / "plain", tmp_path / "hidden"
    assert cli(db_url, "export", "sdtm", "--study", "S1", "--out", str(plain)) == 0
    assert (
        cli(
            db_url,
            "export",
            "sdtm",
            "--study",
            "S1",
            "--out",
            str(hidden),
            "--deidentify",
            "--salt",
            SALT,
        )
        == 0
    )
    text = "".join(p.read_text() for p in hidden.glob("*.csv"))
    for code in ("P001", "P003", "ISO-1", "P001-V1", "P004-V2"):
        assert code not in text
    with lab.read() as tx:
        code, offset = Deidentifier(deidentify_key(tx, SALT)).subject("S1", "P001")
    lb = read(hidden / "LB.csv")
    assert {r["USUBJID"] for r in lb} >= {f"S1-{code}"}
    a = sorted(
        (r["LBTESTCD"], r["LBORRES"], r["LBDY"], r["VISITNUM"]) for r in read(plain / "LB.csv")
    )
    b = sorted((r["LBTESTCD"], r["LBORRES"], r["LBDY"], r["VISITNUM"]) for r in lb)
    assert a == b  # study days and visits survive the date shift
    p1 = next(r for r in read(plain / "LB.csv") if r["USUBJID"] == "S1-P001")
    h1 = next(r for r in lb if r["USUBJID"] == f"S1-{code}" and r["LBSEQ"] == p1["LBSEQ"])
    shifted = datetime.fromisoformat(p1["LBDTC"]) + offset
    assert h1["LBDTC"] == shifted.isoformat()
    assert json.loads((hidden / "manifest.json").read_text())["deidentified"] is True


# --- OMOP -----------------------------------------------------------------------------------------


def test_omop_tables_follow_cdm_54(lab: Lab, db_url: str, tmp_path: Path) -> None:
    cohort(lab, tmp_path)
    out = tmp_path / "omop"
    assert cli(db_url, "export", "omop", "--out", str(out)) == 0
    for name, columns, required in (
        ("PERSON.csv", OMOP_PERSON, OMOP_PERSON_NOT_NULL),
        ("SPECIMEN.csv", OMOP_SPECIMEN, OMOP_SPECIMEN_NOT_NULL),
        ("MEASUREMENT.csv", OMOP_MEASUREMENT, OMOP_MEASUREMENT_NOT_NULL),
    ):
        assert header(out / name) == columns, name
        rows = read(out / name)
        assert rows, name
        for r in rows:
            assert all(r[c] != "" for c in required), (name, r)
            integer_ids = [c for c in columns if c.endswith("_id") and c != "specimen_source_id"]
            assert all(r[c].lstrip("-").isdigit() for c in integer_ids if r[c]), (name, r)
    persons = {r["person_id"]: r for r in read(out / "PERSON.csv")}
    mapping = {(r["study"], r["subject_id"]): r["person_id"] for r in read(out / "person_map.csv")}
    assert set(mapping.values()) == set(persons)
    assert persons[mapping[("S1", "P003")]]["gender_concept_id"] == "8532"
    assert persons[mapping[("S1", "P003")]]["year_of_birth"] == "1980"
    m = read(out / "MEASUREMENT.csv")
    assert len({r["measurement_id"] for r in m}) == len(m)
    ops = {r["value_source_value"]: r for r in m}
    assert ops["<0.5"]["operator_concept_id"] == str(OMOP_OPERATORS["<"])
    assert ops["<0.5"]["value_as_number"] == "0.5"
    assert ops[">5"]["operator_concept_id"] == str(OMOP_OPERATORS[">"])
    assert ops["12.5"]["operator_concept_id"] == str(OMOP_OPERATORS["="])
    assert ops["12.5"]["unit_source_value"] == "pg/mL"
    assert ops["12.5"]["measurement_source_value"] == "CD63"
    assert ops["not detected"]["operator_concept_id"] == ""
    assert ops["12.5"]["measurement_datetime"] == "2024-01-11T10:41:00"
    local = {r["analyte"]: r for r in read(out / "local_concept_map.csv")}
    assert int(local["CD63"]["measurement_source_concept_id"]) > 2_000_000_000
    assert (
        ops["12.5"]["measurement_source_concept_id"]
        == local["CD63"]["measurement_source_concept_id"]
    )
    spec = read(out / "SPECIMEN.csv")
    assert {r["specimen_source_id"] for r in spec} >= {"P001-V1", "P001-V1-A1"}
    # stable ids: a second export gives the same person ids
    again = tmp_path / "omop2"
    assert cli(db_url, "export", "omop", "--out", str(again)) == 0
    assert read(again / "person_map.csv") == read(out / "person_map.csv")


EARLIER_SUBJECT = """study,subject_id,sex,birth_year
S1,A000,F,1990
"""
EARLIER_SAMPLE = """sample_id,biofluid,collected_at,study,subject_id,visit,volume_ml
A000-V1,plasma,2023-12-01 08:00,S1,A000,baseline,4
"""
EARLIER_READOUTS = """isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod
,A000-V1,creatinine,1.3,mg/dL,other,C0,2023-12-02,1,
,A000-V1,creatinine,1.4,mg/dL,other,C0,2023-12-02,2,
"""


def measurement_ids(out: Path) -> dict[tuple[str, ...], str]:
    """MEASUREMENT's ids by what the row says (person, analyte, time, value as typed)."""
    return {
        (
            r["person_id"],
            r["measurement_source_value"],
            r["measurement_datetime"],
            r["value_source_value"],
        ): r["measurement_id"]
        for r in read(out / "MEASUREMENT.csv")
    }


@pytest.mark.parametrize("deidentify", [False, True])
def test_omop_measurement_ids_are_stable_when_results_are_added(
    lab: Lab, db_url: str, tmp_path: Path, deidentify: bool
) -> None:
    """A warehouse loads OMOP exports again and again: a measurement keeps its id in every
    export of the database, whatever results are added before it in the file's order (a
    subject whose id sorts first, here), as person_id and specimen_id do."""
    cohort(lab, tmp_path)
    extra = ["--deidentify", "--salt", SALT] if deidentify else []
    first = tmp_path / "omop1"
    assert cli(db_url, "export", "omop", "--out", str(first), *extra) == 0
    before = measurement_ids(first)
    load(lab, tmp_path, "subjects", EARLIER_SUBJECT)
    load(lab, tmp_path, "samples", EARLIER_SAMPLE)
    load(lab, tmp_path, "readouts", EARLIER_READOUTS)
    second = tmp_path / "omop2"
    assert cli(db_url, "export", "omop", "--out", str(second), *extra) == 0
    after = measurement_ids(second)
    assert len(after) == len(before) + 2
    assert {k: after[k] for k in before} == before
    # the new ones take ids none of the earlier ones has, and all are distinct
    added = set(after.values()) - set(before.values())
    assert len(added) == 2
    assert len(set(after.values())) == len(after)
    ids = [r["measurement_id"] for r in read(second / "MEASUREMENT.csv")]
    assert len(set(ids)) == len(ids)


def test_omop_uses_an_edited_concept_map(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cohort(lab, tmp_path)
    cmap = tmp_path / "cmap.csv"
    cmap.write_text("analyte,measurement_concept_id\ncreatinine,3016723\n", encoding="utf-8")
    out = tmp_path / "omop"
    assert cli(db_url, "export", "omop", "--out", str(out), "--concept-map", str(cmap)) == 0
    creat = [
        r for r in read(out / "MEASUREMENT.csv") if r["measurement_source_value"] == "creatinine"
    ]
    assert {r["measurement_concept_id"] for r in creat} == {"3016723"}
    cmap.write_text("analyte,measurement_concept_id\ncreatinine,LOINC:2160-0\n", encoding="utf-8")
    assert (
        cli(db_url, "export", "omop", "--out", str(tmp_path / "o2"), "--concept-map", str(cmap))
        == 1
    )
    assert "cmap.csv:2:measurement_concept_id" in capsys.readouterr().err


def test_omop_deidentified(lab: Lab, db_url: str, tmp_path: Path) -> None:
    cohort(lab, tmp_path)
    out = tmp_path / "omop"
    # a short salt is refused, nothing written (it would be guessed along with the ids)
    assert cli(db_url, "export", "omop", "--out", str(out), "--deidentify", "--salt", "s") == 1
    assert not out.exists()
    assert cli(db_url, "export", "omop", "--out", str(out), "--deidentify", "--salt", SALT) == 0
    text = "".join(p.read_text() for p in out.glob("*.csv"))
    for code in ("P001", "P001-V1", "ISO-1"):
        assert code not in text
    assert json.loads((out / "manifest.json").read_text())["deidentified"] is True


def test_sdtm_without_a_study_exports_every_study(lab: Lab, db_url: str, tmp_path: Path) -> None:
    """`exolab export sdtm --out DIR` (the form the command line's summary gives) writes
    every study, as `export omop` and `export fhir` do: STUDYID tells them apart, USUBJID
    holds it, LBSEQ counts per USUBJID and VISITNUM per study. With --study one study."""
    cohort(lab, tmp_path)
    load(lab, tmp_path, "subjects", "study,subject_id,sex\nS2,P001,M\n")
    load(
        lab,
        tmp_path,
        "samples",
        "sample_id,biofluid,collected_at,study,subject_id,visit,volume_ml\n"
        "S2-P001-V1,serum,2024-02-01 09:00,S2,P001,screening,1\n",
    )
    load(
        lab,
        tmp_path,
        "readouts",
        "sample_id,analyte,value,unit,assay,replicate\nS2-P001-V1,CD9,5,pg/mL,elisa,1\n",
    )
    every, one = tmp_path / "every", tmp_path / "one"
    assert cli(db_url, "export", "sdtm", "--out", str(every)) == 0
    assert cli(db_url, "export", "sdtm", "--study", "S1", "--out", str(one)) == 0
    lb_every, lb_one = read(every / "LB.csv"), read(one / "LB.csv")
    assert {r["STUDYID"] for r in lb_every} == {"S1", "S2"}
    assert [r for r in lb_every if r["STUDYID"] == "S1"] == lb_one
    s2 = [r for r in lb_every if r["STUDYID"] == "S2"]
    assert [(r["USUBJID"], r["LBSEQ"], r["VISITNUM"]) for r in s2] == [("S2-P001", "1", "1")]
    assert {r["USUBJID"] for r in read(every / "DM.csv")} == {
        r["USUBJID"] for r in read(one / "DM.csv")
    } | {"S2-P001"}
    manifest = json.loads((every / "manifest.json").read_text())
    assert manifest["kind"] == "sdtm" and manifest["study"] is None


def test_sdtm_of_every_study_refuses_a_usubjid_that_names_two_subjects(
    lab: Lab, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Study S-1 subject P1 and study S subject 1-P1 are both USUBJID S-1-P1: the export of
    every study wrote two DM records with one USUBJID and counted LBSEQ across both
    subjects. Refused, nothing written; one study at a time (or de-identified) is fine."""
    load(lab, tmp_path, "subjects", "study,subject_id,sex\nS-1,P1,F\nS,1-P1,M\n")
    load(
        lab,
        tmp_path,
        "samples",
        "sample_id,biofluid,collected_at,study,subject_id,visit\n"
        "A1,plasma,2024-01-01 10:00,S-1,P1,V1\nB1,plasma,2024-02-01 10:00,S,1-P1,V1\n",
    )
    load(
        lab,
        tmp_path,
        "readouts",
        "sample_id,analyte,value,unit,assay\nA1,CD63,1,pg/mL,elisa\nB1,CD63,2,pg/mL,elisa\n",
    )
    every = tmp_path / "every"
    assert cli(db_url, "export", "sdtm", "--out", str(every)) == 1
    err = capsys.readouterr().err
    assert "S-1-P1 would name both subject P1 of study S-1 and subject 1-P1 of study S" in err
    assert "--study" in err and "Traceback" not in err
    assert not every.exists()
    for study in ("S", "S-1"):
        assert cli(db_url, "export", "sdtm", "--study", study, "--out", str(tmp_path / study)) == 0
        assert [r["USUBJID"] for r in read(tmp_path / study / "DM.csv")] == ["S-1-P1"]
    salt = "0123456789abcdefgh"
    hidden = tmp_path / "hidden"
    assert cli(db_url, "export", "sdtm", "--out", str(hidden), "--deidentify", "--salt", salt) == 0
    assert len({r["USUBJID"] for r in read(hidden / "DM.csv")}) == 2
