"""Who is acting on which database: the entry point every caller (CLI, importer, UI) uses."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from exolab.db import migrate
from exolab.db.engine import Database
from exolab.db.models import User
from exolab.services.errors import Busy, Conflict, PermissionDenied, SchemaOutdated

WRITER_ROLES = ("technician", "admin")
# PostgreSQL advisory lock taken by every write transaction: writers queue (as SQLite's
# BEGIN IMMEDIATE makes them), so check-then-insert rules and the audit chain never race.
WRITE_LOCK_KEY = 7_130_001
# A writer that has waited this long for the write lock is told why it waits (docs/reliability.md).
WAIT_NOTICE_SECONDS = 2.0
WRITE_WAIT_LIMIT_SECONDS = 60  # = SQLite's busy timeout; PostgreSQL's lock_timeout for the lock


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    # Who authenticated: the OS account (SQLite) or the PostgreSQL login. Differs from ``name``
    # when an admin acts for someone else (docs/security.md); recorded in every audit event.
    login: str | None = None

    @property
    def can_write(self) -> bool:
        return self.role in WRITER_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass
class Tx:
    """One transaction on behalf of one actor; service functions take this."""

    session: Session
    actor: Actor
    dialect: str
    audit_ids: list[int] = field(default_factory=list)
    # Per-transaction memo (last audit hash, resolved analytes and runs). Valid because a write
    # transaction holds the database's write lock (SQLite) or the audit advisory lock (PostgreSQL).
    memo: dict[str, Any] = field(default_factory=dict)

    def savepoint(self) -> Any:
        """A nested transaction (context manager): leaving it by an exception undoes only what
        was written inside, so a caller can try one row and carry on with the next."""
        return self.session.begin_nested()

    def require_write(self, what: str = "change records") -> None:
        if not self.actor.can_write:
            raise PermissionDenied(
                f"user '{self.actor.name}' has role {self.actor.role} and cannot {what}"
            )

    def require_admin(self, what: str) -> None:
        if not self.actor.is_admin:
            raise PermissionDenied(
                f"user '{self.actor.name}' has role {self.actor.role}; only an admin can {what}"
            )

    def audit(
        self,
        action: str,
        entity: str,
        entity_id: str,
        *,
        old: dict[str, Any] | None = None,
        new: dict[str, Any] | None = None,
        reason: str | None = None,
        batch_id: int | None = None,
    ) -> None:
        from exolab.services.audit import append_event

        self.audit_ids.append(
            append_event(
                self, action, entity, entity_id, old=old, new=new, reason=reason, batch_id=batch_id
            )
        )


class Lab:
    """A database plus the current user. ``lab.write()`` / ``lab.read()`` give a :class:`Tx`."""

    def __init__(
        self, db: Database, user: str, *, check_schema: bool = True, login: str | None = None
    ) -> None:
        """``user`` is trusted here: the command line and the UI authenticate first
        (:func:`exolab.services.identity.authenticate`); ``login`` defaults to the OS account
        (SQLite) or the server's ``session_user`` (PostgreSQL)."""
        self.db = db
        self.user_name = user
        self._login = login
        if check_schema:
            ensure_current(db)

    def login(self, session: Session) -> str:
        if self._login is None:
            from exolab.services.identity import database_login

            self._login = database_login(self.db.dialect, session)
        return self._login

    def actor(self, session: Session) -> Actor:
        row = session.execute(
            select(User.role).where(User.name == self.user_name, User.active.is_(True))
        ).first()
        login = self.login(session)
        if row is None:
            # Unknown users may read; writing needs an account with a writing role.
            return Actor(self.user_name, "viewer", login)
        return Actor(self.user_name, row[0], login)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.db.read() as session:
            yield Tx(session, self.actor(session), self.db.dialect)

    # Called (from a timer thread) with a sentence when a write waits for another writer; the
    # CLI prints it. None: stay silent.
    on_wait: Callable[[str], None] | None = None

    @contextmanager
    def write(self) -> Iterator[Tx]:
        notice = self._wait_notice()
        try:
            with self.db.write() as session:
                try:
                    if self.db.dialect == "postgresql":
                        session.execute(
                            text(f"SET LOCAL lock_timeout = '{WRITE_WAIT_LIMIT_SECONDS}s'")
                        )
                        session.execute(
                            text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK_KEY}
                        )
                        session.execute(text("SET LOCAL lock_timeout = 0"))
                    else:
                        session.connection()  # BEGIN IMMEDIATE: waits for the write lock
                finally:
                    if notice is not None:
                        notice.cancel()
                tx = Tx(session, self.actor(session), self.db.dialect)
                tx.require_write()
                yield tx
        except OperationalError as exc:
            msg = str(exc)
            if "locked" in msg or "busy" in msg or "lock timeout" in msg:
                raise Busy(
                    f"the database is busy with another writer ({self.describe_writer()}) "
                    f"after waiting {WRITE_WAIT_LIMIT_SECONDS} s; try again"
                ) from exc
            raise
        except IntegrityError as exc:
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise Conflict(f"the change conflicts with stored records ({detail})") from exc

    def _wait_notice(self) -> threading.Timer | None:
        if self.on_wait is None:
            return None
        report = self.on_wait

        def tell() -> None:
            report(
                f"waiting for the database: {self.describe_writer()} is writing "
                f"(up to {WRITE_WAIT_LIMIT_SECONDS} s)"
            )

        timer = threading.Timer(WAIT_NOTICE_SECONDS, tell)
        timer.daemon = True
        timer.start()
        return timer

    # -- who is writing -------------------------------------------------------------------

    def _writer_file(self) -> Path | None:
        url = self.db.engine.url
        if self.db.dialect == "sqlite" and url.database:
            return Path(f"{url.database}-exolab-writer")
        return None

    @contextmanager
    def writing_as(self, tx: Tx, what: str) -> Iterator[None]:
        """Inside a write transaction: let waiting writers know what holds the lock (a note
        beside the SQLite file; the connection's application_name on PostgreSQL)."""
        note = self._writer_file()
        if note is not None:
            with suppress(OSError):
                note.write_text(json.dumps({"what": what, "pid": os.getpid()}))
        else:
            tx.session.execute(
                text("SELECT set_config('application_name', :v, true)"), {"v": f"exolab: {what}"}
            )
        try:
            yield
        finally:
            if note is not None:
                with suppress(OSError):
                    note.unlink()

    def describe_writer(self) -> str:
        """What holds the write lock, as far as can be told."""
        note = self._writer_file()
        if note is not None:
            try:
                info = json.loads(note.read_text())
                with suppress(PermissionError):  # (alive, another user's process)
                    os.kill(int(info["pid"]), 0)  # a note left by a killed import says nothing
            except (OSError, ValueError, KeyError, TypeError):
                return "another exolab process"
            return str(info.get("what") or "another exolab process")
        try:
            with self.db.engine.connect() as conn:
                name = conn.execute(
                    text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                        "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                        "AND l.objid = :k AND a.pid <> pg_backend_pid() "
                        # advisory locks are per database: not another database's writer
                        "AND l.database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database()) LIMIT 1"
                    ),
                    {"k": WRITE_LOCK_KEY},
                ).scalar()
        except Exception:
            return "another exolab process"
        if name and str(name).startswith("exolab: "):
            return str(name)[len("exolab: ") :]
        return "another exolab process"


def refuse_newer_schema(db: Database) -> None:
    """Refuse a database that a newer exolab upgraded (a revision this version does not know):
    neither using nor upgrading it can work; the program must be upgraded."""
    current = migrate.current_revision(db.engine)
    if current is not None and not migrate.known_revision(current):
        raise SchemaOutdated(
            f"database schema revision {current} is newer than this exolab knows "
            f"({migrate.head_revision()}); upgrade exolab"
        )


def ensure_current(db: Database) -> None:
    """Refuse a database whose schema is behind (or ahead of) this version of exolab."""
    current = migrate.current_revision(db.engine)
    head = migrate.head_revision()
    if current is None:
        raise SchemaOutdated(
            f"database {db.engine.url.render_as_string(hide_password=True)} is not initialised; "
            "run `exolab init`"
        )
    if current != head:
        refuse_newer_schema(db)
        raise SchemaOutdated(
            f"database schema is at revision {current}, this exolab needs {head}; "
            "run `exolab db upgrade`"
        )
