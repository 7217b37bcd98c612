"""Restore a backup made by ``exolab db backup``, then prove it: audit chain and anchor.

SQLite: the backup file is checked first (schema, audit chain, the anchor written beside it)
and only then copied into place with SQLite's online backup API. PostgreSQL: ``pg_restore``
into the database (the password in its environment, never its command line), the grants
refreshed, then the same checks. An initialised database is overwritten only with
``force``. A restore that verifies is itself recorded: one ``restore`` event appended to the
restored trail (on SQLite to the checked copy, before it is copied into place). docs/security.md.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, inspect, select

from exolab.db.engine import Database
from exolab.db.migrate import SCHEMA_HEAD, current_revision, known_revision
from exolab.db.models import AuditEvent
from exolab.services.anchor import Anchor, check_against, database_id, read_anchor
from exolab.services.audit import append_event, chain_head, verify_chain
from exolab.services.context import Lab, Tx
from exolab.services.errors import Conflict, ExolabError, NotFound
from exolab.services.safe_files import sha256_of


@dataclass
class RestoreReport:
    target: str
    events: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The backup's revision and sha256, and the restored trail as the backup held it (its
    # identity, event count, last event's time) before the restore event was appended.
    revision: str | None = None
    sha256: str = ""
    restored: tuple[str | None, int, str | None] | None = None
    event_id: int | None = None  # the restore's own audit event

    @property
    def ok(self) -> bool:
        return not self.problems


def anchor_beside(backup_file: Path) -> Path:
    return backup_file.with_name(backup_file.name + ".anchor.json")


def _initialised(db: Database) -> bool:
    return "audit_events" in inspect(db.engine).get_table_names()


def _check_revision(source: Path, revision: str | None, report: RestoreReport) -> None:
    """A backup this exolab's migrations know is restored (one of an earlier schema with a
    note to upgrade it); one of a revision it does not know - made by a newer exolab - is
    refused before anything is overwritten: no command could use it, nor downgrade it."""
    report.revision = revision
    if revision is None or revision == SCHEMA_HEAD:
        return
    if not known_revision(revision):
        raise ExolabError(
            f"{source} is at schema revision {revision}, which this exolab does not know "
            f"(its newest is {SCHEMA_HEAD}): the backup was made by a newer exolab; restore it "
            "with that version. Nothing was restored"
        )
    report.notes.append(
        f"the backup is at schema revision {revision}: run `exolab db upgrade` to bring it "
        f"to {SCHEMA_HEAD}"
    )


def _pg_backup_revision(pg_restore: str, source: Path) -> str | None:
    """The ``alembic_version`` row in a pg_dump archive, or None when it cannot be read (the
    restore itself then says what is wrong with the file)."""
    proc = subprocess.run(
        [pg_restore, "--data-only", "--table=alembic_version", "--file=-", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = proc.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("COPY ") and "alembic_version" in line and i + 1 < len(lines):
            value = lines[i + 1].strip()
            return None if value == "\\." else value
    return None


def _verify(lab: Lab, anchor: Anchor | None, report: RestoreReport) -> None:
    with lab.read() as tx:
        if anchor is None:
            chain = verify_chain(tx)
            report.events = chain.checked
            (report.notes if chain.ok else report.problems).append(chain.message)
            report.notes.append("no anchor beside the backup: only the chain was checked")
        else:
            checked = check_against(tx, anchor)
            (report.notes if checked.ok else report.problems).extend(
                [checked.message] if checked.ok else checked.problems
            )


def restore(
    db: Database, user: str, login: str, source: Path, *, force: bool, anchor_file: Path | None
) -> RestoreReport:
    """Restore ``source`` into ``db``. ``user`` must be an admin of an initialised target."""
    if not source.is_file():
        raise NotFound(f"no backup file {source}")
    anchor_path = anchor_file or anchor_beside(source)
    anchor = read_anchor(anchor_path) if anchor_path.exists() else None
    if anchor_file is not None and anchor is None:
        raise NotFound(f"no anchor file {anchor_file}")
    if _initialised(db):
        if not force:
            raise Conflict(
                f"{db.engine.url.render_as_string(hide_password=True)} already holds an exolab "
                "database; add --force to overwrite it"
            )
        with Lab(db, user, check_schema=False, login=login).read() as tx:
            tx.require_admin("overwrite the database with a backup")
            replaced = _trail(tx)
    else:
        replaced = None
    report = RestoreReport(db.engine.url.render_as_string(hide_password=True))
    if db.dialect == "sqlite":
        _restore_sqlite(db, user, login, source, anchor, report)
    else:
        _restore_postgresql(db, user, login, source, anchor, report)
    if not report.ok and db.dialect != "sqlite":
        report.problems.append("the restored database does not verify: do not use it")
    if report.ok and replaced is not None and report.restored is not None:
        _what_was_replaced(replaced, report.restored, report)
    if report.ok and report.event_id is not None:
        report.notes.append(
            f"the restore is recorded as audit event {report.event_id} "
            "(`exolab audit --entity database`)"
        )
    return report


def _record_restore(db: Database, user: str, login: str, source: Path, r: RestoreReport) -> None:
    """Append the one ``restore`` event to a restored, verified database: who restored which
    backup (file name, sha256), and what it held (events, last hash, schema revision). It is
    written by the restoring user whatever role the restored database gives them (the restore
    is done; only its record is written here), through the audit trail's one append path."""
    lab = Lab(db, user, check_schema=False, login=login)
    with db.write() as session:
        tx = Tx(session, lab.actor(session), db.dialect)
        r.restored = _trail(tx)
        r.event_id = append_event(
            tx,
            "restore",
            "database",
            r.restored[0] or "-",
            new={
                "file": source.name,
                "sha256": r.sha256,
                "events": r.restored[1],
                "last_hash": chain_head(tx),  # (GENESIS for an empty trail)
                "schema_revision": r.revision,
            },
        )


