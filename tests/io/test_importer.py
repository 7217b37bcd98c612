"""Validation, natural keys, dry runs, batches and undo (docs/import-formats.md), on both databases."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from exolab.db.models import AssayRun, AuditEvent, ImportBatch, Visit
from exolab.io.import_kinds import template
from exolab.io.importer import ImportFailed, run_import
from exolab.io.problems import Problems
from exolab.services.context import Lab
from exolab.services.errors import Conflict, NotFound, PermissionDenied
from exolab.services.readouts import readouts_of
from exolab.services.samples import get_sample
from exolab.services.subjects import get_subject
from exolab.services.undo import undo_batch
from exolab.services.users import add_user
from tests.test_cli import run

from .helpers import (
    ISOLATIONS,
    READOUTS,
    SAMPLES,
    SUBJECTS,
    base_cohort,
    counts,
    failure,
    load,
)


def test_every_problem_is_reported_with_row_and_column(lab: Lab, tmp_path: Path) -> None:
    text = (
        "study,subject_id,sex,birth_year,consent\n"
        "S1,P001,F,1961,yes\n"
        "S1,P002,X,1970,yes\n"
        "S1,P003,M,3000,maybe\n"
        "S1,bad id,M,1970,yes\n"
    )
    lines = failure(lab, tmp_path, "subjects", text)
    assert lines[0].startswith("subjects.csv:3:sex: unknown sex 'X'")
    assert lines[1].startswith("subjects.csv:4:birth_year: ")
    assert lines[2].startswith("subjects.csv:4:consent: unknown consent 'maybe'")
    assert lines[3].startswith("subjects.csv:5:subject_id: 'bad id' is not a valid identifier")
    assert len(lines) == 4
    assert counts(lab) == (0, 0, 0)


def test_repeated_mistake_is_grouped(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    rows = "".join(f"ISO-1,CD63,{i},furlongs,elisa,{i}\n" for i in range(1, 10_001))
    text = "isolation_id,analyte,value,unit,assay,replicate\n" + rows
    lines = failure(lab, tmp_path, "readouts", text)
    assert len(lines) == 1
    assert lines[0].startswith("readouts.csv:2:unit: unknown unit 'furlongs'")
    assert lines[0].endswith("... and 9,999 more rows with the same problem: rows 2-10001")
    assert counts(lab)[2] == 0


def test_errors_csv_has_every_problem(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    text = (
        "isolation_id,analyte,value,unit,assay,replicate\n"
        "ISO-1,CD63,abc,pg/mL,elisa,1\n"
        "ISO-9,CD63,1,pg/mL,elisa,1\n"
        "ISO-1,CD63,1,pg/mL,elisa,0\n"
    )
    out = io.StringIO()
    with pytest.raises(ImportFailed):
        load(lab, tmp_path, "readouts", text, errors_out=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["row"], r["column"], r["value"]) for r in rows] == [
        ("2", "value", "abc"),
        ("3", "isolation_id", "ISO-9"),
        ("4", "replicate", "0"),
    ]
    assert "no isolation ISO-9" in rows[1]["message"]


def test_duplicate_key_in_file_names_both_rows(lab: Lab, tmp_path: Path) -> None:
    text = "study,subject_id,sex\nS1,P001,F\nS1,P002,M\nS1,P001,F\n"
    lines = failure(lab, tmp_path, "subjects", text)
    assert lines == ["subjects.csv:4:subject_id: duplicate key S1/P001: also on row 2"]
    base_cohort(lab, tmp_path)
    text = READOUTS + "ISO-1,,CD63,13,pg/mL,elisa,R1,2024-03-05,1,0.5,pass\n"
    lines = failure(lab, tmp_path, "readouts", text)
    assert len(lines) == 1
    assert lines[0].startswith("readouts.csv:6:replicate: duplicate readout key")
    assert lines[0].endswith("also on row 2 (got '1')")


_DUPLICATES = {
    "subjects": (
        "subjects",
        {},
        "study,subject_id,sex\nS1,P007,F\nS1,P007,F\n",
        "subject_id",
        "P007",
    ),
    "subjects row by row": (
        "subjects",
        {"bulk": False},
        "study,subject_id,sex\nS1,P007,F\nS1,P007,F\n",
        "subject_id",
        "P007",
    ),
    "samples": (
        "samples",
        {},
        SAMPLES.splitlines()[0]
        + "\n"
        + "P001-V7,plasma,2024-01-11 10:41,S1,P001,baseline,,,\n" * 2,
        "sample_id",
        "P001-V7",
    ),
    "samples, an update file": (
        "samples",
        {"on_duplicate": "update"},
        "sample_id,notes\nP001-V1,a\nP001-V1,b\n",
        "sample_id",
        "P001-V1",
    ),
    "readouts": (
        "readouts",
        {},
        "isolation_id,analyte,value,unit,assay,run_id,replicate\n"
        "ISO-1,CD63,1,pg/mL,elisa,R1,8\nISO-1,CD63,2,pg/mL,elisa,R1,8\n",
        "replicate",
        "8",
    ),
    "readouts row by row": (
        "readouts",
        {"bulk": False},
        "isolation_id,analyte,value,unit,assay,run_id,replicate\n"
        "ISO-1,CD63,1,pg/mL,elisa,R1,8\nISO-1,CD63,2,pg/mL,elisa,R1,8\n",
        "replicate",
        "8",
    ),
    "readouts, an update file": (
        "readouts",
        {"on_duplicate": "update"},
        "isolation_id,analyte,assay,run_id,replicate,notes\n"
        "ISO-1,CD63,elisa,R1,1,a\nISO-1,CD63,elisa,R1,1,b\n",
        "replicate",
        "1",
    ),
}


@pytest.mark.parametrize("case", list(_DUPLICATES))
def test_a_duplicate_key_gives_its_cell_in_the_errors_file(
    lab: Lab, tmp_path: Path, case: str
) -> None:
    """The --errors file left `value` empty for a row whose key an earlier row has; it holds
    the key column's cell, as for every other problem, and the terminal line shows it as
    theirs do when the message does not already."""
    base_cohort(lab, tmp_path, readouts=True)
    kind, options, text, column, value = _DUPLICATES[case]
    out = io.StringIO()
    with pytest.raises(ImportFailed) as exc:
        load(lab, tmp_path, kind, text, errors_out=out, **options)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["row"], r["column"], r["value"]) for r in rows] == [("3", column, value)]
    assert exc.value.report.problems is not None
    line = exc.value.report.problems.lines()[0]
    assert line.startswith(f"{kind}.csv:3:{column}: duplicate ")
    assert line.endswith(
        "also on row 2" if column != "replicate" else f"also on row 2 (got '{value}')"
    )


def test_a_value_shown_only_as_a_row_number_is_still_given() -> None:
    """A duplicate of replicate 2 that row 2 has too: the "2" of "also on row 2" is the row,
    not the value, so the line shows the value as it does for any other."""
    out = io.StringIO()
    problems = Problems("r.csv", out)
    problems.add(3, "replicate", "duplicate readout key (...): also on row 2", "2")
    problems.add(4, "sample_id", "duplicate key P001-V2: also on row 2", "P001-V2")
    problems.add(5, "value", "'abc' is not a number", "abc")
    assert problems.lines() == [
        "r.csv:3:replicate: duplicate readout key (...): also on row 2 (got '2')",
        "r.csv:4:sample_id: duplicate key P001-V2: also on row 2",
        "r.csv:5:value: 'abc' is not a number",
    ]
    assert [r[2] for r in csv.reader(io.StringIO(out.getvalue()))] == [
        "value",
        "2",
        "P001-V2",
        "abc",
    ]


def test_references_resolve_against_database_and_earlier_rows(lab: Lab, tmp_path: Path) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    text = (
        "sample_id,biofluid,collected_at,study,subject_id,visit,parent_sample_id\n"
        "P001-V1,plasma,2024-01-11 10:41,S1,P001,baseline,\n"
        "P001-V1-A1,plasma,2024-01-11 10:41,,,,P001-V1\n"
        "P009-V1,plasma,2024-01-11 10:41,S1,P009,baseline,\n"
    )
    lines = failure(lab, tmp_path, "samples", text)
    assert lines == ["samples.csv:4:subject_id: no subject P009 in study S1"]
    assert counts(lab)[1] == 0
    assert (
        load(lab, tmp_path, "samples", text.rsplit("P009", 1)[0].rsplit("\n", 1)[0] + "\n").created
        == 2
    )
    with lab.read() as tx:
        assert get_sample(tx, "P001-V1-A1").subject_id == "P001"


def test_reimport_is_a_no_op(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    before = counts(lab)
    for kind, text in (
        ("subjects", SUBJECTS),
        ("samples", SAMPLES),
        ("isolations", ISOLATIONS),
        ("readouts", READOUTS),
    ):
        rep = load(lab, tmp_path, kind, text)
        assert (rep.created, rep.updated, rep.refused) == (0, 0, 0)
        assert rep.unchanged == len(text.strip().splitlines()) - 1
    assert counts(lab) == before


def test_changed_row_is_refused_unless_skip_or_update(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    changed = SUBJECTS.replace("S1,P001,F,1961,case", "S1,P001,F,1962,case")
    lines = failure(lab, tmp_path, "subjects", changed)
    assert len(lines) == 1
    assert lines[0].startswith("subjects.csv:2:birth_year: subject S1/P001 already exists")
    assert "--on-duplicate" in lines[0]
    rep = load(lab, tmp_path, "subjects", changed, on_duplicate="skip")
    assert (rep.skipped, rep.unchanged, rep.updated) == (1, 1, 0)
    with lab.read() as tx:
        assert get_subject(tx, "S1", "P001").birth_year == 1961
    rep = load(lab, tmp_path, "subjects", changed, on_duplicate="update")
    assert (rep.updated, rep.unchanged) == (1, 1)
    with lab.read() as tx:
        assert get_subject(tx, "S1", "P001").birth_year == 1962
        ev = tx.session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "update", AuditEvent.entity_id == "S1/P001"
            )
        ).one()
        assert ev.batch_id == rep.batch_id
        assert '"birth_year":1961' in (ev.old_values or "")
        assert '"birth_year":1962' in (ev.new_values or "")


def test_readout_update_and_undo_restores_old_value(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    changed = READOUTS.replace("ISO-1,,CD63,12.5,", "ISO-1,,CD63,14.5,")
    lines = failure(lab, tmp_path, "readouts", changed)
    assert lines[0].startswith("readouts.csv:2:value: this readout already exists")
    rep = load(lab, tmp_path, "readouts", changed, on_duplicate="update")
    assert (rep.updated, rep.unchanged, rep.created) == (1, 3, 0)
    with lab.read() as tx:
        assert readouts_of(tx, isolation="ISO-1")[0].numeric == 14.5
    assert rep.batch_id is not None
    undo = undo_batch(lab, rep.batch_id)
    assert undo.restored == 1
    with lab.read() as tx:
        assert readouts_of(tx, isolation="ISO-1")[0].numeric == 12.5
        assert readouts_of(tx, isolation="ISO-1")[0].value == "12.5"


def test_dry_run_counts_and_writes_nothing(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    extra = SUBJECTS.replace("S1,P001,F,1961", "S1,P001,F,1962") + "S1,P003,F,1990,,,,,\n"
    rep = load(lab, tmp_path, "subjects", extra, dry_run=True, on_duplicate="update")
    assert rep.counts() == {
        "created": 1,
        "updated": 1,
        "unchanged": 1,
        "skipped": 0,
        "refused": 0,
    }
    assert rep.batch_id is None
    with lab.read() as tx:
        assert get_subject(tx, "S1", "P001").birth_year == 1961
        n_batches = tx.session.scalar(select(func.count()).select_from(ImportBatch))
    assert counts(lab)[0] == 2
    assert n_batches == 3  # only the base cohort's
    bad = READOUTS + "ISO-1,,CD63,oops,pg/mL,elisa,R1,2024-03-05,3,0.5,pass\n"
    rep = load(lab, tmp_path, "readouts", bad, dry_run=True)
    assert (rep.created, rep.refused) == (4, 1)
    assert rep.problems is not None and rep.problems.count == 1
    assert counts(lab)[2] == 0


def test_batch_is_recorded_and_audited_once(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    rep = load(lab, tmp_path, "readouts", READOUTS)
    with lab.read() as tx:
        batch = tx.session.get(ImportBatch, rep.batch_id)
        assert batch is not None
        assert (batch.kind, batch.file_name, batch.user_name, batch.status) == (
            "readouts",
            "readouts.csv",
            "tester",
            "applied",
        )
        assert len(batch.sha256) == 64
        assert batch.counts["created"] == 4
        events = tx.session.scalars(
            select(AuditEvent).where(AuditEvent.batch_id == rep.batch_id)
        ).all()
        runs = tx.session.scalars(select(AssayRun).where(AssayRun.batch_id == rep.batch_id)).all()
        assert [e.action for e in events] == ["import"]
        assert [(r.run_code, r.assay, r.operator) for r in runs] == [("R1", "elisa", "tester")]


def test_new_analyte_is_created_and_audited(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    text = "isolation_id,analyte,value,unit,assay\nISO-1,MYNEWMARKER,3,pg/mL,elisa\n"
    rep = load(lab, tmp_path, "readouts", text)
    with lab.read() as tx:
        ev = tx.session.scalars(select(AuditEvent).where(AuditEvent.entity == "analyte")).one()
        action, batch_id, code = ev.action, ev.batch_id, ev.entity_id
    assert (action, batch_id) == ("create", rep.batch_id)
    undo_batch(lab, rep.batch_id or 0)
    with lab.read() as tx:
        from exolab.services.readouts import analyte_for

        with pytest.raises(NotFound):
            analyte_for(tx, code, create=False)


def test_undo_removes_exactly_the_batch(lab: Lab, tmp_path: Path) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    rep = load(lab, tmp_path, "samples", SAMPLES, create_locations=True)
    more = load(lab, tmp_path, "samples", "sample_id,biofluid,collected_at,study,subject_id,visit\n"
                "OTHER,plasma,2024-02-01 10:00,S1,P002,M1\n")  # fmt: skip
    assert counts(lab)[:2] == (2, 4)
    result = undo_batch(lab, rep.batch_id or 0)
    assert result.removed["samples"] == 3
    assert counts(lab)[:2] == (2, 1)
    with lab.read() as tx:
        assert get_sample(tx, "OTHER").visit == "M1"
        labels = set(tx.session.scalars(select(Visit.label)))
        batch = tx.session.get(ImportBatch, rep.batch_id)
        assert batch is not None and batch.status == "undone"
        undo_ev = tx.session.scalars(select(AuditEvent).where(AuditEvent.action == "undo")).one()
        assert undo_ev.entity_id == str(rep.batch_id)
    assert labels == {"M1"}
    with pytest.raises(Conflict, match="already undone"):
        undo_batch(lab, rep.batch_id or 0)
    assert more.batch_id is not None


def test_undo_refuses_when_later_records_depend(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    iso_batch = 3  # subjects=1, samples=2, isolations=3
    load(lab, tmp_path, "readouts", READOUTS)
    with pytest.raises(Conflict, match=r"cannot undo import batch 3: 3 readouts depend"):
        undo_batch(lab, iso_batch)
    assert counts(lab)[2] == 4
    with pytest.raises(NotFound):
        undo_batch(lab, 999)


def test_viewer_cannot_import(lab: Lab, tmp_path: Path) -> None:
    with lab.write() as tx:
        add_user(tx, "vera", "viewer")
    viewer = Lab(lab.db, "vera")
    with pytest.raises(PermissionDenied):
        load(viewer, tmp_path, "subjects", SUBJECTS)
    assert counts(lab)[0] == 0


def test_template_round_trips(lab: Lab, tmp_path: Path) -> None:
    for kind in ("subjects", "cell_sources", "samples", "isolations", "readouts"):
        text = template(kind)
        header, example = text.splitlines()
        assert example.startswith("# ")
        # as written (its example commented out) it has no data row: nothing recorded
        report = load(lab, tmp_path, kind, text)
        assert report.no_rows and report.batch_id is None and report.created == 0
        # the example row itself is valid once uncommented (references aside)
        if kind in ("subjects", "cell_sources"):
            assert load(lab, tmp_path, kind, header + "\n" + example[2:] + "\n").created == 1


def test_isolation_update_and_undo_restore_steps(lab: Lab, tmp_path: Path) -> None:
    from exolab.services.isolations import get_isolation

    base_cohort(lab, tmp_path)
    changed = ISOLATIONS.replace(
        "ISO-1,P001-V1,2024-03-02,sec,0.5,qEV,200", "ISO-1,P001-V1,2024-03-02,sec,0.5,qEV-70,150"
    )
    rep = load(lab, tmp_path, "isolations", changed, on_duplicate="update")
    assert (rep.updated, rep.unchanged) == (1, 2)
    with lab.read() as tx:
        iso = get_isolation(tx, "ISO-1")
        assert (iso.final_volume_ul, iso.steps[0].params) == (150, {"column": "qEV-70"})
    undo = undo_batch(lab, rep.batch_id or 0)
    assert undo.restored == 1
    with lab.read() as tx:
        iso = get_isolation(tx, "ISO-1")
        assert (iso.final_volume_ul, iso.steps[0].params) == (200, {"column": "qEV"})


def test_undo_refuses_when_an_updated_record_changed_since(lab: Lab, tmp_path: Path) -> None:
    from exolab.services.subjects import update_subject

    base_cohort(lab, tmp_path)
    changed = SUBJECTS.replace("S1,P001,F,1961,case", "S1,P001,F,1962,case")
    rep = load(lab, tmp_path, "subjects", changed, on_duplicate="update")
    with lab.write() as tx:
        update_subject(tx, "S1", "P001", {"birth_year": 1963}, reason="typo")
    with pytest.raises(
        Conflict, match=r"changed afterwards: subject S1/P001 \(event \d+ update by tester"
    ):
        undo_batch(lab, rep.batch_id or 0)
    with lab.read() as tx:
        assert get_subject(tx, "S1", "P001").birth_year == 1963


def test_update_keeps_a_tube_and_its_aliquots_one_biofluid(lab: Lab, tmp_path: Path) -> None:
    """An aliquot is of its parent's biofluid (docs/import-formats.md): --on-duplicate update
    changed a parent (or an aliquot) to another biofluid, leaving a tree whose export no
    longer imports ('an aliquot of P001-V1 must be serum'). Such an update is refused; a
    tube without aliquots may still be corrected."""
    base_cohort(lab, tmp_path)
    aliquots = (
        "sample_id,biofluid,collected_at,parent_sample_id,volume_ml\n"
        "P001-V1-A1,plasma,2024-01-11 10:41,P001-V1,0.5\n"
    )
    load(lab, tmp_path, "samples", aliquots)
    parent = SAMPLES.replace("P001-V1,plasma,", "P001-V1,serum,")
    lines = failure(lab, tmp_path, "samples", parent, on_duplicate="update")
    assert len(lines) == 1 and lines[0].startswith("samples.csv:2:biofluid:"), lines
    assert "P001-V1-A1" in lines[0]
    child = aliquots.replace("P001-V1-A1,plasma,", "P001-V1-A1,serum,")
    lines = failure(lab, tmp_path, "samples", child, on_duplicate="update")
    assert len(lines) == 1 and lines[0].startswith("samples.csv:2:biofluid:"), lines
    with lab.read() as tx:
        assert {get_sample(tx, s).biofluid for s in ("P001-V1", "P001-V1-A1")} == {"plasma"}
    other = SAMPLES.replace("P001-V2,plasma,", "P001-V2,serum,")
    assert load(lab, tmp_path, "samples", other, on_duplicate="update").updated == 1
    with lab.read() as tx:
        assert get_sample(tx, "P001-V2").biofluid == "serum"


@pytest.mark.parametrize("kind", ["subjects", "samples", "readouts"])
@pytest.mark.parametrize("after", ["", "\n", "# an example row,\n\n"])
def test_a_header_only_file_imports_nothing_and_records_no_batch(
    lab: Lab, db_url: str, tmp_path: Path, kind: str, after: str
) -> None:
    """A file with a header and no data row (blank and comment lines only after it) said
    "import batch 12: ... 0 created" and recorded an empty batch in the batch list and the
    audit trail. It says there was nothing to import and records nothing; the exit stays 0
    (an export that found no records re-imports as it did: docs/exports.md, round trip)."""
    base_cohort(lab, tmp_path)
    header = {"subjects": SUBJECTS, "samples": SAMPLES, "readouts": READOUTS}[kind]
    path = tmp_path / "only-header.csv"
    path.write_text(header.splitlines()[0] + "\n" + after, encoding="utf-8")

    def recorded() -> tuple[int, int]:
        with lab.read() as tx:
            s = tx.session
            return (
                s.scalar(select(func.count()).select_from(ImportBatch)) or 0,
                s.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            )

    before = recorded()
    for dry in ([], ["--dry-run"]):
        r = run("--db", db_url, "import", kind, str(path), *dry)
        assert (r.returncode, r.stderr) == (0, "")
        assert r.stdout.splitlines() == [
            f"nothing imported from {path}: no data rows after the header; no batch recorded"
        ]
    report = run_import(lab, kind, path, display_name=path.name)
    assert report.no_rows and report.batch_id is None
    assert sum(report.counts().values()) == 0
    assert recorded() == before
