"""One readout write pipeline: the same generated readouts file imported in bulk
(``exolab import readouts``) and row by row (``run_import(..., bulk=False)``, which records
each row through ``services.readouts.record_readout``) gives the same stored readouts, runs and
readout_sets, the same problems (FILE:ROW:COLUMN: message) and the same audit trail, ids and
timestamps aside (docs/bulk-imports.md, "Readouts: one pipeline")."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from exolab.domain.schemas import ReadoutIn
from exolab.io import bulk
from exolab.io.importer import ImportFailed, ImportReport, kind_of, run_import, undo_batch
from exolab.services.audit import verify_chain
from exolab.services.context import Lab
from exolab.services.errors import Conflict
from exolab.services.readouts import find_readout, readout_events, update_readout
from tests.io.helpers import ISOLATIONS, SAMPLES, SUBJECTS, write

COLUMNS = kind_of("readouts").columns
TARGETS = [("isolation_id", "ISO-1"), ("isolation_id", "ISO-2"), ("isolation_id", "ISO-3"),
           ("sample_id", "P001-V1"), ("sample_id", "P002-V1")]  # fmt: skip
# (analyte, unit as written, assay): a synonym-free mix of proteins, particles and RNA
MEASURES = [
    ("CD63", "pg/mL", "elisa"),
    ("CD9", "ng/ml", "elisa"),
    ("particle_concentration", "particles/mL", "nta"),
    ("hsa-miR-21-5p", "copies/uL", "ddpcr"),
    ("NEWMARKER-7", "pg/mL", "simoa"),  # an analyte the file adds (audited create)
]


def good_file(seed: int = 13) -> str:
    """Replicates, runs, censored values (<0.5, >1e4, ND, <LOD), qualitative results,
    units written several ways, LOD/LLOQ/ULOQ, notes, wells, dilution factors."""
    rnd = random.Random(seed)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for t_col, target in TARGETS:
        for m_no, (analyte, unit, assay) in enumerate(MEASURES):
            run = f"{assay.upper()}-R{m_no % 2 + 1}"
            for rep in (1, 2, 3):
                r = rnd.random()
                lod = "0.5" if r < 0.5 else ""
                value = (
                    "<0.5" if r < 0.1
                    else ">1e4" if r < 0.15
                    else "ND" if r < 0.2
                    else "<LOD" if r < 0.25 and lod
                    else f"{rnd.uniform(1, 900):.4g}"
                )  # fmt: skip
                row = {
                    t_col: target,
                    "analyte": analyte,
                    "value": value,
                    "unit": unit,
                    "assay": assay,
                    "run_id": run,
                    "measured_on": f"2024-03-{10 + m_no:02d}",
                    "replicate": str(rep),
                    "lod": lod,
                    "lloq": "1.0" if r > 0.8 else "",
                    "uloq": "10000" if r > 0.9 else "",
                    "instrument": "Reader-1" if assay == "elisa" else "",
                    "qc": "pass" if r > 0.3 else "",
                    "notes": "re-run" if r > 0.95 else "",
                    "well": f"A{rep}" if assay == "elisa" else "",
                    "dilution_factor": "2" if r > 0.85 else "",
                }
                w.writerow([row.get(c, "") for c in COLUMNS])
        # qualitative calls, no unit
        for rep, call in enumerate(("detected", "not detected"), start=1):
            row = {t_col: target, "analyte": "TSG101", "value": call, "assay": "western_blot",
                   "run_id": "WB-1", "measured_on": "2024-03-20", "replicate": str(rep)}  # fmt: skip
            w.writerow([row.get(c, "") for c in COLUMNS])
        # a readout without run
        row = {t_col: target, "analyte": "protein_total", "value": "12.5", "unit": "ug/mL",
               "assay": "bca"}  # fmt: skip
        w.writerow([row.get(c, "") for c in COLUMNS])
    return out.getvalue()


# One problem per row (row 2 is fine: it creates run ELISA-R1 for elisa).
BAD_ROWS = [
    "ISO-1,,CD63,5.0,pg/mL,elisa,ELISA-R1,2024-03-10,1,,,,,,,,,,,",
    "NOPE-1,,CD63,5.0,pg/mL,elisa,ELISA-R1,2024-03-10,1,,,,,,,,,,,",  # no isolation
    ",NOPE-S,CD63,5.0,pg/mL,elisa,ELISA-R1,2024-03-10,1,,,,,,,,,,,",  # no sample
    "ISO-1,,CD63,5.0,,elisa,ELISA-R1,2024-03-10,2,,,,,,,,,,,",  # numeric without unit
    "ISO-1,,CD63,abc,pg/mL,elisa,ELISA-R1,2024-03-10,3,,,,,,,,,,,",  # not a result
    "ISO-1,,CD63,5.0,furlongs,elisa,ELISA-R1,2024-03-10,4,,,,,,,,,,,",  # unknown unit
    "ISO-1,,CD63,5.0,pg/mL,elisa,ELISA-R1,2024-03-10,0,,,,,,,,,,,",  # replicate < 1
    "ISO-1,,CD63,5.0,pg/mL,elisa,ELISA-R1,2024-13-10,5,,,,,,,,,,,",  # not a date
    "ISO-1,,CD63,5.0,pg/mL,nta,ELISA-R1,2024-03-10,6,,,,,,,,,,,",  # run of another assay
    "ISO-1,,CD63,5.0,pg/mL,elisa,ELISA-R1,2024-03-10,1,,,,,,,,,,,",  # duplicate of row 2
    "ISO-1,,CD63,5.0,pg/mL,elisa,ELISA-R1,2024-03-10,7,-1,,,,,,,,,,",  # negative lod
    "ISO-1,ISO-1,CD63,5.0,pg/mL,elisa,ELISA-R1,2024-03-10,8,,,,,,,,,,,",  # two targets
    "ISO-1,,CD63,5.0,pg/mL,elisa,ELISA-R1,2024-03-10,9,,,,,,,,,,,,,x",  # ragged
    "ISO-1,,CD63,5.0,pg/mL,badassay,ELISA-R1,2024-03-10,10,,,,,,,,,,,",  # unknown assay
    "ISO-1,,CD63,5.0,pg/mL,elisa,ELISA-R1,2024-03-10,11,,,,,,,,notaqc,,,",  # unknown qc
    "ISO-1,,CD63,5.0,pg/mL,elisa,ELISA-R1,2024-03-10,12,,,,,,,,,,,0",  # dilution 0
]


def bad_file() -> str:
    return ",".join(COLUMNS) + "\n" + "\n".join(BAD_ROWS) + "\n"


@pytest.fixture
def two_labs(two_fresh_labs: tuple[Lab, Lab], tmp_path: Path) -> tuple[Lab, Lab]:
    """Two fresh databases with the same subjects, samples and isolations: one takes the
    per-record path, the other the bulk path."""
    for lab in two_fresh_labs:
        for kind, body in (("subjects", SUBJECTS), ("samples", SAMPLES)):
            run_import(lab, kind, write(tmp_path, f"{kind}.csv", body), create_locations=True)
        run_import(lab, "isolations", write(tmp_path, "isolations.csv", ISOLATIONS))
    return two_fresh_labs


@pytest.fixture(params=[7, 20_000], ids=["chunks_of_7", "one_chunk"])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(bulk, "CHUNK_ROWS", request.param)
    return int(request.param)


def _changed(body: str) -> str:
    """The file with three rows' values, QC or notes changed."""
    lines = body.splitlines()
    rows = [next(csv.reader([line])) for line in lines[1:]]
    value_at, qc_at, notes_at = (COLUMNS.index(c) for c in ("value", "qc", "notes"))
    numeric = [i for i, r in enumerate(rows) if r[value_at][:1].isdigit()]
    rows[numeric[0]][value_at] = "777"
    rows[numeric[1]][qc_at] = "fail"
    rows[numeric[2]][notes_at] = "re-measured"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([COLUMNS, *rows])
    return out.getvalue()


