"""Imports at scale and their unhappy paths (docs/bulk-imports.md, docs/reliability.md):
problems late in a file of many chunks, cut files, --errors, --dry-run, --on-duplicate, an
interrupted writer. Chunk sizes are made tiny so that a few dozen rows span many chunks."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from exolab.io import bulk, bulk_records
from exolab.services import pg_load
from exolab.services.context import Lab
from tests.io.helpers import base_cohort, counts, write
from tests.test_cli import run

SAMPLE_HEADER = "sample_id,biofluid,collected_at,study,subject_id,visit\n"
READOUT_HEADER = "isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate\n"


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 3)
    monkeypatch.setattr(bulk, "FIRST_CHUNK_ROWS", 2)
    monkeypatch.setattr(pg_load, "CHUNK_ROWS", 3)
    monkeypatch.setattr(bulk_records, "CHUNK_ROWS", 3)


def _samples(n: int) -> list[str]:
    return [f"T{i:04d},plasma,2024-01-11 10:41,S1,P001,V{i}\n" for i in range(n)]


def _readouts(n: int) -> list[str]:
    return [f",P001-V1,CD63,{i}.5,pg/mL,elisa,R1,2024-03-05,{i + 1}\n" for i in range(n)]


def _errors(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize(
    ("kind", "header", "rows"),
    [("samples", SAMPLE_HEADER, _samples(30)), ("readouts", READOUT_HEADER, _readouts(30))],
)
def test_a_file_cut_inside_a_quoted_value_is_in_the_errors_file(
    lab: Lab,
    db_url: str,
    tmp_path: Path,
    tiny_chunks: None,
    kind: str,
    header: str,
    rows: list[str],
) -> None:
    base_cohort(lab, tmp_path)
    before = counts(lab)
    cut = header + "".join(rows[:-1]) + rows[-1][:-5].replace(",P001", ',"P001', 1)
    path = write(tmp_path, "cut.csv", cut)
    out = tmp_path / "problems.csv"
    r = run("--db", db_url, "import", kind, str(path), "--errors", str(out))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "cut.csv:31:" in r.stderr and "nothing was imported" in r.stderr
    assert counts(lab) == before
    rows_out = _errors(out)
    assert rows_out[0] == ["row", "column", "value", "message"]
    assert len(rows_out) == 2 and rows_out[1][0] == "31"
    assert "never closed" in rows_out[1][3]


def test_update_and_new_replicates_of_the_same_sets_in_one_chunk(
    lab: Lab, db_url: str, tmp_path: Path, tiny_chunks: None
) -> None:
    from tests.queries.test_readout_sets import assert_sets_current

    base_cohort(lab, tmp_path)
    first = [f",P001-V1,CD{i},{i}.5,pg/mL,elisa,R1,2024-03-05,1\n" for i in range(10)]
    r = run(
        "--db",
        db_url,
        "import",
        "readouts",
        str(write(tmp_path, "a.csv", READOUT_HEADER + "".join(first))),
    )
    assert r.returncode == 0, r.stderr
    mixed = []
    for i in range(10):
        mixed.append(f",P001-V1,CD{i},{i}.25,pg/mL,elisa,R1,2024-03-05,2\n")  # new replicate
        mixed.append(f",P001-V1,CD{i},{i + 100}.5,pg/mL,elisa,R1,2024-03-05,1\n")  # changed
    path = write(tmp_path, "b.csv", READOUT_HEADER + "".join(mixed))
    r = run("--db", db_url, "import", "readouts", str(path), "--on-duplicate", "update")
    assert r.returncode == 0, r.stderr
    assert "10 created, 10 updated" in r.stdout
    assert assert_sets_current(lab) == 10


def test_a_value_too_large_to_sum_is_a_row_problem(
    lab: Lab, db_url: str, tmp_path: Path, tiny_chunks: None
) -> None:
    """Two replicates near the largest float overflowed their set's total: PostgreSQL refused
    the chunk ("value out of range: overflow", no row named), SQLite stored an infinite
    total. The value is refused as a problem of its row, on both, before anything is written."""
    base_cohort(lab, tmp_path)
    rows = [
        *_readouts(8),
        ",P001-V1,CD81,1e308,pg/mL,elisa,R1,2024-03-05,1\n",
        ",P001-V1,CD81,1.7E+308,pg/mL,elisa,R1,2024-03-05,2\n",
        ",P001-V1,CD81,<-2e200,pg/mL,elisa,R1,2024-03-05,3\n",
    ]
    path = write(tmp_path, "huge.csv", READOUT_HEADER + "".join(rows))
    out = tmp_path / "problems.csv"
    r = run("--db", db_url, "import", "readouts", str(path), "--errors", str(out))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "huge.csv:10:value:" in r.stderr and "refused the readouts" not in r.stderr
    assert [row[:2] for row in _errors(out)[1:]] == [
        ["10", "value"],
        ["11", "value"],
        ["12", "value"],
    ]
    assert "too large" in _errors(out)[1][3]
    assert counts(lab)[2] == 0


def test_a_refused_chunk_names_its_rows_and_says_nothing_was_imported(
    lab: Lab, db_url: str, tmp_path: Path, tiny_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the writer's third chunk (a rule validation does not know, as a
    lab's own trigger): the message names the chunk's rows, says that nothing was imported,
    is in --errors, and the writer thread has ended."""
    import sqlite3
    import threading
    from typing import Any

    from exolab.services.readout_write import ReadoutStore

    base_cohort(lab, tmp_path)
    original = ReadoutStore._write_rows
    calls: list[int] = []

    def failing(self: ReadoutStore, contexts: Any, rows: Any) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise sqlite3.IntegrityError("CHECK constraint failed: lab_rule")
        original(self, contexts, rows)

    monkeypatch.setattr(ReadoutStore, "_write_rows", failing)
    path = write(tmp_path, "many.csv", READOUT_HEADER + "".join(_readouts(20)))
    out = tmp_path / "problems.csv"
    r = run("--db", db_url, "import", "readouts", str(path), "--errors", str(out))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    # chunks of 2, 3, 3, ... rows: the third holds file rows 7-9
    assert "the database refused the readouts of rows 7-9" in r.stderr
    assert "CHECK constraint failed: lab_rule" in r.stderr
    assert "nothing was imported" in r.stderr
    problems = _errors(out)
    assert len(problems) == 2 and problems[1][0] == "7" and "lab_rule" in problems[1][3]
    assert counts(lab)[2] == 0
    assert not [t for t in threading.enumerate() if t.name == "exolab-import"]


