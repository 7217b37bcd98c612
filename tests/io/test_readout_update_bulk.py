"""Readout corrections in bulk (``exolab import readouts FILE --on-duplicate update``): partial
files (the natural key + the changed columns) and whole rows that differ from their stored
readouts are edited a chunk at a time (docs/bulk-imports.md, "Updates"). Each chunk must be
the per-record path exactly: the same readouts, audit events (old and new values, one hash
chain), problems (FILE:ROW:COLUMN and message) and counts, undo and readout_sets. Chunk sizes
are made tiny so that a few rows span several chunks; each test runs on both databases."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from exolab.io import import_rows, importer
from exolab.io.importer import ImportFailed, ImportReport, run_import, undo_batch
from exolab.services import audit, readout_sets, readouts
from exolab.services.context import Lab
from exolab.services.errors import Conflict, ValidationFailed
from tests.io.helpers import base_cohort, load, write
from tests.queries.test_readout_sets import assert_sets_current
from tests.test_cli import run

# 3 isolations x 2 analytes x 2 replicates, and 3 readouts of a sample itself
STORED = "isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod,qc\n" + (
    "".join(
        f"ISO-{i},,{a},{10 * i + r}.5,pg/mL,elisa,R1,2024-03-05,{r},0.5,pass\n"
        for i in (1, 2, 3)
        for a in ("CD63", "CD81")
        for r in (1, 2)
    )
    + ",P002-V1,CD9,detected,,western_blot,,2024-03-06,1,,\n"
    + ",P002-V1,CD63,<0.5,pg/mL,elisa,R2,2024-03-07,1,0.5,pass\n"
    + ",P002-V1,CD63,7.25,pg/mL,elisa,R2,2024-03-07,2,0.5,pass\n"
)

QC = (
    "isolation_id,sample_id,analyte,assay,run_id,replicate,qc\n"
    "ISO-1,,CD63,elisa,R1,1,fail\n"
    "ISO-1,,CD63,elisa,R1,2,pass\n"  # as stored: unchanged
    "ISO-2,,cd81,ELISA,R1,2,fail\n"  # the analyte and assay written another way
    ",P002-V1,CD63,elisa,R2,1,fail\n"
    ",P002-V1,CD9,western_blot,,,fail\n"  # no run, replicate 1 when blank
    "ISO-3,,CD81,elisa,R1,1,\n"  # a blank cell: no change
    "ISO-3,,CD63,elisa,R1,2,fail\n"
)

# (every required column: not a partial file, the bulk path's whole rows, blanks not given)
VALUES = (
    "isolation_id,sample_id,analyte,assay,run_id,replicate,value,unit\n"
    "ISO-1,,CD63,elisa,R1,1,99,pg/mL\n"
    "ISO-1,,CD81,elisa,R1,1,0.012,ng/mL\n"  # value and unit
    "ISO-2,,CD63,elisa,R1,1,<0.5,pg/mL\n"  # now censored at the stored lod
    "ISO-2,,CD63,elisa,R1,2,>ULOQ,pg/mL\n"
    ",P002-V1,CD63,elisa,R2,2,7.25,pg/mL\n"  # as stored
    ",P002-V1,CD63,elisa,R2,1,3,pg/mL\n"  # no longer censored
)

# a partial file changing units and limits
UNITS = (
    "isolation_id,analyte,assay,run_id,replicate,unit,lod,lloq\n"
    "ISO-1,CD63,elisa,R1,1,ng/mL,0.0005,\n"
    "ISO-2,CD81,elisa,R1,2,,,2\n"
    "ISO-3,CD81,elisa,R1,1,pg/ml,,\n"  # the stored unit written another way
)

NOTES = (
    "isolation_id,analyte,assay,run_id,replicate,notes,lod\n"
    'ISO-1,CD63,elisa,R1,1,"re-read, plate 2",\n'
    "ISO-3,CD81,elisa,R1,2,,0.25\n"
    "ISO-3,CD63,elisa,R1,1,hemolysed,\n"
)


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 3 rows; a chunk's 2 or 3 (sample, analyte) pairs are "many": their
    readout_sets are refreshed staged, as a full chunk's are (the per-record path's single
    pair still one at a time)."""
    monkeypatch.setattr(import_rows, "UPDATE_CHUNK_ROWS", 3)
    monkeypatch.setattr(readout_sets, "MANY_PAIRS", 2)
    monkeypatch.setattr(readouts, "_IN_CHUNK", 2)  # (a chunk's codes and ids read in parts)