def _import(
    lab: Lab, tmp: Path, body: str, is_bulk: bool, on_duplicate: Any = "error"
) -> tuple[ImportReport, list[str]]:
    path = write(tmp, "readouts.csv", body)
    errors = io.StringIO()
    try:
        rep = run_import(
            lab,
            "readouts",
            path,
            display_name="readouts.csv",
            bulk=is_bulk,
            errors_out=errors,
            on_duplicate=on_duplicate,
        )
    except ImportFailed as exc:
        rep = exc.report
    lines = errors.getvalue().splitlines()[1:]  # (row, column, value, message)
    problems = sorted(
        f"readouts.csv:{r[0]}:{r[1]}: {r[3]}" for r in csv.reader(lines)
    )  # FILE:ROW:COLUMN: message, as printed
    return rep, problems


_READOUTS = (
    "SELECT r.id, s.sample_code, i.isolation_code, a.code, r.assay, r.run_code, r.replicate, "
    "r.value_text, r.value, r.comparator, r.censor, r.qualitative, r.unit, r.lod, r.lloq, "
    "r.uloq, r.antibody, r.antibody_dilution, r.lysis_buffer, r.instrument, r.measured_on, "
    "r.qc, r.notes, r.well, r.dilution_factor, r.version, r.created_by, "
    "r.batch_id IS NOT NULL "
    "FROM readouts r JOIN samples s ON s.id = r.sample_id "
    "JOIN analytes a ON a.id = r.analyte_id "
    "LEFT JOIN isolations i ON i.id = r.isolation_id ORDER BY r.id"
)
_SETS = (
    "SELECT s.sample_code, i.isolation_code, a.code, rs.assay, rs.run_code, rs.unit, rs.n, "
    "rs.n_censored, rs.total, rs.censor_limit, rs.first_readout_id "
    "FROM readout_sets rs JOIN samples s ON s.id = rs.sample_id "
    "JOIN analytes a ON a.id = rs.analyte_id "
    "LEFT JOIN isolations i ON i.id = rs.isolation_id "
    "ORDER BY s.sample_code, a.code, rs.assay, rs.run_code, rs.unit, i.isolation_code"
)
_RUNS = (
    "SELECT run_code, assay, measured_on, instrument, operator, batch_id IS NOT NULL "
    "FROM assay_runs ORDER BY run_code"
)
_ANALYTES = "SELECT code, name, synonyms FROM analytes ORDER BY code"