def test_the_summary_of_more_problems_than_it_keeps_counts_them_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond the groups it keeps, each further problem was counted as one more *different*
    problem: 6 distinct (6 kept, 4 shown) then 5 rows of one problem said '... and 7 more
    different problems' (there were 2 more kept kinds and 5 problems beyond them)."""
    from exolab.io import problems as problems_module
    from exolab.io.problems import Problems

    monkeypatch.setattr(problems_module, "MAX_GROUPS_KEPT", 6)
    monkeypatch.setattr(problems_module, "MAX_GROUPS_SHOWN", 4)
    found = Problems("f.csv")
    for row in range(2, 8):
        found.add(row, "sample_id", f"no sample S{row}")
    for row in range(8, 13):
        found.add(row, "biofluid", "unknown biofluid")
    lines = found.lines()
    assert found.count == 11
    assert len(lines) == 5
    assert lines[-1] == (
        "f.csv: ... and 2 more different problems, and 5 more problems beyond them; "
        "use --errors OUT.csv for the full list"
    )


def _everything(lab: Lab) -> tuple[int, ...]:
    from sqlalchemy import func, select

    from exolab.db.models import AuditEvent, ImportBatch, ReadoutSet

    with lab.read() as tx:
        s = tx.session
        return (
            *counts(lab),
            *(
                s.scalar(select(func.count()).select_from(t)) or 0
                for t in (AuditEvent, ImportBatch, ReadoutSet)
            ),
        )


