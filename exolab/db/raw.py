"""Plain SQL on the database driver (sqlite3 or psycopg), without SQLAlchemy.

The read paths of the longitudinal queries run the same SQL text whether they are called in
process, on the connection of a SQLAlchemy session (:func:`reader_for`), or from a query command
that opened the driver itself (:func:`connect`) so as not to import SQLAlchemy, which costs more
than the query. SQL is written with ``:name`` placeholders (sqlite3's named style); for psycopg
they are rewritten to ``%(name)s`` once per statement text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

# The newest revision in migrations/versions (a test checks it against Alembic's own view).
SCHEMA_HEAD = "0012_scale"

_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    return _PLACEHOLDER.sub(r"%(\1)s", sql)


class Reader:
    """Runs SQL text on one DBAPI connection; ``dialect`` is ``sqlite`` or ``postgresql``."""

    def __init__(
        self,
        connection: Any,
        dialect: str,
        *,
        writing: bool = False,
        opener: Callable[[], Reader] | None = None,
    ) -> None:
        self.connection = connection
        self.dialect = dialect
        self.sqlite = dialect == "sqlite"
        self.writing = writing  # in a write transaction: other connections miss its changes
        self.opener = opener  # opens a second reader on the same database (see :func:`second`)

    def _execute(self, cur: Any, sql: str, params: Mapping[str, Any] | None) -> None:
        if self.sqlite:
            cur.execute(sql, params or {})
        else:  # binary results: numbers arrive without being parsed from text
            cur.execute(_pyformat(sql), params or {}, binary=True)

    def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        cur = self.connection.cursor()
        try:
            self._execute(cur, sql, params)
            return list(cur.fetchall())
        finally:
            cur.close()

    def first(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        cur = self.connection.cursor()
        try:
            self._execute(cur, sql, params)
            return cur.fetchone()
        finally:
            cur.close()

    def stream(
        self, sql: str, params: Mapping[str, Any] | None = None, batch: int = 2000
    ) -> Iterator[Any]:
        """Rows fetched ``batch`` at a time (a server-side cursor on PostgreSQL)."""
        cur = (
            self.connection.cursor()
            if self.sqlite
            else self.connection.cursor(name="exolab_stream", withhold=False)
        )
        try:
            self._execute(cur, sql, params)
            while rows := cur.fetchmany(batch):
                yield from rows
        finally:
            cur.close()


def database_file(reader: Reader) -> Path | None:
    """The file of a SQLite reader's main database, for a second connection that runs a
    query beside the first in another thread; None for PostgreSQL, a database in memory, or
    a reader in a write transaction (a second connection would not see its changes)."""
    if not reader.sqlite or reader.writing:
        return None
    for _seq, name, file in reader.all("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file)
    return None


def second(reader: Reader) -> Callable[[], Reader] | None:
    """How to open a second read-only connection to the reader's database, for a query run
    beside the reader's own in another thread (the caller closes it); None in a write
    transaction (another connection would not see its changes) or for a database in memory."""
    if reader.writing:
        return None
    if reader.opener is not None:
        return reader.opener
    path = database_file(reader)
    return None if path is None else functools.partial(open_sqlite, path)


def open_sqlite(path: Path) -> Reader:
    """A read-only reader on a SQLite file (``mode=ro``: it can never write)."""
    import sqlite3

    conn = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, timeout=60.0)
    return Reader(conn, "sqlite")


def in_list(name: str, values: Iterable[Any], params: dict[str, Any]) -> str:
    """``(:name_0, :name_1, ...)`` for an IN list, adding the values to ``params``."""
    keys = []
    for i, value in enumerate(values):
        key = f"{name}_{i}"
        params[key] = value
        keys.append(":" + key)
    return "(" + (", ".join(keys) or "NULL") + ")"


def reader_for(tx: Any) -> Reader:
    """A reader on the connection (and transaction) of a service :class:`~exolab.services.context.Tx`."""
    conn = tx.session.connection()
    writing = bool(conn.get_execution_options().get("exolab_write"))  # engine.WRITE_OPTION
    opener = None
    if tx.dialect != "sqlite":  # a pooled connection of the same engine (closing returns it)
        engine = conn.engine

        def opener() -> Reader:
            return Reader(engine.raw_connection(), tx.dialect)

    return Reader(conn.connection.dbapi_connection, tx.dialect, writing=writing, opener=opener)


def connect(url: str) -> Reader | None:
    """A read-only reader straight on the driver for a database URL, or None when the URL is
    not one this can open without SQLAlchemy (then the caller takes the SQLAlchemy path, which
    also gives the usual messages for a missing database)."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.is_file():
            return None
        import sqlite3

        conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)
        conn.execute("PRAGMA query_only = 1")
        conn.execute("BEGIN")  # one snapshot for all the statements of the command
        return Reader(conn, "sqlite")
    if url.startswith("postgresql+psycopg://"):
        return _postgresql(url)
    return None


def _postgresql(url: str) -> Reader:
    import psycopg

    pg = psycopg.connect("postgresql://" + url.split("://", 1)[1])
    pg.read_only = True
    # one snapshot for all the statements of the command, as on SQLite
    pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return Reader(pg, "postgresql", opener=functools.partial(_postgresql, url))


def schema_revision(reader: Reader) -> str | None:
    """The database's Alembic revision, or None when it has none."""
    try:
        row = reader.first("SELECT version_num FROM alembic_version")
    except Exception:  # no alembic_version table: not an exolab database (yet)
        if not reader.sqlite:
            reader.connection.rollback()
        return None
    return None if row is None else str(row[0])
