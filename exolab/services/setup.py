"""Setting a database up and opening it (docs/architecture.md): create or upgrade the schema,
the first admin, the analyte vocabulary and the PostgreSQL group roles; tell whether a
database is new; open a :class:`Lab` on a URL for the command line and the UI, and name the
database the way the UI shows it. The command modules parse arguments and print; the UI
gets its database from here, never building an engine itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exolab.db import migrate
from exolab.db.engine import Database, sqlite_file
from exolab.db.files import remove_sqlite_files
from exolab.services.context import Actor, Lab, Tx, refuse_newer_schema
from exolab.services.identity import Identity, authenticate

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


def initialise(url: str, user: str, *, login: str | None = None) -> tuple[str | None, str, bool]:
    """Upgrade to head, make the first user admin, seed the analyte vocabulary.

    ``user`` is trusted: the command line authenticates it first (:func:`authenticate_at`).
    Returns (revision before, head revision, whether ``user`` was made admin)."""
    from exolab.services.readouts import seed_analytes
    from exolab.services.users import bootstrap_admin

    db = Database(url)
    try:
        refuse_newer_schema(db)
        before = migrate.current_revision(db.engine)
        migrate.upgrade(db.write_engine)
        server_roles(db)
        with db.write() as session:
            made_admin = bootstrap_admin(session, user)
            if login is None:
                from exolab.services.identity import database_login

                login = database_login(db.dialect, session)
            tx = Tx(session, Actor(user, "admin", login), db.dialect)
            if made_admin:
                tx.audit(
                    "create",
                    "user",
                    user,
                    new={"name": user, "role": "admin"},
                    reason="first user of a new database",
                )
            seed_analytes(tx)
        return before, migrate.head_revision(), made_admin
    finally:
        db.dispose()


def server_roles(db: Any) -> list[str]:
    """PostgreSQL: create/refresh the exolab group roles and their grants (when this login
    owns the tables); notes for the user. Nothing on SQLite."""
    if db.dialect != "postgresql":
        return []
    from exolab.services.pgroles import ensure_roles

    with db.write_engine.begin() as conn:
        return ensure_roles(conn)


def authenticate_at(url: str, requested_user: str | None) -> Identity:
    """Who is using the database at ``url`` (docs/security.md), without keeping it open."""
    db = Database(url)
    try:
        return authenticate(db, requested_user)
    finally:
        db.dispose()


def is_new_database(url: str) -> bool:
    """True for a database with no schema and no tables at all (set it up, do not refuse it)."""
    from sqlalchemy import inspect

    db = Database(url)
    try:
        return (
            migrate.current_revision(db.engine) is None and not inspect(db.engine).get_table_names()
        )
    finally:
        db.dispose()


def open_lab_at(url: str, user: str, *, check_schema: bool = True, login: str | None = None) -> Lab:
    """A :class:`Lab` on the database at ``url`` for ``user`` (already authenticated);
    :func:`close_lab` releases its connections."""
    db = Database(url)
    try:
        return Lab(db, user, check_schema=check_schema, login=login)
    except Exception:
        db.dispose()
        raise


def close_lab(lab: Lab) -> None:
    lab.db.dispose()


def schema_revision(lab: Lab) -> str | None:
    """The database's schema revision (None: no schema yet)."""
    return migrate.current_revision(lab.db.engine)


def head_revision() -> str:
    return migrate.head_revision()


def known_revision(revision: str) -> bool:
    return migrate.known_revision(revision)


def upgrade_schema(lab: Lab, revision: str = "head") -> tuple[str | None, list[str]]:
    """Upgrade (or stay) to ``revision``; the revision reached and notes on the server's roles."""
    refuse_newer_schema(lab.db)
    migrate.upgrade(lab.db.write_engine, revision)
    notes = server_roles(lab.db)
    return migrate.current_revision(lab.db.engine), notes


def database_label(lab: Lab) -> str:
    """How the UI names the database (:func:`url_label` of its URL)."""
    return url_label(lab.db.engine.url)


