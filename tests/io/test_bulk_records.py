"""The bulk import of samples and isolations gives what the per-record path gives: the same
rows, the same problems for a bad file and the same audit events (docs/bulk-imports.md)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy import text as sql

from exolab.db.models import (
    AuditEvent,
    Box,
    CellSource,
    Isolation,
    IsolationStep,
    Sample,
    Subject,
    Visit,
)
from exolab.io import bulk_records
from exolab.io.importer import ImportFailed, ImportReport, run_import, undo_batch
from exolab.services import samples, storage
from exolab.services.audit import RECORD_TABLES, record_events, verify_chain
from exolab.services.context import Lab
from exolab.services.list_query import ListQuery
from exolab.services.lists import list_page
from tests.conftest import TEST_ADMIN
from tests.io.helpers import write

SUBJECTS = "study,subject_id,group,notes\n" + "".join(
    f"S1,P{i:03d},{'case' if i % 2 else 'control'},\n" for i in range(12)
).replace(  # text the audit trail's JSON escapes, hashed the same by both paths
    "P003,case,\n", 'P003,case,"said ""no"" \\ naïve\tµL 😀"\n'
)
CELLS = (
    "cell_source_id,cell_type,species,passage,confluency_pct,mycoplasma_tested_on\n"
    "MSC-1,mesenchymal stromal cells,Homo sapiens,4,80,2024-01-02\n"
    "HEK-1,HEK293,Homo sapiens,,,\n"
)
BAD_CELLS = """cell_source_id,cell_type,species,passage,confluency_pct,mycoplasma_tested_on
C-1,fibroblasts,Homo sapiens,-1,,
C-2,fibroblasts,Homo sapiens,,150,
C-3,,Homo sapiens,,,
C-4,fibroblasts,Homo sapiens,,,2024-13-01
C-6,fibroblasts,Homo sapiens,,,
C-6,fibroblasts,Homo sapiens,,,
MSC-1,other cells,Homo sapiens,,,
C-5,fibroblasts
"""
# Stored before the file: a tube to aliquot and isolate from, a discarded tube, an occupied
# position, and a visit whose date the file moves earlier.
STORED = """sample_id,biofluid,collected_at,study,subject_id,visit,tube,volume_ml,storage_temp_c,location,status,freeze_thaw_count
OLD-1,plasma,2024-02-01 09:00,S1,P000,V0,k2edta,5.0,-80,F1/R1/B1/A1,,2
OLD-2,plasma,2024-02-01 09:00,S1,P001,V0,k2edta,1.0,,,,
"""

SAMPLE_COLUMNS = (
    "sample_id,biofluid,collected_at,study,subject_id,visit,tube,volume_ml,spin1_g,spin1_min,"
    "storage_temp_c,sprec,parent_sample_id,cell_source_id,location,freeze_thaw_count,status"
)


def samples_file() -> str:
    rows = [SAMPLE_COLUMNS]
    n = 0
    for i in range(12):
        for v in range(3):
            n += 1
            pos = f"F1/R1/B{2 + n // 81}/{'ABCDEFGHI'[(n % 81) // 9]}{n % 9 + 1}"
            rows.append(
                f"P{i:03d}-V{v},plasma,2024-0{v + 1}-{10 + i} 09:00,S1,P{i:03d},V{v},k2edta,"
                f"4.0,2500,15,-80,,,,{pos},,"
            )
    rows += [
        # the same visit collected earlier than the stored one moves its date
        "P000-V0b,serum,2024-01-05 08:00,S1,P000,V0,sst,2.0,,,,,,,F1/R1/B9/A1,,",
        # aliquots of a tube of this file: inherit pre-analytics and SPREC, take volume
        "P003-V1-A1,plasma,2024-02-13 09:00,,,,,1.0,,,-20,,P003-V1,,F1/R1/B9/A2,,",
        "P003-V1-A2,plasma,2024-02-13 09:00,,,,,1.5,,,,,P003-V1,,,,",
        # an aliquot of an aliquot, and of a stored tube (inherits its freeze-thaw count)
        "P003-V1-A1a,plasma,2024-02-13 09:00,,,,,0.5,,,,,P003-V1-A1,,,,",
        "OLD-1-A1,plasma,2024-02-01 09:00,,,,,2.0,,,,,OLD-1,,F1/R1/B9/A3,,",
        # conditioned medium from a cell source; a given SPREC code; a bag; a checked-out tube
        "CM-1,conditioned_medium,2024-03-01 10:00,,,,,10,,,,,,MSC-1,F1/R1/BAG,,",
        "P005-V3,plasma,2024-04-15 09:00,S1,P005,V3,,3.0,,,,PL1-SST-A-N-N-N-Z,,,,,",
        "P006-V3,plasma,2024-04-16 09:00,S1,P006,V3,k2edta,3.0,,,,,,,F1/R1/B9/A4,1,checked_out",
    ]
    return "\n".join(rows) + "\n"


ISOLATIONS = """isolation_id,sample_id,isolated_on,method,input_volume_ml,sec_column,uf_mwco_kda,final_volume_ul
ISO-1,P000-V0,2024-03-02,sec,0.5,qEV,,200
ISO-2,P000-V0,2024-03-03,uf+sec,1.0,qEV,100,100
ISO-3,OLD-1,2024-03-03,sec,0.5,qEV,,200
ISO-4,P003-V1-A2,2024-03-04,sec,1.5,qEV,,
ISO-5,P001-V1,2024-03-05,uf,0.25,,100,50
"""

BAD_SAMPLES = (
    SAMPLE_COLUMNS
    + "\n"
    + "\n".join(
        [
            "B-1,notafluid,2024-01-01 09:00,S1,P000,V0,,1,,,,,,,,,",  # not a biofluid
            "B-2,plasma,2024-01-01 09:00,S1,P999,V0,,1,,,,,,,,,",  # unknown subject
            "B-3,plasma,2024-01-01 09:00,,,,,1,,,,,NOPE,,,,",  # unknown parent
            "B-4,serum,2024-01-01 09:00,,,,,1,,,,,OLD-1,,,,",  # biofluid differs from parent
            "B-5,plasma,2024-01-01 09:00,,,,,9,,,,,OLD-1,,,,",  # more than is left
            "B-6,plasma,2024-01-01 09:00,,,,,0.1,,,,,OLD-2,,,,",  # parent discarded
            "B-7,plasma,2024-01-01 09:00,S1,P000,V0,,1,,,,,,,F1/R1/B1/A1,,",  # position taken
            "B-9,plasma,2024-01-01 09:00,S1,P000,V0,,1,,,,,,,F1/R1/B1/A2,,",  # free: fine
            "B-8,plasma,2024-01-01 09:00,S1,P000,V0,,1,,,,,,,F1/R1/B1/A2,,",  # taken by B-9
            "B-9,plasma,2024-01-01 09:00,S1,P000,V0,,1,,,,,,,,,",  # duplicate key
            "B-10,plasma,2024-01-01 09:00,S1,P000,V0,,1,,,,,,,F9/R1/B1/A1,,",  # no freezer
            "B-11,plasma,2024-01-01 09:00,S1,P000,V0,,1,,,,,,,F1/R1/B1/Z9,,",  # no position
            "B-12,plasma,2024-01-01 09:00,S1,P000,V0,,1,,,,,,,F1/R1/B1/A5,,discarded",
            "B-13,plasma,2024-01-01 09:00,,,,,1,,,,,B-14,,,,",  # parent later in the file
            "B-14,plasma,2024-01-01 09:00,S1,P000,V0,,1,,,,,,,,,",
            "OLD-1,plasma,2024-02-01 09:00,S1,P000,V0,k2edta,4.5,,,,,,,,,",  # stored, differs
            "B-15,plasma,2024-01-01 09:00,S1,P000,V0,,1,,,,XX,,,,,",  # a bad SPREC code
            "B-16,plasma,2024-01-01 09:00,S1,P000,V0,,1",  # ragged
            "B-17,plasma,2024-01-01 09:00,,,,,2,,,,,OLD-1,,,,",  # 5 - 2: fine
            "B-18,plasma,2024-01-01 09:00,,,,,2,,,,,OLD-1,,,,",  # 3 - 2: fine
            "B-19,plasma,2024-01-01 09:00,,,,,2,,,,,OLD-1,,,,",  # 1 left: too little
        ]
    )
    + "\n"
)

BAD_SUBJECTS = """study,subject_id,sex,birth_year,group
S2,N001,F,1970,case
S2,N001,F,1970,case
S2,N002,Q,1970,case
S2,N003,F,1700,case
S1,P000,F,1970,case
S3,N004,M
S3,N005,M,1980,control
"""

BAD_ISOLATIONS = """isolation_id,sample_id,isolated_on,method,input_volume_ml
I-1,NOPE,2024-03-02,sec,0.5
I-2,OLD-1,2024-03-02,sec,3.0
I-3,OLD-1,2024-03-02,sec,3.0
I-4,OLD-2,2024-03-02,sec,0.5
I-5,OLD-1,2024-03-02,xyz,0.5
I-5,OLD-1,2024-03-02,sec,0.5
"""


@pytest.fixture
def two_labs(two_fresh_labs: tuple[Lab, Lab]) -> tuple[Lab, Lab]:
    """Two fresh databases: one imports per record, the other in bulk."""
    return two_fresh_labs


@pytest.fixture(params=[3, 5_000], ids=["chunks_of_3", "one_chunk"])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(bulk_records, "CHUNK_ROWS", request.param)
    return int(request.param)


def _load(lab: Lab, tmp: Path, kind: str, text: str, bulk: bool, **kw: Any) -> ImportReport:
    path = write(tmp, f"{kind}.csv", text)
    return run_import(lab, kind, path, display_name=path.name, bulk=bulk, **kw)


def _setup(lab: Lab, tmp: Path, bulk: bool = False) -> None:
    write(tmp, "x", "")
    _load(lab, tmp, "subjects", SUBJECTS, bulk)
    _load(lab, tmp, "cell_sources", CELLS, bulk)
    _load(lab, tmp, "samples", STORED, False, create_locations=True)
    with lab.write() as tx:  # thrown away since (an import may still record the history of
        # a tube registered discarded: docs/lifecycle.md)
        samples.set_status(tx, "OLD-2", "discard", reason="cracked")


def _each_way(two_labs: tuple[Lab, Lab], tmp_path: Path) -> Iterator[tuple[Lab, Path, bool]]:
    """The per-record lab then the bulk one, each with its own folder and the stored
    subjects, cell sources and tubes (:func:`_setup`)."""
    for lab, bulk in zip(two_labs, (False, True), strict=True):
        d = tmp_path / str(bulk)
        d.mkdir()
        _setup(lab, d, bulk)
        yield lab, d, bulk


def _rows(lab: Lab, model: Any, order: Any) -> list[dict[str, Any]]:
    skip = {"created_at", "updated_at"}
    with lab.read() as tx:
        return [
            {c.key: getattr(r, c.key) for c in model.__table__.columns if c.key not in skip}
            for r in tx.session.scalars(select(model).order_by(order))
        ]


def _imported_creates(lab: Lab) -> list[tuple[str, str, int | None]]:
    """The per-record ``create`` events of records an import created (the per-record path
    writes them; the bulk path does not: its batch's ``import`` event is their creation
    record, docs/bulk-imports.md)."""
    with lab.read() as tx:
        return [
            (e.entity, e.entity_id, e.batch_id)
            for e in tx.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if e.action == "create" and e.entity in RECORD_TABLES and e.batch_id is not None
        ]


def _creation_records(lab: Lab) -> dict[tuple[str, str], tuple[str, str | None, int | None]]:
    """For every stored subject, cell source, sample and isolation: how its history
    (``exolab audit --entity E --id KEY``, the UI's tube history) records its creation: the
    action, the file named and the batch."""
    out: dict[tuple[str, str], tuple[str, str | None, int | None]] = {}
    with lab.read() as tx:
        keys = [
            ("subject", f"{st}/{c}")
            for st, c in tx.session.execute(
                sql(
                    "SELECT st.code, s.subject_code FROM subjects s "
                    "JOIN studies st ON st.id = s.study_id"
                )
            )
        ]
        for entity, (table, column) in RECORD_TABLES.items():
            if entity != "subject":
                keys += [
                    (entity, c) for c in tx.session.scalars(sql(f"SELECT {column} FROM {table}"))
                ]
        for entity, key in keys:
            events = record_events(tx, entity, key, limit=None)
            made = [e for e in events if e.action in ("create", "import")]
            assert made, (entity, key)
            first = made[-1]  # (newest first)
            name = (first.new_values or {}).get("file_name")
            assert first.user == TEST_ADMIN and first.at
            out[(entity, key)] = (first.action, name, first.batch_id)
    return out


def _audit(lab: Lab) -> list[tuple[Any, ...]]:
    def clean(values: str | None) -> Any:
        if values is None:
            return None
        d = json.loads(values)
        for k in ("created_at", "updated_at", "at"):
            d.pop(k, None)
        return d

    with lab.read() as tx:
        assert verify_chain(tx).ok
        return [
            (e.action, e.entity, e.entity_id, clean(e.old_values), clean(e.new_values), e.reason)
            for e in tx.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if not (e.entity == "import_batch" and e.action == "import")
            and not (e.action == "create" and e.entity in RECORD_TABLES and e.batch_id)
        ] + [
            (e.action, e.entity, e.entity_id, clean(e.new_values)["counts"])  # type: ignore[index]
            for e in tx.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "import").order_by(AuditEvent.id)
            )
        ]


def _state(lab: Lab) -> dict[str, Any]:
    return {
        "subjects": _rows(lab, Subject, Subject.id),
        "cell_sources": _rows(lab, CellSource, CellSource.code),
        "samples": _rows(lab, Sample, Sample.sample_code),
        "visits": _rows(lab, Visit, Visit.id),
        "isolations": _rows(lab, Isolation, Isolation.isolation_code),
        "steps": _rows(lab, IsolationStep, IsolationStep.id),
        "audit": _audit(lab),
    }


def test_bulk_gives_the_same_rows_and_audit(
    two_labs: tuple[Lab, Lab], chunk: int, tmp_path: Path
) -> None:
    reports = []
    for lab, d, bulk in _each_way(two_labs, tmp_path):
        a = _load(lab, d, "samples", samples_file(), bulk, create_locations=True)
        b = _load(lab, d, "isolations", ISOLATIONS, bulk)
        reports.append((a.counts(), a.locations, b.counts()))
    assert reports[0] == reports[1]
    assert reports[1][0]["created"] == 44 and reports[1][2]["created"] == 5
    per_record, bulk_state = _state(two_labs[0]), _state(two_labs[1])
    for key in per_record:
        assert per_record[key] == bulk_state[key], key
    samples = {r["sample_code"]: r for r in bulk_state["samples"]}
    # the rules were applied: volumes taken, inheritance, freeze-thaw, visit date
    assert samples["P003-V1"]["volume_ml"] == pytest.approx(1.5)  # 4 - 1 - 1.5
    assert samples["P003-V1"]["volume_taken_ml"] == pytest.approx(2.5)
    assert samples["P003-V1-A2"]["volume_ml"] == 0.0  # isolation ISO-4 took it all
    assert samples["OLD-1"]["volume_ml"] == pytest.approx(2.5)  # 5 - 2 - 0.5
    assert samples["OLD-1-A1"]["freeze_thaw_count"] == 2
    assert samples["P003-V1-A1a"]["spin1_g"] == 2500
    assert samples["P003-V1-A1"]["storage_temp_c"] == -20
    assert samples["P000-V0"]["visit_id"] == samples["P000-V0b"]["visit_id"]
    # the audit rule of bulk imports: no per-record create event, the batch's import event
    # (who, when, which file) is each record's creation record; the per-record path keeps
    # its create events, which name the same batch
    stored = [("sample", "OLD-1"), ("sample", "OLD-2")]  # (per record in both labs)
    assert [c[:2] for c in _imported_creates(two_labs[1])] == stored
    assert len(_imported_creates(two_labs[0])) == 12 + 2 + 2 + 44 + 5
    made = [_creation_records(lab) for lab in two_labs]
    assert made[0].keys() == made[1].keys()
    for key, (action, name, batch) in made[1].items():
        if key in stored:
            assert action == "create"
            continue
        assert action == "import" and name and name.endswith(".csv"), key
        assert made[0][key] == ("create", None, batch), key
    assert made[1][("sample", "P003-V1-A1")][1] == "samples.csv"
    assert made[1][("isolation", "ISO-1")][1] == "isolations.csv"
    assert made[1][("subject", "S1/P000")][1] == "subjects.csv"
    assert made[1][("cell_source", "MSC-1")][1] == "cell_sources.csv"


def test_bulk_reports_the_same_problems_and_writes_nothing(
    two_labs: tuple[Lab, Lab], chunk: int, tmp_path: Path
) -> None:
    found = []
    for lab, d, bulk in _each_way(two_labs, tmp_path):
        before = _state(lab)
        lines = []
        for kind, text in (
            ("samples", BAD_SAMPLES),
            ("isolations", BAD_ISOLATIONS),
            ("subjects", BAD_SUBJECTS),
            ("cell_sources", BAD_CELLS),
        ):
            with pytest.raises(ImportFailed) as err:
                _load(lab, d, kind, text, bulk)
            problems = err.value.report.problems
            assert problems is not None
            lines.append(
                (
                    [(p.row, p.column, p.message) for p in problems.first()],
                    problems.lines(),
                    err.value.report.counts(),
                )
            )
        assert _state(lab) == before  # nothing written
        found.append(lines)
    assert found[0] == found[1]
    samples, isolations = found[1][0][0], found[1][1][0]
    expected = {
        2: ("biofluid", "notafluid"),
        3: ("subject_id", "no subject P999 in study S1"),
        4: ("parent_sample_id", "no sample NOPE"),
        5: ("biofluid", "an aliquot of OLD-1 must be plasma"),
        6: ("volume_ml", "has only 5 mL left"),
        7: ("parent_sample_id", "sample OLD-2 is discarded"),
        # (the service's conflict names no column: the row's key column is reported)
        8: ("location", "is taken by sample OLD-1"),
        10: ("location", "is taken by sample B-9"),
        11: ("sample_id", "duplicate key B-9: also on row 9"),
        12: ("location", "no freezer F9"),
        13: ("location", "there is no Z9"),
        14: ("location", "a discarded tube has no storage location"),
        15: ("parent_sample_id", "no sample B-14"),
        17: ("volume_ml", "already exists with different values"),
        18: ("sprec", ""),
        19: ("spin1_g", "row has 8 fields"),  # the first missing column
        22: ("volume_ml", "has only 1 mL left"),
    }
    assert len(samples) == len(expected)  # one problem per row, each of its own kind
    for row, column, message in samples:
        assert expected[row][0] == column and expected[row][1] in message, (row, message)
    assert [(row, column) for row, column, _ in found[1][2][0]] == [
        (3, "subject_id"),  # duplicate key
        (4, "sex"),
        (5, "birth_year"),
        (6, "sex"),  # stored with other values
        (7, "birth_year"),  # ragged: the first missing column
    ]
    assert [(row, column) for row, column, _ in found[1][3][0]] == [
        (2, "passage"),
        (3, "confluency_pct"),
        (4, "cell_type"),
        (5, "mycoplasma_tested_on"),
        (7, "cell_source_id"),  # duplicate key
        (8, "cell_type"),  # stored with other values
        (9, "species"),  # ragged: the first missing column
    ]
    assert [(row, column) for row, column, _ in isolations] == [
        (2, "sample_id"),
        (4, "input_volume_ml"),
        (5, "sample_id"),
        (6, "method"),
    ]


@pytest.mark.parametrize("on_duplicate", ["skip", "update"])
def test_a_file_of_stored_and_new_rows(
    two_labs: tuple[Lab, Lab], chunk: int, on_duplicate: str, tmp_path: Path
) -> None:
    """Stored keys go through the per-record code (compare, skip or update) between new rows
    created in bulk: the result is the per-record path's."""
    first = samples_file().splitlines()
    again = [first[0]] + [r.replace(",4.0,", ",3.5,") for r in first[1:20]]
    again += [f"NEW-{i},plasma,2024-05-01 09:00,S1,P00{i},V9,k2edta,1,,,,,,,,," for i in range(5)]
    again += ["NEW-A,plasma,2024-05-01 09:00,,,,,0.5,,,,,P000-V1,,,,"]
    results = []
    for lab, d, bulk in _each_way(two_labs, tmp_path):
        _load(lab, d, "samples", samples_file(), bulk, create_locations=True)
        r = _load(lab, d, "samples", "\n".join(again) + "\n", bulk, on_duplicate=on_duplicate)
        results.append((r.counts(), _state(lab)))
    assert results[0] == results[1]
    counts = results[1][0]
    assert counts["created"] == 6
    assert counts["updated" if on_duplicate == "update" else "skipped"] == 19


@pytest.mark.parametrize("on_duplicate", ["skip", "update"])
def test_a_file_of_stored_and_new_isolations(
    two_labs: tuple[Lab, Lab], chunk: int, on_duplicate: str, tmp_path: Path
) -> None:
    """A stored isolation updated (its tube's volume given back and taken again) between new
    isolations from the same tube: the tube is read again and the result is the
    per-record path's."""
    again = (
        "isolation_id,sample_id,isolated_on,method,input_volume_ml,sec_column,uf_mwco_kda,"
        "final_volume_ul\n"
        "ISO-6,P000-V0,2024-03-06,sec,0.5,qEV,,200\n"
        "ISO-2,P000-V0,2024-03-03,uf+sec,1.5,qEV,100,100\n"  # stored: 1.0 -> 1.5
        "ISO-7,P000-V0,2024-03-07,sec,0.5,qEV,,200\n"
        "ISO-8,OLD-1,2024-03-08,sec,0.5,qEV,,200\n"
    )
    results = []
    for lab, d, bulk in _each_way(two_labs, tmp_path):
        _load(lab, d, "samples", samples_file(), bulk, create_locations=True)
        _load(lab, d, "isolations", ISOLATIONS, bulk)
        r = _load(lab, d, "isolations", again, bulk, on_duplicate=on_duplicate)
        results.append((r.counts(), _state(lab)))
    assert results[0] == results[1]
    counts = results[1][0]
    assert counts["created"] == 3
    assert counts["updated" if on_duplicate == "update" else "skipped"] == 1
    tubes = {r["sample_code"]: r for r in results[1][1]["samples"]}
    left = 4.0 - 0.5 - (1.5 if on_duplicate == "update" else 1.0) - 0.5 - 0.5
    assert tubes["P000-V0"]["volume_ml"] == pytest.approx(left)


def test_undo_of_a_bulk_import(lab: Lab, tmp_path: Path) -> None:
    _setup(lab, tmp_path)
    before = _state(lab)
    a = _load(lab, tmp_path, "samples", samples_file(), True, create_locations=True)
    b = _load(lab, tmp_path, "isolations", ISOLATIONS, True)
    assert a.batch_id and b.batch_id
    undone = undo_batch(lab, b.batch_id)
    assert undone.removed["isolations"] == 5
    undone = undo_batch(lab, a.batch_id)
    assert undone.removed["samples"] == 44
    after = _state(lab)
    # the stored tube's volume and the visit's date are back; the created rows are gone
    unversioned = [{k: v for k, v in r.items() if k != "version"} for r in after["samples"]]
    assert unversioned == [
        {k: v for k, v in r.items() if k != "version"} for r in before["samples"]
    ]
    assert after["isolations"] == [] and after["steps"] == []
    old = {r["sample_code"]: r for r in after["samples"]}["OLD-1"]
    assert old["volume_ml"] == 5.0 and old["volume_taken_ml"] == 0.0


def _count(lab: Lab, model: Any) -> int:
    with lab.read() as tx:
        return len(list(tx.session.scalars(select(model.id))))


def test_a_late_problem_after_written_chunks_leaves_nothing(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks written before the file's first problem are rolled back with it: tubes, their
    boxes, visits, volumes taken and audit events."""
    monkeypatch.setattr(bulk_records, "CHUNK_ROWS", 3)
    _setup(lab, tmp_path)
    before = _state(lab)
    lines = samples_file().splitlines()[:13]  # 12 good tubes: four chunks written
    lines.append("LATE-1,plasma,2024-02-30 09:00,S1,P000,V0,,1,,,,,,,,,")
    with pytest.raises(ImportFailed) as err:
        _load(lab, tmp_path, "samples", "\n".join(lines) + "\n", True, create_locations=True)
    problems = err.value.report.problems
    assert problems is not None
    assert [(p.row, p.column) for p in problems.first()] == [(14, "collected_at")]
    assert _state(lab) == before


@pytest.mark.slow
def test_a_bad_date_on_row_150001_leaves_nothing_written(lab: Lab, tmp_path: Path) -> None:
    n = 150_000  # data rows 2 .. 150,001
    rows = ["study,subject_id,sex,enrolled_on"]
    rows += [f"BIG,B{i:06d},F,2024-01-{i % 28 + 1:02d}" for i in range(n - 1)]
    rows.append("BIG,B999999,F,2024-02-30")  # row 150,001
    with lab.read() as tx:
        events = tx.session.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(ImportFailed) as err:
        _load(lab, tmp_path, "subjects", "\n".join(rows) + "\n", True)
    problems = err.value.report.problems
    assert problems is not None
    found = [(p.row, p.column, p.message) for p in problems.first()]
    assert len(found) == 1 and found[0][:2] == (150_001, "enrolled_on"), found
    assert "2024-02-30" in found[0][2]
    assert _count(lab, Subject) == 0
    with lab.read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(AuditEvent)) == events
        assert verify_chain(tx).ok


def test_a_database_refusal_in_a_middle_window_leaves_nothing(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window the database refuses is one problem at its first row; the rows after it are
    still checked against its tubes (an aliquot of one of them is not "no sample"), and
    nothing of the file is stored."""
    from tests.io.test_row_errors import refuse_inserts

    monkeypatch.setattr(bulk_records, "CHUNK_ROWS", 3)
    _setup(lab, tmp_path)
    before = _state(lab)
    refuse_inserts(lab, "samples", "NEW.sample_code = 'P001-V1'", "refused by the lab rule")
    lines = samples_file().splitlines()[:13]  # 12 tubes in windows of 3: P001-V1 is in the 2nd
    lines.append("P001-V1-A1,plasma,2024-02-11 09:00,,,,,1.0,,,,,P001-V1,,,,")
    lines.append("P001-V2-A1,plasma,2024-02-11 09:00,,,,,1.0,,,,,NOPE,,,,")
    with pytest.raises(ImportFailed) as err:
        _load(lab, tmp_path, "samples", "\n".join(lines) + "\n", True, create_locations=True)
    problems = err.value.report.problems
    assert problems is not None
    found = [(p.row, p.column, p.message) for p in problems.first()]
    assert [(row, column) for row, column, _ in found] == [
        (5, "sample_id"),
        (15, "parent_sample_id"),
    ]
    assert "refused by the lab rule" in found[0][2] and "rows 5-7" in found[0][2]
    assert "no sample NOPE" in found[1][2]
    assert _state(lab) == before


def test_the_tube_view_history_shows_its_creating_batch(lab: Lab, tmp_path: Path) -> None:
    """The UI's tube history (the sample screen's events) shows the creation of a tube
    imported in bulk: its batch's import event, with the file and the user."""
    from exolab.tui.screens.sample import load_sample

    _setup(lab, tmp_path)
    _load(lab, tmp_path, "samples", samples_file(), True, create_locations=True)
    _load(lab, tmp_path, "isolations", ISOLATIONS, True)
    with lab.read() as tx:
        events = load_sample(tx, "P000-V0").events
    assert [e.action for e in events] == ["update", "update", "import"]  # (two isolations)
    made = events[-1]
    assert made.entity == "import_batch" and made.user == TEST_ADMIN
    assert made.new_values is not None and made.new_values["file_name"] == "samples.csv"


def test_a_file_that_breaks_after_a_window_was_written_leaves_nothing(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that cannot be read further (a NUL byte) after earlier windows were written:
    the import says where the file broke and stores nothing."""
    from exolab.io.reading import FileProblem

    monkeypatch.setattr(bulk_records, "CHUNK_ROWS", 1_000)
    before = _state(lab)
    rows = [f"S9,N{i:05d},group {i % 7},\n".encode() for i in range(6_000)]
    rows[-1] = b"S9,N99999,ab\x00cd,\n"
    path = tmp_path / "broken.csv"
    path.write_bytes(b"study,subject_id,group,notes\n" + b"".join(rows))
    with pytest.raises(FileProblem, match=r"broken\.csv:6001:group: a NUL byte"):
        run_import(lab, "subjects", path, display_name=path.name)
    assert _state(lab) == before


DATED_SAMPLES = """sample_id,biofluid,collected_at,processed_at,study,subject_id,visit
M-1,plasma,2024-03-01,2024-03-01 00:30,S1,P000,V0
M-2,plasma,2024-03-01 00:00:01,,S1,P001,V0
M-3,plasma,2024-02-29 23:59:59.5,,S1,P002,V0
"""
DATED_ISOLATIONS = """isolation_id,sample_id,isolated_on,method,input_volume_ml
ISO-1,M-1,2024-03-02,sec,0.5
ISO-2,M-3,2024-03-01,sec,0.5
"""


def test_bulk_stores_dates_and_times_as_the_per_record_path_does(
    two_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """The stored text of every date and time a bulk import writes is the per-record path's
    (on SQLite a time with no fraction was written without its ``.000000``, so a list of
    tubes collected since a day left out those collected at its midnight)."""
    stored = []
    for lab, d, bulk in _each_way(two_labs, tmp_path):
        _load(lab, d, "samples", DATED_SAMPLES, bulk)
        _load(lab, d, "isolations", DATED_ISOLATIONS, bulk)
        with lab.read() as tx:
            stored.append(
                [
                    tx.session.execute(sql(q)).all()
                    for q in (
                        "SELECT sample_code, collected_at, processed_at FROM samples "
                        "ORDER BY sample_code",
                        "SELECT label, visit_date FROM visits ORDER BY id",
                        "SELECT code, mycoplasma_tested_on FROM cell_sources ORDER BY code",
                        "SELECT isolation_code, isolated_on FROM isolations ORDER BY 1",
                    )
                ]
            )
            since = list_page(tx, "samples", ListQuery(since=date(2024, 3, 1)))
            assert {r.key for r in since.rows} >= {"M-1", "M-2"}, bulk
            assert "M-3" not in {r.key for r in since.rows}
    assert stored[0] == stored[1]


def test_an_aliquot_of_a_stored_tube_inherits_its_times_read_back(
    two_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """A stored parent's processing time, read back by the bulk path's own reads, is the
    time the per-record path reads (inherited by the aliquot, and by its SPREC code)."""
    stored = (
        "sample_id,biofluid,collected_at,processed_at,study,subject_id,visit,volume_ml,spin1_g\n"
        "PAR-1,plasma,2024-02-01 09:00,2024-02-01 09:45:30,S1,P000,V0,5,2500\n"
        "PAR-2,plasma,2024-02-01 09:00,2024-02-01 13:00,S1,P001,V0,5,\n"
    )
    aliquots = (
        "sample_id,biofluid,collected_at,parent_sample_id,volume_ml\n"
        "PAR-1-A,plasma,2024-02-01 09:00,PAR-1,1\n"
        "PAR-2-A,plasma,2024-02-01 09:00,PAR-2,1\n"
    )
    for lab, d, bulk in _each_way(two_labs, tmp_path):
        _load(lab, d, "samples", stored, False)
        _load(lab, d, "samples", aliquots, bulk)
    per_record, in_bulk = (_rows(lab, Sample, Sample.sample_code) for lab in two_labs)
    assert per_record == in_bulk
    made = {r["sample_code"]: r for r in in_bulk}
    assert made["PAR-1-A"]["processed_at"] == datetime(2024, 2, 1, 9, 45, 30)
    assert made["PAR-2-A"]["sprec"] == made["PAR-2"]["sprec"]


EQUAL_CELLS = (
    SAMPLE_COLUMNS
    + "\n"
    + "\n".join(
        [
            "E-1,plasma,2024-01-01 09:00,S1,P000,V0,,3,,,,,,,F1/R1/B1/A7,,",
            "E-2,plasma,2024-01-01 09:00,S1,P000,V0,,3,,,,,,,F1/R1/B1/A7,,",  # same cell: taken
            "E-3,plasma,2024-13-01 09:00,S1,P001,V0,,1,,,,,,,,,",  # a bad date ...
            "E-4,plasma,2024-13-01 09:00,S1,P001,V0,,1,,,,,,,,,",  # ... again: its own row
            "E-5,plasma,2024-01-01 09:00,,,,,2,,,,,E-1,,,,",  # 3 - 2: fine
            "E-6,plasma,2024-01-01 09:00,,,,,2,,,,,E-1,,,,",  # the same cells: 1 left
        ]
    )
    + "\n"
)


def test_equal_cells_on_other_rows_get_their_own_problems_and_nothing_leaks(
    lab: Lab, chunk: int, tmp_path: Path
) -> None:
    """Cells remembered per distinct value (validation, positions, volumes) still give each
    row its own result; and nothing remembered by a refused import reaches the next one in
    the same process (its tube, its position, the volume it took)."""
    _setup(lab, tmp_path, True)
    out = io.StringIO()  # every problem, one a line (--errors)
    with pytest.raises(ImportFailed):
        _load(lab, tmp_path, "samples", EQUAL_CELLS, True, create_locations=True, errors_out=out)
    found = [
        (int(r["row"]), r["column"], r["message"])
        for r in csv.DictReader(io.StringIO(out.getvalue()))
    ]
    assert [(row, column) for row, column, _ in found] == [
        (3, "location"),
        (4, "collected_at"),
        (5, "collected_at"),
        (7, "volume_ml"),
    ]
    assert "is taken by sample E-1" in found[0][2] and found[1][2] == found[2][2]
    assert "has only 1 mL left" in found[3][2]
    # the same tubes again, the refused rows left out: they were never stored
    again = "\n".join(
        line for k, line in enumerate(EQUAL_CELLS.splitlines()) if k not in (2, 3, 4, 6)
    )
    report = _load(lab, tmp_path, "samples", again + "\n", True, create_locations=True)
    assert report.created == 2
    with lab.read() as tx:
        rows = tx.session.execute(
            select(Sample.sample_code, Sample.position, Sample.volume_ml, Sample.version).where(
                Sample.sample_code.in_(["E-1", "E-5"])
            )
        ).all()
    assert sorted(rows) == [("E-1", "A7", 1.0, 2), ("E-5", None, 2.0, 1)]


def test_converted_values_are_each_values_own() -> None:
    """Each distinct value of a column is converted once; every value gets its own
    conversion (unhashable JSON values told apart by identity)."""
    from exolab.services.bulk_records import _converted

    calls: list[Any] = []

    def proc(v: Any) -> Any:
        calls.append(v)
        return None if v is None else repr(v)

    at = datetime(2024, 3, 1)
    values: list[Any] = [at, None, datetime(2024, 3, 1), at, None, datetime(2024, 3, 2)]
    assert _converted(proc, values) == [proc(v) for v in values]
    calls.clear()
    assert _converted(proc, values) == [repr(at), None, repr(at), repr(at), None, repr(values[-1])]
    assert len(calls) == 3  # one per distinct value
    a, b = {"x": 1}, {"x": 2}
    assert _converted(proc, [a, b, a, [1], None]) == [repr(a), repr(b), repr(a), "[1]", None]


def test_insert_many_stores_what_core_stores() -> None:
    """insert_many (each column's distinct values converted once, shared values bound once,
    the others staged) stores exactly what Core's executemany of the same rows stores:
    SQLite's own processors (a date as a whole time, 1 and 1.0), NULLs, JSON; a few rows
    (inserted directly) and many (staged)."""
    from sqlalchemy import create_engine, delete

    from exolab.services.bulk_records import insert_many

    at, later = datetime(2024, 3, 1, 9), datetime(2024, 3, 1, 10, 30, 0, 5)
    shapes = [
        dict(biofluid="plasma", collected_at=at, processed_at=None, volume_ml=1, spin1_g=2500.0),
        dict(biofluid="plasma", collected_at=at, processed_at=None, volume_ml=1.0, spin1_g=2500.0),
        dict(biofluid="serum", collected_at=later, processed_at=at, volume_ml=0.5, spin1_g=None),
        dict(biofluid="plasma", collected_at=date(2024, 3, 1), processed_at=None, volume_ml=None,
             spin1_g=2500),
    ]  # fmt: skip
    t = Sample.__table__
    params = [{"column": "qEV"}, {"column": "qEV"}, {"fractions": "7-9"}]

    def samples(n: int) -> list[dict[str, Any]]:
        out = []
        for k in range(n):
            row: dict[str, Any] = dict.fromkeys(t.c.keys())
            row.update(shapes[k % len(shapes)] if n < 64 else shapes[0] if k % 7 else shapes[2])
            row |= {
                "id": k + 1,
                "sample_code": f"T{k}",
                "freeze_thaw_count": 0,
                "status": "available",
                "version": 1,
                "created_at": at,
                "volume_taken_ml": 0.0,
                "notes": "n" if k == 3 else None,
            }
            out.append(row)
        return out

    def steps(n: int) -> list[dict[str, Any]]:
        return [
            {"id": k + 1, "isolation_id": k // 2 + 1, "step_no": k % 2 + 1, "method": "sec",
             "params": params[k % 3]}
            for k in range(n)
        ]  # fmt: skip

    def stored(conn: Any, table: Any) -> list[Any]:
        cols = ", ".join(f"quote({c.name})" for c in table.__table__.c)
        return conn.exec_driver_sql(f"SELECT {cols} FROM {table.__tablename__} ORDER BY id").all()

    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        t.create(conn)
        IsolationStep.__table__.create(conn)
        for table, rows in [
            (Sample, samples(5)),
            (Sample, samples(200)),
            (IsolationStep, steps(5)),
            (IsolationStep, steps(100)),
        ]:
            conn.execute(insert(table), rows)
            want = stored(conn, table)
            conn.execute(delete(table))
            insert_many(conn, table, rows)
            assert stored(conn, table) == want
            conn.execute(delete(table))
    want_text = "'2024-03-01 00:00:00.000000'"  # a date stored as a whole time
    with engine.begin() as conn:
        insert_many(conn, Sample, samples(5))
        assert conn.exec_driver_sql(
            "SELECT quote(collected_at) FROM samples WHERE id = 4"
        ).all() == [(want_text,)]


def _readers() -> list[Any]:
    import threading

    return [t for t in threading.enumerate() if t.name == "exolab-read"]


def test_chunks_read_ahead_are_the_chunks_in_order() -> None:
    """ReadAhead gives the chunks it wraps, in order, whether the next was asked for ahead
    or not; an error raised while reading a chunk comes where that chunk is taken, and its
    thread has ended by then."""
    from exolab.io.bulk_records import ReadAhead

    def chunks() -> Iterator[Any]:
        yield [1]
        yield [2]
        yield [3]
        raise ValueError("broken at 4")

    ahead = ReadAhead(chunks())
    got = [next(ahead)]
    ahead.ask()
    ahead.ask()  # (asked twice: still one chunk ahead)
    got.append(next(ahead))
    got.append(next(ahead))  # (not asked: read when taken)
    ahead.ask()
    with pytest.raises(ValueError, match="broken at 4"):
        next(ahead)
    assert got == [[1], [2], [3]] and not _readers()
    ahead = ReadAhead(iter([[1]]))
    ahead.ask()
    assert list(ahead) == [[1]] and list(ahead) == []
    ahead.close()
    assert not _readers()


def test_the_reading_thread_ends_with_an_import_the_database_side_stopped(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error of the database side while the next chunk is being read (here: the second
    window's write fails) ends the import with that error; the reading thread has ended,
    nothing is stored and the switch interval is Python's again."""
    import sys

    from exolab.services import bulk_records as service

    monkeypatch.setattr(bulk_records, "CHUNK_ROWS", 4)
    before, interval = _state(lab), sys.getswitchinterval()
    text = "study,subject_id,group\n" + "".join(f"S9,R{i:03d},g\n" for i in range(20))
    original, ask = service._Loader._write, bulk_records.ReadAhead.ask
    calls: list[str] = []

    def failing(self: Any, w: Any) -> None:
        calls.append("write")
        if calls.count("write") == 2:
            raise RuntimeError("the disk is full")
        original(self, w)

    def asked(self: Any) -> None:
        calls.append("ask")
        ask(self)

    monkeypatch.setattr(service._Loader, "_write", failing)
    monkeypatch.setattr(bulk_records.ReadAhead, "ask", asked)
    with pytest.raises(RuntimeError, match="the disk is full"):
        run_import(lab, "subjects", write(tmp_path, "subjects.csv", text), bulk=True)
    assert calls == ["ask", "write", "ask", "write"]  # (the next chunk read meanwhile)
    assert not _readers()
    assert _state(lab) == before
    assert sys.getswitchinterval() == interval


@pytest.mark.parametrize("kind", ["subjects", "cell_sources", "samples", "isolations"])
def test_a_cumulative_file_compares_stored_rows_without_a_lookup_each(
    two_labs: tuple[Lab, Lab],
    chunk: int,
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A manifest imported again with new rows at its end (a lab's cumulative file): its
    stored rows are found unchanged from one read of their records per chunk, not a lookup
    and a savepoint each (20,000 stored tubes took 22 s); a changed one still goes through
    the per-record code. The result is the per-record path's."""
    from exolab.io import importer

    first = {
        "subjects": SUBJECTS,
        "cell_sources": CELLS,  # (stored already: _each_way)
        "samples": samples_file(),
        "isolations": ISOLATIONS,
    }[kind]
    lines = first.splitlines()
    new = {
        "subjects": ["S1,P100,case,", "S2,P000,control,"],
        "cell_sources": ["C-9,fibroblasts,Homo sapiens,,,"],
        "samples": ["NEW-1,plasma,2024-05-01 09:00,S1,P001,V9,k2edta,1,,,,,,,,,"],
        "isolations": ["ISO-9,P001-V2,2024-03-09,sec,0.5,qEV,,200"],
    }[kind]
    changed = {  # a stored row with another value (refused: --on-duplicate error)
        "subjects": (2, "S1,P001,control,"),
        "cell_sources": (1, "MSC-1,mesenchymal stromal cells,Homo sapiens,5,80,2024-01-02"),
        "samples": (5, "P001-V1,plasma,2024-02-11 09:00,S1,P001,V1,k2edta,3.0,2500,15,-80,,,,,,"),
        "isolations": (3, "ISO-3,OLD-1,2024-03-03,sec,0.5,qEV,,150"),
    }[kind]
    again = "\n".join(lines + new) + "\n"
    wrong = lines.copy()
    wrong[changed[0]] = changed[1]
    calls: list[str] = []
    original = importer._find

    def counted(*a: Any) -> Any:
        calls.append(kind)
        return original(*a)

    monkeypatch.setattr(importer, "_find", counted)
    results = []
    for lab, d, bulk in _each_way(two_labs, tmp_path):
        if kind == "isolations":
            _load(lab, d, "samples", samples_file(), bulk, create_locations=True)
        _load(lab, d, kind, first, bulk, create_locations=True)
        calls.clear()
        r = _load(lab, d, kind, again, bulk)
        if bulk:
            assert calls == []  # no stored row looked up on its own
        with pytest.raises(ImportFailed) as failed:
            _load(lab, d, kind, "\n".join(wrong) + "\n", bulk)
        assert failed.value.report.problems is not None
        problems = failed.value.report.problems.lines()
        results.append((r.counts(), problems, _state(lab)))
    assert results[0] == results[1]
    counts, problems, _ = results[1]
    assert counts["created"] == len(new)
    assert counts["unchanged"] == len(lines) - 1
    assert len(problems) == 1 and "already exists with different values" in problems[0]


NEW_BOX_96 = """sample_id,biofluid,collected_at,study,subject_id,visit,location
NB-1,plasma,2024-03-01 09:00,S1,P001,V9,F96/R1/B1/A1
NB-2,plasma,2024-03-01 09:00,S1,P001,V9,F96/R1/B1/H12
"""


def _box_size(lab: Lab, path: str) -> tuple[int, int]:
    with lab.read() as tx:
        box = storage.find_box(tx, path)
        assert box is not None
        return box.n_rows, box.n_cols


def _box_events(lab: Lab, path: str) -> list[tuple[str, Any, Any, str | None]]:
    with lab.read() as tx:
        return [
            (
                e.action,
                json.loads(e.old_values) if e.old_values else None,
                json.loads(e.new_values) if e.new_values else None,
                e.reason,
            )
            for e in tx.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity == "box", AuditEvent.entity_id == path)
                .order_by(AuditEvent.id)
            )
        ]


def test_a_box_the_import_creates_holds_the_positions_its_rows_name(
    two_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """A box --create-locations makes was 9x9: a 96-well layout's H12 was refused, so a
    samples export of tubes in an 8 x 12 box did not re-import into a new database (an export
    writes the import columns, which carry no box size). The box the import creates is made
    large enough for the positions its rows name (9 x 12 here), the same on both paths;
    the per-record path creates it 9 x 9 and records the growth as an audited update, the
    bulk path writes it at its size in its one create event."""
    for lab, d, bulk in _each_way(two_labs, tmp_path):
        r = _load(lab, d, "samples", NEW_BOX_96, bulk, create_locations=True)
        assert r.created == 2
        assert _box_size(lab, "F96/R1/B1") == (9, 12)
        with lab.read() as tx:
            assert samples.get_sample(tx, "NB-2").location == "F96/R1/B1/H12"
            assert verify_chain(tx).ok
        reason = "made to hold position H12 named by the import that created it"
        if bulk:
            assert _box_events(lab, "F96/R1/B1") == [
                ("create", None, {"n_rows": 9, "n_cols": 12}, None)
            ]
        else:
            assert _box_events(lab, "F96/R1/B1") == [
                ("create", None, {"n_rows": 9, "n_cols": 9}, None),
                ("update", {"n_rows": 9, "n_cols": 9}, {"n_rows": 9, "n_cols": 12}, reason),
            ]


def test_a_box_written_in_an_earlier_chunk_grows_with_an_audited_update(
    two_labs: tuple[Lab, Lab], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk path writes a chunk's boxes with the chunk: a later chunk naming a position
    beyond the box (a box's tubes across a chunk's end) grows it by an audited update, as
    the per-record path does, and the tube is stored there."""
    monkeypatch.setattr(bulk_records, "CHUNK_ROWS", 1)
    lab, d, bulk = list(_each_way(two_labs, tmp_path))[1]
    assert bulk
    text = NEW_BOX_96 + "NB-3,plasma,2024-03-01 09:00,S1,P001,V9,F96/R1/B1/P24\n"
    assert _load(lab, d, "samples", text, bulk, create_locations=True).created == 3
    assert _box_size(lab, "F96/R1/B1") == (16, 24)
    events = _box_events(lab, "F96/R1/B1")
    assert [e[0] for e in events] == ["create", "update", "update"]
    assert events[-1][1:3] == ({"n_rows": 9, "n_cols": 12}, {"n_rows": 16, "n_cols": 24})
    with lab.read() as tx:
        assert verify_chain(tx).ok
        assert samples.get_sample(tx, "NB-3").location == "F96/R1/B1/P24"


def test_a_position_beyond_what_an_import_makes_a_box_says_how_to_size_it(
    two_labs: tuple[Lab, Lab], tmp_path: Path
) -> None:
    """A new box grows up to 16 x 24 (a 384-well plate): a position beyond it (Q1, a typo of
    a 9 x 9 box's C1 perhaps) is refused, with the `storage add` that makes a box holding
    it; nothing is written. A box stored before the import never changes size."""
    beyond = NEW_BOX_96.replace("F96/R1/B1/H12", "F96/R1/B1/Q1")
    for lab, d, bulk in _each_way(two_labs, tmp_path):
        with pytest.raises(ImportFailed) as failed:
            _load(lab, d, "samples", beyond, bulk, create_locations=True)
        assert failed.value.report.problems is not None
        lines = failed.value.report.problems.lines()
        assert lines == [
            "samples.csv:3:location: F96/R1/B1 has positions A1..I9; there is no Q1 (the box "
            "is new: --create-locations makes boxes of 9 rows x 9 columns, larger to hold the "
            "positions the file names up to 16 x 24; add it first with its size, e.g. exolab "
            "storage add F96/R1/B1 --rows 17 --cols 9; or the boxes of the database a samples "
            "export came from: exolab export storage there, exolab storage add --from FILE "
            "here) (got 'F96/R1/B1/Q1')"
        ], (bulk, lines)
        with lab.read() as tx:
            assert tx.session.scalar(select(func.count()).select_from(Box)) == 1  # OLD's box
        # a stored box is not grown: the plain message
        with lab.write() as tx:
            storage.add_location(tx, "F96/R1/B1", n_rows=8, n_cols=9)
        with pytest.raises(ImportFailed) as failed:
            _load(lab, d, "samples", NEW_BOX_96, bulk, create_locations=True)
        assert failed.value.report.problems is not None
        assert failed.value.report.problems.lines() == [
            "samples.csv:3:location: F96/R1/B1 has positions A1..H9; there is no H12 "
            "(got 'F96/R1/B1/H12')"
        ], bulk
        assert _box_size(lab, "F96/R1/B1") == (8, 9)
