"""Plain SQL on the database driver (sqlite3 or psycopg), without SQLAlchemy.

The read paths of the longitudinal queries run the same SQL text whether they are called in
process, on the connection of a SQLAlchemy session (:func:`reader_for`), or from a query command
that opened the driver itself (:func:`connect`) so as not to import SQLAlchemy, which costs more
than the query. SQL is written with ``:name`` placeholders (sqlite3's named style); for psycopg
they are rewritten to ``%(name)s`` once per statement text.

Both kinds of reader satisfy one protocol, :class:`Reader` (docs/data-model.md, "Reading with
plain SQL"); ``tests/db/test_reader_contract.py`` runs the same queries on both, on both
databases. What a row holds is what the driver gives: ``int``, ``float``, ``str`` and None on
both databases; a ``numeric`` result (e.g. ``avg`` of integers) is a ``Decimal`` on PostgreSQL
and a ``float`` on SQLite; a stored date-time is a ``datetime`` on PostgreSQL and the ISO text
it was stored as on SQLite (callers convert, see :func:`exolab.services.history.as_datetime`).
"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

# The newest revision in migrations/versions (a test checks it against Alembic's own view).
SCHEMA_HEAD = "0016_readout_set_limits"

_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

#: One result row: the columns in the order of the SELECT.
Row = tuple[Any, ...]
Params = Mapping[str, Any]


@functools.lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    """``:name`` placeholders as psycopg's ``%(name)s``; a literal ``%`` (``LIKE 'A-%'``)
    doubled, as psycopg reads ``%`` as the start of a placeholder."""
    return _PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%"))


class Reader(Protocol):
    """Runs SQL text with ``:name`` parameters and returns rows as tuples.

    ``dialect`` is ``sqlite`` or ``postgresql`` (``sqlite`` says whether it is SQLite);
    ``writing`` whether the reader is inside a write transaction (then another connection
    would miss its changes)."""

    @property
    def dialect(self) -> str: ...

    @property
    def sqlite(self) -> bool: ...

    @property
    def writing(self) -> bool: ...

    def all(self, sql: str, params: Params | None = None) -> list[Row]:
        """Every row of the statement."""
        ...

    def first(self, sql: str, params: Params | None = None) -> Row | None:
        """The first row, or None when there is none."""
        ...

    def stream(self, sql: str, params: Params | None = None, batch: int = 2000) -> Iterator[Row]:
        """Rows fetched ``batch`` at a time (a server-side cursor on PostgreSQL)."""
        ...

    def opener(self) -> Callable[[], Reader] | None:
        """How to open another reader on the same database for a query run beside this
        one in another thread (the caller closes it), or None when that cannot see what
        this reader sees (a write transaction, a database in memory)."""
        ...

    def close(self) -> None:
        """Give the connection back: a reader that opened it closes it; a reader on a
        service transaction's connection leaves it to the transaction."""
        ...


class _DbapiReader:
    """Runs SQL text on one DBAPI connection (the part both readers share)."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self.connection = connection
        self._dialect = dialect
        self._sqlite = dialect == "sqlite"

    @property
    def dialect(self) -> str:
        return self._dialect

    @property
    def sqlite(self) -> bool:
        return self._sqlite

    @property
    def writing(self) -> bool:
        return False

    def _execute(self, cur: Any, sql: str, params: Params | None) -> None:
        if self._sqlite:
            cur.execute(sql, params or {})
        else:  # binary results: numbers arrive without being parsed from text
            cur.execute(_pyformat(sql), params or {}, binary=True)

    def all(self, sql: str, params: Params | None = None) -> list[Row]:
        cur = self.connection.cursor()
        try:
            self._execute(cur, sql, params)
            return list(cur.fetchall())
        finally:
            cur.close()

    def first(self, sql: str, params: Params | None = None) -> Row | None:
        cur = self.connection.cursor()
        try:
            self._execute(cur, sql, params)
            row: Row | None = cur.fetchone()
            return row
        finally:
            cur.close()

    def stream(self, sql: str, params: Params | None = None, batch: int = 2000) -> Iterator[Row]:
        cur = (
            self.connection.cursor()
            if self._sqlite
            else self.connection.cursor(name="exolab_stream", withhold=False)
        )
        try:
            self._execute(cur, sql, params)
            while rows := cur.fetchmany(batch):
                yield from rows
        finally:
            # left mid-way and finalised after its connection was closed (the reader of
            # `exolab export ... | head` went away): nothing is left to free
            with contextlib.suppress(sqlite3.ProgrammingError):
                cur.close()

    def _sqlite_file(self) -> Path | None:
        """The file of a SQLite connection's main database (None: in memory)."""
        for _seq, name, file in self.all("PRAGMA database_list"):
            if name == "main" and file:
                return Path(file)
        return None