@pytest.mark.parametrize("kind", ["samples", "readouts"])
def test_late_problems_across_chunks_dry_run_and_real_run_agree(
    lab: Lab, db_url: str, tmp_path: Path, tiny_chunks: None, kind: str
) -> None:
    """A bad row and a duplicate whose first occurrence is chunks earlier, far into a file of
    many chunks: the dry run and the real run report the same rows in --errors, exactly
    the bad ones, and neither writes a row, an audit event or a batch."""
    base_cohort(lab, tmp_path)
    if kind == "samples":
        header, rows = SAMPLE_HEADER, _samples(40)
        rows[30] = rows[30].replace("2024-01-11", "2024-13-11")  # file row 32
        rows[36] = rows[2]  # file row 38 repeats row 4
    else:
        header, rows = READOUT_HEADER, _readouts(40)
        rows[30] = rows[30].replace(",31\n", ",0\n")  # replicate 0, file row 32
        rows[36] = rows[2]
    path = write(tmp_path, "late.csv", header + "".join(rows))
    before = _everything(lab)
    dry, real = tmp_path / "dry.csv", tmp_path / "real.csv"
    r1 = run("--db", db_url, "import", kind, str(path), "--dry-run", "--errors", str(dry))
    r2 = run("--db", db_url, "import", kind, str(path), "--errors", str(real))
    assert r1.returncode == 1 and r2.returncode == 1
    assert "Traceback" not in r1.stderr + r2.stderr
    assert _errors(dry) == _errors(real)
    assert [row[0] for row in _errors(real)[1:]] == ["32", "38"]
    assert "also on row 4" in _errors(real)[2][3]
    assert _everything(lab) == before
    # the same file, corrected, imports whole; a second time, all unchanged
    rows[30], rows[36] = (_samples(40) if kind == "samples" else _readouts(40))[30:37:6]
    path = write(tmp_path, "good.csv", header + "".join(rows))
    r = run("--db", db_url, "import", kind, str(path))
    assert r.returncode == 0 and "40 created" in r.stdout, r.stderr
    r = run("--db", db_url, "import", kind, str(path))
    assert r.returncode == 0 and "0 created, 0 updated, 40 unchanged" in r.stdout, r.stderr


