"""`exolab db restore`: refuses to overwrite without --force, proves the result with the audit
chain and the anchor written beside the backup, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from sqlalchemy import func, select, text

from exolab.cli import main
from exolab.db.engine import Database
from exolab.db.models import AuditEvent, Subject
from exolab.services import subjects, users
from exolab.services.context import Lab


def run(*argv: str, user: str = "tester") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--user", user, *argv])
    return code, out.getvalue(), err.getvalue()


def count(url: str, model: type) -> int:
    db = Database(url)
    try:
        with db.read() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        db.dispose()


def add_subjects(url: str, *ids: str) -> None:
    db = Database(url)
    try:
        with Lab(db, "tester").write() as tx:
            for i in ids:
                subjects.create_subject(tx, {"study": "A", "subject_id": i})
    finally:
        db.dispose()


def test_restore_refuses_without_force_then_restores_and_verifies(
    db_url: str, tmp_path: Path
) -> None:
    add_subjects(db_url, "S1")
    backup = tmp_path / "lab.backup"
    assert run("--db", db_url, "db", "backup", str(backup))[0] == 0
    add_subjects(db_url, "S2", "S3")  # work after the backup
    code, _, err = run("--db", db_url, "db", "restore", str(backup))
    assert code == 1 and "--force" in err
    assert count(db_url, Subject) == 3  # untouched
    code, out, err = run("--db", db_url, "db", "restore", str(backup), "--force")
    assert code == 0, err
    assert "matches the anchor" in out
    assert count(db_url, Subject) == 1
    assert run("--db", db_url, "audit", "verify")[0] == 0


def test_restore_into_an_empty_database(db_url: str, empty_db_url: str, tmp_path: Path) -> None:
    add_subjects(db_url, "S1", "S2")
    backup = tmp_path / "b.backup"
    assert run("--db", db_url, "db", "backup", str(backup))[0] == 0
    code, out, err = run("--db", empty_db_url, "db", "restore", str(backup))
    assert code == 0 and "matches the anchor" in out, err
    assert count(empty_db_url, Subject) == 2
    assert count(empty_db_url, AuditEvent) == count(db_url, AuditEvent)


def test_only_an_admin_may_overwrite(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    with Lab(db, "tester").write() as tx:
        users.add_user(tx, "tom", "technician")
    db.dispose()
    backup = tmp_path / "b.backup"
    assert run("--db", db_url, "db", "backup", str(backup))[0] == 0
    code, _, err = run("--db", db_url, "db", "restore", str(backup), "--force", user="tom")
    assert code == 3 and "admin" in err


def test_a_cut_backup_fails_its_anchor_and_is_not_restored(sqlite_url: str, tmp_path: Path) -> None:
    add_subjects(sqlite_url, "S1", "S2", "S3")
    backup = tmp_path / "b.db"
    assert run("--db", sqlite_url, "db", "backup", str(backup))[0] == 0
    tampered = Database(f"sqlite:///{backup}")
    with tampered.engine.begin() as c:  # someone cuts the tail of the backup copy
        c.execute(text("DROP TRIGGER audit_events_no_delete"))
        c.execute(text("DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)"))
    tampered.dispose()
    target = tmp_path / "restored.db"
    code, _, err = run("--db", str(target), "db", "restore", str(backup))
    assert code == 1 and "cut off the end" in err and "nothing was restored" in err
    from sqlalchemy import inspect

    empty = Database(f"sqlite:///{target}")
    assert inspect(empty.engine).get_table_names() == []  # nothing was written
    empty.dispose()


def test_anchor_of_the_backup_is_its_own(sqlite_url: str, tmp_path: Path) -> None:
    backup = tmp_path / "b.db"
    code, out, _ = run("--db", sqlite_url, "db", "backup", str(backup))
    assert code == 0 and "anchor" in out
    anchor = json.loads(Path(str(backup) + ".anchor.json").read_text())
    assert anchor["seq"] == count(f"sqlite:///{backup}", AuditEvent)


def test_a_failed_restore_into_a_new_file_leaves_no_file(sqlite_url: str, tmp_path: Path) -> None:
    """A restore into a path with no database yet that fails (not a backup, a cut backup)
    leaves nothing there: an empty file left behind was then called 'not initialised' by
    every later command, and hid the mistake."""
    junk = tmp_path / "junk.bak"
    junk.write_text("not a database\n")
    add_subjects(sqlite_url, "S1", "S2")
    backup = tmp_path / "b.db"
    assert run("--db", sqlite_url, "db", "backup", str(backup))[0] == 0
    tampered = Database(f"sqlite:///{backup}")
    with tampered.engine.begin() as c:
        c.execute(text("DROP TRIGGER audit_events_no_delete"))
        c.execute(text("DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)"))
    tampered.dispose()
    for source, said in ((junk, "is not an exolab SQLite backup"), (backup, "cut off the end")):
        target = tmp_path / "new" / "lab.db"
        code, _, err = run("--db", str(target), "db", "restore", str(source))
        assert code == 1 and said in err, err
        assert not target.exists() and not Path(f"{target}-wal").exists()
        assert not target.parent.exists()  # (the folder the command would have made)
    # an existing database that a restore fails to overwrite is left in place
    code, _, err = run("--db", sqlite_url, "db", "restore", str(junk), "--force")
    assert code == 1 and Path(sqlite_url.removeprefix("sqlite:///")).exists()
    assert count(sqlite_url, Subject) == 2
