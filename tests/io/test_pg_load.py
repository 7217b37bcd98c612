"""The bulk readout import written chunk by chunk (PostgreSQL: exolab/services/pg_load.py; SQLite:
services/readout_write.py): with chunks of two rows, replicate sets straddle chunks, and a
problem found after some chunks were written leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from exolab.io import bulk
from exolab.io.importer import ImportFailed, undo_batch
from exolab.services import pg_load, readout_sets
from exolab.services.context import Lab
from exolab.services.errors import ExolabError
from tests.io.helpers import READOUTS, base_cohort, counts, load
from tests.io.test_row_errors import refuse_inserts
from tests.queries.test_readout_sets import MORE, assert_sets_current


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_load, "CHUNK_ROWS", 2)
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 2)


def test_sets_are_current_when_sets_straddle_chunks(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    base_cohort(lab, tmp_path)
    first = load(lab, tmp_path, "readouts", READOUTS)
    assert first.created == 4 and counts(lab)[2] == 4
    assert assert_sets_current(lab) == 2
    more = load(lab, tmp_path, "readouts", MORE)  # joins sets written by the first file
    assert more.created == 5
    assert assert_sets_current(lab) == 5
    undo_batch(lab, more.batch_id or 0)
    assert assert_sets_current(lab) == 2 and counts(lab)[2] == 4


def test_a_problem_after_written_chunks_leaves_nothing(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    base_cohort(lab, tmp_path)
    bad = READOUTS + "ISO-9,,CD63,1,pg/mL,elisa,R1,2024-03-05,1,0.5,pass\n"  # no such isolation
    with pytest.raises(ImportFailed) as exc:
        load(lab, tmp_path, "readouts", bad)
    assert any("ISO-9" in line for line in exc.value.report.problems.lines())  # type: ignore[union-attr]
    assert counts(lab)[2] == 0
    assert assert_sets_current(lab) == 0


def test_rows_after_a_chunk_of_stored_rows_keep_their_context(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    """A first chunk whose rows are all stored already (nothing to write) still introduces the
    context (unit, assay, run, date, ...) that the next chunk's new rows share."""
    base_cohort(lab, tmp_path, readouts=True)
    again = READOUTS + (
        "ISO-3,,CD63,7,pg/mL,elisa,R1,2024-03-05,1,0.5,pass\n"
        "ISO-3,,CD63,8,pg/mL,elisa,R1,2024-03-05,2,0.5,pass\n"
    )
    report = load(lab, tmp_path, "readouts", again)
    assert (report.created, report.unchanged) == (2, 4)
    assert counts(lab)[2] == 6
    assert assert_sets_current(lab) == 3


def test_a_replicate_beyond_the_column_is_never_stored_as_another_number(
    lab: Lab, tmp_path: Path
) -> None:
    """PostgreSQL's column is a 32-bit integer and the rows travel as binary COPY data, whose
    integer keeps only the low 32 bits: 4294967297 would become replicate 1. The input model
    bounds whole numbers by the column, so it is a row problem on both databases."""
    base_cohort(lab, tmp_path)
    text = READOUTS + "ISO-3,,CD63,7,pg/mL,elisa,R1,2024-03-05,4294967297,0.5,pass\n"
    with pytest.raises(ImportFailed) as exc:
        load(lab, tmp_path, "readouts", text)
    assert exc.value.report.problems is not None
    assert exc.value.report.problems.lines()[0].startswith(
        "readouts.csv:6:replicate: must be at most 2147483647"
    )
    assert counts(lab)[2] == 0


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_binary_encoding_refuses_an_integer_past_32_bits(lab: Lab) -> None:
    """The encoder's own guard, for any value that reaches it unchecked."""
    with lab.db.engine.connect() as conn:
        dbapi = conn.connection.driver_connection
        load_ = pg_load.PgLoad(dbapi, ["replicate", "analyte_id"])
        try:
            assert load_.encode([(2, 7)], load_.rows)  # in range: encoded
            with pytest.raises(ExolabError, match='value "4294967297" is out of range'):
                load_.encode([(4294967297, 7)], load_.rows)
        finally:
            load_.close()