def _audit(lab: Lab) -> list[tuple[Any, ...]]:
    """Every event, ids and timestamps aside; the chain verified."""

    def clean(values: str | None) -> Any:
        if values is None:
            return None
        d = json.loads(values)
        for k in ("id", "created_at", "updated_at", "at", "batch_id", "sample_id",
                  "isolation_id", "analyte_id"):  # fmt: skip
            d.pop(k, None)
        return d

    with lab.read() as tx:
        assert verify_chain(tx).ok
        rows = tx.session.execute(
            text(
                "SELECT action, entity, entity_id, old_values, new_values, reason, "
                "batch_id IS NOT NULL FROM audit_events ORDER BY id"
            )
        ).all()
    return [
        (a, e, "<batch>" if e == "import_batch" else i, clean(o), clean(n), r, b)
        for a, e, i, o, n, r, b in rows
    ]


def _rounded(value: Any) -> Any:
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _state(lab: Lab) -> dict[str, Any]:
    with lab.read() as tx:
        q = tx.session.execute
        return {
            "readouts": [tuple(r) for r in q(text(_READOUTS))],
            # a set's total is a SUM of floats: its last bit depends on the order the database
            # adds the replicates in, which differs between two refreshes of the same readouts
            "sets": [tuple(_rounded(v) for v in r) for r in q(text(_SETS))],
            "runs": [tuple(r) for r in q(text(_RUNS))],
            "analytes": [tuple(r) for r in q(text(_ANALYTES))],
        }


