"""`exolab db restore`: refuses to overwrite without --force, proves the result with the audit
chain and the anchor written beside the backup, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

from sqlalchemy import func, select, text

from exolab.cli import main
from exolab.db.engine import Database
from exolab.db.migrate import SCHEMA_HEAD
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


def restore_events(url: str) -> list[dict[str, object]]:
    """`exolab audit --entity database` of ``url``, newest first."""
    code, out, err = run("--db", url, "audit", "--entity", "database", "--format", "json")
    assert code == 0, err
    return list(json.loads(out))


def trail(url: str) -> list[tuple[int, str]]:
    db = Database(url)
    try:
        with db.read() as s:
            rows = s.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id))
            return [(int(i), str(h)) for i, h in rows]
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
    # the backup's events, and the restore's own
    assert count(empty_db_url, AuditEvent) == count(db_url, AuditEvent) + 1
    assert [e["action"] for e in restore_events(empty_db_url)] == ["restore"]


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


def test_a_restore_is_recorded_in_the_restored_trail(db_url: str, tmp_path: Path) -> None:
    """A restore left the backup's events exactly: nobody could tell later that the database
    had been restored, by whom, when or from which file. It now appends one `restore` event
    (user, login, the file's name and sha256, the events it held, its last hash and schema
    revision) after the checks pass; the chain and the backup's anchor still verify."""
    add_subjects(db_url, "S1")
    backup = tmp_path / "lab.backup"
    assert run("--db", db_url, "db", "backup", str(backup))[0] == 0
    digest = hashlib.sha256(backup.read_bytes()).hexdigest()
    backed_up = trail(db_url)
    add_subjects(db_url, "S2")  # work after the backup, gone with the restore
    code, out, err = run("--db", db_url, "db", "restore", str(backup), "--force")
    assert code == 0, err
    after = trail(db_url)
    assert after[:-1] == backed_up and len(after) == len(backed_up) + 1
    assert f"recorded as audit event {after[-1][0]}" in out, out
    (event,) = restore_events(db_url)
    assert (event["action"], event["entity"], event["user"]) == ("restore", "database", "tester")
    assert event["login"]  # who authenticated, as in every event
    assert event["id"] == after[-1][0]
    assert event["new_values"] == {
        "file": "lab.backup",
        "sha256": digest,
        "events": len(backed_up),
        "last_hash": backed_up[-1][1],
        "schema_revision": SCHEMA_HEAD,
    }
    code, out, err = run("--db", db_url, "audit", "verify")
    assert code == 0 and f"{len(after)} audit events verified" in out, err
    # the anchor written beside the backup covers the backup's events: a prefix of the chain
    anchor_file = Path(f"{backup}.anchor.json")
    assert json.loads(anchor_file.read_text())["seq"] == len(backed_up)
    code, out, err = run("--db", db_url, "audit", "verify", "--anchor", str(anchor_file))
    assert code == 0 and f"event {len(backed_up)} matches the anchor" in out, err
    # the backup file itself is left as it was (on SQLite the event is written to a copy)
    assert hashlib.sha256(backup.read_bytes()).hexdigest() == digest
    # restored again from the same file: the backup's events and one restore event (the first
    # restore's record went with the database it replaced)
    code, out, err = run("--db", db_url, "db", "restore", str(backup), "--force")
    assert code == 0, err
    assert [e["new_values"]["events"] for e in restore_events(db_url)] == [len(backed_up)]
    assert trail(db_url)[:-1] == backed_up


def test_a_restore_of_a_restored_database_keeps_both_records(db_url: str, tmp_path: Path) -> None:
    """A backup of a restored database holds the first restore's event; restoring it adds the
    second, and its anchor (which covers the first) still verifies."""
    first = tmp_path / "first.backup"
    second = tmp_path / "second.backup"
    assert run("--db", db_url, "db", "backup", str(first))[0] == 0
    assert run("--db", db_url, "db", "restore", str(first), "--force")[0] == 0
    assert run("--db", db_url, "db", "backup", str(second))[0] == 0
    code, out, err = run("--db", db_url, "db", "restore", str(second), "--force")
    assert code == 0 and "matches the anchor" in out, err
    events = restore_events(db_url)
    assert [e["new_values"]["file"] for e in events] == ["second.backup", "first.backup"]
    assert events[0]["new_values"]["events"] == events[1]["new_values"]["events"] + 1
    assert run("--db", db_url, "audit", "verify")[0] == 0


def test_a_restore_that_fails_writes_no_event(db_url: str, tmp_path: Path) -> None:
    """A restore whose checks fail (here: the anchor of another database) records nothing: on
    SQLite nothing is restored at all; on PostgreSQL the restored database is reported as not
    to be used, and holds only the backup's events."""
    add_subjects(db_url, "S1")
    backup = tmp_path / "lab.backup"
    assert run("--db", db_url, "db", "backup", str(backup))[0] == 0
    other = tmp_path / "other.db"
    assert run("--db", str(other), "init")[0] == 0
    foreign = tmp_path / "other.anchor.json"
    assert run("--db", str(other), "audit", "anchor", "--out", str(foreign))[0] == 0
    add_subjects(db_url, "S2")
    before = trail(db_url)
    code, _, err = run(
        "--db", db_url, "db", "restore", str(backup), "--force", "--anchor", str(foreign)
    )
    assert code == 1 and "the anchor is for database" in err, err
    assert all(e["action"] != "restore" for e in restore_events(db_url))
    if db_url.startswith("sqlite"):
        assert trail(db_url) == before and "nothing was restored" in err
    else:
        assert "do not use it" in err and len(trail(db_url)) == len(before) - 1


def test_a_restore_by_someone_the_backup_does_not_know_is_recorded_in_their_name(
    db_url: str, empty_db_url: str, tmp_path: Path
) -> None:
    """Restoring into a new database (a new computer, a new server), the restoring user need
    not be a user of the backup: the restore is theirs all the same, and so is its event."""
    add_subjects(db_url, "S1")
    backup = tmp_path / "b.backup"
    assert run("--db", db_url, "db", "backup", str(backup))[0] == 0
    code, out, err = run("--db", empty_db_url, "db", "restore", str(backup), user="newcomer")
    assert code == 0, err
    (event,) = restore_events(empty_db_url)
    assert (event["user"], event["action"]) == ("newcomer", "restore")
    assert f"recorded as audit event {event['id']}" in out
    assert run("--db", empty_db_url, "audit", "verify")[0] == 0
