"""The references of samples and isolations stay whole on both databases: SQLite by its foreign
keys, PostgreSQL by the set-based triggers of migration 0014_pg_fk_records
(docs/reliability.md, "How references are kept on PostgreSQL"): inserts and updates that
refer to nothing, removals of referenced rows, a tube and its aliquots together, two
sessions racing, `exolab db check` and the migration."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text, update

from exolab.db import migrate, pg_fk
from exolab.db.engine import Database
from exolab.db.models import Isolation, Sample
from exolab.services import downgrade as downgrade_service
from exolab.services import samples as sample_service
from exolab.services.context import Lab
from exolab.services.errors import Conflict
from exolab.services.integrity import check_database
from tests.db.races import in_thread, wait_blocked
from tests.io.helpers import load

PG_ONLY = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
REPO = Path(__file__).resolve().parents[2]

SUBJECTS = """study,subject_id,sex
S1,P001,F
S1,P002,M
S1,P003,F
"""
CELLS = """cell_source_id,cell_type,species
MSC-1,mesenchymal stromal cells,Homo sapiens
"""
# tubes and an aliquot of one of them (P001-V2, which has no isolation) in one file: the bulk
# path writes them with one COPY, the aliquot's parent in the same statement
SAMPLES = """sample_id,biofluid,collected_at,study,subject_id,visit,tube,volume_ml,parent_sample_id,cell_source_id,location
P001-V1,plasma,2024-01-11 10:41,S1,P001,baseline,k2edta,4.0,,,F-80/R1/B01/A1
P001-V2,plasma,2024-04-11 10:00,S1,P001,M3,k2edta,4.0,,,F-80/R1/B01/A2
P002-V1,serum,2024-01-12 09:00,S1,P002,baseline,sst,2.0,,,F-80/R1/B01/A3
P001-V2-A1,plasma,2024-04-11 10:00,,,,,1.0,P001-V2,,F-80/R1/B01/A4
CM-1,conditioned_medium,2024-03-01 10:00,,,,,10,,MSC-1,F-80/R1/B01/A5
"""
ISOLATIONS = """isolation_id,sample_id,isolated_on,method,input_volume_ml,sec_column,final_volume_ul
ISO-1,P001-V1,2024-03-02,sec,0.5,qEV,200
ISO-2,P002-V1,2024-03-03,sec,0.5,qEV,100
"""
MISSING = 987654

SAMPLE_WORDS = {
    "batch_id": "import batch",
    "box_id": "box",
    "cell_source_id": "cell source",
    "parent_id": "parent sample",
    "subject_id": "subject",
    "visit_id": "visit",
}
ISOLATION_WORDS = {"sample_id": "sample", "batch_id": "import batch"}


def _world(lab: Lab, tmp: Path) -> None:
    load(lab, tmp, "subjects", SUBJECTS)
    load(lab, tmp, "cell_sources", CELLS)
    load(lab, tmp, "samples", SAMPLES, create_locations=True)
    load(lab, tmp, "isolations", ISOLATIONS)


def _counts(lab: Lab) -> tuple[int, int]:
    with lab.read() as tx:
        s = tx.session
        return (
            s.scalar(select(func.count()).select_from(Sample)) or 0,
            s.scalar(select(func.count()).select_from(Isolation)) or 0,
        )


def _no_orphans(lab: Lab) -> None:
    """No row of any trigger-kept reference refers to nothing (the same query holds on
    SQLite, where the constraints keep them)."""
    with lab.read() as tx:
        for key in pg_fk.TRIGGER_KEYS:
            assert tx.session.execute(text(pg_fk.orphans_sql(key))).scalar_one() == 0, key


def _row(lab: Lab, model: Any, code_col: Any, code: str) -> dict[str, Any]:
    """A stored row as a dict for an INSERT of a copy of it (no id)."""
    with lab.read() as tx:
        row = dict(
            tx.session.execute(select(model.__table__).where(code_col == code)).mappings().one()
        )
    del row["id"]
    return row


def _sample_copy(lab: Lab, code: str, **values: Any) -> dict[str, Any]:
    row = _row(lab, Sample, Sample.sample_code, "P001-V1")
    row.update(sample_code=code, position=None, **values)
    return row


def _refused(exc: pytest.ExceptionInfo[Conflict], sentence: str, constraint: str) -> None:
    msg = str(exc.value)
    for sql in ("INSERT", "UPDATE", "SELECT", "[SQL"):
        assert sql not in msg
    orig = exc.value.__cause__.orig  # type: ignore[union-attr]
    assert sentence in msg, msg
    assert orig.sqlstate == "23503"
    assert orig.diag.constraint_name == constraint


# -- one session: the referring tables -------------------------------------------------------


@pytest.mark.parametrize("column", sorted(SAMPLE_WORDS))
def test_each_sample_reference_is_checked_on_insert_and_update(
    lab: Lab, tmp_path: Path, column: str
) -> None:
    _world(lab, tmp_path)
    before = _counts(lab)
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(
            insert(Sample.__table__), [_sample_copy(lab, "NEW-1", **{column: MISSING})]
        )
    pg = lab.db.dialect == "postgresql"
    constraint = f"fk_samples_{column}_{_parent(column)}"
    if pg:
        _refused(
            exc,
            f"a sample refers to {SAMPLE_WORDS[column]} id {MISSING}, which does not exist",
            constraint,
        )
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(
            update(Sample.__table__)
            .where(Sample.sample_code == "P002-V1")
            .values({column: MISSING})
        )
    if pg:
        _refused(
            exc,
            f"a sample refers to {SAMPLE_WORDS[column]} id {MISSING}, which does not exist",
            constraint,
        )
    assert _counts(lab) == before
    _no_orphans(lab)


def _parent(column: str) -> str:
    return {
        "batch_id": "import_batches",
        "box_id": "boxes",
        "cell_source_id": "cell_sources",
        "parent_id": "samples",
        "subject_id": "subjects",
        "visit_id": "visits",
    }[column]


@pytest.mark.parametrize("column", sorted(ISOLATION_WORDS))
def test_each_isolation_reference_is_checked_on_insert_and_update(
    lab: Lab, tmp_path: Path, column: str
) -> None:
    _world(lab, tmp_path)
    row = _row(lab, Isolation, Isolation.isolation_code, "ISO-1")
    row.update(isolation_code="ISO-9", **{column: MISSING})
    pg = lab.db.dialect == "postgresql"
    constraint = (
        f"fk_isolations_{column}_{'samples' if column == 'sample_id' else 'import_batches'}"
    )
    sentence = (
        f"an isolation refers to {ISOLATION_WORDS[column]} id {MISSING}, which does not exist"
    )
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(insert(Isolation.__table__), [row])
    if pg:
        _refused(exc, sentence, constraint)
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(
            update(Isolation.__table__)
            .where(Isolation.isolation_code == "ISO-2")
            .values({column: MISSING})
        )
    if pg:
        _refused(exc, sentence, constraint)
    assert _counts(lab) == (5, 2)
    _no_orphans(lab)


def test_changing_a_reference_to_an_existing_row_and_per_record_writes_pass(
    lab: Lab, tmp_path: Path
) -> None:
    """Single-record writes through the services (register, aliquot, move, delete) are not
    disturbed by the checks."""
    _world(lab, tmp_path)
    with lab.write() as tx:
        sample_service.register_sample(
            tx,
            {
                "sample_id": "P002-V1-A1",
                "biofluid": "serum",
                "collected_at": "2024-01-12 09:00",
                "parent_sample_id": "P002-V1",
                "volume_ml": "0.5",
                "location": "F-80/R1/B01/B1",
            },
        )
    with lab.write() as tx:  # to another existing visit and box position
        tx.session.execute(
            update(Sample.__table__)
            .where(Sample.sample_code == "P002-V1-A1")
            .values(
                parent_id=select(Sample.id).where(Sample.sample_code == "P001-V1").scalar_subquery()
            )
        )
    with lab.write() as tx:
        sample_service.delete_sample(tx, "P002-V1-A1", reason="registered twice")
    assert _counts(lab) == (5, 2)
    _no_orphans(lab)
    problems, _notes = check_database(lab)
    assert problems == []


# -- one session: the referenced tables ------------------------------------------------------

# table, the rows to remove, then what a delete, an id change and a TRUNCATE ... CASCADE are
# told on PostgreSQL (None: refused by a constraint that is still a constraint)
REMOVALS = [
    (
        "boxes",
        "path = 'F-80/R1/B01'",
        "cannot delete box F-80/R1/B01: samples still refer to it",
        "cannot change the id of box F-80/R1/B01: samples still refer to it",
        "cannot empty boxes: samples still refer to it",
    ),
    (
        "cell_sources",
        "code = 'MSC-1'",
        "cannot delete cell source MSC-1: samples still refer to it",
        "cannot change the id of cell source MSC-1: samples still refer to it",
        "cannot empty cell_sources: samples still refer to it",
    ),
    (
        "subjects",
        "subject_code = 'P002'",
        r"cannot delete (subject P002|visit \d+): samples still refer to it",
        "cannot change the id of subject P002: (samples|visits) still refer to it",
        "cannot empty subjects: (samples|visits) still refer to it",
    ),
    (
        "visits",
        "id = (SELECT visit_id FROM samples WHERE sample_code = 'P002-V1')",
        r"cannot delete visit \d+: samples still refer to it",
        r"cannot change the id of visit \d+: samples still refer to it",
        "cannot empty visits: samples still refer to it",
    ),
    (
        "samples",  # a tube with an aliquot (and nothing else)
        "sample_code = 'P001-V2'",
        "cannot delete sample P001-V2: aliquots still refer to it",
        "cannot change the id of sample P001-V2: aliquots still refer to it",
        "cannot empty samples: isolations still refer to it",
    ),
    (
        "samples",  # a tube with an isolation
        "sample_code = 'P002-V1'",
        "cannot delete sample P002-V1: isolations still refer to it",
        "cannot change the id of sample P002-V1: isolations still refer to it",
        None,
    ),
    (
        "import_batches",
        "id = (SELECT batch_id FROM samples WHERE sample_code = 'P001-V1')",
        r"cannot delete import batch \d+: samples still refer to it",
        r"cannot change the id of import batch \d+: samples still refer to it",
        "cannot empty import_batches: (isolations|samples) still refer to it",
    ),
    (
        "import_batches",
        "id = (SELECT batch_id FROM isolations WHERE isolation_code = 'ISO-1')",
        r"cannot delete import batch \d+: isolations still refer to it",
        r"cannot change the id of import batch \d+: isolations still refer to it",
        None,
    ),
]


@pytest.mark.parametrize(("table", "where", "on_delete", "on_update", "on_truncate"), REMOVALS)
def test_removing_a_referenced_row_is_refused(
    lab: Lab,
    tmp_path: Path,
    table: str,
    where: str,
    on_delete: str,
    on_update: str | None,
    on_truncate: str | None,
) -> None:
    _world(lab, tmp_path)
    pg = lab.db.dialect == "postgresql"
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(text(f"DELETE FROM {table} WHERE {where}"))
    if pg:
        assert re.search(on_delete, str(exc.value)), str(exc.value)
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(text(f"UPDATE {table} SET id = id + 100000 WHERE {where}"))
    if pg and on_update:
        assert re.search(on_update, str(exc.value)), str(exc.value)
    if pg and on_truncate:
        with pytest.raises(Conflict) as exc, lab.write() as tx:
            tx.session.execute(text(f"TRUNCATE {table} CASCADE"))
        assert re.search(on_truncate, str(exc.value)), str(exc.value)
    assert _counts(lab) == (5, 2)
    _no_orphans(lab)


def test_an_unreferenced_row_may_go_and_be_renumbered(lab: Lab, tmp_path: Path) -> None:
    _world(lab, tmp_path)
    with lab.write() as tx:
        tx.session.execute(text("UPDATE samples SET id = id + 100000 WHERE sample_code = 'CM-1'"))
        tx.session.execute(text("DELETE FROM samples WHERE sample_code = 'CM-1'"))
        tx.session.execute(text("DELETE FROM cell_sources WHERE code = 'MSC-1'"))
    assert _counts(lab) == (4, 2)
    _no_orphans(lab)


# -- the ON DELETE CASCADE keys: visits of a subject, steps of an isolation ------------------


def _n(lab: Lab, sql: str) -> int:
    with lab.read() as tx:
        return int(tx.session.execute(text(sql)).scalar_one())


def _visit_of_p003(lab: Lab) -> None:
    with lab.write() as tx:
        tx.session.execute(
            text(
                "INSERT INTO visits (subject_id, label) SELECT id, 'V9' FROM subjects "
                "WHERE subject_code = 'P003'"
            )
        )


def test_deleting_a_subject_or_an_isolation_still_cascades(lab: Lab, tmp_path: Path) -> None:
    _world(lab, tmp_path)
    _visit_of_p003(lab)
    visits, steps = (
        _n(lab, "SELECT count(*) FROM visits"),
        _n(lab, "SELECT count(*) FROM isolation_steps"),
    )
    iso_steps = _n(
        lab,
        "SELECT count(*) FROM isolation_steps WHERE isolation_id = "
        "(SELECT id FROM isolations WHERE isolation_code = 'ISO-1')",
    )
    assert iso_steps >= 1
    with lab.write() as tx:
        tx.session.execute(text("DELETE FROM subjects WHERE subject_code = 'P003'"))
        tx.session.execute(text("DELETE FROM isolations WHERE isolation_code = 'ISO-1'"))
    assert _n(lab, "SELECT count(*) FROM visits") == visits - 1
    assert _n(lab, "SELECT count(*) FROM isolation_steps") == steps - iso_steps
    _no_orphans(lab)


@pytest.mark.parametrize(
    ("table", "row", "sentence", "constraint"),
    [
        (
            "visits",
            f"INSERT INTO visits (subject_id, label) VALUES ({MISSING}, 'V1')",
            f"a visit refers to subject id {MISSING}, which does not exist",
            "fk_visits_subject_id_subjects",
        ),
        (
            "isolation_steps",
            "INSERT INTO isolation_steps (isolation_id, step_no, method, params) "
            f"VALUES ({MISSING}, 1, 'sec', '{{}}')",
            f"an isolation step refers to isolation id {MISSING}, which does not exist",
            "fk_isolation_steps_isolation_id_isolations",
        ),
    ],
)
def test_a_visit_or_step_referring_to_nothing_is_refused(
    lab: Lab, tmp_path: Path, table: str, row: str, sentence: str, constraint: str
) -> None:
    _world(lab, tmp_path)
    before = _n(lab, f"SELECT count(*) FROM {table}")
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(text(row))
    if lab.db.dialect == "postgresql":
        _refused(exc, sentence, constraint)
    column = "subject_id" if table == "visits" else "isolation_id"
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(
            text(
                f"UPDATE {table} SET {column} = {MISSING} WHERE id = (SELECT min(id) FROM {table})"
            )
        )
    if lab.db.dialect == "postgresql":
        _refused(exc, sentence, constraint)
    with pytest.raises(Conflict), lab.write() as tx:  # a referenced isolation renumbered
        tx.session.execute(text("UPDATE isolations SET id = id + 100000"))
    assert _n(lab, f"SELECT count(*) FROM {table}") == before
    _no_orphans(lab)


@PG_ONLY
def test_a_visit_added_while_its_subject_is_deleted_goes_with_it(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    """Insert first: the delete waits for it, then deletes the new visit too (as the built-in
    cascade does). Delete first: the insert waits, then is refused."""
    import psycopg

    _world(pg, tmp_path)
    inserter, deleter, watcher = raw(), raw(), raw()
    add = "INSERT INTO visits (subject_id, label) SELECT id, 'V9' FROM subjects WHERE subject_code = 'P003'"
    inserter.execute(add)  # not committed yet
    deleter_pid = deleter.info.backend_pid

    def delete_it() -> None:
        deleter.execute("DELETE FROM subjects WHERE subject_code = 'P003'")
        deleter.commit()

    t, errors = in_thread(delete_it)
    wait_blocked(watcher, deleter_pid)
    inserter.commit()
    t.join(30)
    assert errors == []
    assert _n(pg, "SELECT count(*) FROM subjects WHERE subject_code = 'P003'") == 0
    _no_orphans(pg)

    load(pg, tmp_path, "subjects", "study,subject_id\nS1,P004\n")
    deleter.execute("DELETE FROM subjects WHERE subject_code = 'P004'")  # not committed yet
    inserter_pid = inserter.info.backend_pid

    def insert_it() -> None:
        inserter.execute(add.replace("P003", "P004"))
        inserter.commit()

    t, errors = in_thread(insert_it)
    wait_blocked(watcher, inserter_pid)
    deleter.commit()
    t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.ForeignKeyViolation)
    assert "a visit refers to subject id" in str(errors[0])
    inserter.rollback()
    _no_orphans(pg)


# -- a tube and its aliquots together ----------------------------------------------------------


def test_an_aliquot_inserted_with_its_parent_in_one_statement(lab: Lab, tmp_path: Path) -> None:
    """The check runs after the statement: the parent it inserted is there; a parent id that
    no row of the statement (or the table) has is refused."""
    _world(lab, tmp_path)
    with lab.write() as tx:
        s = tx.session
        if lab.db.dialect == "postgresql":
            tube_id, aliquot_id = s.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('samples', 'id')) FROM generate_series(1, 2)"
                )
            ).scalars()
        else:
            top = int(s.scalar(select(func.max(Sample.id))) or 0)
            tube_id, aliquot_id = top + 1, top + 2
        s.execute(
            insert(Sample.__table__),
            [
                _sample_copy(lab, "T-1", id=tube_id, box_id=None),
                _sample_copy(lab, "T-1-A1", id=aliquot_id, parent_id=tube_id, box_id=None),
            ],
        )
    with pytest.raises(Conflict) as exc, lab.write() as tx:
        tx.session.execute(
            insert(Sample.__table__),
            [
                _sample_copy(lab, "T-2", id=aliquot_id + 10, box_id=None),
                _sample_copy(
                    lab, "T-2-A1", id=aliquot_id + 11, parent_id=aliquot_id + 12, box_id=None
                ),
            ],
        )
    if lab.db.dialect == "postgresql":
        assert f"refers to parent sample id {aliquot_id + 12}" in str(exc.value)
    with lab.read() as tx:
        parent = tx.session.scalar(select(Sample.parent_id).where(Sample.sample_code == "T-1-A1"))
    assert parent == tube_id
    assert _counts(lab) == (7, 2)
    _no_orphans(lab)


def test_undo_of_a_bulk_import_of_tubes_with_aliquots(lab: Lab, tmp_path: Path) -> None:
    """Undo deletes a batch's tubes and their aliquots (and aliquots of aliquots) in one
    statement: it passes; a tube of the batch with an aliquot from elsewhere stops it."""
    from exolab.io.importer import undo_batch

    load(lab, tmp_path, "subjects", SUBJECTS)
    rows = [
        "sample_id,biofluid,collected_at,study,subject_id,visit,tube,volume_ml,parent_sample_id,location"
    ]
    for i in range(40):
        rows.append(
            f"T{i:03d},plasma,2024-01-11 10:41,S1,P001,baseline,k2edta,4.0,,F-80/R1/B02/{'ABCDEFGHI'[i // 9]}{i % 9 + 1}"
        )
        rows.append(f"T{i:03d}-A1,plasma,2024-01-11 10:41,,,,,1.0,T{i:03d},")
    rows.append("T000-A1a,plasma,2024-01-11 10:41,,,,,0.5,T000-A1,")
    report = load(lab, tmp_path, "samples", "\n".join(rows) + "\n", create_locations=True)
    assert report.created == 81
    with lab.read() as tx:  # the aliquots really point at tubes of the same statement
        n = tx.session.scalar(
            select(func.count()).select_from(Sample).where(Sample.parent_id.is_not(None))
        )
    assert n == 41
    # a tube of the batch that a later aliquot (another batch) refers to: undo is refused
    second = load(
        lab,
        tmp_path,
        "samples",
        "sample_id,biofluid,collected_at,volume_ml,parent_sample_id\nT005-A2,plasma,2024-01-11 10:41,1.0,T005\n",
    )
    with pytest.raises(Conflict):
        undo_batch(lab, report.batch_id or 0)
    undo_batch(lab, second.batch_id or 0)
    undone = undo_batch(lab, report.batch_id or 0)
    assert undone.removed["samples"] == 81
    assert _counts(lab) == (0, 0)
    _no_orphans(lab)


# -- PostgreSQL: two sessions ----------------------------------------------------------------


def _empty_box(lab: Lab, tmp: Path) -> int:
    """The world and an empty box F-80/R1/B02; its id."""
    _world(lab, tmp)
    with lab.write() as tx:
        return int(
            tx.session.execute(
                text(
                    "INSERT INTO boxes (rack_id, code, path, n_rows, n_cols) SELECT rack_id, "
                    "'B02', 'F-80/R1/B02', 9, 9 FROM boxes WHERE path = 'F-80/R1/B01' RETURNING id"
                )
            ).scalar_one()
        )


def _insert_sql(code: str) -> str:
    """INSERT of a copy of P001-V1 named ``code`` into the box given as the parameter."""
    cols = [c.name for c in Sample.__table__.columns if c.name != "id"]
    values = {"sample_code": f"'{code}'", "position": "'A1'", "box_id": "%s"}
    return (
        f"INSERT INTO samples ({', '.join(cols)}) SELECT "
        + ", ".join(values.get(c, c) for c in cols)
        + " FROM samples WHERE sample_code = 'P001-V1'"
    )


@PG_ONLY
def test_insert_into_a_box_first_then_concurrent_delete_loses(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    import psycopg

    box = _empty_box(pg, tmp_path)
    inserter, deleter, watcher = raw(), raw(), raw()
    inserter.execute(_insert_sql("RACE-1"), (box,))  # not committed yet
    deleter_pid = deleter.info.backend_pid

    def delete_it() -> None:
        deleter.execute("DELETE FROM boxes WHERE path = 'F-80/R1/B02'")
        deleter.commit()

    t, errors = in_thread(delete_it)
    wait_blocked(watcher, deleter_pid)  # the inserter's FOR KEY SHARE lock holds it
    inserter.commit()
    t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.ForeignKeyViolation)
    assert "cannot delete box F-80/R1/B02: samples still refer to it" in str(errors[0])
    deleter.rollback()
    assert _counts(pg) == (6, 2)
    _no_orphans(pg)


@PG_ONLY
def test_delete_a_box_first_then_concurrent_insert_loses(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    import psycopg

    box = _empty_box(pg, tmp_path)
    inserter, deleter, watcher = raw(), raw(), raw()
    deleter.execute("DELETE FROM boxes WHERE path = 'F-80/R1/B02'")  # not committed yet
    inserter_pid = inserter.info.backend_pid

    def insert_it() -> None:
        inserter.execute(_insert_sql("RACE-1"), (box,))
        inserter.commit()

    t, errors = in_thread(insert_it)
    wait_blocked(watcher, inserter_pid)  # its check waits for the deleted row's lock
    deleter.commit()
    t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.ForeignKeyViolation)
    assert f"a sample refers to box id {box}, which does not exist" in str(errors[0])
    assert errors[0].diag.constraint_name == "fk_samples_box_id_boxes"
    inserter.rollback()
    assert _counts(pg) == (5, 2)
    _no_orphans(pg)


def _aliquot_sql(code: str) -> str:
    """INSERT of an aliquot named ``code`` (no box) of the tube whose id is the parameter."""
    cols = [c.name for c in Sample.__table__.columns if c.name != "id"]
    values = {"sample_code": f"'{code}'", "position": "NULL", "box_id": "NULL", "parent_id": "%s"}
    return (
        f"INSERT INTO samples ({', '.join(cols)}) SELECT "
        + ", ".join(values.get(c, c) for c in cols)
        + " FROM samples WHERE sample_code = 'CM-1'"
    )


@PG_ONLY
@pytest.mark.parametrize("first", ["aliquot", "delete"])
def test_an_aliquot_racing_the_delete_of_its_tube(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path, first: str
) -> None:
    """The tube CM-1 (nothing refers to it) is deleted by one session while another inserts
    an aliquot of it: whichever comes second waits for the first and loses."""
    import psycopg

    _world(pg, tmp_path)
    with pg.read() as tx:
        tube = tx.session.scalar(select(Sample.id).where(Sample.sample_code == "CM-1"))
    inserter, deleter, watcher = raw(), raw(), raw()
    delete_sql = "DELETE FROM samples WHERE sample_code = 'CM-1'"
    if first == "aliquot":
        inserter.execute(_aliquot_sql("CM-1-A1"), (tube,))
        waiting, later = deleter, lambda: deleter.execute(delete_sql)
        winner = inserter
    else:
        deleter.execute(delete_sql)
        waiting, later = inserter, lambda: inserter.execute(_aliquot_sql("CM-1-A1"), (tube,))
        winner = deleter
    t, errors = in_thread(later)
    wait_blocked(watcher, waiting.info.backend_pid)
    winner.commit()
    t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], psycopg.errors.ForeignKeyViolation)
    if first == "aliquot":
        assert "cannot delete sample CM-1: aliquots still refer to it" in str(errors[0])
        assert _counts(pg) == (6, 2)
    else:
        assert f"a sample refers to parent sample id {tube}, which does not exist" in str(errors[0])
        assert _counts(pg) == (4, 2)
    waiting.rollback()
    _no_orphans(pg)


@PG_ONLY
def test_exolab_import_samples_racing_a_box_delete_fails_plainly(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    """`exolab import samples` into a box another session is deleting: the import waits for
    that session, then fails with a plain sentence (exit 1, no SQL, nothing written)."""
    _empty_box(pg, tmp_path)
    deleter, watcher = raw(), raw()
    deleter.execute("DELETE FROM boxes WHERE path = 'F-80/R1/B02'")  # not committed yet
    deleter_pid = deleter.info.backend_pid
    path = tmp_path / "more.csv"
    path.write_text(
        "sample_id,biofluid,collected_at,study,subject_id,visit,tube,volume_ml,location\n"
        "P002-V2,plasma,2024-05-01 09:00,S1,P002,M3,k2edta,2.0,F-80/R1/B02/A1\n"
        "P002-V3,plasma,2024-06-01 09:00,S1,P002,M6,k2edta,2.0,F-80/R1/B02/A2\n"
    )
    env = {**os.environ, "EXOLAB_DATABASE_URL": pg.db.url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exolab", "--user", "tester", "import", "samples", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        for _ in range(400):  # until the import waits for the deleting session
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> %s AND wait_event_type = 'Lock'",
                (deleter_pid,),
            ).fetchone()
            watcher.commit()
            if (row and row[0]) or proc.poll() is not None:
                break
            time.sleep(0.05)
        waited = bool(row and row[0])
        deleter.commit()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert waited, (out, err)
    assert proc.returncode == 1, (out, err)
    assert "more.csv:2:sample_id: the database refused the change (ForeignKeyViolation: a " in err
    assert "a sample refers to box id" in err and "which does not exist" in err, err
    assert "nothing was imported" in err
    for sql in ("INSERT", "SELECT", "COPY", "Traceback", "[SQL"):
        assert sql not in err
    assert _counts(pg) == (5, 2)
    _no_orphans(pg)


@PG_ONLY
def test_repeatable_read_may_not_remove_a_box(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    import psycopg

    _empty_box(pg, tmp_path)
    deleter = raw()
    deleter.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="READ COMMITTED"):
        deleter.execute("DELETE FROM boxes WHERE path = 'F-80/R1/B02'")
    deleter.rollback()


@PG_ONLY
def test_a_technician_login_is_checked_too(pg: Lab, raw: Callable[[], Any], tmp_path: Path) -> None:
    """The triggers run as the owner of the tables: a technician's login (not allowed to lock
    every referenced table itself) still registers tubes, and still cannot insert one that
    refers to nothing."""
    import psycopg

    box = _empty_box(pg, tmp_path)
    con = raw()
    con.execute("SET ROLE exolab_technician")
    con.execute(_insert_sql("TECH-1"), (box,))
    con.commit()
    con.execute("SET ROLE exolab_technician")
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match=f"box id {MISSING}"):
        con.execute(_insert_sql("TECH-2"), (MISSING,))
    con.rollback()
    assert _counts(pg) == (6, 2)
    _no_orphans(pg)


@PG_ONLY
def test_copy_into_samples_is_checked(pg: Lab, raw: Callable[[], Any], tmp_path: Path) -> None:
    import psycopg

    _world(pg, tmp_path)
    con = raw()
    good = _sample_copy(pg, "C-1", box_id=None)
    cols = list(good)
    with (
        pytest.raises(psycopg.errors.ForeignKeyViolation, match=f"subject id {MISSING}"),
        con.cursor() as cur,
        cur.copy(f"COPY samples ({', '.join(cols)}) FROM STDIN") as cp,
    ):
        cp.write_row([good[c] for c in cols])
        cp.write_row([{**good, "sample_code": "C-2", "subject_id": MISSING}[c] for c in cols])
    con.rollback()
    assert _counts(pg) == (5, 2)


# -- PostgreSQL: db check and the migration --------------------------------------------------


@PG_ONLY
def test_db_check_reports_a_disabled_trigger_and_orphans(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    _world(pg, tmp_path)
    problems, notes = check_database(pg)
    assert problems == []
    assert (
        "references of readouts, samples, isolations, visits and isolation_steps: ok (enforced by triggers)"
        in notes
    )
    with pg.db.write_engine.begin() as c:
        c.execute(text("ALTER TABLE samples DISABLE TRIGGER exolab_fk_samples_refs_insert"))
        c.execute(text("DROP TRIGGER exolab_fk_isolations_import_batches_delete ON import_batches"))
        c.execute(text("ALTER TABLE subjects DISABLE TRIGGER exolab_fk_visits_subjects_delete"))
    problems, _notes = check_database(pg)
    for parent in ("import_batches", "boxes", "cell_sources", "samples", "subjects", "visits"):
        assert (
            f"samples' references to {parent} are not enforced: a trigger is missing or disabled (docs/reliability.md)"
            in problems
        )
    assert (
        "isolations' references to import_batches are not enforced: a trigger is missing or disabled (docs/reliability.md)"
        in problems
    )
    assert (
        "visits' references to subjects are not enforced: a trigger is missing or disabled "
        "(docs/reliability.md)" in problems
    )
    assert not any("isolations' references to samples" in p for p in problems)
    with pg.db.write_engine.connect() as c:
        assert "fk_samples_box_id_boxes" not in pg_fk.enforced_by_triggers(c)

    # orphans made behind the triggers' back (a superuser skipping triggers)
    con = raw()
    con.execute("SET session_replication_role = replica")
    con.execute("UPDATE samples SET box_id = %s WHERE sample_code = 'P001-V1'", (MISSING,))
    con.execute("UPDATE isolations SET sample_id = %s WHERE isolation_code = 'ISO-1'", (MISSING,))
    con.commit()
    problems, _notes = check_database(pg)
    assert "1 samples refer to a box that does not exist" in problems
    assert "1 isolations refer to a sample that does not exist" in problems


@PG_ONLY
def test_migration_down_restores_the_foreign_keys_and_refuses_orphans(
    pg: Lab, raw: Callable[[], Any], tmp_path: Path
) -> None:
    _world(pg, tmp_path)
    engine = pg.db.write_engine
    ours = {k.constraint for k in pg_fk.TRIGGER_KEYS if k.child != "readouts"}
    of_readouts = {k.constraint for k in pg_fk.TRIGGER_KEYS if k.child == "readouts"}

    def constraints() -> dict[str, str]:
        """name -> ON DELETE action of the foreign keys of the tables 0014 changes"""
        with engine.connect() as c:
            return {
                r[0]: r[1]
                for r in c.execute(
                    text(
                        "SELECT conname, confdeltype FROM pg_constraint WHERE contype = 'f' "
                        "AND conrelid IN ('samples'::regclass, 'isolations'::regclass, "
                        "'visits'::regclass, 'isolation_steps'::regclass)"
                    )
                )
            }

    def enforced() -> set[str]:
        with engine.connect() as c:
            return pg_fk.enforced_by_triggers(c)

    def functions() -> set[str]:
        with engine.connect() as c:
            return set(
                c.execute(
                    text("SELECT proname FROM pg_proc WHERE proname LIKE 'exolab_fk_%'")
                ).scalars()
            )

    assert constraints() == {} and enforced() == ours | of_readouts
    migrate.downgrade(engine, "0013_datetime_text")
    cascade = {"fk_visits_subject_id_subjects", "fk_isolation_steps_isolation_id_isolations"}
    assert constraints() == {k: "c" if k in cascade else "a" for k in ours}  # as before
    assert enforced() == of_readouts
    assert functions() == {
        f"exolab_fk_{t}_{w}"
        for t in ("samples", "isolations", "analytes", "import_batches")
        for w in ("delete", "update", "truncate")
    } | {"exolab_fk_readouts_insert", "exolab_fk_readouts_update"}
    with pytest.raises(Conflict), pg.write() as tx:  # the constraint refuses it now
        tx.session.execute(
            text(f"UPDATE samples SET box_id = {MISSING} WHERE sample_code = 'CM-1'")
        )
    migrate.upgrade(engine)
    assert constraints() == {} and enforced() == ours | of_readouts

    con = raw()  # an orphan made behind the triggers' back stops the downgrade
    con.execute("SET session_replication_role = replica")
    con.execute("UPDATE samples SET parent_id = %s WHERE sample_code = 'CM-1'", (MISSING,))
    con.commit()
    with pytest.raises(Exception, match="1 samples refer to a parent sample that does not exist"):
        migrate.downgrade(engine, "0013_datetime_text")
    with pytest.raises(Conflict) as exc:  # what `exolab db downgrade 0013_datetime_text` prints
        downgrade_service.downgrade(Lab(Database(pg.db.url), "tester"), "0013_datetime_text")
    assert str(exc.value).startswith(
        "cannot downgrade the schema to 0013_datetime_text: cannot restore the foreign keys of "
        "samples, isolations, visits and isolation steps: 1 samples refer to a parent sample "
        "that does not exist"
    )
    assert migrate.current_revision(engine) == migrate.SCHEMA_HEAD
    assert constraints() == {} and enforced() == ours | of_readouts


def test_sqlite_keeps_its_foreign_keys(sqlite_url: str) -> None:
    """On SQLite the revision changes nothing: samples and isolations keep their constraints."""
    from sqlalchemy import inspect

    from exolab.db.engine import make_engine

    engine = make_engine(sqlite_url)
    try:
        insp = inspect(engine)
        names = {
            fk["name"]
            for t in ("samples", "isolations", "visits", "isolation_steps")
            for fk in insp.get_foreign_keys(t)
        }
        assert {k.constraint for k in pg_fk.TRIGGER_KEYS if k.child != "readouts"} <= names
        with engine.connect() as c:
            assert pg_fk.enforced_by_triggers(c) == set()
    finally:
        engine.dispose()
