"""Downgrades that would delete data, and an emptied audit trail (docs/reliability.md)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import func, select, text

from exolab.db import migrate
from exolab.db.engine import Database
from exolab.db.models import Sample
from exolab.services import integrity
from exolab.services.context import Lab
from exolab.services.downgrade import downgrade, plan_downgrade
from tests.io.helpers import base_cohort
from tests.test_cli import run


def _samples(db_url: str) -> int:
    db = Database(db_url)
    try:
        with db.read() as s:
            return s.scalar(select(func.count()).select_from(Sample)) or 0
    finally:
        db.dispose()


def test_downgrade_with_data_is_refused_without_force(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    base_cohort(lab, tmp_path)
    r = run("--db", db_url, "db", "downgrade", "base")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "samples (3 rows)" in r.stderr and "subjects (2 rows)" in r.stderr
    assert "--force" in r.stderr and "Traceback" not in r.stderr
    assert migrate.current_revision(lab.db.engine) == migrate.head_revision()
    assert _samples(db_url) == 3


def test_forced_downgrade_backs_up_first(lab: Lab, db_url: str, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    lab.db.dispose()
    saved = tmp_path / "saved" / "before.bak"
    r = run("--db", db_url, "db", "downgrade", "base", "--force", "--backup", str(saved))
    assert r.returncode == 0, r.stderr
    assert str(saved) in r.stderr and "verified" in r.stderr
    assert "samples (3 rows)" in r.stderr
    assert r.stdout.strip() == "base"
    assert saved.exists() and saved.stat().st_mode & 0o077 == 0
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(saved)
        assert conn.execute("SELECT count(*) FROM samples").fetchone() == (3,)
        conn.close()
    # no temporary file left: beside the copy only its audit anchor (private too)
    anchor = integrity.anchor_path(saved)
    assert [p for p in saved.parent.iterdir() if p != saved] == [anchor]
    assert anchor.stat().st_mode & 0o077 == 0


def test_forced_downgrade_default_backup_beside_sqlite_file(
    sqlite_url: str, tmp_path: Path
) -> None:
    db = Database(sqlite_url)
    base_cohort(Lab(db, "tester"), tmp_path)
    db.dispose()
    r = run("--db", sqlite_url, "db", "downgrade", "base", "--force")
    assert r.returncode == 0, r.stderr
    copies = list(Path(sqlite_url[len("sqlite:///") :]).parent.glob("lab.before-downgrade-*.db"))
    assert len(copies) == 1 and str(copies[0]) in r.stderr
    conn = sqlite3.connect(copies[0])
    assert conn.execute("SELECT count(*) FROM subjects").fetchone() == (2,)
    conn.close()


def test_downgrade_that_loses_nothing_runs(lab: Lab, db_url: str, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    # Every later revision adds columns a cohort fills (volume taken, audit logins), so step
    # down to 0005 first (forced, backed up); 0005 -> 0004 drops only an index.
    downgrade(lab, "0005", force=True, backup_to=tmp_path / "saved" / "at-head.bak")
    lab.db.dispose()
    assert plan_downgrade(lab, "0004").losses == []
    lab.db.dispose()
    r = run("--db", db_url, "db", "downgrade", "0004")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0004" and "backup" not in r.stderr
    assert _samples(db_url) == 3


def _empty_the_trail(lab: Lab) -> None:
    with lab.db.engine.begin() as conn:
        if lab.db.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change"))
        conn.execute(text("DELETE FROM audit_events"))


def test_audit_verify_refuses_an_emptied_trail(lab: Lab, db_url: str, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    _empty_the_trail(lab)
    lab.db.dispose()
    r = run("--db", db_url, "audit", "verify")
    assert r.returncode == 1
    assert "audit trail is empty" in r.stderr and "3 samples" in r.stderr
    assert "import_batches" in r.stderr


def test_audit_verify_of_a_new_database_is_fine(db_url: str) -> None:
    r = run("--db", db_url, "audit", "verify")
    assert r.returncode == 0 and "verified" in r.stdout


def test_sqlite_upgrade_rebuilding_a_referenced_table_keeps_the_data(
    sqlite_url: str, tmp_path: Path
) -> None:
    db = Database(sqlite_url)
    lab = Lab(db, "tester")
    base_cohort(lab, tmp_path)
    downgrade(lab, "0005", force=True, backup_to=tmp_path / "saved" / "at-head.bak")
    # 0006 rebuilds samples (batch mode), which isolations refer to
    migrate.upgrade(db.write_engine)
    assert migrate.current_revision(db.engine) == migrate.head_revision()
    with db.engine.connect() as conn:  # foreign keys are back on for the pooled connection
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    db.dispose()
    assert _samples(sqlite_url) == 3
