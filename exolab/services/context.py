"""Who is acting on which database: the entry point every caller (CLI, importer, UI) uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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

    @contextmanager
    def write(self) -> Iterator[Tx]:
        try:
            with self.db.write() as session:
                if self.db.dialect == "postgresql":
                    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK_KEY})
                tx = Tx(session, self.actor(session), self.db.dialect)
                tx.require_write()
                yield tx
        except OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise Busy("the database is busy with another writer; try again") from exc
            raise
        except IntegrityError as exc:
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise Conflict(f"the change conflicts with stored records ({detail})") from exc


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
        if migrate.known_revision(current):
            raise SchemaOutdated(
                f"database schema is at revision {current}, this exolab needs {head}; "
                "run `exolab db upgrade`"
            )
        raise SchemaOutdated(
            f"database schema revision {current} is newer than this exolab knows ({head}); "
            "upgrade exolab"
        )