def test_the_readout_import_path_loads_no_postgresql_driver() -> None:
    """The PostgreSQL write path imports psycopg when it first encodes a chunk: importing the
    bulk readout loader (every readout import, SQLite's too) does not pay for the driver."""
    import subprocess
    import sys

    code = "import sys, exolab.io.bulk; print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_chunk_the_server_refuses_after_written_chunks_leaves_nothing(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    """The server refuses a late chunk (a rule of the database's own, as a DBA's trigger
    would be): the import stops with the server's sentence, and the chunks already written
    are rolled back with it."""
    base_cohort(lab, tmp_path)
    refuse_inserts(lab, "readouts", "NEW.value_text = '7'", "seven is not allowed here")
    text = READOUTS + "ISO-3,,CD63,7,pg/mL,elisa,R1,2024-03-05,1,0.5,pass\n"
    with pytest.raises(ExolabError) as exc:
        load(lab, tmp_path, "readouts", text)
    assert str(exc.value) == "the database refused the readouts of row 6: seven is not allowed here"
    assert counts(lab)[2] == 0
    assert assert_sets_current(lab) == 0


THIRD = """isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod,qc
ISO-2,,CD9,3.5,pg/mL,elisa,R3,2024-03-07,1,0.5,pass
ISO-2,,CD9,4.5,pg/mL,elisa,R3,2024-03-07,2,0.5,pass
ISO-3,,CD63,9,pg/mL,elisa,R1,2024-03-05,1,0.5,pass
"""


def test_undo_of_a_batch_between_two_others_removes_exactly_its_readouts(
    lab: Lab, tmp_path: Path, tiny_chunks: None
) -> None:
    """Undoing the middle one of three batches, whose rows lie between the others' and share
    (sample, analyte) pairs and sets with both, removes its readouts and no other, and leaves
    every set current (the sets of its pairs are aggregated again from the other batches'
    readouts, written chunk by chunk)."""
    base_cohort(lab, tmp_path)
    batches = [load(lab, tmp_path, "readouts", t).batch_id for t in (READOUTS, MORE, THIRD)]
    with lab.read() as tx:
        by_batch = dict(
            tx.session.execute(
                text("SELECT batch_id, count(*) FROM readouts GROUP BY batch_id")
            ).all()
        )
    assert [by_batch[b] for b in batches] == [4, 5, 3]
    assert assert_sets_current(lab) == 7
    undo_batch(lab, batches[1] or 0)
    with lab.read() as tx:
        left = dict(
            tx.session.execute(
                text("SELECT batch_id, count(*) FROM readouts GROUP BY batch_id")
            ).all()
        )
    assert left == {batches[0]: 4, batches[2]: 3}
    assert assert_sets_current(lab) == 4


def test_sets_of_a_chunk_follow_the_rule_of_the_stored_sets() -> None:
    """The sets PostgreSQL's import works out in Python (services/readout_sets.sets_of): the
    counts, the total in row order, the bound of the censored (the highest limit below, the
    lowest above, none when mixed or a limit is missing), the first row; a readout without a
    unit is in no set, but its pair is still one of the chunk's."""
    elisa = ("elisa", "R1", "pg/mL")
    other_unit = ("elisa", "R1", "ng/mL")
    no_unit = ("elisa", "R1", None)
    rows: list[readout_sets.SetRow] = [
        (1, 10, 5, elisa, "none", "=", 2.0),  # 0: set A
        (1, 10, 5, elisa, "lt_lod", "<", 0.5),  # 1
        (1, 10, 5, elisa, "none", "=", 3.5),  # 2
        (1, 10, 5, elisa, "lt_lloq", "=", 1.0),  # 3: below (its flag), the highest limit
        (1, 10, 5, other_unit, "gt_uloq", "=", 90.0),  # 4: set B, above
        (1, 10, 5, other_unit, "gt_uloq", ">", 80.0),  # 5: the lowest limit above
        (2, None, 5, elisa, "lt_lod", "<", 0.5),  # 6: set C (a sample's), mixed sides
        (2, None, 5, elisa, "gt_uloq", ">", 50.0),  # 7
        (3, 11, 6, elisa, "not_detected", "=", None),  # 8: set D, a limit not recorded
        (3, 11, 6, elisa, "lt_lod", "<", 0.5),  # 9
        (3, 11, 7, no_unit, "none", "=", 4.0),  # 10: no set
        (3, 11, 6, elisa, "none", "=", None),  # 11: qualitative: not counted, no total
    ]
    sets, pairs = readout_sets.sets_of(rows)
    assert sets == [
        (5, 1, 10, "elisa", "R1", "pg/mL", 2, 2, 5.5, 1.0, 0),
        (5, 1, 10, "elisa", "R1", "ng/mL", 0, 2, None, 80.0, 4),
        (5, 2, None, "elisa", "R1", "pg/mL", 0, 2, None, None, 6),
        (6, 3, 11, "elisa", "R1", "pg/mL", 0, 2, None, None, 8),
    ]
    assert pairs == [(1, 5), (2, 5), (3, 6), (3, 7)]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_sets_are_current_when_ids_are_taken_during_a_chunk(
    lab: Lab, tmp_path: Path, tiny_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk's sets take their first readout's id from the run of ids COPY took. When
    another writer takes an id meanwhile (here: one taken between the chunk's first look at
    the sequence and its COPY), the run is not the chunk's and its sets are aggregated from
    its stored rows instead: every set is still the aggregation of its readouts."""
    taken = (
        "WITH taken AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('readouts', 'id')) "
        "AS v) "
    )
    probe = taken + pg_load._STORED_PAIRS.replace(
        "WHERE (SELECT 1", "WHERE (SELECT v FROM taken) > 0 AND (SELECT 1"
    )
    monkeypatch.setattr(pg_load, "_STORED_PAIRS", probe)
    base_cohort(lab, tmp_path)
    assert load(lab, tmp_path, "readouts", READOUTS).created == 4
    assert load(lab, tmp_path, "readouts", MORE).created == 5
    assert assert_sets_current(lab) == 5
    with lab.read() as tx:
        low, high, n = tx.session.execute(
            text("SELECT min(id), max(id), count(*) FROM readouts")
        ).one()
    assert (n, high - low + 1 > n) == (9, True)  # the ids the probe took are gaps