def _cohort(lab: Lab, tmp: Path) -> None:
    base_cohort(lab, tmp)
    load(lab, tmp, "readouts", STORED)


def _stored(lab: Lab) -> list[dict[str, Any]]:
    with lab.read() as tx:
        return [r.model_dump() for r in readouts.iter_readouts(tx)]


def _updates(lab: Lab) -> list[tuple[Any, ...]]:
    with lab.read() as tx:
        events = audit.list_events(tx, entity="readout", limit=10_000)
    return sorted(
        (e.action, e.entity_id, str(e.old_values), str(e.new_values), e.reason, e.batch_id)
        for e in events
    )


def _update(lab: Lab, tmp: Path, text: str, **kw: Any) -> ImportReport:
    path = write(tmp, "readouts-update.csv", text)
    return run_import(lab, "readouts", path, display_name=path.name, on_duplicate="update", **kw)


def _problems(lab: Lab, tmp: Path, text: str, **kw: Any) -> tuple[list[str], dict[str, int]]:
    try:
        _update(lab, tmp, text, **kw)
    except ImportFailed as exc:
        assert exc.report.problems is not None
        return exc.report.problems.lines(), exc.report.counts()
    raise AssertionError("the import should have failed")


def _one_by_one(
    tx: Any,
    kind: Any,
    rows: list[tuple[int, dict[str, Any], int]],
    report: Any,
    problems: Any,
    replay: Callable[[int, dict[str, Any], int], None],
) -> None:
    """The bulk path's whole rows one at a time, as before the chunked edits."""
    for rownum, data, pk in rows:
        replay(rownum, data, pk)