def url_label(url: URL) -> str:
    """``sqlite lab.db``, ``postgresql db.example.org:5433/lab``, ``postgresql lab (local
    socket)`` when the URL names no host; never the user or password."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite {Path(url.database or ':memory:').name}"
    name = url.database or "(default database)"
    if not url.host:
        return f"{backend} {name} (local socket)"
    port = f":{url.port}" if url.port else ""
    return f"{backend} {url.host}{port}/{name}"


def has_subjects(lab: Lab) -> bool:
    """Whether any subject is stored (the demo fills only an empty database)."""
    from sqlalchemy import func, select

    from exolab.db.models import Subject

    with lab.read() as tx:
        return bool(tx.session.scalar(select(func.count()).select_from(Subject)))


def restore_at(
    url: str,
    requested_user: str | None,
    backup: Path,
    *,
    force: bool,
    anchor_file: Path | None,
) -> Any:
    """Authenticate on the database at ``url`` and restore ``backup`` into it
    (:func:`exolab.services.restore.restore`); its report."""
    from exolab.services.restore import restore

    new_file = _new_sqlite_file(url)
    db = Database(url)
    restored = False
    try:
        who = authenticate(db, requested_user)
        report = restore(db, who.user, who.login, backup, force=force, anchor_file=anchor_file)
        restored = report.ok
        return report
    finally:
        db.dispose()
        if new_file is not None and not restored:
            new_file.remove()


@dataclass
class _NewSqliteFile:
    """An SQLite database file (and folders) that a command is about to create."""

    path: Path
    folders: list[Path]  # the missing folders above it, deepest first

    def remove(self) -> None:
        """Take the file and the folders away again (a restore that failed)."""
        remove_sqlite_files(self.path)
        for folder in self.folders:
            try:
                folder.rmdir()
            except OSError:
                return


def _new_sqlite_file(url: str) -> _NewSqliteFile | None:
    """The SQLite file of ``url`` when it does not exist yet, else None."""
    path = sqlite_file(url)
    if path is None:
        return None
    path = path.expanduser().absolute()
    if path.exists():
        return None
    folders = []
    parent = path.parent
    while not parent.exists():
        folders.append(parent)
        parent = parent.parent
    return _NewSqliteFile(path, folders)


def grant_drift(lab: Lab) -> tuple[int, list[Any]]:
    """PostgreSQL: (number of exolab users, differences between them and the server's roles
    and grants). Call on PostgreSQL only."""
    from sqlalchemy import select

    from exolab.db.models import User
    from exolab.services.pgroles import grant_check

    with lab.read() as tx:
        users = [
            (u.name, u.role, u.active) for u in tx.session.scalars(select(User).order_by(User.name))
        ]
        return len(users), grant_check(tx.session.connection(), users)


def display_url(url: str) -> str:
    """The URL as shown to the user (no password)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def open_authenticated(url: str, requested_user: str | None, *, check_schema: bool = True) -> Lab:
    """Authenticate (docs/security.md) and open a :class:`Lab` on the database at ``url``."""
    db = Database(url)
    try:
        who = authenticate(db, requested_user)
        return Lab(db, who.user, check_schema=check_schema, login=who.login)
    except Exception:
        db.dispose()
        raise


def makes_server_login(lab: Lab, name: str) -> bool:
    """PostgreSQL: adding user ``name`` creates its server login (none yet, and this login may
    create roles), so it needs a password. Never on SQLite."""
    if lab.db.dialect != "postgresql":
        return False
    from exolab.services import pgroles

    with lab.db.engine.connect() as conn:
        return not pgroles.role_exists(conn, name) and pgroles.may_manage_roles(conn)


def remove_sqlite_database(url: str) -> None:
    """Delete a SQLite database file with its journal files (``exolab demo --reset``);
    nothing for a server database."""
    path = sqlite_file(url)
    if path is not None:
        remove_sqlite_files(path)