def test_same_file_both_ways_gives_the_same_rows_sets_and_audit(
    two_labs: tuple[Lab, Lab], chunk: int, tmp_path: Path
) -> None:
    per_record, in_bulk = two_labs
    body = good_file()
    rep_p, prob_p = _import(per_record, tmp_path, body, is_bulk=False)
    rep_b, prob_b = _import(in_bulk, tmp_path, body, is_bulk=True)
    assert prob_p == prob_b == []
    assert rep_p.counts() == rep_b.counts()
    assert rep_b.created == len(body.splitlines()) - 1
    assert (
        rep_b.extra["assay_runs_created"] == 6
    )  # ELISA-R1, ELISA-R2, NTA-R1, DDPCR-R2, SIMOA-R1, WB-1
    state_p, state_b = _state(per_record), _state(in_bulk)
    for table, rows in state_b.items():
        assert len(state_p[table]) == len(rows), table
        for row_p, row_b in zip(state_p[table], rows, strict=True):
            assert row_p == row_b, table
    censors = {r[10] for r in state_b["readouts"]}
    assert {"none", "lt_lod", "gt_uloq", "not_detected"} <= censors, censors
    assert any(r[11] == "detected" for r in state_b["readouts"])
    assert len(state_b["sets"]) > 0
    audit_p, audit_b = _audit(per_record), _audit(in_bulk)
    assert audit_p == audit_b
    # the audit rule: no per-readout create event; the batch's import event lists the counts
    mine = [a for a in audit_b if a[1] in ("readout", "analyte") or a[0] == "import"][-2:]
    assert mine[0][:3] == ("create", "analyte", "NEWMARKER-7")
    assert mine[1][0] == "import" and mine[1][4]["counts"]["created"] == rep_b.created
    assert not [a for a in audit_b if a[1] == "readout"]

    # a re-import of the same file creates nothing new, both ways
    again_p, _ = _import(per_record, tmp_path, body, is_bulk=False)
    again_b, _ = _import(in_bulk, tmp_path, body, is_bulk=True)
    assert again_p.counts() == again_b.counts()
    assert again_b.unchanged == rep_b.created and again_b.created == 0

    # a file changing some stored readouts: the same problems, then the same updates
    changed = _changed(body)
    refused_p, prob_p = _import(per_record, tmp_path, changed, is_bulk=False)
    refused_b, prob_b = _import(in_bulk, tmp_path, changed, is_bulk=True)
    assert prob_p == prob_b and len(prob_b) == 3, prob_b
    assert refused_p.refused == refused_b.refused == 3
    assert "already exists with different values" in prob_b[0]
    upd_p, _ = _import(per_record, tmp_path, changed, False, on_duplicate="update")
    upd_b, _ = _import(in_bulk, tmp_path, changed, True, on_duplicate="update")
    assert upd_p.counts() == upd_b.counts() and upd_b.updated == 3
    assert _state(per_record) == _state(in_bulk)
    assert _audit(per_record) == _audit(in_bulk)
    for lab, upd in ((per_record, upd_p), (in_bulk, upd_b)):  # undo the updates
        assert upd.batch_id is not None
        assert undo_batch(lab, upd.batch_id).restored == 3

    # undo removes the readouts, their sets and the runs, both ways
    for lab, rep in ((per_record, rep_p), (in_bulk, rep_b)):
        assert rep.batch_id is not None
        undone = undo_batch(lab, rep.batch_id)
        assert undone.removed["readouts"] == rep.created
    assert _state(per_record) == _state(in_bulk)
    assert _state(in_bulk)["readouts"] == _state(in_bulk)["sets"] == []
    assert _audit(per_record) == _audit(in_bulk)


def test_bad_file_gives_the_same_problems_both_ways(
    two_labs: tuple[Lab, Lab], chunk: int, tmp_path: Path
) -> None:
    per_record, in_bulk = two_labs
    rep_p, prob_p = _import(per_record, tmp_path, bad_file(), is_bulk=False)
    rep_b, prob_b = _import(in_bulk, tmp_path, bad_file(), is_bulk=True)
    assert prob_p == prob_b
    assert len(prob_b) == len(BAD_ROWS) - 1  # every row but the first has one problem
    columns = {p.split(":")[2] for p in prob_b}
    assert {"isolation_id", "sample_id", "unit", "value", "replicate", "measured_on",
            "run_id", "lod", "column 21", "assay", "qc", "dilution_factor"} <= columns  # fmt: skip
    assert "readouts.csv:11:replicate: duplicate readout key" in "\n".join(prob_b)
    assert rep_p.refused == rep_b.refused == len(BAD_ROWS) - 1
    for lab in two_labs:  # nothing written
        assert _state(lab)["readouts"] == []