def _slow_path(text: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """How the same file went before the chunked edits: a partial file (a required column
    missing) row by row, a file of whole rows through the bulk path's own per-row code."""
    head = text.splitlines()[0].split(",")
    if not {"analyte", "value", "assay"} <= set(head):
        return {"bulk": False}
    monkeypatch.setattr(importer, "update_readouts", _one_by_one)
    return {}


def _whole(text: str) -> str:
    """The stored file with the changes of a partial file ``text`` over its rows."""
    stored = list(csv.DictReader(io.StringIO(STORED)))
    key = ("isolation_id", "sample_id", "analyte", "run_id", "replicate")
    head = list(stored[0])
    for cells in csv.DictReader(io.StringIO(text)):
        for row in stored:
            if all(row[k] == (cells.get(k) or row[k]) for k in key):
                row.update({c: v for c, v in cells.items() if v and c in head})
    out = io.StringIO()
    w = csv.DictWriter(out, head, lineterminator="\n")
    w.writeheader()
    w.writerows(stored)
    return out.getvalue()


# -- the chunked path is the per-record path -------------------------------------------------


PARTIAL = {"qc": QC, "value-unit": VALUES, "notes-lod": NOTES, "units-limits": UNITS}


@pytest.mark.parametrize("text", list(PARTIAL.values()), ids=list(PARTIAL))
def test_a_correction_file_in_chunks_is_the_per_record_path(
    two_fresh_labs: tuple[Lab, Lab],
    tmp_path: Path,
    tiny_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
) -> None:
    fast, slow = two_fresh_labs
    reports = []
    for lab in (fast, slow):
        _cohort(lab, tmp_path)
        kw = _slow_path(text, monkeypatch) if lab is slow else {}
        reports.append(_update(lab, tmp_path, text, **kw))
    assert reports[0].counts() == reports[1].counts()
    assert reports[0].updated >= 2 and reports[0].refused == 0
    assert _stored(fast) == _stored(slow)
    assert _updates(fast) == _updates(slow)
    with fast.read() as tx:
        assert audit.verify_chain(tx).ok
    assert assert_sets_current(fast) > 0


def test_the_qc_file_counts_and_values(lab: Lab, tmp_path: Path, tiny_chunks: None) -> None:
    _cohort(lab, tmp_path)
    report = _update(lab, tmp_path, QC)
    assert (report.updated, report.unchanged, report.refused) == (5, 2, 0)
    with lab.read() as tx:
        by_key = {
            (r.isolation_id or r.sample_id, r.analyte, r.run_id, r.replicate): r
            for r in readouts.iter_readouts(tx)
        }
        events = audit.list_events(tx, entity="readout", limit=100)
    assert by_key[("ISO-1", "CD63", "R1", 1)].qc == "fail"
    assert by_key[("ISO-2", "CD81", "R1", 2)].qc == "fail"
    assert by_key[("P002-V1", "CD9", None, 1)].qc == "fail"
    assert by_key[("ISO-3", "CD81", "R1", 1)].qc == "pass"
    assert by_key[("ISO-1", "CD63", "R1", 1)].version == 2
    updates = [e for e in events if e.action == "update"]
    assert len(updates) == 5
    one = next(e for e in updates if e.entity_id == "ISO-1/CD63/elisa/R1/1")
    assert (one.old_values, one.new_values) == ({"qc": "pass"}, {"qc": "fail"})
    assert one.reason == "import of readouts-update.csv"
    assert one.batch_id == report.batch_id


@pytest.mark.parametrize("text", list(PARTIAL.values()), ids=list(PARTIAL))
def test_whole_rows_in_chunks_are_the_row_by_row_bulk_path(
    two_fresh_labs: tuple[Lab, Lab],
    tmp_path: Path,
    tiny_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
) -> None:
    fast, slow = two_fresh_labs
    whole = _whole(text)
    assert whole != STORED
    reports = []
    for lab in (fast, slow):
        _cohort(lab, tmp_path)
        if lab is slow:
            monkeypatch.setattr(importer, "update_readouts", _one_by_one)
        reports.append(_update(lab, tmp_path, whole))
    assert reports[0].counts() == reports[1].counts()
    assert reports[0].updated >= 1 and reports[0].created == 0
    assert _stored(fast) == _stored(slow)
    assert _updates(fast) == _updates(slow)
    with fast.read() as tx:
        assert audit.verify_chain(tx).ok
    assert assert_sets_current(fast) > 0


def test_a_semicolon_file_with_decimal_commas(
    two_fresh_labs: tuple[Lab, Lab],
    tmp_path: Path,
    tiny_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ';' file (decimal commas): whole rows with a value changed, rows whose value is the
    stored one written with a comma (unchanged: the stored text stays), and such a row with
    its QC changed (the value's stored text stays too)."""
    fast, slow = two_fresh_labs
    rows = list(csv.DictReader(io.StringIO(_whole(VALUES.replace("99,", "99.5,")))))
    for row in rows:  # every number with a decimal comma (stored values too: unchanged)
        for col in ("value", "lod"):
            row[col] = row[col].replace(".", ",")
        if (row["isolation_id"], row["analyte"], row["replicate"]) == ("ISO-1", "CD63", "2"):
            row["qc"] = "fail"
    out = io.StringIO()
    w = csv.DictWriter(out, list(rows[0]), delimiter=";", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    text = out.getvalue()
    assert "99,5" in text and "12,5" in text
    reports = []
    for lab in (fast, slow):
        _cohort(lab, tmp_path)
        if lab is slow:
            monkeypatch.setattr(importer, "update_readouts", _one_by_one)
        reports.append(_update(lab, tmp_path, text))
    assert reports[0].counts() == reports[1].counts()
    assert _stored(fast) == _stored(slow)
    assert _updates(fast) == _updates(slow)
    with fast.read() as tx:
        values = {(r.isolation_id, r.analyte, r.replicate): r for r in readouts.iter_readouts(tx)}
    assert values[("ISO-1", "CD63", 1)].numeric == pytest.approx(99.5)
    assert (values[("ISO-1", "CD63", 2)].qc, values[("ISO-1", "CD63", 2)].value) == ("fail", "12.5")


# -- refused rows: the per-record path's problems, nothing written ---------------------------

BAD = {
    "unknown readout": "isolation_id,analyte,assay,run_id,replicate,qc\n"
    "ISO-1,CD63,elisa,R1,1,fail\nISO-1,CD63,elisa,R1,2,fail\nISO-1,CD63,elisa,R1,9,fail\n"
    "ISO-2,CD63,elisa,R1,1,fail\n",
    "unknown isolation": "isolation_id,analyte,assay,run_id,replicate,qc\n"
    "ISO-1,CD63,elisa,R1,1,fail\nISO-9,CD63,elisa,R1,1,fail\n",
    "a key column changed": "isolation_id,analyte,assay,run_id,replicate,qc\n"
    "ISO-1,CD63,elisa,R1,1,fail\nISO-1,CD63,elisa,R9,1,fail\nISO-1,CD63,western_blot,R1,1,"
    "fail\n",
    "bad key cells": "isolation_id,analyte,assay,run_id,replicate,qc\n"
    "ISO-1,CD63,elisa,R1,abc,fail\nISO-1,CD63,nonsense,R1,1,fail\nISO-1,,elisa,R1,1,fail\n"
    "ISO-1,CD81,elisa,R1,1,fail\n",
    "duplicates": "isolation_id,analyte,assay,run_id,replicate,qc\n"
    "ISO-1,CD63,elisa,R1,1,fail\nISO-2,CD63,elisa,R1,1,fail\nISO-3,CD63,elisa,R1,1,fail\n"
    "ISO-1,cd63,ELISA,R1,1,pass\nISO-2,CD63,elisa,R1,,fail\n",
    "bad values": "isolation_id,analyte,assay,run_id,replicate,value,unit\n"
    "ISO-1,CD63,elisa,R1,1,12,pg/mL\nISO-1,CD63,elisa,R1,2,inf,pg/mL\n"
    "ISO-1,CD81,elisa,R1,1,abc,pg/mL\nISO-2,CD81,elisa,R1,1,1e400,pg/mL\n"
    "ISO-2,CD81,elisa,R1,2,13,pg/mL\n",
    "a bad qc late": "isolation_id,analyte,assay,run_id,replicate,qc\n"
    + "".join(f"ISO-{i},CD63,elisa,R1,{r},fail\n" for i in (1, 2, 3) for r in (1, 2))
    + "ISO-3,CD81,elisa,R1,2,maybe\n",
    "censored values against their limits": "isolation_id,analyte,assay,run_id,replicate,value,"
    "unit,lod,lloq,uloq\nISO-1,CD63,elisa,R1,1,<0.5,pg/mL,-1,,\n"
    "ISO-1,CD63,elisa,R1,2,<LOD,pg/mL,abc,,\nISO-2,CD63,elisa,R1,1,>ULOQ,pg/mL,,,inf\n"
    "ISO-2,CD63,elisa,R1,2,<LLOQ,pg/mL,,1e400,\nISO-3,CD63,elisa,R1,1,<<0.5,pg/mL,,,\n",
    "limits refused in a partial file": "sample_id,analyte,assay,run_id,replicate,lod,lloq\n"
    "P002-V1,CD63,elisa,R2,1,,0.5\nP002-V1,CD63,elisa,R2,2,-1,\nP002-V1,CD63,elisa,R2,1,0.1,\n",
    "a unit too long": "isolation_id,analyte,assay,run_id,replicate,unit,notes\n"
    f"ISO-1,CD63,elisa,R1,1,{'x' * 40},\nISO-1,CD63,elisa,R1,2,,ok\n",
    "both targets": "isolation_id,sample_id,analyte,assay,run_id,replicate,qc\n"
    "ISO-1,,CD63,elisa,R1,1,fail\nISO-1,P001-V1,CD63,elisa,R1,1,fail\n",
}


@pytest.mark.parametrize("text", list(BAD.values()), ids=list(BAD))
def test_a_refused_file_says_what_the_per_record_path_says(
    two_fresh_labs: tuple[Lab, Lab],
    tmp_path: Path,
    tiny_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
) -> None:
    fast, slow = two_fresh_labs
    found = []
    for lab in (fast, slow):
        _cohort(lab, tmp_path)
        before, events = _stored(lab), _updates(lab)
        kw = _slow_path(text, monkeypatch) if lab is slow else {}
        found.append(_problems(lab, tmp_path, text, **kw))
        assert _stored(lab) == before
        assert _updates(lab) == events
    assert found[0] == found[1]
    lines, counts = found[0]
    assert counts["refused"] >= 1 and lines
    assert all(line.startswith("readouts-update.csv:") for line in lines[:-1]), lines


def test_each_refused_row_names_its_row_and_column(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    lines, counts = _problems(lab, tmp_path, BAD["unknown readout"])
    assert counts == {"created": 0, "updated": 3, "unchanged": 0, "skipped": 0, "refused": 1}
    assert lines[0] == (
        "readouts-update.csv:4:value: readout ISO-1/CD63/elisa/R1/9 does not exist; creating it "
        "needs the column(s) value (this file has only some columns, for an update)"
    ), lines
    lines, counts = _problems(lab, tmp_path, BAD["duplicates"])
    assert counts["refused"] == 2
    assert lines[0].startswith("readouts-update.csv:5:replicate: "), lines
    assert "row 2" in lines[0]
    assert lines[1].startswith("readouts-update.csv:6:replicate: "), lines
    lines, counts = _problems(lab, tmp_path, BAD["bad values"])
    assert counts["refused"] == 3
    assert lines[0].startswith("readouts-update.csv:3:value: cannot read 'inf'"), lines
    assert lines[1].startswith("readouts-update.csv:4:value: cannot read 'abc'"), lines
    assert lines[2].startswith("readouts-update.csv:5:value: cannot read '1e400'"), lines
    lines, _ = _problems(lab, tmp_path, BAD["a bad qc late"])
    assert lines[0].startswith("readouts-update.csv:8:qc: "), lines


@pytest.mark.parametrize("text", [BAD["bad values"], BAD["censored values against their limits"]])
def test_refused_whole_rows_say_what_the_row_by_row_bulk_path_says(
    two_fresh_labs: tuple[Lab, Lab],
    tmp_path: Path,
    tiny_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
) -> None:
    fast, slow = two_fresh_labs
    whole = _whole(text)
    found = []
    for lab in (fast, slow):
        _cohort(lab, tmp_path)
        if lab is slow:
            monkeypatch.setattr(importer, "update_readouts", _one_by_one)
        before = _stored(lab)
        found.append(_problems(lab, tmp_path, whole))
        assert _stored(lab) == before
    assert found[0] == found[1]
    assert found[0][1]["refused"] >= 1


@pytest.mark.parametrize("whole", [False, True], ids=["partial", "whole-rows"])
def test_an_edit_refused_in_a_later_chunk_replays_it_row_by_row(
    two_fresh_labs: tuple[Lab, Lab],
    tmp_path: Path,
    tiny_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
    whole: bool,
) -> None:
    """The service refuses the edit of one readout (here: a stand-in rule refusing ISO-3's
    second CD63 replicate) after two chunks were written: the chunk goes back to the
    per-record code, the problem and the counts are its own, and nothing is written."""
    edit = readouts.edit_readout

    def refusing(tx: Any, ro: Any, current: Any, changes: Any, **kw: Any) -> None:
        if (current.isolation_id, current.analyte, current.replicate) == ("ISO-3", "CD63", 2):
            raise Conflict("this readout is locked by its run", field="qc")
        edit(tx, ro, current, changes, **kw)

    monkeypatch.setattr(readouts, "edit_readout", refusing)
    text = _whole(QC) if whole else QC
    fast, slow = two_fresh_labs
    found = []
    for lab in (fast, slow):
        _cohort(lab, tmp_path)
        before, events = _stored(lab), _updates(lab)
        kw = _slow_path(text, monkeypatch) if lab is slow else {}
        found.append(_problems(lab, tmp_path, text, **kw))
        assert _stored(lab) == before
        assert _updates(lab) == events
    assert found[0] == found[1]
    lines, counts = found[0]
    row = 11 if whole else 8
    assert lines[0].startswith(f"readouts-update.csv:{row}:"), lines
    assert "locked by its run" in lines[0]
    assert counts["refused"] == 1
    assert counts["updated"] == (3 if whole else 4)  # (_whole matches the key as written)


def test_a_whole_row_whose_merge_breaks_a_rule_is_refused_as_before(
    two_fresh_labs: tuple[Lab, Lab],
    tmp_path: Path,
    tiny_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A whole row with the lod left blank keeps the stored lod (a blank cell is not given):
    '<LLOQ' then needs an lloq, which neither has -- the edit refuses it, as it did row by
    row, with the same problem; the chunk's other rows are not written either."""
    fast, slow = two_fresh_labs
    whole = STORED.replace("ISO-2,,CD63,21.5,pg/mL,elisa,R1,2024-03-05,1,0.5,pass", "X")
    assert whole != STORED
    text = (
        "isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod,qc\n"
        "ISO-1,,CD63,40,pg/mL,elisa,R1,2024-03-05,1,,pass\n"
        "ISO-1,,CD63,<LLOQ,pg/mL,elisa,R1,2024-03-05,2,,pass\n"
        "ISO-1,,CD81,41,pg/mL,elisa,R1,2024-03-05,1,,pass\n"
    )
    found = []
    for lab in (fast, slow):
        _cohort(lab, tmp_path)
        if lab is slow:
            monkeypatch.setattr(importer, "update_readouts", _one_by_one)
        before = _stored(lab)
        try:
            report = _update(lab, tmp_path, text)
        except ImportFailed as exc:
            assert exc.report.problems is not None
            found.append((exc.report.problems.lines(), exc.report.counts()))
            assert _stored(lab) == before
        else:
            found.append(([], report.counts()))
    assert found[0] == found[1]


def test_a_whole_row_with_another_key_is_a_new_readout(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    """A whole row names its readout by its key: with a key column changed it is another
    readout, created (the stored one is left as it is); a partial file's row with a key
    column changed names a readout that does not exist and is refused (BAD above)."""
    _cohort(lab, tmp_path)
    text = STORED.replace("ISO-1,,CD63,11.5,pg/mL,elisa,R1,2024-03-05,1", "ISO-1,,CD63,11.5,"
                          "pg/mL,elisa,R1,2024-03-05,7")  # fmt: skip
    report = _update(lab, tmp_path, text)
    assert (report.created, report.updated, report.unchanged) == (1, 0, 14)
    assert len(_stored(lab)) == 16


def test_the_service_refuses_a_key_change(lab: Lab, tmp_path: Path) -> None:
    _cohort(lab, tmp_path)
    with lab.read() as tx:
        first = next(iter(readouts.iter_readouts(tx)))
    for change in ({"replicate": "2"}, {"analyte": "CD81"}, {"run_id": "R9"}):
        with pytest.raises(ValidationFailed, match="part of the readout's key"), lab.write() as tx:
            readouts.update_readout(tx, first.id, change, reason="typo")
    with lab.write() as tx:
        out = readouts.update_readout(tx, first.id, {"qc": "fail"}, reason="re-QC")
    assert (out.qc, out.version) == ("fail", 2)
    assert assert_sets_current(lab) > 0


# -- undo, dry run, audit, readout_sets --------------------------------------------------------


def test_undo_restores_every_readout_exactly(lab: Lab, tmp_path: Path, tiny_chunks: None) -> None:
    _cohort(lab, tmp_path)
    before = _stored(lab)
    batches = [_update(lab, tmp_path, text).batch_id for text in (QC, VALUES, NOTES)]
    batches.append(_update(lab, tmp_path, _whole(VALUES).replace("99", "98")).batch_id)
    after = _stored(lab)
    assert after != before
    assert assert_sets_current(lab) > 0
    for batch in reversed(batches):
        assert batch is not None
        undo_batch(lab, batch)
    restored = _stored(lab)
    for r in (*restored, *before):
        r.pop("version")
    assert restored == before
    assert assert_sets_current(lab) > 0
    with lab.read() as tx:
        assert audit.verify_chain(tx).ok


def test_a_dry_run_writes_nothing(lab: Lab, tmp_path: Path, tiny_chunks: None) -> None:
    _cohort(lab, tmp_path)
    before, events = _stored(lab), _updates(lab)
    report = _update(lab, tmp_path, QC, dry_run=True)
    assert (report.updated, report.unchanged, report.batch_id) == (5, 2, None)
    report = _update(lab, tmp_path, _whole(VALUES), dry_run=True)
    assert report.updated == 5
    assert _stored(lab) == before
    assert _updates(lab) == events
    assert assert_sets_current(lab) > 0


def test_the_command_and_audit_verify(db_url: str, tmp_path: Path, tiny_chunks: None) -> None:
    from exolab.db.engine import Database
    from tests.conftest import TEST_ADMIN

    db = Database(db_url)
    try:
        _cohort(Lab(db, TEST_ADMIN), tmp_path)
    finally:
        db.dispose()
    path = write(tmp_path, "reqc.csv", QC)
    r = run("--db", db_url, "import", "readouts", str(path), "--on-duplicate", "update")
    assert r.returncode == 0, r.stderr
    assert "5 updated, 2 unchanged" in r.stdout
    r = run("--db", db_url, "import", "readouts", str(path), "--on-duplicate", "update")
    assert "0 updated, 7 unchanged" in r.stdout
    bad = write(tmp_path, "bad.csv", BAD["unknown readout"])
    r = run("--db", db_url, "import", "readouts", str(bad), "--on-duplicate", "update")
    assert r.returncode == 1
    assert "bad.csv:4:value: readout ISO-1/CD63/elisa/R1/9 does not exist" in r.stderr + r.stdout
    assert "Traceback" not in r.stderr
    r = run("--db", db_url, "audit", "verify")
    assert r.returncode == 0, r.stdout + r.stderr


def test_many_pairs_refreshed_inside_an_open_staged_refresh(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    """A refresh of many listed pairs (an update chunk's) while a refresh of ``PairsOf`` is
    open (an undo's) keeps both sets of pairs: each has its own staging table."""
    from sqlalchemy import update

    from exolab.db.models import Readout

    _cohort(lab, tmp_path)
    with lab.write() as tx:
        pairs = {
            (s, a)
            for s, a in tx.session.execute(
                select(Readout.sample_id, Readout.analyte_id).where(
                    Readout.isolation_id.is_not(None)
                )
            )
        }
        assert len(pairs) >= readout_sets.MANY_PAIRS
        on_samples = readout_sets.PairsOf("readouts", "isolation_id IS NULL")
        with readout_sets.refreshing(tx, on_samples):
            tx.session.execute(
                update(Readout)
                .where(Readout.isolation_id.is_(None), Readout.value.is_not(None))
                .values(value=Readout.value + 100, censor="none")
            )
            tx.session.execute(
                update(Readout)
                .where(Readout.isolation_id.is_not(None))
                .values(value=Readout.value * 2)
            )
            readout_sets.refresh(tx, pairs)
    assert assert_sets_current(lab) > 0


def test_a_viewer_may_not_correct_readouts_and_a_technician_may(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    from exolab.services import users
    from exolab.services.errors import PermissionDenied

    _cohort(lab, tmp_path)
    with lab.write() as tx:
        users.add_user(tx, "vic", "viewer")
        users.add_user(tx, "tom", "technician")
    before = _stored(lab)
    for text in (QC, _whole(QC)):
        with pytest.raises(PermissionDenied, match="vic"):
            _update(Lab(lab.db, "vic"), tmp_path, text)
    assert _stored(lab) == before
    report = _update(Lab(lab.db, "tom"), tmp_path, QC)
    assert report.updated == 5
    with lab.read() as tx:
        events = audit.list_events(tx, entity="readout", limit=100)
    assert {e.user for e in events if e.action == "update"} == {"tom"}


def test_the_errors_file_lists_every_problem_in_file_order(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    text = (
        "isolation_id,analyte,assay,run_id,replicate,qc\n"
        "ISO-1,CD63,elisa,R1,9,fail\n"  # unknown (chunk 1)
        "ISO-1,CD63,elisa,R1,1,maybe\n"  # bad qc
        "ISO-1,CD63,elisa,R1,2,fail\n"
        "ISO-1,CD63,elisa,R1,2,pass\n"  # duplicate (chunk 2)
        "ISO-2,CD63,elisa,R1,x,fail\n"  # bad replicate
        "ISO-2,CD63,elisa,R1,1,fail\n"
        "ISO-9,CD63,elisa,R1,1,fail\n"  # unknown isolation (chunk 3)
    )
    out = io.StringIO()
    path = write(tmp_path, "reqc.csv", text)
    with pytest.raises(ImportFailed):
        run_import(lab, "readouts", path, on_duplicate="update", errors_out=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["row"], r["column"]) for r in rows] == [
        ("2", "value"),  # (an unknown readout: the column creating it would need)
        ("3", "qc"),
        ("5", "replicate"),
        ("6", "replicate"),
        ("8", "value"),
    ], rows
    assert "does not exist" in rows[0]["message"] and "also on row 4" in rows[2]["message"]


def test_the_columns_a_chunk_writes_in_one_shape_are_those_an_edit_sets() -> None:
    from exolab.domain.schemas import ReadoutIn

    r = ReadoutIn(isolation_id="ISO-1", analyte="CD63", value="1", unit="pg/mL", assay="elisa")
    assert set(readouts.EDITED_COLUMNS) == set(readouts._values(r))


def test_a_chunk_changing_different_columns_is_written_in_one_shape_on_postgresql(
    lab: Lab, tmp_path: Path, tiny_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    shaped: list[int] = []
    one_shape = readouts.one_update_shape

    def counting(edited: list[Any]) -> None:
        shaped.append(len(edited))
        one_shape(edited)

    monkeypatch.setattr(readouts, "one_update_shape", counting)
    _cohort(lab, tmp_path)
    report = _update(lab, tmp_path, _whole(VALUES))
    assert report.updated == 5
    with lab.read() as tx:
        sqlite = tx.dialect == "sqlite"
    if sqlite:  # (SQLite writes the narrower statements: no round trips to save)
        assert not shaped
    else:
        assert shaped and all(n >= 2 for n in shaped)  # (value; value, censor, comparator..)
    with lab.read() as tx:
        got = {
            (r.isolation_id or r.sample_id, r.analyte, r.replicate): r
            for r in readouts.iter_readouts(tx)
        }
    assert (got[("ISO-1", "CD63", 1)].numeric, got[("ISO-1", "CD63", 1)].censor) == (99, "none")
    assert (got[("ISO-2", "CD63", 1)].censor, got[("ISO-2", "CD63", 1)].comparator) == (
        "lt_lod",
        "<",
    )
    assert (got[("ISO-1", "CD81", 1)].unit, got[("ISO-1", "CD81", 1)].value) == ("ng/mL", "0.012")
    assert (got[("P002-V1", "CD63", 1)].censor, got[("P002-V1", "CD63", 1)].numeric) == ("none", 3)
    assert got[("ISO-1", "CD63", 1)].version == 2 and got[("ISO-1", "CD63", 2)].version == 1
    assert assert_sets_current(lab) > 0


@pytest.mark.parametrize("bad", [False, True], ids=["good", "a-bad-new-row"])
def test_whole_rows_mixing_new_changed_and_unchanged_readouts(
    two_fresh_labs: tuple[Lab, Lab],
    tmp_path: Path,
    tiny_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
    bad: bool,
) -> None:
    """New readouts are created by the bulk path, changed ones corrected in chunks, in one
    file; a refused new row refuses the file, corrections included."""
    head, *rows = _whole(QC).splitlines()
    new = [
        "ISO-1,,CD9,5.5,pg/mL,elisa,R1,2024-03-05,1,0.5,pass",
        "ISO-2,,CD9,abc,pg/mL,elisa,R1,2024-03-05,1,0.5,pass"
        if bad
        else "ISO-2,,CD9,6.5,pg/mL,elisa,R1,2024-03-05,1,0.5,pass",
    ]
    text = "\n".join([head, rows[0], new[0], *rows[1:8], new[1], *rows[8:]]) + "\n"
    fast, slow = two_fresh_labs
    found = []
    for lab in (fast, slow):
        _cohort(lab, tmp_path)
        if lab is slow:
            monkeypatch.setattr(importer, "update_readouts", _one_by_one)
        before = _stored(lab)
        try:
            report = _update(lab, tmp_path, text)
        except ImportFailed as exc:
            assert exc.report.problems is not None
            found.append((exc.report.problems.lines(), exc.report.counts()))
            assert _stored(lab) == before
        else:
            found.append(([], report.counts()))
            assert (report.created, report.updated) == (2, 4)
    assert found[0] == found[1]
    assert bool(found[0][0]) == bad
    if not bad:
        assert _stored(fast) == _stored(slow)
        assert _updates(fast) == _updates(slow)
        assert assert_sets_current(fast) > 0
