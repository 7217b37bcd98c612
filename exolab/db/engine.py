"""Engines and sessions.

SQLite: WAL, foreign keys on, a busy timeout, and write transactions that take the lock up front
(``BEGIN IMMEDIATE``) so that concurrent writers queue instead of failing with "database is
locked" half way through. PostgreSQL: psycopg 3.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 60_000
WRITE_OPTION = "exolab_write"


FILE_ID = "exolab_file_id"  # a connection's (device, inode) of the file it opened


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _configure_sqlite(engine: Engine, path: Path | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        if path is not None:
            record.info[FILE_ID] = _file_id(path)
        # We issue BEGIN ourselves (below), so the driver must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # An open connection keeps using a file that was deleted or replaced (rm, a restore
        # copied over it): what it wrote would vanish with it. Refuse, as for a database
        # that cannot be reached (docs/reliability.md).
        opened = connection.info.get(FILE_ID) if path is not None else None
        if opened is not None and _file_id(path) != opened:  # type: ignore[arg-type]
            import sqlite3

            from sqlalchemy.exc import OperationalError

            raise OperationalError(
                "BEGIN",
                None,
                sqlite3.OperationalError(
                    f"the database file {path} was removed or replaced while it was open; "
                    "nothing was read or written: restart exolab on the right file"
                ),
            )
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


#: The engines made in this process (see :func:`dispose_engines`).
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def dispose_engines() -> None:
    """Close the pooled connections of every engine made in this process. ``cli.main`` calls
    it when a command run as a program ends (Python's shutdown, cut short by ``gc.freeze``,
    may never close them): on SQLite the last connection closed folds the write-ahead log
    back into the database file, so no ``-wal`` file is left for a copy of the ``.db`` to
    miss."""
    for engine in list(_ENGINES):
        engine.dispose()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for a database URL with exolab's connection settings."""
    engine = _make_engine(url, **kwargs)
    _ENGINES.add(engine)
    return engine


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL; None for a server database, ``:memory:`` or a
    ``file:`` URI."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def _make_engine(url: str, **kwargs: Any) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        path = sqlite_file(url)
        if path is not None:
            from exolab.db.files import create_sqlite_file

            create_sqlite_file(path)  # private mode from the start (docs/security.md)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, None if path is None else path.resolve())
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    from exolab.db.models import use_postgresql_options

    use_postgresql_options()
    return create_engine(url, **kwargs)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class Database:
    """An engine plus read and write session factories."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session
            session.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back on error."""
        with self._write() as session, session.begin():
            if not is_sqlite(self.engine):
                session.connection()
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