def test_history_edit_and_undo_follow_one_rule(two_labs: tuple[Lab, Lab], tmp_path: Path) -> None:
    """``exolab audit --entity readout --id KEY`` shows the import that created a readout and
    its edits; an edit made after the import makes undo refuse, naming the readout; undo
    works once the edit is the only change undone... both paths alike."""
    key = "ISO-1/CD63/elisa/ELISA-R1/1"
    messages = []
    for lab, is_bulk in zip(two_labs, (False, True), strict=True):
        rep, _ = _import(lab, tmp_path, good_file(), is_bulk=is_bulk)
        assert rep.batch_id is not None
        with lab.write() as tx:
            history = readout_events(tx, key)
            assert [(e.action, e.entity) for e in history] == [("import", "import_batch")]
            stored = find_readout(
                tx,
                ReadoutIn.model_validate(
                    {
                        "isolation_id": "ISO-1",
                        "analyte": "CD63",
                        "value": "1",
                        "unit": "pg/mL",
                        "assay": "elisa",
                        "run_id": "ELISA-R1",
                    }
                ),
            )
            assert stored is not None
            update_readout(tx, stored.id, {"qc": "fail"}, reason="plate edge")
        with lab.read() as tx:
            assert [(e.action, e.entity) for e in readout_events(tx, key)] == [
                ("update", "readout"),
                ("import", "import_batch"),
            ]
        with pytest.raises(Conflict) as refused:
            undo_batch(lab, rep.batch_id)
        messages.append(str(refused.value).split(" by ")[0])
    assert messages[0] == messages[1]
    assert f"readout {key}" in messages[0]


def test_audit_command_shows_a_readouts_history(lab: Lab, db_url: str, tmp_path: Path) -> None:
    """``exolab audit --entity readout --id KEY``: an imported readout's history starts at its
    batch's import event; a readout added by hand has its own create event."""
    from tests.test_cli import run

    for kind, body in (("subjects", SUBJECTS), ("samples", SAMPLES), ("isolations", ISOLATIONS)):
        run_import(lab, kind, write(tmp_path, f"{kind}.csv", body), create_locations=True)
    rep, _ = _import(lab, tmp_path, good_file(), is_bulk=True)
    r = run("--db", db_url, "audit", "--entity", "readout", "--id",
            "ISO-1/CD63/elisa/ELISA-R1/1", "--format", "json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    events = json.loads(r.stdout)
    assert [(e["action"], e["entity"], e["entity_id"]) for e in events] == [
        ("import", "import_batch", str(rep.batch_id))
    ]
    assert events[0]["new_values"]["counts"]["created"] == rep.created
    r = run("--db", db_url, "readout", "add", "--isolation-id", "ISO-2", "--analyte", "CD81",
            "--value", "3.5", "--unit", "pg/mL", "--assay", "elisa")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run("--db", db_url, "audit", "--entity", "readout", "--id", "ISO-2/CD81/elisa//1",
            "--format", "json")  # fmt: skip
    assert [(e["action"], e["batch_id"]) for e in json.loads(r.stdout)] == [("create", None)]


def test_a_synonym_repeating_a_key_is_the_same_duplicate_both_ways(
    two_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """An admin-added synonym names its analyte: a row by the synonym repeats the key of a
    row by the code, on both paths."""
    from exolab.services.readouts import update_analyte

    header = ",".join(COLUMNS)
    body = "\n".join(
        [
            header,
            "ISO-1,,CD63,5.0,pg/mL,elisa,R1,2024-03-10,1,,,,,,,,,,,",
            "ISO-1,,LAMP3X,6.0,pg/mL,elisa,R1,2024-03-10,1,,,,,,,,,,,",
            "ISO-1,,LAMP3X,6.0,pg/mL,elisa,R1,2024-03-10,2,,,,,,,,,,,",
        ]
    )
    found = []
    for lab, is_bulk in zip(two_labs, (False, True), strict=True):
        with lab.write() as tx:
            update_analyte(tx, "CD63", synonyms=["LAMP3X"], reason="lab name")
        found.append(_import(lab, tmp_path, body + "\n", is_bulk=is_bulk)[1])
    assert (
        found[0]
        == found[1]
        == [
            "readouts.csv:3:replicate: duplicate readout key "
            "(target, analyte, assay, run_id, replicate): also on row 2 (got '1')"
        ]
    )
