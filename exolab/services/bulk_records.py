"""The database side of the bulk import of subjects, samples and isolations
(docs/bulk-imports.md); ``io.bulk_records`` reads and validates the file.

The rules are the per-record path's own: every row is validated by the same input model
(``SampleIn``/``IsolationIn``) and goes through the same rule functions the services call for
one record (``samples.new_tube``/``finish_tube``: aliquot inheritance, SPREC derivation, the
storage rule of a status; ``lifecycle.check_allowed`` and ``lifecycle.volume_taken``;
``storage.check_position``; the services' own messages for what is missing). What differs is
everything around the rules: the file is read in chunks, everything a chunk refers to
(existing keys, subjects, visits, cell sources, boxes and their occupied positions, parent
tubes) is loaded with a few set-based queries, and the chunk's rows go in set-based (on
SQLite many rows per INSERT, services/sqlite_bulk.py; on PostgreSQL by COPY,
services/pg_records.py). The records created get no per-record ``create`` event: the
batch's ``import`` event is their creation record (docs/bulk-imports.md, "Audit rule"); the
volumes taken from parent tubes and the storage created keep their own events, chained as
one-by-one appends chain them.

Nothing is committed unless the whole file passed: chunks are written into the import's one
transaction only while the file has shown no problem; after the first problem the rest of the
file is still checked (every problem is reported) and the transaction is rolled back.
Rows whose key is already stored go through the per-record code (compare, skip, update).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from operator import attrgetter, itemgetter
from typing import Any, Protocol, cast

from sqlalchemy import JSON, bindparam, insert, select, text, update

from exolab.db.base import utcnow
from exolab.db.models import (
    AuditEvent,
    Box,
    CellSource,
    Freezer,
    Isolation,
    IsolationStep,
    Rack,
    Sample,
    Study,
    Subject,
    Visit,
)
from exolab.domain.schemas import (
    STEP_PARAM_COLUMNS,
    CellSourceIn,
    IsolationIn,
    Location,
    SampleIn,
    SubjectIn,
)
from exolab.services import cell_sources as cell_source_rules
from exolab.services import isolations as isolation_rules
from exolab.services import lifecycle, pg_records, storage
from exolab.services import samples as sample_rules
from exolab.services import subjects as subject_rules
from exolab.services.audit import EventSpec, append_events
from exolab.services.common import IN_LIST, duplicate_key
from exolab.services.context import Tx
from exolab.services.errors import (
    ExolabError,
    FieldError,
    PermissionDenied,
    ValidationFailed,
    database_error_text,
)
from exolab.services.sqlite_bulk import insert_staged, page_cache

ROWS_PER_INSERT = 1_000  # most rows in one INSERT on SQLite (its variable limit comes first)
ID_BLOCK = 5_000  # most ids reserved at once on PostgreSQL
IN_CHUNK = IN_LIST  # codes per IN (...) list
IN_CHUNK_LARGE = 5_000  # ... where the database takes that many parameters


class ProblemList(Protocol):
    """Where the problems of a file go (``io.problems.Problems``)."""

    def add(self, row: int, column: str, message: str, value: str | None = None) -> None: ...

    def __bool__(self) -> bool: ...


# One chunk of a file: (row number, cells, validated model or its ValidationFailed, or for a
# ragged row None and (the column it names, the message)). The cells may be given as a
# function that reads them (only a refused row or a stored key needs them).
Chunk = list[tuple[int, dict[str, Any] | Callable[[], dict[str, Any]] | None, Any]]

# The columns of a tube the rules read (a parent's inheritance, life-cycle and volume).
TUBE_COLUMNS = (
    "id",
    "sample_code",
    "biofluid",
    "subject_id",
    "visit_id",
    "cell_source_id",
    "volume_ml",
    "volume_taken_ml",
    "version",
    "status",
    "sprec",
    "freeze_thaw_count",
    "box_id",
    *sample_rules.HANDLING_FIELDS,
)

# ... of which an isolation's rules read these (its tube's life-cycle and volume: the
# import reads no more of the tubes it isolates from).
ISOLATED_TUBE_COLUMNS = (
    "id",
    "sample_code",
    "volume_ml",
    "volume_taken_ml",
    "version",
    "status",
)

# The isolation columns its steps' parameters come from.
STEP_COLUMNS = tuple(c for cols in STEP_PARAM_COLUMNS.values() for c in cols.values())
_STEP_VALUES = itemgetter(*STEP_COLUMNS)  # (of the model's own field dict)


class _Tube:
    """A tube as the import sees it: stored (loaded) or created earlier in the file. Its
    columns (:data:`TUBE_COLUMNS`; a tube created by the file: its whole row) are its
    attributes, read as the rules read a stored ``Sample``; ``row`` is the pending insert of
    a tube created in this window, ``dirty`` whether a stored tube's volume changed.
    ``owner`` is what it belongs to (``samples.Owner``, the codes an aliquot row naming them
    is checked against): for a stored tube None until a row asks (:meth:`_Loader.owner_of`),
    for an aliquot the file created its parent (the parent's, read when asked)."""

    # (the columns are the instance's own dict: attributes read without a call; a created
    # tube's dict is its row itself, so what the rules change is what it inserts)
    __slots__ = ("__dict__", "dirty", "owner", "row")

    id: int
    sample_code: str
    biofluid: str
    subject_id: int | None
    visit_id: int | None
    cell_source_id: int | None
    volume_ml: float | None
    volume_taken_ml: float | None
    version: int
    status: str
    sprec: str | None
    freeze_thaw_count: int
    row: dict[str, Any] | None
    dirty: bool
    owner: sample_rules.Owner | _Tube | None

    def __init__(self, values: Iterable[tuple[str, Any]]) -> None:
        self.__dict__ = dict(values)
        self.row = None
        self.dirty = False
        self.owner = None

    @classmethod
    def created(cls, row: dict[str, Any], owner: sample_rules.Owner | _Tube) -> _Tube:
        """A tube created by the file: its dict is ``row``, its pending insert."""
        tube = cls.__new__(cls)
        tube.__dict__ = row
        tube.row, tube.dirty, tube.owner = row, False, owner
        return tube


@dataclass(frozen=True)
class _Box:
    """A box as the position rules read it (``storage.check_position``)."""

    id: int
    path: str
    n_rows: int
    n_cols: int


@dataclass(slots=True)
class _Visit:
    id: int
    visit_date: date | None
    new: bool
    dirty: bool = False


@dataclass(frozen=True)
class RowRules:
    """The importer's row functions the bulk path shares (handed in: io.importer imports
    this module, so this module does not import it back)."""

    row_values: Callable[..., Any]
    convert_numbers: Callable[..., None]
    report_failed: Callable[..., None]
    find: Callable[..., Any]
    apply_row: Callable[..., None]
    find_many: Callable[..., dict[tuple[str, ...], Any]]
    unchanged: Callable[..., bool]
    # (tx, kind, [(row number, cells)], report, problems, create_locations): rows whose
    # stored records differ, updated together (``--on-duplicate update``)
    update_rows: Callable[..., None] | None = None


def _key_test(conn: Any, values: list[Any]) -> tuple[str, str, tuple[Any, ...]]:
    """(the test of a key column against ``values``, the driver's parameter mark, the
    parameters) for a statement sent through the driver: ``IN (?, ...)`` on SQLite, the
    values as one array (``= ANY(%s)``) on PostgreSQL through psycopg (exolab's only driver
    for it: settings.py)."""
    if conn.dialect.name == "sqlite":
        return f"IN ({', '.join('?' * len(values))})", "?", tuple(values)
    return "= ANY(%s)", "%s", (list(values),)


def _select_in(
    conn: Any,
    model: Any,
    columns: tuple[str, ...],
    key: str,
    values: list[Any],
    where: tuple[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """``SELECT columns FROM model's table WHERE key IN values`` (``AND column = value``
    for ``where``): rows of Python values as Core gives them. On SQLite and PostgreSQL
    through the driver (Core compiles a statement of thousands of parameters, psycopg parses
    it again, and Core wraps every row for the few values that need converting): on
    PostgreSQL the values as one array (``= ANY(%s)``), each value that needs converting
    read by its column's result processor, once per distinct value."""
    t = model.__table__
    names = ", ".join(f'"{c}"' for c in columns)
    test, mark, params = _key_test(conn, values)
    also = ""
    if where is not None:
        also, params = f' AND "{where[0]}" = {mark}', (*params, where[1])
    # (the driver's own cursor: its rows are tuples already; a Core result would wrap each)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(f'SELECT {names} FROM "{t.name}" WHERE "{key}" {test}{also}', params)
        coltypes = [c[1] for c in cursor.description]  # (the driver's type codes)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    d = conn.dialect
    procs = [
        (k, t.c[c].type.dialect_impl(d).result_processor(d, coltypes[k]))
        for k, c in enumerate(columns)
    ]
    procs = [(k, p) for k, p in procs if p is not None]
    if not procs or not rows:
        return rows  # type: ignore[no-any-return]  # (the driver's rows are tuples)
    by_column = [list(values) for values in zip(*rows, strict=True)]
    for k, proc in procs:
        by_column[k] = _converted(proc, by_column[k])
    return list(zip(*by_column, strict=True))


# ``samples.OWNER_QUERY`` as SQL text, by dialect: compiled once, sent through the driver
# with a chunk's parents (Core would compile a statement of thousands of parameters).
_OWNERS_SQL: dict[str, str] = {}


def _owners_in(conn: Any, codes: list[str]) -> dict[str, sample_rules.Owner]:
    """The owners (``samples.Owner``) of the stored tubes of these codes, in one query."""
    sql = _OWNERS_SQL.get(conn.dialect.name)
    if sql is None:
        select_sql = sample_rules.OWNER_QUERY.compile(dialect=conn.dialect)
        sql = _OWNERS_SQL[conn.dialect.name] = f"{select_sql} WHERE samples.sample_code "
    test, _, params = _key_test(conn, codes)
    return {
        code: (study, subject, visit, cell)
        for code, study, subject, visit, cell in conn.exec_driver_sql(sql + test, params)
    }


def _cells(cells: dict[str, Any] | Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return cells() if callable(cells) else cells


def _parts(values: list[Any], n: int = IN_CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(values), n):
        yield values[i : i + n]


class _Ids:
    """Primary keys for new rows, taken as the database would give them: max + 1 on SQLite
    (the import holds the write lock), the table's sequence on PostgreSQL."""

    def __init__(self, tx: Tx, table: str, pk: Any) -> None:
        self.tx, self.table, self.pk = tx, table, pk
        self.free: list[int] = []
        self.next = 0  # SQLite: 0 until the first id is taken (most imports take few kinds)
        self.block = 8
        self.sqlite = tx.dialect != "postgresql"

    def _after_stored(self) -> int:
        """SQLite: the id after the table's largest (through the driver: no statement to
        compile for each of the import's tables)."""
        conn = self.tx.session.connection()
        found = conn.exec_driver_sql(f'SELECT max("{self.pk.key}") FROM "{self.table}"')
        return int(found.scalar() or 0) + 1

    def skip_stored(self) -> None:
        """After another writer in this transaction added rows (the per-record code): on
        SQLite, take ids after theirs (PostgreSQL's sequence already does)."""
        if self.sqlite and self.next:
            self.next = max(self.next, self._after_stored())

    def take(self) -> int:
        if self.sqlite:
            if not self.next:
                self.next = self._after_stored()
            self.next += 1
            return self.next - 1
        if not self.free:  # blocks of 16, 32, ... up to a chunk: small files waste few
            self.block = min(ID_BLOCK, 2 * self.block)
            self.free = list(
                self.tx.session.execute(
                    text(
                        "SELECT nextval(pg_get_serial_sequence(:t, 'id')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"t": self.table, "n": self.block},
                )
                .scalars()
                .all()
            )
            self.free.reverse()
        return self.free.pop()

    def release(self) -> None:
        """Give the sequence back what was reserved and not used (no other writer takes
        from it meanwhile: writers hold the write lock), so ids have no gaps."""
        if self.free:
            self.tx.session.execute(
                text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v, false)"),
                {"t": self.table, "v": self.free[-1]},
            )
            self.free = []


def insert_many(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """``conn.execute(insert(table), rows)`` for rows that all have the same keys and give
    every column with a default. The rows go to the driver column by column, each value that
    needs converting converted once per distinct value of its column (:func:`_converted`;
    the rows share one object per distinct JSON value: an isolation's steps are remembered
    per method chain). On SQLite each value through its column's own bind processor (what
    Core does per row), a value every row shares bound once (services/sqlite_bulk.
    insert_staged); on PostgreSQL by COPY (``services/pg_records.py``), JSON as the text
    psycopg's ``Json`` writes (``json.dumps``). Any other shape of rows takes Core's
    executemany."""
    if not rows:
        return
    t = table.__table__
    cols = list(rows[0])
    given = set(cols)
    if any(c.default is not None and c.name not in given for c in t.c) or set(map(len, rows)) != {
        len(cols)
    }:
        conn.execute(insert(table), rows)
        return
    values = []
    for c in cols:
        column = list(map(itemgetter(c), rows))
        proc = _to_driver(t.c[c], conn.dialect)
        values.append(column if proc is None else _converted(proc, column))
    if conn.dialect.name == "postgresql":
        pg_records.copy_rows(conn, table, cols, values)
        return
    limit = conn.connection.driver_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    names = [f'"{c}"' for c in cols]
    insert_staged(conn.exec_driver_sql, f'"{t.name}"', names, values, limit, ROWS_PER_INSERT)


def _to_driver(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """How insert_many hands a value of ``column`` to the driver: on SQLite through the
    column's bind processor (:func:`_bind`); PostgreSQL's COPY takes values as they are, and
    JSON as the text psycopg's ``Json`` writes (``json.dumps``)."""
    if dialect.name == "postgresql":
        return json.dumps if isinstance(column.type, JSON) else None
    return _bind(column, dialect)


def _bind(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The column's bind processor as Core applies it: the dialect's own type's (SQLite's
    DATETIME writes ``2024-03-01 00:00:00.000000``; the generic type has none, and the driver
    would write ``2024-03-01 00:00:00``, which sorts before it)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]


def _converted(proc: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """``[proc(v) for v in values]``, each distinct value converted once (a column's dates,
    times and JSON repeat: the import's one timestamp, a file's few collection times, the
    steps remembered per method chain). JSON values are told apart by identity: the loader
    shares one object per distinct value and holds them while this runs."""
    try:
        memo = {v: proc(v) for v in dict.fromkeys(values)}
    except TypeError:  # (unhashable: JSON dicts and lists)
        memo = {}
        out = []
        for v in values:
            key = id(v) if isinstance(v, dict | list) else v
            hit = memo.get(key, memo)
            if hit is memo:
                hit = memo[key] = proc(v)
            out.append(hit)
        return out
    return list(map(memo.__getitem__, values))


class _Loader:
    """One bulk import: the state of a window of rows not yet written."""

    def __init__(
        self,
        tx: Tx,
        kind: Any,
        report: Any,
        problems: ProblemList,
        on_duplicate: str,
        create_locations: bool,
        rules: RowRules,
    ) -> None:
        self.tx, self.kind = tx, kind
        self.report, self.problems, self.on_duplicate = report, problems, on_duplicate
        self.create_locations, self.rules = create_locations, rules
        self.batch_id = report.batch_id
        self.user = tx.actor.name
        self.now = utcnow()
        self.seen: dict[tuple[str, ...], int] = {}
        self.stored: dict[tuple[str, ...], Any] = {}  # the chunk's stored records (run)
        # rows whose stored records differ, to update together (:meth:`update_pending`)
        self.pending: list[tuple[int, dict[str, Any], Any]] = []
        self.batch_updates = on_duplicate == "update" and rules.update_rows is not None
        # the window: what is not written yet (everything, once the file has a problem)
        self.tubes: dict[str, _Tube] = {}
        self.new_tubes: list[_Tube] = []  # created in this window (their rows pending)
        self.dirty_tubes: list[_Tube] = []  # stored, their volumes changed in this window
        self.rows: list[dict[str, Any]] = []
        self.window_rows: list[int] = []  # file rows whose records the window holds
        self.steps: list[dict[str, Any]] = []
        self.events: list[EventSpec] = []
        self.visits: dict[tuple[int, str], _Visit] = {}
        # the window's new visits and those whose date it moved (what it writes of them)
        self.changed_visits: list[tuple[tuple[int, str], _Visit]] = []
        self.visits_loaded: set[int] = set()
        # kept for the whole import (the import holds the write lock)
        self.subjects: dict[tuple[str, str], int | None] = {}
        self.cells: dict[str, int | None] = {}
        self.boxes: dict[str, _Box] = {}
        self.unknown_boxes: set[str] = set()  # box paths looked up and not stored
        # storage created by the file (--create-locations), written with the window
        self.freezers: dict[str, int] | None = None  # code -> id, loaded on first need
        self.racks: dict[tuple[int, str], int] = {}
        self.new_storage: list[tuple[Any, dict[str, Any]]] = []
        self.freezer_ids = _Ids(tx, "freezers", Freezer.id)
        self.rack_ids = _Ids(tx, "racks", Rack.id)
        self.box_ids = _Ids(tx, "boxes", Box.id)
        self.occupied: dict[tuple[int, str], str] = {}
        self.occupied_loaded: set[int] = set()
        # boxes this import created (they grow to hold the positions the file names:
        # :meth:`grow`); of them, those whose row is not written yet (their row and the
        # ``create`` event's values), and those written and grown since (their new size)
        self.made_boxes: set[int] = set()
        self.unwritten_boxes: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.grown_boxes: dict[int, dict[str, Any]] = {}
        self.sample_ids = _Ids(tx, "samples", Sample.id)
        self.visit_ids = _Ids(tx, "visits", Visit.id)
        self.iso_ids = _Ids(tx, "isolations", Isolation.id)
        self.subject_ids = _Ids(tx, "subjects", Subject.id)
        self.cell_ids = _Ids(tx, "cell_sources", CellSource.id)
        self.studies: dict[str, int | None] = {}
        self.sprec = sample_rules.SprecMemo()
        self.step_memo: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self.in_chunk = IN_CHUNK_LARGE
        self.ask_ahead: Callable[[], None] | None = None
        key_of: Any = attrgetter(*kind.key_columns)
        self.key_of: Callable[[Any], tuple[str, ...]] = (
            key_of if len(kind.key_columns) > 1 else lambda m: (key_of(m),)
        )
        new_of: dict[str, Callable[[Any], None]] = {
            "samples": self.new_sample,
            "subjects": self.new_subject,
            "cell_sources": self.new_cell_source,
        }
        self.new_record = new_of.get(kind.name, self.new_isolation)
        # what every created row carries (:meth:`created`)
        self.stamp = {
            "batch_id": self.batch_id,
            "version": 1,
            "created_at": self.now,
            "created_by": self.user,
            "updated_at": None,
        }
        if tx.dialect == "sqlite":
            driver = tx.session.connection().connection.driver_connection
            assert driver is not None
            if driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) < 2 * IN_CHUNK_LARGE:
                self.in_chunk = IN_CHUNK

    def reader(self) -> Any:
        """The import's connection for the set-based reads (Core: no ORM loading of plain
        rows), after flushing what the per-record code changed (Core does not autoflush)."""
        self.tx.session.flush()
        return self.tx.session.connection()

    def parts(self, values: list[Any]) -> Iterator[list[Any]]:
        """``values`` in IN (...) lists: up to a chunk's worth at once where the database
        takes that many parameters (fewer queries), else :data:`IN_CHUNK`."""
        return _parts(values, self.in_chunk)

    def run(self, chunks: Iterator[Chunk]) -> None:
        # (chunks that can be read ahead while a window is written: io/bulk_records.ReadAhead)
        self.ask_ahead = getattr(chunks, "ask", None)
        for chunk in chunks:
            models = [
                m
                for _, _, m in chunk
                if isinstance(m, (SampleIn, IsolationIn, SubjectIn, CellSourceIn))
            ]
            existing = self.stored_keys(models)
            # the stored records of the chunk's stored keys, read at once (a lab's cumulative
            # file repeats thousands of them: one lookup each cost ~1 ms)
            self.stored = (
                self.rules.find_many(
                    self.tx, self.kind, [m for m in models if self.key_of(m) in existing]
                )
                if existing
                else {}
            )
            self.preload(models)
            for rownum, cells, m in chunk:
                self.row(rownum, cells, m, existing)
            self.update_pending()
            self.end_chunk()
        for ids in (
            self.sample_ids,
            self.visit_ids,
            self.iso_ids,
            self.subject_ids,
            self.cell_ids,
            self.freezer_ids,
            self.rack_ids,
            self.box_ids,
        ):
            ids.release()

    def row(
        self,
        rownum: int,
        cells: dict[str, Any] | Callable[[], dict[str, Any]] | None,
        m: Any,
        existing: set[tuple[str, ...]],
    ) -> None:
        problems, report = self.problems, self.report
        if self.pending and (
            cells is None
            or isinstance(m, ValidationFailed)
            or (key := self.key_of(m)) not in existing
            or key in self.seen
        ):  # (a row that is not a stored record's comes after the updates before it)
            self.update_pending()
        if cells is None:  # a ragged row: (the column it names, the message)
            problems.add(rownum, *m)
            report.refused += 1
            return
        if isinstance(m, ValidationFailed):
            self.rules.report_failed(problems, rownum, m, self.kind, _cells(cells))
            report.refused += 1
            return
        key = self.key_of(m)
        first = self.seen.get(key)
        if first is not None:
            col = self.kind.key_columns[-1]
            problems.add(rownum, col, duplicate_key(key, first), _cells(cells).get(col))
            report.refused += 1
            return
        self.seen[key] = rownum
        if key in existing:  # compare, skip or update: the per-record code
            stored = self.stored.get(key)
            current = stored is not None and self.as_read(stored)
            if current and self.rules.unchanged(self.kind, m, _cells(cells), stored):
                report.unchanged += 1  # (as the per-record code counts it)
                return
            if self.batch_updates:
                self.pending.append((rownum, _cells(cells), m))
                return
            self.write()
            updated = report.updated
            found = stored if current else self.rules.find(self.tx, self.kind, m)
            self.rules.apply_row(
                self.tx,
                self.kind,
                rownum,
                m,
                _cells(cells),
                found,
                report,
                problems,
                self.on_duplicate,
                self.create_locations,
            )
            if report.updated != updated:
                self.updated_tubes([m])
            return
        try:
            self.new_record(m)
            report.created += 1
            self.window_rows.append(rownum)
        except PermissionDenied:
            raise
        except ExolabError as exc:
            self.rules.report_failed(problems, rownum, exc, self.kind, _cells(cells))
            report.refused += 1

    def update_pending(self) -> None:
        """Update the stored records of the rows put aside (``--on-duplicate update``: rows
        that differ from their stored records) together, after the window is written: the
        services' own edits, a chunk at a time, as a partial update file's rows
        (docs/bulk-imports.md, "Updates"). Called before any row that is not a stored
        record's, and at a chunk's end, so each row sees the rows before it."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        self.write()
        updated = self.report.updated
        assert self.rules.update_rows is not None
        self.rules.update_rows(
            self.tx,
            self.kind,
            [(rownum, cells) for rownum, cells, _ in pending],
            self.report,
            self.problems,
            self.create_locations,
        )
        if self.report.updated != updated:
            self.updated_tubes([m for _, _, m in pending])

    def updated_tubes(self, models: list[Any]) -> None:
        """The services changed stored tubes (and may have created storage): read the
        tubes of ``models`` (samples, or the isolations' tubes) again, and forget what the
        window knew of positions and storage."""
        if self.kind.name not in ("samples", "isolations"):
            return
        codes = {m.sample_id for m in models}
        for code in codes:
            self.tubes.pop(code, None)
        self.load_tubes(codes)
        self.occupied, self.occupied_loaded = {}, set()
        self.unknown_boxes = set()
        self.boxes = {}  # (read again: the per-record code may have grown a box)
        self.freezers = None
        for ids in (self.visit_ids, self.freezer_ids, self.rack_ids, self.box_ids):
            ids.skip_stored()

    def as_read(self, stored: Any) -> bool:
        """Whether a stored record read at the chunk's start is still as read: a stored tube
        an earlier row of the chunk aliquoted or isolated from changed since (its version);
        records of the other kinds are changed only by their own row."""
        if self.kind.name != "samples":
            return True
        tube = self.tubes.get(stored.sample_id)
        return tube is None or tube.version == stored.version

    # -- set-based reads ----------------------------------------------------------------------

    def stored_keys(self, models: list[Any]) -> set[tuple[str, ...]]:
        s = self.reader()
        if self.kind.name == "subjects":
            return set(self.find_subjects({(m.study, m.subject_id) for m in models}))
        if self.kind.name == "samples":
            col: Any = Sample.sample_code
            codes = [m.sample_id for m in models]
        elif self.kind.name == "cell_sources":
            col = CellSource.code
            codes = [m.cell_source_id for m in models]
        else:
            col = Isolation.isolation_code
            codes = [m.isolation_id for m in models]
        found: set[tuple[str, ...]] = set()
        for part in self.parts(codes):
            found.update(_select_in(s, col.class_, (col.key,), col.key, part))
        return found

    def find_subjects(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The stored subjects among (study, subject code) keys, looked up by study and code
        (the unique index's order: a lookup by code alone would scan every subject)."""
        s = self.reader()
        studies: dict[str, int] = {}
        for part in self.parts(sorted({k[0] for k in keys})):
            studies.update(_select_in(s, Study, ("code", "id"), "code", part))
        found: dict[tuple[str, str], int] = {}
        for study, study_pk in studies.items():
            codes = sorted(c for st, c in keys if st == study)
            for part in self.parts(codes):
                for code, pk in _select_in(
                    s, Subject, ("subject_code", "id"), "subject_code", part, ("study_id", study_pk)
                ):
                    found[(study, code)] = pk
        return found

    def load_tubes(self, codes: set[str]) -> None:
        want = sorted(c for c in codes if c not in self.tubes)
        conn = self.reader()
        tubes = self.tubes
        columns = ISOLATED_TUBE_COLUMNS if self.kind.name == "isolations" else TUBE_COLUMNS
        code = columns.index("sample_code")
        for part in self.parts(want):
            for row in _select_in(conn, Sample, columns, "sample_code", part):
                tubes[row[code]] = _Tube(zip(columns, row, strict=True))

    def preload(self, models: list[Any]) -> None:
        s = self.reader()
        if self.kind.name == "subjects":
            codes = sorted({m.study for m in models} - self.studies.keys())
            for part in self.parts(codes):
                self.studies.update(_select_in(s, Study, ("code", "id"), "code", part))
            return
        if self.kind.name == "isolations":
            self.load_tubes({m.sample_id for m in models})
            self.note_status_history({m.sample_id for m in models}, "isolate")
            return
        if self.kind.name == "cell_sources":
            return
        parents = {m.parent_sample_id for m in models if m.parent_sample_id}
        self.load_tubes(parents)
        self.note_status_history(parents, "aliquot")
        if parents and any(m.parent_sample_id and sample_rules.gives_owner(m) for m in models):
            # aliquot rows that name their owner: the owners of every stored parent the chunk
            # names, at once (a parent created by the file knows its own)
            self.load_owners([t for c in parents if (t := self.tubes.get(c)) is not None])
        cells = sorted({m.cell_source_id for m in models if m.cell_source_id} - self.cells.keys())
        for part in self.parts(cells):
            self.cells.update(_select_in(s, CellSource, ("code", "id"), "code", part))
        for code in cells:
            self.cells.setdefault(code, None)
        wanted = {(m.study, m.subject_id) for m in models if m.subject_id and m.study}
        new = wanted - self.subjects.keys()
        self.subjects.update(self.find_subjects(new))
        for key in new:
            self.subjects.setdefault(key, None)
        known = {self.subjects.get(k) for k in wanted}
        subject_pks = sorted({pk for pk in known if pk is not None} - self.visits_loaded)
        for part in self.parts(subject_pks):
            for pk, subject_pk, label, on in _select_in(
                s, Visit, ("id", "subject_id", "label", "visit_date"), "subject_id", part
            ):
                self.visits.setdefault((subject_pk, label), _Visit(pk, on, False))
        self.visits_loaded.update(subject_pks)
        paths = sorted(
            {m.location.box_path for m in models if m.location is not None} - self.boxes.keys()
        )
        for part in self.parts(paths):
            for pk, path, n_rows, n_cols in _select_in(
                s, Box, ("id", "path", "n_rows", "n_cols"), "path", part
            ):
                self.boxes[path] = _Box(pk, path, n_rows, n_cols)
        self.unknown_boxes.update(p for p in paths if p not in self.boxes)
        self.load_occupied({b.id for p in paths if (b := self.boxes.get(p)) is not None})

    def note_status_history(self, codes: set[str], action: str) -> None:
        """The stored tubes of ``codes`` whose status does not allow ``action`` (a used-up
        inventory moved into exolab, its isolations or aliquots imported as history): whether
        their status changed since registration, read for all of them at once
        (lifecycle.note_status_history) instead of once per row by the rule."""
        allowed = lifecycle.ACTIONS[action].allowed_from
        out_of_use = [
            c for c in codes if (t := self.tubes.get(c)) is not None and t.status not in allowed
        ]
        if out_of_use:
            lifecycle.note_status_history(self.tx, out_of_use)

    def load_owners(self, tubes: list[_Tube]) -> None:
        """Read the owners of these stored tubes (those not read yet), set-based."""
        want = {t.sample_code: t for t in tubes if t.owner is None}
        found: dict[str, sample_rules.Owner] = {}
        for part in self.parts(sorted(want)):
            found.update(_owners_in(self.reader(), part))
        for code, tube in want.items():
            tube.owner = found[code]

    def owner_of(self, tube: _Tube) -> sample_rules.Owner:
        """What ``tube`` belongs to (for ``samples.new_tube``): a created aliquot's is its
        parent's; a stored tube's was read with its chunk's (:meth:`preload`), or is read now
        (a tube read again after an update by the per-record code)."""
        chain = []
        while isinstance(tube.owner, _Tube):
            chain.append(tube)
            tube = tube.owner
        if tube.owner is None:
            self.load_owners([tube])
        owner = tube.owner
        assert isinstance(owner, tuple)
        for t in chain:
            t.owner = owner
        return owner

    def load_occupied(self, box_ids: set[int]) -> None:
        want = sorted(box_ids - self.occupied_loaded)
        for part in self.parts(want):
            for box_pk, position, code in (
                self.reader()
                .execute(
                    select(Sample.box_id, Sample.position, Sample.sample_code).where(
                        Sample.box_id.in_(part), Sample.position.is_not(None)
                    )
                )
                .all()
            ):
                self.occupied.setdefault((box_pk or 0, position or ""), code)
        self.occupied_loaded.update(want)

    # -- the rules, row by row ----------------------------------------------------------------

    def created(self, row: dict[str, Any]) -> None:
        """Stamp ``row`` as created by this batch and queue it. It gets no ``create`` event
        of its own: the batch's ``import`` event is its creation record (the audit rule of
        bulk imports, docs/bulk-imports.md); the row carries the batch id."""
        row.update(self.stamp)
        self.rows.append(row)

    def take(self, tube: _Tube, taken: lifecycle.VolumeTaken | None) -> None:
        """Apply a volume taken (after the row passed every rule) and record its event."""
        if taken is None:
            return
        self.events.append(
            (
                "update",
                "sample",
                tube.sample_code,
                taken.old,
                taken.new,
                taken.reason,
                self.batch_id,
            )
        )
        tube.volume_ml = taken.new["volume_ml"]
        tube.volume_taken_ml = taken.new["volume_taken_ml"]
        tube.version = (tube.version or 0) + 1
        if tube.row is not None:  # created in this window: its pending insert carries it
            tube.row.update(  # (its own dict: the same values, and its time of change)
                volume_ml=tube.volume_ml,
                volume_taken_ml=tube.volume_taken_ml,
                version=tube.version,
                updated_at=self.now,
            )
        elif not tube.dirty:
            tube.dirty = True
            self.dirty_tubes.append(tube)

    def new_sample(self, s: SampleIn) -> None:
        parent = None
        if s.parent_sample_id:
            parent = self.tubes.get(s.parent_sample_id)
            if parent is None:
                raise ValidationFailed([sample_rules.no_parent(s)])
        tube = sample_rules.new_tube(s, parent, self.owner_of)
        subject_pk = visit_pk = cell_pk = parent_pk = None
        taken = None
        visit_key: tuple[int, str] | None = None
        if parent is not None:
            lifecycle.check_allowed(
                self.tx,
                cast(Any, parent),  # a tube's columns are all the rule reads
                lifecycle.ACTIONS["aliquot"],
                field="parent_sample_id",
                history=True,
            )
            parent_pk = parent.id
            subject_pk, visit_pk, cell_pk = (
                parent.subject_id,
                parent.visit_id,
                parent.cell_source_id,
            )
            taken = lifecycle.volume_taken(
                parent, s.volume_ml, field="volume_ml", purpose=sample_rules.aliquot_purpose(s)
            )
        elif sample_rules.needs_cell_source(s):
            cell_pk = self.cells.get(s.cell_source_id or "")
            if cell_pk is None:
                raise ValidationFailed([sample_rules.no_cell_source(s)])
        if not s.parent_sample_id and s.subject_id:
            assert s.study is not None and s.visit is not None
            subject_pk = self.subjects.get((s.study, s.subject_id))
            if subject_pk is None:
                raise ValidationFailed([sample_rules.no_subject(s)])
            visit_key = (subject_pk, s.visit)
        sample_rules.finish_tube(tube, self.sprec)
        box_pk = position = None
        if s.location is not None:
            box = self.box(s)
            if box.id in self.made_boxes:
                box = self.grow(box, s.location.position)
            storage.check_position(cast(Any, box), s.location.position, self.tx)
            if box.id not in self.occupied_loaded:
                self.load_occupied({box.id})
            position = s.location.position
            if position is not None:
                holder = self.occupied.get((box.id, position))
                if holder is not None:
                    raise storage.position_taken(s.location, holder)
            box_pk = box.id
        # every rule passed: apply
        if parent is not None:
            self.take(parent, taken)
        if visit_key is not None:
            visit_pk = self.visit(visit_key, s.collected_at.date())
        if position is not None:
            self.occupied[(box_pk, position)] = s.sample_id  # type: ignore[index]
        row: dict[str, Any] = {
            "id": self.sample_ids.take(),
            "sample_code": s.sample_id,
            "biofluid": s.biofluid,
            "collected_at": s.collected_at,
            "subject_id": subject_pk,
            "visit_id": visit_pk,
            "cell_source_id": cell_pk,
            "parent_id": parent_pk,
            "volume_ml": s.volume_ml,
            "volume_taken_ml": 0.0,
            "sprec": tube.sprec,
            "box_id": box_pk,
            "position": position,
            "freeze_thaw_count": tube.freeze_thaw,
            "status": tube.status,
            "notes": s.notes,
            **tube.values,
        }
        self.created(row)
        if parent is not None:
            owner: sample_rules.Owner | _Tube = parent  # (its parent's: read when asked)
        else:
            cell = s.cell_source_id if cell_pk is not None else None
            owner = (
                (s.study, s.subject_id, s.visit, cell)
                if subject_pk is not None
                else (None, None, None, cell)
            )
        tube_ = self.tubes[s.sample_id] = _Tube.created(row, owner)
        self.new_tubes.append(tube_)

    def box(self, s: SampleIn) -> _Box:
        loc = s.location
        assert loc is not None
        box = self.boxes.get(loc.box_path)
        if box is None and loc.box_path in self.unknown_boxes and self.create_locations:
            box = self.boxes[loc.box_path] = self.new_box(loc)  # (looked up: not stored)
            self.occupied_loaded.add(box.id)
        if box is None and not self.create_locations and loc.box_path in self.unknown_boxes:
            raise self.no_box(loc)  # (nothing creates storage without --create-locations)
        if box is None:  # (the per-record code may have created it since the chunk began)
            for pk, n_rows, n_cols in self.tx.session.execute(
                select(Box.id, Box.n_rows, Box.n_cols).where(Box.path == loc.box_path)
            ):
                box = self.boxes[loc.box_path] = _Box(pk, loc.box_path, n_rows, n_cols)
                self.load_occupied({pk})
                return box
            if not self.create_locations:
                self.unknown_boxes.add(loc.box_path)
                raise self.no_box(loc)
            box = self.boxes[loc.box_path] = self.new_box(loc)
            self.occupied_loaded.add(box.id)
        return box

    def no_box(self, loc: Location) -> ValidationFailed:
        """The problem of a row naming a box that is not stored (the import may not create
        it): why, with the closest existing box."""
        why = storage.unknown_location(self.tx, loc)
        return ValidationFailed([FieldError("location", why, str(loc))])

    def new_box(self, loc: Location) -> _Box:
        """Create a box (and its freezer and rack when missing) as ``storage.add_location``
        does, with the same audit events, written with the window's rows."""
        twin = storage.case_twin(self.tx, loc.box_path)  # (storage in another case)
        if twin is not None:
            raise ValidationFailed([FieldError("location", twin, str(loc))])
        if self.freezers is None:
            s = self.tx.session
            self.freezers = {c: pk for c, pk in s.execute(select(Freezer.code, Freezer.id))}
            self.racks = {
                (f, code): pk
                for pk, f, code in s.execute(select(Rack.id, Rack.freezer_id, Rack.code))
            }
        freezer_pk = self.freezers.get(loc.freezer)
        if freezer_pk is None:
            freezer_pk = self.freezers[loc.freezer] = self.freezer_ids.take()
            new = storage.freezer_event(loc.freezer, None, None)
            self.new_storage.append((Freezer, {"id": freezer_pk, **new}))
            self.events.append(("create", "freezer", loc.freezer, None, new, None, None))
            storage.note_created(self.tx, "freezer", loc.freezer)
        rack_pk = self.racks.get((freezer_pk, loc.rack))
        if rack_pk is None:
            rack_pk = self.racks[(freezer_pk, loc.rack)] = self.rack_ids.take()
            new = storage.rack_event(loc.rack)
            self.new_storage.append((Rack, {"id": rack_pk, "freezer_id": freezer_pk, **new}))
            path = f"{loc.freezer}/{loc.rack}"
            self.events.append(("create", "rack", path, None, new, None, None))
            storage.note_created(self.tx, "rack", path)
        box = _Box(self.box_ids.take(), loc.box_path, storage.DEFAULT_ROWS, storage.DEFAULT_COLS)
        new = storage.box_event(box.n_rows, box.n_cols)
        row = {"id": box.id, "rack_id": rack_pk, "code": loc.box, "path": box.path, **new}
        self.new_storage.append((Box, row))
        self.events.append(("create", "box", box.path, None, new, None, None))
        self.made_boxes.add(box.id)
        self.unwritten_boxes[box.id] = (row, new)
        storage.note_created(self.tx, "box", box.path)
        return box

    def grow(self, box: _Box, position: str | None) -> _Box:
        """A box this import created grows to hold ``position`` (``storage.grow_box``, the
        per-record path's rule): while its row is not written yet, the row and its ``create``
        event say the new size; once written, an audited update of its size is written with
        the window."""
        size = storage.size_to_hold(box.n_rows, box.n_cols, position)
        if size is None:
            return box
        grown = self.boxes[box.path] = _Box(box.id, box.path, *size)
        unwritten = self.unwritten_boxes.get(box.id)
        if unwritten is not None:
            for values in unwritten:
                values.update(storage.box_event(*size))
            return grown
        old = storage.box_event(box.n_rows, box.n_cols)
        new = storage.box_event(*size)
        self.grown_boxes[box.id] = new
        reason = storage.grown_reason(position)
        self.events.append(("update", "box", box.path, old, new, reason, None))
        return grown

    def visit(self, key: tuple[int, str], on: date) -> int:
        """The subject's visit (created on its first collection; its date is the earliest
        collection), as ``subjects.get_or_create_visit``."""
        v = self.visits.get(key)
        if v is None:
            v = self.visits[key] = _Visit(self.visit_ids.take(), on, True)  # (new)
            self.changed_visits.append((key, v))
        elif v.visit_date is None or on < v.visit_date:
            v.visit_date = on
            if not (v.dirty or v.new):
                self.changed_visits.append((key, v))
            v.dirty = True
        return v.id

    def new_isolation(self, d: IsolationIn) -> None:
        tube = self.tubes.get(d.sample_id)
        if tube is None:
            raise ValidationFailed([isolation_rules.no_sample(d)])
        steps = self.steps_of(d)
        lifecycle.check_allowed(
            self.tx, cast(Any, tube), lifecycle.ACTIONS["isolate"], history=True
        )
        taken = lifecycle.volume_taken(
            tube,
            d.input_volume_ml,
            field="input_volume_ml",
            purpose=isolation_rules.isolation_purpose(d),
        )
        self.take(tube, taken)
        pk = self.iso_ids.take()
        row = isolation_rules.isolation_columns(d)  # (a new dict: the row's own)
        row["id"], row["sample_id"] = pk, tube.id
        self.created(row)
        for i, step in enumerate(steps, start=1):
            self.steps.append(
                {
                    "isolation_id": pk,
                    "step_no": i,
                    "method": step["method"],
                    "params": step["params"],
                }
            )

    def new_subject(self, m: SubjectIn) -> None:
        """As ``subjects.create_subject``: the study is created (audited) by its first
        subject."""
        study_pk = self.studies.get(m.study)
        if study_pk is None:
            self.flush_events()  # the service audits now: keep the chain in order
            study_pk = self.studies[m.study] = subject_rules.get_or_create_study(
                self.tx, m.study, self.batch_id
            ).id
        row: dict[str, Any] = {
            "id": self.subject_ids.take(),
            "study_id": study_pk,
            "subject_code": m.subject_id,
            **subject_rules.subject_columns(m),
        }
        self.created(row)

    def new_cell_source(self, m: CellSourceIn) -> None:
        """As ``cell_sources.create_cell_source``."""
        row: dict[str, Any] = {
            "id": self.cell_ids.take(),
            "code": m.cell_source_id,
            **cell_source_rules.cell_source_columns(m),
        }
        self.created(row)

    def steps_of(self, d: IsolationIn) -> list[dict[str, Any]]:
        """``IsolationIn.steps()`` as stored, remembered per distinct method chain and
        parameters (a file has few)."""
        key = (tuple(d.method), *_STEP_VALUES(vars(d)))
        steps = self.step_memo.get(key)
        if steps is None:
            steps = [step.model_dump() for step in d.steps()]
            if len(self.step_memo) < 50_000:
                self.step_memo[key] = steps
        return steps

    # -- writing ------------------------------------------------------------------------------

    def flush_events(self) -> None:
        append_events(
            self.tx,
            self.events,
            lambda rows: insert_many(self.tx.session.connection(), AuditEvent, rows),
        )
        self.events = []

    def write(self) -> None:
        """Write the window's rows, updates and events now (while the file has shown no
        problem; after one, nothing will be written and they are dropped: only the tubes' and
        visits' state is kept, for the rules of the rows that follow)."""
        if not self.problems:
            window = self._window()
            self._report(self._apply(window), window)
        self._reset_window()

    def end_chunk(self) -> None:
        """The chunk's rules are done: write its window (the next chunk is read meanwhile)."""
        if self.ask_ahead is not None:
            self.ask_ahead()
        self.write()
        if not self.problems:  # the database holds it all: forget the window
            self._forget_window()

    def _forget_window(self) -> None:
        self.tubes = {}
        self.visits, self.visits_loaded = {}, set()

    def _reset_window(self) -> None:
        self.rows, self.window_rows, self.steps, self.events = [], [], [], []
        self.new_storage = []
        self.unwritten_boxes, self.grown_boxes = {}, {}
        for t in self.new_tubes:
            t.row = None
        for t in self.dirty_tubes:
            t.dirty = False
        self.new_tubes, self.dirty_tubes = [], []
        for _, v in self.changed_visits:
            v.new = v.dirty = False
        self.changed_visits = []

    def _report(self, error: Exception | None, window: _Window) -> None:
        """A database refusal becomes a problem of the window's first row (without SQL or
        values); anything else is raised."""
        if error is None:
            return
        plain = database_error_text(error)
        if plain is None or not window.file_rows:
            raise error
        first, last = window.file_rows[0], window.file_rows[-1]
        together = f" (rows {first}-{last} are written together)" if last > first else ""
        self.problems.add(first, self.kind.key_columns[-1], plain + together)

    def _window(self) -> _Window:
        """What the window writes, taken out of the loader's state."""
        table: Any = {
            "samples": Sample,
            "subjects": Subject,
            "cell_sources": CellSource,
        }.get(self.kind.name, Isolation)
        return _Window(
            file_rows=self.window_rows,
            storage=[
                (level, [row for t, row in self.new_storage if t is level])
                for level in (Freezer, Rack, Box)
            ],
            new_visits=[
                {"id": v.id, "subject_id": k[0], "label": k[1], "visit_date": v.visit_date}
                for k, v in self.changed_visits
                if v.new
            ],
            moved_visits=[
                {"pk": v.id, "on": v.visit_date}
                for _, v in self.changed_visits
                if v.dirty and not v.new
            ],
            grown_boxes=[{"pk": pk, **size} for pk, size in self.grown_boxes.items()],
            table=table,
            rows=self.rows,
            steps=self.steps,
            volumes=[(t.volume_ml, t.volume_taken_ml, t.version, t.id) for t in self.dirty_tubes],
            events=self.events,
        )

    def _apply(self, window: _Window) -> Exception | None:
        """Write a window in a savepoint (a refusal leaves none of it); the error, if any."""
        try:
            with self.tx.session.begin_nested():
                self._write(window)
        except Exception as exc:
            return exc
        return None

    def _write(self, w: _Window) -> None:
        conn = self.tx.session.connection()
        for level, made in w.storage:
            if made:
                insert_many(conn, level, made)
        if w.grown_boxes:
            conn.execute(
                update(Box)
                .where(Box.id == bindparam("pk"))
                .values(n_rows=bindparam("n_rows"), n_cols=bindparam("n_cols")),
                w.grown_boxes,
            )
        if w.new_visits:
            insert_many(conn, Visit, w.new_visits)
        if w.moved_visits:
            conn.execute(
                update(Visit).where(Visit.id == bindparam("pk")).values(visit_date=bindparam("on")),
                w.moved_visits,
            )
        if w.rows:
            insert_many(conn, w.table, w.rows)
        if w.steps:
            insert_many(conn, IsolationStep, w.steps)
        changed = w.volumes
        if changed and conn.dialect.name == "sqlite":
            # (the driver's executemany: one UPDATE ... FROM a staged table was measured no
            # cheaper once its plan is kept to key lookups -- without them it scans samples)
            stamp = _bind(Sample.__table__.c.updated_at, conn.dialect)
            now = stamp(self.now) if stamp is not None else self.now
            conn.exec_driver_sql(
                "UPDATE samples SET volume_ml = ?, volume_taken_ml = ?, version = ?, "
                "updated_at = ? WHERE id = ?",
                [(left, taken, v, now, pk) for left, taken, v, pk in changed],
            )
        elif changed:
            pg_records.update_volumes(conn, changed, self.now)
        append_events(self.tx, w.events, lambda rows: insert_many(conn, AuditEvent, rows))


@dataclass
class _Window:
    """The statements of one window, taken out of the loader's state, with the file rows
    they come from (a refusal by the database is reported at the first of them)."""

    file_rows: list[int]
    storage: list[tuple[Any, list[dict[str, Any]]]]
    new_visits: list[dict[str, Any]]
    moved_visits: list[dict[str, Any]]
    grown_boxes: list[dict[str, Any]]
    table: Any
    rows: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    volumes: list[tuple[Any, ...]]
    events: list[EventSpec]


def write_records(
    tx: Tx,
    kind: Any,
    chunks: Iterator[Chunk],
    report: Any,
    problems: ProblemList,
    on_duplicate: str,
    create_locations: bool,
    rules: RowRules,
) -> None:
    """Write the validated chunks of a subjects, cell sources, samples or isolations file
    (``io.bulk_records`` reads them) into the import's transaction."""
    tx.require_write(f"import {kind.name}")
    with page_cache(tx):
        _Loader(tx, kind, report, problems, on_duplicate, create_locations, rules).run(chunks)
