"""readout_sets equals a from-scratch aggregation of readouts after every write path.

The expectation is computed here in plain Python from the readouts themselves (not with the
table's SQL): one set per sample x isolation x analyte x assay x run x unit (readouts with a
unit), n = non-censored numeric replicates, their sum, the censored count, the bound of the
censored replicates (the domain's rule, ``set_limit``: the highest ``<`` limit, the lowest ``>``
one, none when a censored replicate has no limit or the set is censored both ways) and the
lowest readout id.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from exolab.db import migrate
from exolab.db.models import Isolation, Readout, ReadoutSet
from exolab.domain.replicates import censor_direction, set_limit
from exolab.io import bulk
from exolab.io.importer import run_import, undo_batch
from exolab.services import pg_load
from exolab.services.context import Lab
from exolab.services.readouts import delete_readout, record_readout, update_readout
from tests.io.helpers import base_cohort, load

Key = tuple[Any, ...]


def expected_sets(lab: Lab) -> dict[Key, tuple[Any, ...]]:
    out: dict[Key, list[Any]] = {}
    with lab.read() as tx:
        for r in tx.session.execute(
            select(
                Readout.id,
                Readout.analyte_id,
                Readout.sample_id,
                Readout.isolation_id,
                Readout.assay,
                Readout.run_code,
                Readout.unit,
                Readout.censor,
                Readout.comparator,
                Readout.value,
            )
        ):
            if r.unit is None:
                continue
            key = (r.analyte_id, r.sample_id, r.isolation_id, r.assay, r.run_code, r.unit)
            acc = out.setdefault(key, [0, 0, [], [], r.id])
            if r.censor == "none" and r.value is not None:
                acc[0] += 1
                acc[2].append(r.value)
            if r.censor != "none":
                acc[1] += 1
                acc[3].append((censor_direction(r.censor, r.comparator), r.value))
            acc[4] = min(acc[4], r.id)
    return {
        k: (n, nc, math.fsum(vals) if vals else None, set_limit(censored)[1], first)
        for k, (n, nc, vals, censored, first) in out.items()
    }


def stored_sets(lab: Lab) -> dict[Key, tuple[Any, ...]]:
    found: dict[Key, tuple[Any, ...]] = {}
    with lab.read() as tx:
        for s in tx.session.scalars(select(ReadoutSet)):
            key = (s.analyte_id, s.sample_id, s.isolation_id, s.assay, s.run_code, s.unit)
            assert key not in found, f"set {key} stored twice"
            found[key] = (s.n, s.n_censored, s.total, s.censor_limit, s.first_readout_id)
    return found


def assert_sets_current(lab: Lab) -> int:
    want, got = expected_sets(lab), stored_sets(lab)
    assert set(got) == set(want)
    for key, (n, nc, total, limit, first) in want.items():
        g = got[key]
        assert (g[0], g[1], g[3], g[4]) == (n, nc, limit, first), key
        assert (g[2] is None) == (total is None), key
        if total is not None:
            assert math.isclose(g[2], total, rel_tol=1e-12), key
    return len(want)


MORE = """isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod,qc
ISO-1,,CD63,14.5,pg/mL,elisa,R1,2024-03-05,3,0.5,pass
ISO-1,,CD63,0.02,ng/mL,elisa,R1,2024-03-05,4,0.5,pass
ISO-3,,CD63,<LOD,pg/mL,elisa,R2,2024-03-06,1,0.5,pass
ISO-3,,CD63,>ULOQ,pg/mL,elisa,R2,2024-03-06,2,0.5,pass
,P001-V1,CD63,30,pg/mL,elisa,R1,2024-03-05,1,0.5,pass
"""

CHANGED = """isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod,qc
ISO-1,,CD63,<LOD,pg/mL,elisa,R1,2024-03-05,3,0.5,pass
ISO-1,,CD63,25,pg/mL,elisa,R1,2024-03-05,4,0.5,pass
,P001-V1,CD63,31,pg/mL,elisa,R1,2024-03-05,1,0.5,pass
"""


def _sets_of(lab: Lab) -> int:
    with lab.read() as tx:
        return len(tx.session.scalars(select(ReadoutSet.id)).all())


def test_bulk_import_update_and_undo_keep_sets_current(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    # ISO-1 CD63 (a value and a censored replicate), ISO-2 CD63; the unitless western blot
    # result forms no set
    assert assert_sets_current(lab) == 2
    more = load(lab, tmp_path, "readouts", MORE)
    # new replicates join the existing ISO-1 set; ng/mL is its own set until queries convert
    assert assert_sets_current(lab) == 5
    with lab.read() as tx:
        iso1 = tx.session.execute(
            select(ReadoutSet.n, ReadoutSet.n_censored, ReadoutSet.total).where(
                ReadoutSet.unit == "pg/mL", ReadoutSet.run_code == "R1", ReadoutSet.n == 2
            )
        ).one()
    assert (iso1.n, iso1.n_censored) == (2, 1) and math.isclose(iso1.total, 27.0)
    path = tmp_path / "changed.csv"
    path.write_text(CHANGED, encoding="utf-8")
    updated = run_import(lab, "readouts", path, on_duplicate="update")
    assert updated.updated == 3
    assert assert_sets_current(lab) == 4  # replicate 4 moved from ng/mL to pg/mL
    undo_batch(lab, updated.batch_id)  # restores the old values
    assert assert_sets_current(lab) == 5
    undo_batch(lab, more.batch_id)
    assert assert_sets_current(lab) == 2


def test_service_create_update_delete_keep_sets_current(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    row = {
        "isolation_id": "ISO-2",
        "analyte": "CD63",
        "value": "22",
        "unit": "pg/mL",
        "assay": "elisa",
        "run_id": "R1",
        "replicate": 2,
    }
    with lab.write() as tx:
        made = record_readout(tx, row)
    assert assert_sets_current(lab) == 2
    with lab.write() as tx:
        update_readout(tx, made.id, {"value": "<LOD", "lod": 1.0}, reason="re-read plate")
    assert assert_sets_current(lab) == 2
    with lab.write() as tx:
        update_readout(tx, made.id, {"value": "0.03", "unit": "ng/mL"}, reason="unit")
    assert assert_sets_current(lab) == 3
    with lab.write() as tx:
        delete_readout(tx, made.id, reason="wrong well")
    assert assert_sets_current(lab) == 2
    with lab.read() as tx:
        gone = tx.session.scalars(select(ReadoutSet).where(ReadoutSet.unit == "ng/mL")).all()
    assert gone == []


def test_failed_import_leaves_sets_untouched(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    before = stored_sets(lab)
    bad = MORE + "ISO-9,,CD63,1,pg/mL,elisa,R1,2024-03-05,1,0.5,pass\n"
    path = tmp_path / "bad.csv"
    path.write_text(bad, encoding="utf-8")
    from exolab.io.importer import ImportFailed

    try:
        run_import(lab, "readouts", path)
    except ImportFailed:
        pass
    else:
        raise AssertionError("the import should have failed")
    assert stored_sets(lab) == before


def test_migration_backfills_sets_from_existing_readouts(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path, readouts=True)
    load(lab, tmp_path, "readouts", MORE)
    engine = lab.db.engine
    migrate.downgrade(engine, "0002")
    with engine.connect() as c:
        names = {i["name"] for i in _indexes(c)}
    assert "ix_readouts_analyte_cohort" in names
    migrate.upgrade(engine)
    with engine.connect() as c:
        names = {i["name"] for i in _indexes(c)}
        assert c.execute(text("SELECT count(*) FROM readout_sets")).scalar_one() == 5
    assert "ix_readouts_analyte_cohort" not in names
    assert assert_sets_current(lab) == 5


def _indexes(conn: Any) -> list[Any]:
    from sqlalchemy import inspect

    return list(inspect(conn).get_indexes("readouts"))


# Censored sets whose bound the replicate-set table must carry (docs/longitudinal.md):
LIMITS = """isolation_id,sample_id,analyte,value,unit,assay,run_id,measured_on,replicate,lod,uloq,qc
ISO-1,,CD63,<LOD,pg/mL,elisa,R1,2024-03-05,1,50,,pass
ISO-1,,CD63,<LOD,pg/mL,elisa,R1,2024-03-05,2,,,pass
ISO-2,,CD63,<LOD,pg/mL,elisa,R1,2024-03-05,1,40,,pass
ISO-2,,CD63,<LOD,pg/mL,elisa,R1,2024-03-05,2,60,,pass
ISO-3,,CD63,>ULOQ,pg/mL,elisa,R1,2024-03-05,1,,1000,pass
ISO-3,,CD63,>ULOQ,pg/mL,elisa,R1,2024-03-05,2,,800,pass
ISO-3,,CD63,<LOD,pg/mL,elisa,R2,2024-03-06,1,0.5,,pass
ISO-3,,CD63,>ULOQ,pg/mL,elisa,R2,2024-03-06,2,,1000,pass
ISO-3,,CD63,>ULOQ,pg/mL,elisa,R3,2024-03-07,1,,,pass
ISO-3,,CD63,>ULOQ,pg/mL,elisa,R3,2024-03-07,2,,900,pass
"""
#: (isolation, run) -> the set's bound: ISO-1 has a <LOD whose lod was not recorded (none);
#: ISO-2 the highest of its limits; ISO-3 R1 the lowest of its >ULOQ limits; R2 is censored
#: both ways (none); R3 has a >ULOQ whose uloq was not recorded (none).
LIMITS_BOUNDS = {
    ("ISO-1", "R1"): None,
    ("ISO-2", "R1"): 60.0,
    ("ISO-3", "R1"): 800.0,
    ("ISO-3", "R2"): None,
    ("ISO-3", "R3"): None,
}


def limits(lab: Lab) -> dict[tuple[str, str], float | None]:
    """(isolation, run) -> the stored bound of each CD63 set in pg/mL."""
    with lab.read() as tx:
        rows = tx.session.execute(
            select(Isolation.isolation_code, ReadoutSet.run_code, ReadoutSet.censor_limit)
            .join(Isolation, Isolation.id == ReadoutSet.isolation_id)
            .where(ReadoutSet.unit == "pg/mL")
        ).all()
    return {(iso, run): limit for iso, run, limit in rows}


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_load, "CHUNK_ROWS", 2)
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 2)


@pytest.mark.parametrize("files", [1, 2])
def test_bulk_import_stores_no_bound_for_an_unrecorded_limit(
    lab: Lab, tmp_path: Path, tiny_chunks: None, files: int
) -> None:
    """The bulk readout import (SQLite's writer, PostgreSQL's chunk statement) in chunks of two
    rows: a set with a censored replicate whose limit is unknown has no bound, whether that
    replicate comes in a later chunk of the same file or in a second file (joining the stored
    set); a set with all limits known keeps the highest limit (the lowest for ``>``)."""
    base_cohort(lab, tmp_path)
    header, with_lod, without_lod, *rest = LIMITS.splitlines(keepends=True)
    if files == 1:
        load(lab, tmp_path, "readouts", header + with_lod + "".join(rest) + without_lod)
    else:
        load(lab, tmp_path, "readouts", header + with_lod + "".join(rest))
        assert limits(lab)["ISO-1", "R1"] == 50.0
        load(lab, tmp_path, "readouts", header + without_lod)
    assert limits(lab) == LIMITS_BOUNDS
    assert assert_sets_current(lab) == 5


def test_record_edit_and_undo_keep_the_bound_rule(lab: Lab, db_url: str, tmp_path: Path) -> None:
    """``readout add`` of a <LOD without a lod takes the set's bound away; an edit that adds
    the missing lod brings it back (the highest of the two); an update import and its undo
    move it; an import adding another <LOD without a lod takes it away, its undo brings it
    back."""
    from tests.test_cli import run

    base_cohort(lab, tmp_path)
    load(lab, tmp_path, "readouts", "".join(LIMITS.splitlines(keepends=True)[:2]))
    assert limits(lab) == {("ISO-1", "R1"): 50.0}
    r = run("--db", db_url, "readout", "add", "--isolation-id", "ISO-1", "--analyte", "CD63",
            "--value", "<LOD", "--unit", "pg/mL", "--assay", "elisa", "--run-id", "R1",
            "--replicate", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert limits(lab) == {("ISO-1", "R1"): None}
    assert assert_sets_current(lab) == 1
    with lab.read() as tx:
        added = tx.session.scalars(select(Readout.id).where(Readout.replicate == 2)).one()
    with lab.write() as tx:
        update_readout(tx, added, {"value": "<LOD", "lod": 70.0}, reason="lod from the kit")
    assert limits(lab) == {("ISO-1", "R1"): 70.0}
    with lab.write() as tx:
        update_readout(tx, added, {"value": "<LOD", "lod": 30.0}, reason="the kit's lot")
    assert limits(lab) == {("ISO-1", "R1"): 50.0}
    assert assert_sets_current(lab) == 1
    header = LIMITS.splitlines(keepends=True)[0]
    path = tmp_path / "lod-80.csv"
    path.write_text(header + "ISO-1,,CD63,<LOD,pg/mL,elisa,R1,2024-03-05,2,80,,pass\n")
    raised = run_import(lab, "readouts", path, on_duplicate="update")
    assert raised.updated == 1
    assert limits(lab) == {("ISO-1", "R1"): 80.0}
    undo_batch(lab, raised.batch_id or 0)  # the lod 30 comes back: the bound is 50 again
    assert limits(lab) == {("ISO-1", "R1"): 50.0}
    third = load(
        lab, tmp_path, "readouts", header + "ISO-1,,CD63,<LOD,pg/mL,elisa,R1,2024-03-05,3,,,pass\n"
    )
    assert limits(lab) == {("ISO-1", "R1"): None}
    undo_batch(lab, third.batch_id or 0)
    assert limits(lab) == {("ISO-1", "R1"): 50.0}
    assert assert_sets_current(lab) == 1


def test_migration_recomputes_the_bounds_of_stored_sets(lab: Lab, tmp_path: Path) -> None:
    """0016_readout_set_limits: going down puts the earlier rule's bounds back (the largest
    censored value, whatever its side, a limit not recorded ignored), going up the rule's."""
    base_cohort(lab, tmp_path, readouts=True)  # ISO-1 R1 (12.5, <0.5): bound 0.5 both ways
    load(lab, tmp_path, "readouts", LIMITS.replace(",R1,", ",R4,"))
    engine = lab.db.engine
    sql = text(
        "SELECT i.isolation_code, rs.run_code, rs.censor_limit FROM readout_sets rs "
        "JOIN isolations i ON i.id = rs.isolation_id"
    )

    def stored() -> dict[tuple[str, str], float | None]:
        with engine.connect() as c:
            return {(iso, run): limit for iso, run, limit in c.execute(sql)}

    now = {(iso, run.replace("R1", "R4")): b for (iso, run), b in LIMITS_BOUNDS.items()}
    now |= {("ISO-1", "R1"): 0.5, ("ISO-2", "R1"): None}
    assert stored() == now
    migrate.downgrade(engine, "0015_shipment_origin")
    assert stored() == now | {
        ("ISO-1", "R4"): 50.0,
        ("ISO-3", "R4"): 1000.0,
        ("ISO-3", "R2"): 1000.0,
        ("ISO-3", "R3"): 900.0,
    }
    migrate.upgrade(engine)
    assert stored() == now
    assert assert_sets_current(lab) == 7
