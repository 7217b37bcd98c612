"""readouts' references stay whole on both databases: SQLite by its foreign keys, PostgreSQL
by the set-based triggers of migration 0011_pg_fk (docs/reliability.md), including two
sessions racing an insert against a delete."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update

from exolab.db import migrate, pg_fk
from exolab.db.base import utcnow
from exolab.db.engine import Database
from exolab.db.models import Analyte, ImportBatch, Readout, Sample
from exolab.db.raw import SCHEMA_HEAD
from exolab.io.importer import undo_batch
from exolab.services import downgrade as downgrade_service
from exolab.services import readouts as readout_service
from exolab.services import samples as sample_service
from exolab.services.context import Lab
from exolab.services.errors import Conflict, database_error_text
from exolab.services.integrity import check_database
from tests.db.races import in_thread, wait_blocked
from tests.io.helpers import READOUTS, SAMPLES, SUBJECTS, base_cohort, counts, load

# readouts directly on samples, so a sample has nothing else pointing at it
SAMPLE_READOUTS = """sample_id,analyte,value,unit,assay,run_id,measured_on,replicate
P001-V1,CD63,12.5,pg/mL,elisa,R1,2024-03-05,1
P001-V2,CD63,20,pg/mL,elisa,R1,2024-03-05,1
"""

# The triggers exist on PostgreSQL only (SQLite keeps its foreign keys): these tests run there
# alone rather than being skipped on SQLite.
PG_ONLY = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def _ids(lab: Lab) -> dict[str, int]:
    with lab.read() as tx:
        s = tx.session
        out = {code: pk for code, pk in s.execute(select(Sample.sample_code, Sample.id))}
        out["CD63"] = s.scalar(select(Analyte.id).where(Analyte.code == "CD63")) or 0
        return out


def _readout_row(sample_id: int, analyte_id: int, replicate: int = 7) -> dict[str, Any]:
    return {
        "sample_id": sample_id,
        "analyte_id": analyte_id,
        "assay": "elisa",
        "run_code": "RACE",
        "replicate": replicate,
        "value_text": "1",
        "value": 1.0,
        "comparator": "=",
        "censor": "none",
        "version": 1,
        "created_at": utcnow(),
    }


def _no_orphans(lab: Lab) -> None:
    with lab.read() as tx:
        s = tx.session
        for key in pg_fk.TRIGGER_KEYS:
            assert s.execute(text(pg_fk.orphans_sql(key))).scalar_one() == 0, key


# -- one session -----------------------------------------------------------------------------


def test_orphan_insert_is_refused_with_a_plain_sentence(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    analyte = _ids(lab)["CD63"]
    before = counts(lab)
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(insert(Readout), [_readout_row(987654, analyte)])
    msg = str(exc.value)
    assert msg.startswith("the change conflicts with stored records")
    for sql in ("INSERT", "SELECT", "[SQL", "readouts ("):
        assert sql not in msg
    if lab.db.dialect == "postgresql":
        assert "a readout refers to sample id 987654, which does not exist" in msg
        # the driver sees what a built-in foreign key would have said
        orig = exc.value.__cause__.orig  # type: ignore[union-attr]
        assert orig.sqlstate == "23503"
        assert orig.diag.constraint_name == "fk_readouts_sample_id_samples"
        plain = database_error_text(exc.value.__cause__)  # type: ignore[arg-type]
        assert plain is not None and "sample id 987654" in plain and "INSERT" not in plain
    assert counts(lab) == before


@pytest.mark.parametrize("column", ["isolation_id", "analyte_id", "batch_id"])
def test_each_reference_is_checked(lab: Lab, tmp_path: Path, column: str) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    ids = _ids(lab)
    row = _readout_row(ids["P001-V1"], ids["CD63"])
    row[column] = 987654
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(insert(Readout), [row])
    if lab.db.dialect == "postgresql":
        word = {"isolation_id": "isolation", "analyte_id": "analyte", "batch_id": "import batch"}
        assert f"refers to {word[column]} id 987654" in str(exc.value)
    _no_orphans(lab)


def test_a_statement_of_many_rows_with_one_orphan_is_refused_whole(
    lab: Lab, tmp_path: Path
) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    load(lab, tmp_path, "samples", SAMPLES, create_locations=True)
    load(lab, tmp_path, "readouts", SAMPLE_READOUTS)
    ids = _ids(lab)
    rows = [_readout_row(ids["P002-V1"], ids["CD63"], replicate=r) for r in range(1, 50)]
    rows.append(_readout_row(987654, ids["CD63"], replicate=60))
    with pytest.raises(Conflict), lab.write() as tx:
        tx.session.execute(insert(Readout), rows)
    assert counts(lab)[2] == 2
    with lab.write() as tx:  # the same rows without the orphan go in
        tx.session.execute(insert(Readout), rows[:-1])
    assert counts(lab)[2] == 51


def test_deleting_a_referenced_sample_is_refused(lab: Lab, tmp_path: Path) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    load(lab, tmp_path, "samples", SAMPLES, create_locations=True)
    load(lab, tmp_path, "readouts", SAMPLE_READOUTS)
    # the service says why first
    with pytest.raises(Conflict, match="sample P001-V1 has readouts"), lab.write() as tx:
        sample_service.delete_sample(tx, "P001-V1", reason="mistake")
    # the database refuses it even when asked directly
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(delete(Sample).where(Sample.sample_code.in_(["P001-V1", "P002-V1"])))
    if lab.db.dialect == "postgresql":
        assert "cannot delete sample P001-V1: readouts still refer to it" in str(exc.value)
    assert counts(lab) == (2, 3, 2)
    # an unreferenced sample may go
    with lab.write() as tx:
        sample_service.delete_sample(tx, "P002-V1", reason="registered twice")
    assert counts(lab) == (2, 2, 2)
    _no_orphans(lab)


def test_changing_keys_is_checked(lab: Lab, tmp_path: Path) -> None:
    load(lab, tmp_path, "subjects", SUBJECTS)
    load(lab, tmp_path, "samples", SAMPLES, create_locations=True)
    load(lab, tmp_path, "readouts", SAMPLE_READOUTS)
    ids = _ids(lab)
    # a readout moved to a sample that does not exist
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(
            update(Readout).where(Readout.sample_id == ids["P001-V1"]).values(sample_id=987654)
        )
    if lab.db.dialect == "postgresql":
        assert "refers to sample id 987654" in str(exc.value)
    # a referenced sample given another id
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(
            update(Sample).where(Sample.id == ids["P001-V1"]).values(id=ids["P001-V1"] + 1000)
        )
    if lab.db.dialect == "postgresql":
        assert "cannot change the id of sample P001-V1" in str(exc.value)
    # a readout moved to another existing sample, and an unreferenced sample renumbered
    with lab.write() as tx:
        tx.session.execute(
            update(Readout)
            .where(Readout.sample_id == ids["P001-V2"])
            .values(sample_id=ids["P002-V1"])
        )
        tx.session.execute(
            update(Sample).where(Sample.id == ids["P001-V2"]).values(id=ids["P001-V2"] + 1000)
        )
    with lab.read() as tx:
        moved = tx.session.scalars(select(Readout.sample_id)).all()
    assert sorted(moved) == sorted([ids["P001-V1"], ids["P002-V1"]])
    _no_orphans(lab)


@PG_ONLY
def test_emptying_a_referenced_table_is_refused(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    with pytest.raises(Conflict, match="cannot empty analytes"), lab.write() as tx:
        tx.session.execute(text("TRUNCATE analytes CASCADE"))
    assert counts(lab)[2] == 4


def test_per_record_writes_undo_and_deletes_work(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    rep = load(lab, tmp_path, "readouts", READOUTS)
    assert rep.created == 4
    with lab.write() as tx:
        out = readout_service.record_readout(
            tx,
            {
                "isolation_id": "ISO-3",
                "analyte": "NEWMARKER",
                "value": "3.5",
                "unit": "pg/mL",
                "assay": "elisa",
                "run_id": "R9",
            },
        )
        readout_service.update_readout(tx, out.id, {"value": "4"}, reason="re-read")
    with lab.write() as tx:
        readout_service.delete_readout(tx, out.id, reason="wrong plate")
    undo = undo_batch(lab, rep.batch_id or 0)
    assert undo.removed["readouts"] == 4
    assert counts(lab)[2] == 0
    # what the batch referenced may go now: the samples' batch can be undone too
    with lab.read() as tx:
        sample_batch = tx.session.scalar(
            select(ImportBatch.id).where(
                ImportBatch.kind == "samples", ImportBatch.status != "undone"
            )
        )
    with pytest.raises(Conflict):  # its isolations (another batch) still stand on them
        undo_batch(lab, sample_batch or 0)
    _no_orphans(lab)
    problems, notes = check_database(lab)
    assert problems == []
    if lab.db.dialect == "postgresql":
        assert (
            "references of readouts, samples, isolations, visits and isolation_steps: ok (enforced by triggers)"
            in notes
        )


# -- PostgreSQL: the triggers, two sessions, the migration -------------------------------------


INSERT_SQL = (
    "INSERT INTO readouts (sample_id, analyte_id, assay, run_code, replicate, value_text, "
    "value, comparator, censor, version, created_at) "
    "VALUES (%s, %s, 'elisa', 'RACE', 7, '1', 1, '=', 'none', 1, now())"
)


def _cohort_without_isolations(lab: Lab, tmp_path: Path) -> dict[str, int]:
    load(lab, tmp_path, "subjects", SUBJECTS)
    load(lab, tmp_path, "samples", SAMPLES, create_locations=True)
    load(lab, tmp_path, "readouts", SAMPLE_READOUTS)
    return _ids(lab)


@PG_ONLY
def test_insert_first_then_concurrent_delete_loses(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    import psycopg

    ids = _cohort_without_isolations(pg, tmp_path)
    inserter, deleter, watcher = raw(), raw(), raw()
    inserter.execute(INSERT_SQL, (ids["P002-V1"], ids["CD63"]))  # not committed yet
    deleter_pid = deleter.info.backend_pid

    def delete_it() -> None:
        deleter.execute("DELETE FROM samples WHERE sample_code = 'P002-V1'")
        deleter.commit()

    t, errors = in_thread(delete_it)
    wait_blocked(watcher, deleter_pid)  # the inserter's FOR KEY SHARE lock holds it
    inserter.commit()
    t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.ForeignKeyViolation)
    assert "cannot delete sample P002-V1: readouts still refer to it" in str(errors[0])
    deleter.rollback()
    assert counts(pg) == (2, 3, 3)
    _no_orphans(pg)


@PG_ONLY
def test_delete_first_then_concurrent_insert_loses(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    import psycopg

    ids = _cohort_without_isolations(pg, tmp_path)
    inserter, deleter, watcher = raw(), raw(), raw()
    deleter.execute("DELETE FROM samples WHERE sample_code = 'P002-V1'")  # not committed yet
    inserter_pid = inserter.info.backend_pid

    def insert_it() -> None:
        inserter.execute(INSERT_SQL, (ids["P002-V1"], ids["CD63"]))
        inserter.commit()

    t, errors = in_thread(insert_it)
    wait_blocked(watcher, inserter_pid)  # its check waits for the deleted row's lock
    deleter.commit()
    t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.ForeignKeyViolation)
    assert f"a readout refers to sample id {ids['P002-V1']}, which does not exist" in str(errors[0])
    assert errors[0].diag.constraint_name == "fk_readouts_sample_id_samples"
    inserter.rollback()
    assert counts(pg) == (2, 2, 2)
    _no_orphans(pg)


@PG_ONLY
def test_delete_rolled_back_lets_the_waiting_insert_through(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    ids = _cohort_without_isolations(pg, tmp_path)
    inserter, deleter, watcher = raw(), raw(), raw()
    deleter.execute("DELETE FROM samples WHERE sample_code = 'P002-V1'")
    inserter_pid = inserter.info.backend_pid

    def insert_it() -> None:
        inserter.execute(INSERT_SQL, (ids["P002-V1"], ids["CD63"]))
        inserter.commit()

    t, errors = in_thread(insert_it)
    wait_blocked(watcher, inserter_pid)
    deleter.rollback()
    t.join(30)
    assert errors == []
    assert counts(pg) == (2, 3, 3)


@PG_ONLY
def test_a_bulk_import_racing_a_delete_loses_whole(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk import's path (binary COPY into staging, one INSERT ... SELECT per chunk,
    services/pg_load.py) is checked by the same trigger: a sample deleted by another session
    after the import read its sample codes makes the import wait, then fail with the plain
    sentence once the delete commits; the chunk written before is rolled back with it."""
    from exolab.io import bulk
    from exolab.services import pg_load
    from exolab.services.errors import ExolabError
    from tests.queries.test_readout_sets import assert_sets_current

    monkeypatch.setattr(pg_load, "CHUNK_ROWS", 2)
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 2)
    ids = _cohort_without_isolations(pg, tmp_path)
    deleter, watcher = raw(), raw()
    deleter.execute("DELETE FROM samples WHERE sample_code = 'P002-V1'")  # not committed yet
    deleter_pid = deleter.info.backend_pid
    text = (
        "sample_id,analyte,value,unit,assay,run_id,measured_on,replicate\n"
        "P001-V1,CD63,13,pg/mL,elisa,R1,2024-03-05,2\n"
        "P001-V1,CD63,14,pg/mL,elisa,R1,2024-03-05,3\n"
        "P002-V1,CD63,15,pg/mL,elisa,R1,2024-03-05,1\n"
        "P002-V1,CD63,16,pg/mL,elisa,R1,2024-03-05,2\n"
    )

    def import_it() -> None:
        load(pg, tmp_path, "readouts", text)

    t, errors = in_thread(import_it)
    for _ in range(200):  # until the import's second chunk waits for the deleted row's lock
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> %s AND wait_event_type = 'Lock'",
            (deleter_pid,),
        ).fetchone()
        watcher.commit()
        if row and row[0]:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the import never waited for the deleting session")
    deleter.commit()
    t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], ExolabError), errors
    assert str(errors[0]) == (
        "the database refused the readouts of rows 4-5 (written together): "
        "a readout refers to sample id "
        f"{ids['P002-V1']}, which does not exist"
    )
    assert counts(pg) == (2, 2, 2)  # the sample is gone; the file's first chunk too
    _no_orphans(pg)
    assert assert_sets_current(pg) == 2