def _sha256_copy(source: Path, fd: int) -> str:
    """Copy ``source`` to the open file ``fd`` (left open); the sha256 of the bytes copied."""
    digest = hashlib.sha256()
    with os.fdopen(os.dup(fd), "wb") as out, source.open("rb") as src_file:
        while chunk := src_file.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _trail(tx: Tx) -> tuple[str | None, int, str | None]:
    """A database's identity, how many audit events it holds and when the last was written."""
    n, last = tx.session.execute(select(func.count(), func.max(AuditEvent.at))).one()
    try:
        ident: str | None = database_id(tx)
    except ExolabError:
        ident = None
    return ident, int(n or 0), None if last is None else str(last)[:19]


def _what_was_replaced(
    old: tuple[str | None, int, str | None],
    new: tuple[str | None, int, str | None],
    r: RestoreReport,
) -> None:
    """Say what the restore left behind: work done after the backup is no longer there."""
    old_id, old_n, old_last = old
    new_id, new_n, _ = new
    r.notes.append(
        f"the database replaced had {old_n} audit events (the last at {old_last or '-'}); "
        f"the backup holds {new_n}: whatever was recorded after the backup is no longer in it"
    )
    if old_id != new_id:
        r.notes.append(
            f"the backup is of another database ({new_id}); the database replaced was {old_id}"
        )


def _restore_sqlite(
    db: Database, user: str, login: str, source: Path, anchor: Anchor | None, r: RestoreReport
) -> None:
    from exolab.services.safe_files import exclusive_temp

    target = db.engine.url.database
    assert target
    # A private copy is checked, and that same copy restored: the backup file cannot change
    # between the check and the restore, and is itself left as it was. The copy is a
    # temporary file of services.safe_files (exclusive, private), removed afterwards.
    with exclusive_temp(Path(target).resolve(), replace=True) as scratch:
        copy = scratch.temp
        r.sha256 = _sha256_copy(source, scratch.fd)
        _restore_sqlite_copy(db, user, login, source, copy, target, anchor, r)


def _restore_sqlite_copy(
    db: Database,
    user: str,
    login: str,
    source: Path,
    copy: Path,
    target: str,
    anchor: Anchor | None,
    r: RestoreReport,
) -> None:
    try:
        probe = Database(f"sqlite:///{copy}")
        try:
            try:
                ok = _initialised(probe)
            except Exception:
                ok = False
            if not ok:
                raise ExolabError(f"{source} is not an exolab SQLite backup")
            _check_revision(source, current_revision(probe.engine), r)
            _verify(Lab(probe, user, check_schema=False, login=login), anchor, r)
            if r.ok:  # recorded in the copy: restored with it, or not at all
                _record_restore(probe, user, login, source, r)
        finally:
            probe.dispose()
        if not r.ok:
            r.problems.append("nothing was restored")
            return
        db.dispose()
        src = sqlite3.connect(copy)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
    finally:
        for suffix in ("-wal", "-shm"):
            Path(str(copy) + suffix).unlink(missing_ok=True)
    r.notes.append(f"restored {source} into {target}")


def _restore_postgresql(
    db: Database, user: str, login: str, source: Path, anchor: Anchor | None, r: RestoreReport
) -> None:
    from exolab.services.integrity import pg_environment
    from exolab.services.pgroles import ensure_roles

    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise ExolabError("pg_restore is not installed; install the PostgreSQL client tools")
    _check_revision(source, _pg_backup_revision(pg_restore, source), r)
    r.sha256 = sha256_of(source)
    db.dispose()
    proc = subprocess.run(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-password",
            "--dbname",
            str(db.engine.url.database),
            str(source),
        ],
        capture_output=True,
        text=True,
        env=pg_environment(db.engine.url),
        check=False,
    )
    if proc.returncode != 0:
        raise ExolabError(f"pg_restore failed: {proc.stderr.strip()}")
    with db.write_engine.begin() as conn:
        r.notes.extend(ensure_roles(conn))
    _verify(Lab(db, user, check_schema=False, login=login), anchor, r)
    r.notes.append(f"restored {source}")
    if r.ok:
        _record_restore(db, user, login, source, r)
