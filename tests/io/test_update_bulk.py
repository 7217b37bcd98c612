"""Partial update files of samples and isolations (``--on-duplicate update`` with the key and
the changed columns), taken a chunk at a time (docs/bulk-imports.md, "Updates"): the same
records, audit events, problems and undo as the per-record path, on both databases. Chunk
sizes are made tiny so that a few rows span several chunks."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from exolab.io import import_rows
from exolab.io.importer import ImportFailed, run_import, undo_batch
from exolab.io.reading import FileProblem
from exolab.services import audit, isolations, samples, storage, subjects, users
from exolab.services.context import Lab
from tests.io.helpers import SUBJECTS, counts, load, write
from tests.test_cli import run

N_TUBES = 12


def _tube_rows(n: int = N_TUBES) -> str:
    head = "sample_id,biofluid,collected_at,study,subject_id,visit,volume_ml,location\n"
    return head + "".join(
        f"T{i:02d},plasma,2024-01-11 10:41,S1,P001,V{i},2.0,F-80/R1/B01/{'ABC'[i // 9]}{i % 9 + 1}\n"
        for i in range(n)
    )


ISOS = "isolation_id,sample_id,isolated_on,method,input_volume_ml,sec_column,final_volume_ul\n" + (
    "".join(f"ISO-{i},T{i:02d},2024-03-02,sec,0.5,qEV,200\n" for i in range(4))
)


def _cohort(lab: Lab, tmp: Path) -> None:
    load(lab, tmp, "subjects", SUBJECTS)
    load(lab, tmp, "samples", _tube_rows(), create_locations=True)
    load(lab, tmp, "isolations", ISOS)
    with lab.write() as tx:
        for box in ("B02", "B03"):
            storage.add_location(tx, f"F-80/R1/{box}")


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_rows, "UPDATE_CHUNK_ROWS", 3)


def _tubes(lab: Lab) -> list[dict[str, Any]]:
    with lab.read() as tx:
        return list(samples.iter_sample_inputs(tx, 100))


def _isolations(lab: Lab) -> list[dict[str, Any]]:
    with lab.read() as tx:
        return [isolations.get_isolation(tx, f"ISO-{i}").as_input() for i in range(4)]


def _updates(lab: Lab) -> list[tuple[str, str, Any, Any, str | None]]:
    with lab.read() as tx:
        events = audit.list_events(tx, limit=10_000)
    return sorted(
        (e.entity, e.entity_id, e.old_values, e.new_values, e.reason)
        for e in events
        if e.action in ("update", "override") and not (e.new_values or {}).get("volume_taken_ml")
    )


def _update(lab: Lab, tmp: Path, kind: str, text: str, **kw: Any) -> Any:
    path = write(tmp, f"{kind}-update.csv", text)
    return run_import(lab, kind, path, display_name=path.name, on_duplicate="update", **kw)


def _problems(lab: Lab, tmp: Path, kind: str, text: str, **kw: Any) -> list[str]:
    try:
        _update(lab, tmp, kind, text, **kw)
    except ImportFailed as exc:
        assert exc.report.problems is not None
        return exc.report.problems.lines()
    raise AssertionError("the import should have failed")


MOVES = (
    "sample_id,location\n"
    "T00,F-80/R1/B02/A1\n"  # to another box
    "T01,F-80/R1/B01/A1\n"  # into T00's old position, freed by the row above
    "T02,F-80/R1/B02/A2\n"
    "T03,F-80/R1/B01/A3\n"  # into T02's, freed by the row above (another chunk)
    "T04,F-80/R1/B01/A5\n"  # where it is already: unchanged
    "T05,\n"  # a blank cell: no change
    "T06,F-80/R1/B01/A2\n"  # into T01's old position, freed two chunks earlier
)

STATUS = (
    "sample_id,status,notes\n"
    "T07,discarded,cracked\n"  # leaves storage: its position (A8) is freed
    "T08,checked_out,\n"
    "T09,,moved to bench\n"
    "T10,shipped,courier\n"
)


@pytest.mark.parametrize("text", [MOVES, STATUS])
def test_a_chunked_update_is_the_per_record_path(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path, tiny_chunks: None, text: str
) -> None:
    fast, slow = two_fresh_labs
    reports = []
    for lab, bulk in ((fast, True), (slow, False)):
        _cohort(lab, tmp_path)
        reports.append(_update(lab, tmp_path, "samples", text, bulk=bulk))
    assert reports[0].counts() == reports[1].counts()
    assert reports[0].updated >= 4
    assert _tubes(fast) == _tubes(slow)
    assert _updates(fast) == _updates(slow)
    with fast.read() as tx:
        assert audit.verify_chain(tx).ok


def test_a_tube_takes_a_position_freed_by_a_status_earlier_in_the_file(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    text = "sample_id,status,location\nT00,discarded,\nT01,,\nT02,,\nT03,,F-80/R1/B01/A1\n"
    report = _update(lab, tmp_path, "samples", text)
    assert report.updated == 2 and report.unchanged == 2
    with lab.read() as tx:
        assert samples.get_sample(tx, "T03").location == "F-80/R1/B01/A1"
        assert samples.get_sample(tx, "T00").location is None


def test_undo_of_a_chunked_update_restores_every_tube(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    before, iso_before = _tubes(lab), _isolations(lab)
    report = _update(lab, tmp_path, "samples", MOVES)
    report2 = _update(lab, tmp_path, "samples", STATUS.replace("T", "T1", 0))
    iso = _update(
        lab,
        tmp_path,
        "isolations",
        "isolation_id,final_volume_ul,input_volume_ml\nISO-0,150,\nISO-1,,0.8\nISO-2,200,0.5\n",
    )
    assert iso.updated == 2 and iso.unchanged == 1
    with lab.read() as tx:
        assert samples.get_sample(tx, "T01").volume_ml == pytest.approx(1.2)  # 0.8 taken
        assert isolations.get_isolation(tx, "ISO-0").final_volume_ul == 150
    assert _tubes(lab) != before
    for batch in (iso.batch_id, report2.batch_id, report.batch_id):
        assert batch is not None
        undo_batch(lab, batch)
    assert _tubes(lab) == before
    assert _isolations(lab) == iso_before


def test_an_unknown_tube_names_its_row_and_nothing_is_written(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    before = _tubes(lab)
    text = "sample_id,location\nT00,F-80/R1/B02/A1\nT01,F-80/R1/B02/A2\nNOPE,F-80/R1/B02/A3\n"
    lines = _problems(lab, tmp_path, "samples", text)
    assert any(
        line.startswith("samples-update.csv:4:biofluid:") and "sample NOPE does not exist" in line
        for line in lines
    ), lines
    assert len([x for x in lines if ":4:" in x]) == 1
    assert _tubes(lab) == before


@pytest.mark.parametrize("gap", [0, 4])
def test_a_move_into_a_position_a_later_row_frees_is_refused(
    lab: Lab, tmp_path: Path, tiny_chunks: None, gap: int
) -> None:
    """Row by row, as the per-record path: T00's position is still T01's when T00's row
    is applied (T01 moves away later), so the file must move T01 first."""
    _cohort(lab, tmp_path)
    before = _tubes(lab)
    filler = "".join(f"T{i:02d},F-80/R1/B03/A{i - 1}\n" for i in range(2, 2 + gap))
    text = f"sample_id,location\nT00,F-80/R1/B01/A2\n{filler}T01,F-80/R1/B02/A1\n"
    lines = _problems(lab, tmp_path, "samples", text)
    assert lines[0] == (
        "samples-update.csv:2:location: position F-80/R1/B01/A2 is taken by sample T01"
    ), lines
    assert len([x for x in lines if "samples-update.csv:" in x and "problem" not in x]) == 1
    assert _tubes(lab) == before


def test_a_swap_in_one_file_is_refused_and_the_other_order_works(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    before = _tubes(lab)
    swap = "sample_id,location\nT00,F-80/R1/B01/A2\nT01,F-80/R1/B01/A1\n"
    lines = _problems(lab, tmp_path, "samples", swap)
    assert lines[0].startswith("samples-update.csv:2:location: position F-80/R1/B01/A2 is taken")
    assert _tubes(lab) == before
    # through a free position, as a lab does it by hand
    three = "sample_id,location\nT00,F-80/R1/B03/A1\nT01,F-80/R1/B01/A1\nT00,F-80/R1/B01/A2\n"
    lines = _problems(lab, tmp_path, "samples", three)
    assert lines[0] == "samples-update.csv:4:sample_id: duplicate key T00: also on row 2"
    report = _update(
        lab,
        tmp_path,
        "samples",
        "sample_id,location\nT00,F-80/R1/B09/A1\nT01,F-80/R1/B01/A1\n",
        create_locations=True,
    )
    assert report.updated == 2
    report = _update(lab, tmp_path, "samples", "sample_id,location\nT00,F-80/R1/B01/A2\n")
    assert report.updated == 1
    with lab.read() as tx:
        assert samples.get_sample(tx, "T00").location == "F-80/R1/B01/A2"
        assert samples.get_sample(tx, "T01").location == "F-80/R1/B01/A1"


def test_two_rows_for_one_tube_are_refused(lab: Lab, tmp_path: Path, tiny_chunks: None) -> None:
    _cohort(lab, tmp_path)
    before = _tubes(lab)
    text = "sample_id,notes\nT00,a\nT01,b\nT02,c\nT03,d\nT00,e\n"
    lines = _problems(lab, tmp_path, "samples", text)
    assert lines[0] == "samples-update.csv:6:sample_id: duplicate key T00: also on row 2"
    assert _tubes(lab) == before


def test_a_status_change_the_life_cycle_forbids(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    with lab.write() as tx:
        samples.set_status(tx, "T03", "discard", reason="cracked")
        users.add_user(tx, "tom", "technician")
    before = _tubes(lab)
    tech = Lab(lab.db, "tom")
    text = "sample_id,status\nT00,checked_out\nT01,checked_out\nT02,checked_out\nT03,available\n"
    lines = _problems(tech, tmp_path, "samples", text)
    assert lines[0].startswith("samples-update.csv:5:status: sample T03 is discarded"), lines
    assert "allow: nothing" in lines[0]
    assert len([x for x in lines if "samples-update.csv:" in x and "problem" not in x]) == 1
    assert _tubes(lab) == before
    # an admin may, and the edit's reason is the override's
    report = _update(lab, tmp_path, "samples", "sample_id,status\nT03,available\n")
    assert report.updated == 1


@pytest.mark.parametrize(
    ("header", "cell", "column"),
    [
        ("collected_at", "20240111", "collected_at"),
        ("volume_ml", "inf", "volume_ml"),
        ("volume_ml", "-1", "volume_ml"),
        ("status", "thrown", "status"),
    ],
)
def test_a_refused_cell_names_its_row_and_column(
    lab: Lab, tmp_path: Path, tiny_chunks: None, header: str, cell: str, column: str
) -> None:
    _cohort(lab, tmp_path)
    before = _tubes(lab)
    good = {"collected_at": "2024-01-12 10:00", "volume_ml": "1.5", "status": "checked_out"}[header]
    text = f"sample_id,{header}\nT00,{good}\nT01,{good}\nT02,{good}\nT03,{good}\nT04,{cell}\n"
    lines = _problems(lab, tmp_path, "samples", text)
    assert lines[0].startswith(f"samples-update.csv:6:{column}:"), lines
    assert len([x for x in lines if "samples-update.csv:" in x and "problem" not in x]) == 1
    assert _tubes(lab) == before


def test_a_quote_left_open_is_reported_and_nothing_is_written(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    before = _tubes(lab)
    text = 'sample_id,notes\nT00,a\nT01,b\nT02,c\nT03,d\nT04,"never closed\n'
    with pytest.raises(FileProblem, match=r"samples-update\.csv:6:notes: a quote opens"):
        _update(lab, tmp_path, "samples", text)
    assert _tubes(lab) == before


def test_dry_run_and_the_errors_file(
    lab: Lab, db_url: str, tmp_path: Path, tiny_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    before, n = _tubes(lab), counts(lab)
    ok = write(tmp_path, "moves.csv", MOVES)
    r = run("--db", db_url, "import", "samples", str(ok), "--on-duplicate", "update", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert _tubes(lab) == before and counts(lab) == n
    bad = write(
        tmp_path,
        "bad.csv",
        "sample_id,location,volume_ml\nT00,F-80/R1/B02/A1,\nT01,F-80/R1/B01/A1,\n"
        "NOPE,F-80/R1/B02/A3,\nT02,F-80/R1/B01/A4,\nT03,,inf\n",
    )
    out = tmp_path / "problems.csv"
    r = run(
        "--db", db_url, "import", "samples", str(bad), "--on-duplicate", "update",
        "--errors", str(out),
    )  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "nothing was imported" in r.stderr
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["row", "column", "value", "message"]
    assert [(x[0], x[1]) for x in rows[1:]] == [
        ("4", "biofluid"),
        ("5", "location"),
        ("6", "volume_ml"),
    ], rows
    assert "taken by sample T03" in rows[2][3]
    assert _tubes(lab) == before and counts(lab) == n


def test_a_chunk_refused_late_keeps_the_counts_of_the_per_record_path(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path, tiny_chunks: None
) -> None:
    text = "sample_id,notes,location\n" + "".join(f"T{i:02d},n{i},\n" for i in range(10))
    text += "T10,late,F-80/R1/B01/A1\n"  # T00's position: refused
    got = []
    for lab, bulk in zip(two_fresh_labs, (True, False), strict=True):
        _cohort(lab, tmp_path)
        path = write(tmp_path, "late.csv", text)
        with pytest.raises(ImportFailed) as exc:
            run_import(
                lab, "samples", path, display_name="late.csv", on_duplicate="update", bulk=bulk
            )
        assert exc.value.report.problems is not None
        got.append((exc.value.report.counts(), exc.value.report.problems.lines()))
    assert got[0] == got[1]
    assert got[0][1][0] == "late.csv:12:location: position F-80/R1/B01/A1 is taken by sample T00"


@pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")  # (the session forgot the box)
def test_storage_created_by_a_replayed_chunk_is_listed_once(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    text = "sample_id,location\nT00,F-70/R1/B01/A1\nT01,F-70/R1/B01/A1\n"  # T00 took it
    with pytest.raises(ImportFailed) as exc:
        _update(lab, tmp_path, "samples", text, create_locations=True)
    report = exc.value.report
    assert report.locations == ["freezer F-70", "rack F-70/R1", "box F-70/R1/B01"]
    assert report.problems is not None
    assert report.problems.lines()[0] == (
        "samples-update.csv:3:location: position F-70/R1/B01/A1 is taken by sample T00"
    )


CELLS = "cell_source_id,cell_type,passage\n" + "".join(
    f"MSC-{i},fibroblasts,{i}\n" for i in range(5)
)


def _records(lab: Lab) -> tuple[list[Any], list[Any]]:
    from exolab.services import cell_sources, subjects

    with lab.read() as tx:
        subs = [
            subjects.get_subject(tx, "S1", p).model_dump(exclude={"version"})
            for p in ("P001", "P002")
        ]
        cells = [
            cell_sources.get_cell_source(tx, f"MSC-{i}").model_dump(exclude={"version"})
            for i in range(5)
        ]
    return subs, cells


@pytest.mark.parametrize(
    ("kind", "text"),
    [("cell_sources", "cell_source_id,passage\nMSC-0,7\nMSC-1,1\nMSC-2,9\nMSC-3,\nMSC-4,2\n")],
)
def test_cell_sources_in_chunks_are_the_per_record_path(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path, tiny_chunks: None, kind: str, text: str
) -> None:
    fast, slow = two_fresh_labs
    reports = []
    for lab, bulk in ((fast, True), (slow, False)):
        _cohort(lab, tmp_path)
        load(lab, tmp_path, "cell_sources", CELLS)
        initial = _records(lab)
        reports.append(_update(lab, tmp_path, kind, text, bulk=bulk))
    assert reports[0].counts() == reports[1].counts()
    assert reports[0].updated >= 1 and reports[0].unchanged >= 1
    assert _records(fast) == _records(slow) != initial
    assert _updates(fast) == _updates(slow)
    batch = reports[0].batch_id
    assert batch is not None
    undo_batch(fast, batch)  # puts them back
    assert _records(fast) == initial
    bad = text.replace("\n", "\nMSC-404,3\n", 1)
    lines = _problems(fast, tmp_path, kind, bad)
    assert lines[0].startswith(f"{kind}-update.csv:2:"), lines
    assert "does not exist" in lines[0]


def test_a_refused_subject_cell_names_its_row_and_column(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    load(lab, tmp_path, "cell_sources", CELLS)
    before = _records(lab)
    lines = _problems(
        lab,
        tmp_path,
        "cell_sources",
        "cell_source_id,passage\nMSC-0,3\nMSC-1,4\nMSC-2,4\nMSC-3,inf\n",
    )
    assert lines[0].startswith("cell_sources-update.csv:5:passage:"), lines
    lines = _problems(
        lab,
        tmp_path,
        "subjects",
        "study,subject_id,enrolled_on\nS1,P001,2024-01-11\nS1,P002,20240111\n",
    )
    assert lines[0].startswith("subjects-update.csv:3:enrolled_on:"), lines
    assert _records(lab) == before


@pytest.mark.parametrize("bulk", [True, False])
def test_a_row_without_its_key_names_the_key_column(
    lab: Lab, tmp_path: Path, tiny_chunks: None, bulk: bool
) -> None:
    _cohort(lab, tmp_path)
    before = _tubes(lab)
    text = "sample_id,notes\nT00,a\n,b\nT02,c\n"
    try:
        _update(lab, tmp_path, "samples", text, bulk=bulk)
    except ImportFailed as exc:
        assert exc.report.problems is not None
        lines = exc.report.problems.lines()
    else:
        raise AssertionError("the import should have failed")
    assert lines[0] == (
        "samples-update.csv:3:sample_id: is required: it names the record this row updates"
    ), lines
    assert _tubes(lab) == before


# -- whole-row files: the bulk path puts the rows that differ aside and updates them together

WHOLE_HEAD = "sample_id,biofluid,collected_at,study,subject_id,visit,volume_ml,location,notes\n"


def _whole(i: int, location: str, volume: str = "2.0", notes: str = "") -> str:
    return f"T{i:02d},plasma,2024-01-11 10:41,S1,P001,V{i},{volume},{location},{notes}\n"


WHOLE = (
    WHOLE_HEAD
    + _whole(0, "F-80/R1/B01/A1", notes="re-labelled")  # notes changed
    + _whole(1, "F-80/R1/B01/A2")  # unchanged
    + _whole(2, "F-80/R1/B02/A1")  # moved out of A3 ...
    + "T20,plasma,2024-01-11 10:41,S1,P001,V20,1.0,F-80/R1/B01/A3,\n"  # ... a new tube takes A3
    + _whole(3, "F-80/R1/B01/A4", volume="3.0")  # registered volume corrected up
    + "T03-A,plasma,2024-01-11 10:41,,,,2.5,,aliquot\n"  # a new aliquot of the tube above
    + _whole(4, "F-80/R1/B01/A5", notes="checked")
    + _whole(5, "F-80/R1/B02/A2")  # moved
    + _whole(6, "F-80/R1/B01/A7")  # unchanged
)


def _whole_file() -> str:
    # the aliquot row names its parent (the registration columns of an aliquot)
    head = WHOLE_HEAD.rstrip("\n") + ",parent_sample_id\n"
    rows = []
    for line in WHOLE.splitlines()[1:]:
        parent = "T03" if line.startswith("T03-A") else ""
        rows.append(f"{line},{parent}\n")
    return head + "".join(rows)


@pytest.fixture
def tiny_bulk_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from exolab.io import bulk_records

    monkeypatch.setattr(bulk_records, "CHUNK_ROWS", 2)
    monkeypatch.setattr(import_rows, "UPDATE_CHUNK_ROWS", 2)


def test_a_whole_row_update_file_in_bulk_is_the_per_record_path(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path, tiny_bulk_chunks: None
) -> None:
    fast, slow = two_fresh_labs
    reports = []
    text = _whole_file()
    for lab, bulk in ((fast, True), (slow, False)):
        _cohort(lab, tmp_path)
        reports.append(_update(lab, tmp_path, "samples", text, bulk=bulk))
    assert reports[0].counts() == reports[1].counts()
    assert (reports[0].created, reports[0].updated, reports[0].unchanged) == (2, 5, 2)
    assert _tubes(fast) == _tubes(slow)
    assert _updates(fast) == _updates(slow)
    with fast.read() as tx:
        assert audit.verify_chain(tx).ok
        assert samples.get_sample(tx, "T20").location == "F-80/R1/B01/A3"
        t03 = samples.get_sample(tx, "T03")
        # 3.0 registered: ISO-3 took 0.5 mL and the new aliquot 2.5 mL
        assert (t03.volume_ml, t03.volume_taken_ml) == (0.0, 3.0)
        assert samples.get_sample(tx, "T00").notes == "re-labelled"


def test_a_whole_row_update_file_refused_late_writes_nothing(
    lab: Lab, tmp_path: Path, tiny_bulk_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    before = _tubes(lab)
    text = _whole_file().replace("F-80/R1/B01/A7", "F-80/R1/B02/A1")  # T02 moved there first
    problems = _problems(lab, tmp_path, "samples", text)
    assert len(problems) == 1 and ":10:location" in problems[0] and "T02" in problems[0]
    assert _tubes(lab) == before


def test_an_aliquots_volume_corrected_by_an_update_takes_the_difference_from_its_parent(
    lab: Lab, tmp_path: Path, tiny_bulk_chunks: None
) -> None:
    _cohort(lab, tmp_path)
    with lab.write() as tx:
        samples.aliquot(tx, "T07", [("T07-A", None, 1.0)])
    before = _tubes(lab)
    report = _update(lab, tmp_path, "samples", "sample_id,volume_ml\nT07-A,1.5\n")
    assert report.updated == 1
    with lab.read() as tx:
        parent = samples.get_sample(tx, "T07")
        assert (parent.volume_ml, parent.volume_taken_ml) == (0.5, 1.5)
    problems = _problems(lab, tmp_path, "samples", "sample_id,volume_ml\nT07-A,3\n")
    assert len(problems) == 1 and ":2:volume_ml" in problems[0] and "0.5 mL left" in problems[0]
    assert report.batch_id is not None
    undo_batch(lab, report.batch_id)
    assert _tubes(lab) == before


def test_a_whole_row_isolations_file_in_bulk_is_the_per_record_path(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path, tiny_bulk_chunks: None
) -> None:
    text = (
        ISOS.replace("ISO-0,T00,2024-03-02,sec,0.5,qEV,200", "ISO-0,T00,2024-03-02,sec,0.5,qEV,150")
        .replace("ISO-1,T01,2024-03-02,sec,0.5", "ISO-1,T01,2024-03-02,sec,1.5")
        .replace("ISO-2,T02,2024-03-02,sec,0.5", "ISO-2,T02,2024-03-02,sec,0.2")
        + "ISO-9,T01,2024-03-03,sec,0.5,qEV,100\n"  # after ISO-1 took 1.0 mL more of T01
    )
    fast, slow = two_fresh_labs
    reports = []
    for lab, bulk in ((fast, True), (slow, False)):
        _cohort(lab, tmp_path)
        reports.append(_update(lab, tmp_path, "isolations", text, bulk=bulk))
    assert reports[0].counts() == reports[1].counts()
    assert (reports[0].created, reports[0].updated, reports[0].unchanged) == (1, 3, 1)
    assert _tubes(fast) == _tubes(slow)
    assert _updates(fast) == _updates(slow)
    with fast.read() as tx:
        assert samples.get_sample(tx, "T01").volume_ml == 0.0  # 2.0 - 1.5 - 0.5
        assert samples.get_sample(tx, "T02").volume_ml == pytest.approx(1.8)


def test_a_whole_row_subjects_file_in_bulk_is_the_per_record_path(
    two_fresh_labs: tuple[Lab, Lab], tmp_path: Path, tiny_bulk_chunks: None
) -> None:
    text = (
        "study,subject_id,sex,birth_year,group,diagnosis,enrolled_on,consent,notes\n"
        "S1,P001,F,1961,case,PDAC,2024-01-11,yes,moved away\n"  # notes changed
        "S1,P003,M,1980,control,,2024-02-01,yes,\n"  # new
        'S1,P002,M,1970,control,,2024-01-12,yes,"likes, commas"\n'  # unchanged
        "S1,P002,M,1971,control,,2024-01-12,yes,\n"  # the same key again: refused
        "S2,P001,F,1961,case,,2024-01-11,yes,\n"  # new, in a new study
    )
    fast, slow = two_fresh_labs
    results = []
    for lab, bulk in ((fast, True), (slow, False)):
        load(lab, tmp_path, "subjects", SUBJECTS)
        fixed = text.replace("S1,P002,M,1971,control,,2024-01-12,yes,\n", "")
        report = _update(lab, tmp_path, "subjects", fixed, bulk=bulk)
        problems = _problems(lab, tmp_path, "subjects", text.replace("moved", "left"), bulk=bulk)
        with lab.read() as tx:
            stored = sorted(
                (s["study"], s["subject_id"], s["birth_year"], s["notes"])
                for s in subjects.iter_subject_inputs(tx, 100)
            )
        results.append((report.counts(), problems, stored, _updates(lab)))
    assert results[0] == results[1]
    counts, problems, stored, updates = results[0]
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (2, 1, 1)
    assert len(problems) == 1 and ":5:subject_id" in problems[0] and "also on row 4" in problems[0]
    assert ("S1", "P001", 1961, "moved away") in stored
    assert [(e[0], e[1]) for e in updates] == [("subject", "S1/P001")]