@PG_ONLY
def test_repeatable_read_may_not_remove_referenced_rows(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    """Under REPEATABLE READ a delete cannot see readouts committed after its snapshot (the
    built-in check can), so such a transaction is refused instead of leaving an orphan."""
    import psycopg

    ids = _cohort_without_isolations(pg, tmp_path)
    inserter, deleter = raw(), raw()
    deleter.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    deleter.execute("SELECT 1")  # the snapshot is taken
    inserter.execute(INSERT_SQL, (ids["P002-V1"], ids["CD63"]))
    inserter.commit()
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="READ COMMITTED"):
        deleter.execute("DELETE FROM samples WHERE sample_code = 'P002-V1'")
    deleter.rollback()
    _no_orphans(pg)


@PG_ONLY
def test_a_technician_login_is_checked_too(pg: Lab, raw: Callable[[], Any], tmp_path: Path) -> None:
    """The triggers run as the owner of the tables: a technician, who may not lock analytes,
    still inserts readouts, and still cannot insert an orphan."""
    import psycopg

    ids = _cohort_without_isolations(pg, tmp_path)
    con = raw()
    con.execute("SET ROLE exolab_technician")
    con.execute(INSERT_SQL, (ids["P002-V1"], ids["CD63"]))
    con.commit()
    con.execute("SET ROLE exolab_technician")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        con.execute(INSERT_SQL, (987654, ids["CD63"]))
    con.rollback()
    assert counts(pg)[2] == 3