@pytest.mark.parametrize("kind", ["samples", "readouts"])
def test_ctrl_c_after_written_chunks_leaves_nothing(
    lab: Lab,
    db_url: str,
    tmp_path: Path,
    tiny_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    """Ctrl-C (KeyboardInterrupt in the main thread) while chunks are in the import's
    transaction: exit 130 without a traceback, nothing written, no import thread left."""
    import threading
    from typing import Any

    from exolab.services import bulk_records as bulk_service

    base_cohort(lab, tmp_path)
    target: Any = (
        (bulk.ReadoutLoader, "_flush") if kind == "readouts" else (bulk_service._Loader, "_write")
    )
    original = getattr(*target)
    calls: list[int] = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(*target, interrupted)
    rows = _samples(30) if kind == "samples" else _readouts(30)
    header = SAMPLE_HEADER if kind == "samples" else READOUT_HEADER
    before = _everything(lab)
    r = run("--db", db_url, "import", kind, str(write(tmp_path, "big.csv", header + "".join(rows))))
    assert len(calls) == 4
    assert r.returncode == 130 and "interrupted" in r.stderr and "Traceback" not in r.stderr
    assert _everything(lab) == before
    assert not [t for t in threading.enumerate() if t.name in ("exolab-import", "exolab-read")]


def test_a_last_row_cut_to_one_field_and_the_undo_of_a_big_update(
    lab: Lab, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file cut just after the first value of its last row is that row's problem ('1 field',
    not '1 fields'); the undo of an import that updated thousands says how many with a
    thousands separator like its other counts ('4000 updated records restored' before)."""
    from exolab.services import undo

    base_cohort(lab, tmp_path)
    path = write(tmp_path, "cut.csv", SAMPLE_HEADER + "".join(_samples(10)) + "T9999")
    r = run("--db", db_url, "import", "samples", str(path))
    assert r.returncode == 1
    assert "cut.csv:12:biofluid: row has 1 field but the header has 6 columns" in r.stderr
    report = undo.UndoReport(7, "readouts", "b.csv", {"readouts": 3000}, 4000)
    monkeypatch.setattr(undo, "undo_batch", lambda lab, batch: report)
    r = run("--db", db_url, "import", "--undo", "7")
    assert r.returncode == 0, r.stderr
    assert "removed 3,000 readouts; 4,000 updated records restored" in r.stdout


def test_many_duplicate_readouts_read_the_file_again_once(
    lab: Lab, db_url: str, tmp_path: Path, tiny_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plate pasted twice into one file: every row of the second copy is a duplicate. Each
    duplicate read the file again from its start to find the first occurrence (2,000
    duplicates of 20,000 rows: 14 s instead of 1 s; a whole file pasted twice ran for
    minutes). The file is read again at most once, and every duplicate still names its
    first row."""
    from exolab.io.reading import CsvFile

    base_cohort(lab, tmp_path)
    rows = _readouts(30)
    path = write(tmp_path, "twice.csv", READOUT_HEADER + "".join(rows + rows[5:]))
    opened: list[int] = []
    original = CsvFile.again

    def again(self: CsvFile) -> CsvFile:
        opened.append(1)
        return original(self)

    monkeypatch.setattr(CsvFile, "again", again)
    out = tmp_path / "problems.csv"
    r = run("--db", db_url, "import", "readouts", str(path), "--errors", str(out))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    problems = _errors(out)[1:]
    assert [p[0] for p in problems] == [str(32 + i) for i in range(25)]
    assert [p[3] for p in problems] == [
        "duplicate readout key (target, analyte, assay, run_id, replicate): "
        f"also on row {7 + i} (got '{6 + i}')"
        for i in range(25)
    ]
    assert len(opened) <= 1
    assert counts(lab)[2] == 0


def _storage_rows(n: int) -> str:
    rows = [
        f"N{i:04d},plasma,2024-01-11 10:41,S1,P001,V{i},F-80/R1/B02/A{i + 1}\n" for i in range(n)
    ]
    rows += [f"M{i:04d},plasma,2024-01-11 10:41,S1,P001,W{i},F7/R1/B1/A{i + 1}\n" for i in range(n)]
    return SAMPLE_HEADER.replace("visit\n", "visit,location\n") + "".join(rows)


def test_storage_not_there_refuses_each_row_without_asking_the_database_each_time(
    lab: Lab, tmp_path: Path
) -> None:
    """--create-locations left out: every tube of a file names a box that is not stored.
    Each row gets its problem, naming the closest box, as before; the reason is worked out
    once per box path (storage.unknown_location), not read again for every row."""
    from sqlalchemy import event

    from exolab.io.importer import ImportFailed, run_import

    base_cohort(lab, tmp_path)
    n = 40
    path = write(tmp_path, "far.csv", _storage_rows(n))
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(lab.db.engine, "before_cursor_execute", count)
    try:
        with pytest.raises(ImportFailed) as caught:
            run_import(lab, "samples", path)
    finally:
        event.remove(lab.db.engine, "before_cursor_execute", count)
    problems = caught.value.report.problems
    assert problems is not None and problems.count == 2 * n
    lines = problems.lines()
    assert lines[0].startswith(
        f"{path}:2:location: no box F-80/R1/B02 (did you mean F-80/R1/B01?); create it first "
        "(exolab storage add F-80/R1/B02) or import with --create-locations"
    )
    assert any(
        line.startswith(f"{path}:{n + 2}:location: no freezer F7; create it first")
        for line in lines
    )
    box_reads = [s for s in statements if "FROM boxes" in s]
    assert len(box_reads) < 12, box_reads  # (a read per refused row: 2 * n and more)


def test_a_move_file_to_storage_not_there_names_every_row(lab: Lab, tmp_path: Path) -> None:
    """The update path (a partial file) refuses each row too, with the same words, once the
    chunk it tried together is replayed row by row."""
    from exolab.io.importer import ImportFailed, run_import

    base_cohort(lab, tmp_path)
    move = write(
        tmp_path,
        "move.csv",
        "sample_id,location\nP001-V1,F-80/R1/B02/A1\nP001-V2,F-80/R1/B02/A2\nP002-V1,F-80/R1/B02/A3\n",
    )
    with pytest.raises(ImportFailed) as caught:
        run_import(lab, "samples", move, on_duplicate="update")
    lines = caught.value.report.problems.lines()  # type: ignore[union-attr]
    assert [line.split(":location: ")[0] for line in lines] == [f"{move}:{r}" for r in (2, 3, 4)]
    assert all("no box F-80/R1/B02 (did you mean F-80/R1/B01?)" in line for line in lines)
    assert counts(lab)[1] == 3


def test_why_a_box_is_unknown_follows_the_storage_created_meanwhile(lab: Lab) -> None:
    """storage.unknown_location remembers its answer per box path within a transaction,
    until the transaction creates storage: then the closest box may be another."""
    from exolab.domain.schemas import parse_location
    from exolab.services import storage

    with lab.write() as tx:
        storage.add_location(tx, "F1/R1/B1")
        loc = parse_location("F1/R1/B9/A1")
        assert "did you mean F1/R1/B1?" in storage.unknown_location(tx, loc)
        storage.add_location(tx, "F1/R1/B8")
        assert "did you mean F1/R1/B8?" in storage.unknown_location(tx, loc)
        storage.add_location(tx, "F1/R1/B9")
        assert storage.find_box(tx, "F1/R1/B9") is not None


def _used_up(tmp_path: Path, n: int, status: str = "consumed") -> str:
    rows = [f"U{i:03d},plasma,2024-01-11 10:41,S1,P001,U{i},4,{status}\n" for i in range(n)]
    return SAMPLE_HEADER.replace("visit\n", "visit,volume_ml,status\n") + "".join(rows)


def test_the_history_of_many_used_up_tubes_is_read_at_once(lab: Lab, tmp_path: Path) -> None:
    """An inventory of used-up tubes moved into exolab, then their isolations imported as
    history (docs/lifecycle.md): whether each tube's status changed since registration is
    read for a chunk at once, not once per row; a tube an action put out of use since is
    still refused, naming its row."""
    from sqlalchemy import event

    from exolab.io.importer import ImportFailed, run_import
    from exolab.services import samples

    base_cohort(lab, tmp_path)
    n = 30
    run_import(lab, "samples", write(tmp_path, "used.csv", _used_up(tmp_path, n)))
    with lab.write() as tx:
        samples.set_status(tx, "P002-V1", "discard", reason="cracked")
    iso = "isolation_id,sample_id,isolated_on,method,input_volume_ml\n"
    rows = "".join(f"ISO-U{i:03d},U{i:03d},2024-03-05,sec,0.5\n" for i in range(n))
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(lab.db.engine, "before_cursor_execute", count)
    try:
        bad = write(tmp_path, "bad.csv", iso + rows + "ISO-X,P002-V1,2024-03-05,sec,0.5\n")
        with pytest.raises(ImportFailed) as caught:
            run_import(lab, "isolations", bad)
        lines = caught.value.report.problems.lines()  # type: ignore[union-attr]
        assert len(lines) == 1 and lines[0].startswith(f"{bad}:{n + 2}:sample_id:")
        assert "P002-V1 is discarded" in lines[0]
        history_reads = [s for s in statements if "FROM audit_events" in s and "LIKE" in s]
        assert 1 <= len(history_reads) <= 3, len(history_reads)  # (one per tube: n + 1)
        good = write(tmp_path, "good.csv", iso + rows)
        assert run_import(lab, "isolations", good).created == n
    finally:
        event.remove(lab.db.engine, "before_cursor_execute", count)


def test_a_status_set_after_the_history_was_read_is_read_again(lab: Lab, tmp_path: Path) -> None:
    """lifecycle.note_status_history remembers the tubes with no status change for the
    transaction; an audited change to one of them makes the rule read it again."""
    from exolab.io.importer import run_import
    from exolab.services import lifecycle, samples

    base_cohort(lab, tmp_path)
    run_import(lab, "samples", write(tmp_path, "used.csv", _used_up(tmp_path, 2, "missing")))
    with lab.write() as tx:
        lifecycle.note_status_history(tx, ["U000", "U001"])
        assert not lifecycle.status_changed(tx, "U000")
        samples.set_status(tx, "U000", "discard", reason="found broken")
        assert lifecycle.status_changed(tx, "U000")
        assert not lifecycle.status_changed(tx, "U001")