class DriverReader(_DbapiReader):
    """A :class:`Reader` on a connection of its own, opened on the driver (:func:`connect`,
    :func:`open_sqlite`); :meth:`close` closes it. ``reopen`` opens another one like it."""

    def __init__(
        self, connection: Any, dialect: str, *, reopen: Callable[[], Reader] | None = None
    ) -> None:
        super().__init__(connection, dialect)
        self._reopen = reopen

    def opener(self) -> Callable[[], Reader] | None:
        if self._reopen is not None:
            return self._reopen
        path = self._sqlite_file() if self._sqlite else None
        return None if path is None else functools.partial(open_sqlite, path)

    def close(self) -> None:
        self.connection.close()


class SessionReader(_DbapiReader):
    """A :class:`Reader` on the connection (and in the transaction) of a service
    :class:`~exolab.services.context.Tx`: it sees the transaction's own changes and leaves
    the connection to the transaction (:meth:`close` does nothing). Runs on the DBAPI
    connection under SQLAlchemy's, so rows are the driver's tuples, as a
    :class:`DriverReader`'s."""

    def __init__(self, tx: Any) -> None:
        conn = tx.session.connection()
        super().__init__(conn.connection.dbapi_connection, tx.dialect)
        # in a write transaction other connections miss its changes (engine.WRITE_OPTION)
        self._writing = bool(conn.get_execution_options().get("exolab_write"))
        self._engine = conn.engine

    @property
    def writing(self) -> bool:
        return self._writing

    def opener(self) -> Callable[[], Reader] | None:
        if self._writing:
            return None
        if not self._sqlite:  # a pooled connection of the same engine (closing returns it)
            engine, dialect = self._engine, self._dialect

            def pooled() -> Reader:
                return DriverReader(engine.raw_connection(), dialect)

            return pooled
        path = self._sqlite_file()
        return None if path is None else functools.partial(open_sqlite, path)

    def close(self) -> None:
        return None


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
    return reader.opener()


def open_sqlite(path: Path) -> Reader:
    """A read-only reader on a SQLite file (``mode=ro``: it can never write)."""
    import sqlite3

    conn = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, timeout=60.0)
    return DriverReader(conn, "sqlite")


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
    return SessionReader(tx)


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
        return DriverReader(conn, "sqlite")
    if url.startswith("postgresql+psycopg://"):
        return _postgresql(url)
    return None


def _postgresql(url: str) -> Reader:
    import psycopg

    pg = psycopg.connect("postgresql://" + url.split("://", 1)[1])
    pg.read_only = True
    # one snapshot for all the statements of the command, as on SQLite
    pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return DriverReader(pg, "postgresql", reopen=functools.partial(_postgresql, url))


def schema_revision(reader: Reader) -> str | None:
    """The database's Alembic revision, or None when it has none (not an exolab database)."""
    exists = (
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        if reader.sqlite
        else "SELECT to_regclass('alembic_version') IS NOT NULL"
    )
    found = reader.first(exists)
    if found is None or not found[0]:
        return None
    row = reader.first("SELECT version_num FROM alembic_version")
    return None if row is None else str(row[0])