@PG_ONLY
def test_copy_into_readouts_is_checked(pg: Lab, raw: Callable[[], Any], tmp_path: Path) -> None:
    import psycopg

    ids = _cohort_without_isolations(pg, tmp_path)
    con = raw()
    cols = (
        "sample_id, analyte_id, assay, run_code, replicate, value_text, value, comparator, "
        "censor, version, created_at"
    )
    good = (ids["P002-V1"], ids["CD63"], "elisa", "", 1, "1", 1, "=", "none", 1, utcnow())
    orphan = (987654, ids["CD63"], "elisa", "", 2, "1", 1, "=", "none", 1, utcnow())
    with (
        pytest.raises(psycopg.errors.ForeignKeyViolation, match="sample id 987654"),
        con.cursor() as cur,
        cur.copy(f"COPY readouts ({cols}) FROM STDIN") as cp,
    ):
        cp.write_row(good)
        cp.write_row(orphan)
    con.rollback()
    assert counts(pg)[2] == 2


@PG_ONLY
def test_migration_down_restores_the_foreign_keys_and_refuses_orphans(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    base_cohort(pg, tmp_path, readouts=True)
    engine = pg.db.write_engine

    def constraints() -> set[str]:
        with engine.connect() as c:
            return {
                r[0]
                for r in c.execute(
                    text(
                        "SELECT conname FROM pg_constraint WHERE contype = 'f' "
                        "AND conrelid = 'readouts'::regclass"
                    )
                )
            }

    def enforced() -> set[str]:
        with engine.connect() as c:
            return pg_fk.enforced_by_triggers(c)

    every = {k.constraint for k in pg_fk.TRIGGER_KEYS}
    of_readouts = {k.constraint for k in pg_fk.TRIGGER_KEYS if k.child == "readouts"}
    assert constraints() == set() and enforced() == every
    migrate.downgrade(engine, "0009_trust")
    assert constraints() == of_readouts and enforced() == set()
    migrate.upgrade(engine)
    assert constraints() == set() and enforced() == every

    # an orphan made behind the triggers' back (a superuser skipping triggers) is reported by
    # `exolab db check` and stops the downgrade, which changes nothing
    con = raw()
    con.execute("SET session_replication_role = replica")
    con.execute(INSERT_SQL, (987654, _ids(pg)["CD63"]))
    con.commit()
    problems, _notes = check_database(Lab(Database(pg.db.url), "tester"))
    assert "1 readouts refer to a sample that does not exist" in problems
    with pytest.raises(Exception, match="1 readouts refer to a sample that does not exist"):
        migrate.downgrade(engine, "0009_trust")
    with pytest.raises(Conflict) as exc:  # what `exolab db downgrade 0009_trust` prints
        downgrade_service.downgrade(Lab(Database(pg.db.url), "tester"), "0009_trust")
    assert str(exc.value).startswith("cannot downgrade the schema to 0009_trust: cannot restore")
    assert "Nothing was changed" in str(exc.value)
    assert migrate.current_revision(engine) == SCHEMA_HEAD  # (nothing changed: still the head)
    assert constraints() == set() and enforced() == every


@PG_ONLY
def test_db_check_reports_a_disabled_trigger(pg: Lab, tmp_path: Path) -> None:
    with pg.db.write_engine.begin() as c:
        c.execute(text("ALTER TABLE samples DISABLE TRIGGER exolab_fk_samples_delete"))
    problems, _notes = check_database(pg)
    assert any("references to samples are not enforced" in p for p in problems)


@PG_ONLY
def test_backup_restored_into_an_empty_database_keeps_the_triggers(
    pg: Lab, empty_db_url: str, tmp_path: Path
) -> None:
    """pg_restore creates triggers after the data: the restored readouts load, and the
    restored database refuses orphans as the original does."""
    from tests.security.test_restore import run

    base_cohort(pg, tmp_path, readouts=True)
    backup = tmp_path / "lab.backup"
    assert run("--db", pg.db.url, "db", "backup", str(backup))[0] == 0
    code, out, err = run("--db", empty_db_url, "db", "restore", str(backup))
    assert code == 0 and "matches the anchor" in out, err
    restored = Lab(Database(empty_db_url), "tester")
    try:
        assert counts(restored)[2] == 4
        with restored.db.engine.connect() as c:
            assert pg_fk.enforced_by_triggers(c) == {k.constraint for k in pg_fk.TRIGGER_KEYS}
        with pytest.raises(Conflict, match="sample id 987654"), restored.write() as tx:
            tx.session.execute(insert(Readout), [_readout_row(987654, _ids(restored)["CD63"])])
        problems, _notes = check_database(restored)
        assert problems == []
    finally:
        restored.db.dispose()
