"""The database stage of the bulk readout import (docs/bulk-imports.md, "Readouts").

:mod:`exolab.io.bulk` turns a file's rows into validated insert values; this module owns
everything that touches the database for it: the code -> id maps the rows are resolved against,
the stored readouts of a chunk's keys, the staging tables and the statements that move a chunk
into ``readouts`` (SQLite: a multi-row INSERT into a temporary table then one INSERT ...
SELECT, chunk by chunk; PostgreSQL: binary COPY straight into ``readouts``,
:mod:`exolab.services.pg_load`), the new assay runs, and the refresh of ``readout_sets``
(:func:`exolab.services.readout_sets.refresh`; on PostgreSQL the sets of a chunk's new pairs
are worked out by the same rule in Python, :func:`~exolab.services.readout_sets.sets_of`).
All inside the import's single transaction.

Rows are written from a background thread (:class:`ReadoutStore.put`) while the next chunk is
validated: the driver releases the GIL while the database works.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from datetime import date
from typing import Any

from sqlalchemy import insert, select

from exolab.db.base import utcnow
from exolab.db.models import Analyte, AssayRun, Readout
from exolab.services import pg_load, readout_sets
from exolab.services import readouts as readout_service
from exolab.services.context import Tx
from exolab.services.errors import Busy, ExolabError
from exolab.services.sqlite_bulk import insert_values, page_cache

__all__ = [
    "COMPARED",
    "CONTEXT_INSERT",
    "INSERT_COLUMNS",
    "ROW_INSERT",
    "ReadoutStore",
    "RefusedRows",
]

# Insert order: the columns that vary from row to row, then those fixed by a row's context
# (unit, assay, run, limits, ...), whose values are one tuple cached per distinct context.
ROW_INSERT = (
    "sample_id",
    "isolation_id",
    "analyte_id",
    "replicate",
    "value_text",
    "value",
    "comparator",
    "censor",
    "qualitative",
    "notes",
    "well",
)
CONTEXT_INSERT = (
    "assay",
    "run_code",
    "unit",
    "lod",
    "lloq",
    "uloq",
    "antibody",
    "antibody_dilution",
    "lysis_buffer",
    "instrument",
    "measured_on",
    "qc",
    "batch_id",
    "version",
    "created_at",
    "created_by",
    "dilution_factor",
)
INSERT_COLUMNS = ROW_INSERT + CONTEXT_INSERT
# Where a row (ROW_INSERT) holds what its replicate set reads after the sample, isolation and
# analyte (its first three): censor, comparator, value (readout_sets.SetRow)
_SET_READS = tuple(ROW_INSERT.index(c) for c in ("censor", "comparator", "value"))
# Row columns that may be empty (SQLite stages them as '', see ReadoutStore.null).
NULLABLE_ROW = frozenset({"isolation_id", "value", "qualitative", "notes", "well"})
STAGE = "exolab_stage_readouts"  # temporary: the row columns of a chunk and their context id
STAGE_ROWS_PER_INSERT = 2_000  # staged rows per INSERT (few columns: more rows fit)
STAGE_CTX = "exolab_stage_contexts"  # temporary: one row per distinct context
# The stored targets a readout row may name: isolation code -> (id, its sample's id), and
# sample code -> id
_ISOLATION_TARGETS = "SELECT isolation_code, id, sample_id FROM isolations"
_SAMPLE_TARGETS = "SELECT sample_code, id FROM samples"
# Stored isolations and samples (by their highest ids) up to which an import reads every code
# at once (~0.1 s and ~30 MB at this many); above, only the codes its file names
# (ReadoutStore.load_targets)
LOAD_ALL_TARGETS = 200_000
# Stored readout columns compared with a re-imported row (see io.bulk's _unchanged).
COMPARED = (
    "value_text",
    "value",
    "comparator",
    "censor",
    "qualitative",
    "notes",
    "unit",
    "lod",
    "lloq",
    "uloq",
    "antibody",
    "antibody_dilution",
    "lysis_buffer",
    "instrument",
    "measured_on",
    "qc",
    "well",
    "dilution_factor",
)


class ReadoutStore:
    """The database side of one bulk readout import (see the module docstring)."""

    def __init__(self, tx: Tx, batch_id: int) -> None:
        self.tx = tx
        self.batch_id = batch_id
        self.session = tx.session
        self.sqlite = tx.dialect == "sqlite"
        self.user = tx.actor.name
        s = self.session
        s.flush()
        dbapi: Any = s.connection().connection.driver_connection
        #: isolation code -> (isolation id, its sample's id), and sample code -> id: the stored
        #: targets a row may name (:meth:`load_targets`, :meth:`isolation`, :meth:`sample`)
        self.isolations: dict[str, tuple[int, int]] = {}
        self.samples: dict[str, int] = {}
        self.all_targets = False  # whether they hold every stored one
        self._looked_up: tuple[set[str], set[str]] = (set(), set())  # codes asked for
        self.analytes: dict[str, int] = {
            code: pk for code, pk in s.execute(select(Analyte.code, Analyte.id))
        }
        #: run code -> its assay (the stored runs)
        self.runs: dict[str, str] = {
            code: a for code, a in s.execute(select(AssayRun.run_code, AssayRun.assay))
        }
        self.has_readouts = s.scalar(select(Readout.id).limit(1)) is not None
        self.dbapi = dbapi
        if self.sqlite:
            import sqlite3

            self.max_variables: int = dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            self.pg: pg_load.PgLoad | None = None
        else:
            self.pg = pg_load.PgLoad(dbapi, INSERT_COLUMNS)
        #: PostgreSQL: each context's insert values (in the order of CONTEXT_INSERT) and the
        #: (assay, run_code, unit) of its readouts' sets, by context id (see put)
        self._contexts: dict[int, tuple[Any, ...]] = {}
        self._set_contexts: dict[int, tuple[Any, ...]] = {}
        table = Readout.__table__
        dialect = s.get_bind().dialect
        date_bind = table.c.measured_on.type.dialect_impl(dialect).bind_processor(dialect)
        #: a date in the form the driver is handed (SQLite: the stored text)
        self.date_out: Callable[[date], Any] = date_bind if self.sqlite and date_bind else _same
        created_bind = table.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        now = utcnow()
        self.created_at = created_bind(now) if self.sqlite and created_bind else now
        # How a missing row value is staged. Python's sqlite3 binds None through its
        # adaptation protocol (a failed attribute lookup per value, ~1 us), which made the
        # empty columns of a readout cost more than SQLite's own insert; '' binds directly
        # and the final INSERT turns it back into NULL. COPY to PostgreSQL takes None.
        self.null: Any = "" if self.sqlite else None
        self.staged = False
        self._held_contexts: list[tuple[Any, ...]] = []  # see put
        row_cols = ", ".join(
            f"nullif(s.{c}, '')" if self.sqlite and c in NULLABLE_ROW else f"s.{c}"
            for c in ROW_INSERT
        )
        ctx_cols = ", ".join(f"c.{c}" for c in CONTEXT_INSERT)
        self.insert_sql = (
            f"INSERT INTO readouts ({', '.join(INSERT_COLUMNS)}) "
            f"SELECT {row_cols}, {ctx_cols} FROM {STAGE} AS s "
            f"JOIN {STAGE_CTX} AS c ON c.ctx_id = s.ctx_id"
            # file order; on SQLite free (the stage is read in stage_no order anyway)
            + (" ORDER BY s.stage_no" if self.sqlite else "")
        )
        self.conn = s.connection()  # (taken here: the writer thread uses it, not the session)
        self._writer = _BackgroundWriter(self._write)

    # -- reads -----------------------------------------------------------------------------

    def load_targets(self, named: Callable[[], tuple[set[str], set[str]]]) -> None:
        """Read the stored isolations and samples the file's rows may name, through the driver
        (Core's result would wrap each row; ~3x the time). Up to :data:`LOAD_ALL_TARGETS` of
        them (the highest ids, which bound their number), every one at once; above it, only
        the codes ``named()`` gives (the file's isolation and sample codes, read in a first
        pass): a plate of readouts into a biobank of 1,000,000 tubes does not read them all.
        A code not read here is looked up when a row names it (:meth:`isolation`)."""
        with closing(self.dbapi.cursor()) as cur:
            cur.execute(
                "SELECT (SELECT coalesce(max(id), 0) FROM isolations) "
                "+ (SELECT coalesce(max(id), 0) FROM samples)"
            )
            (stored,) = cur.fetchone()
            if stored <= LOAD_ALL_TARGETS:
                cur.execute(_ISOLATION_TARGETS)
                self._found_isolations(cur.fetchall())
                cur.execute(_SAMPLE_TARGETS)
                self.samples.update(cur.fetchall())
                self.all_targets = True
                return
        isolations, samples = named()
        self._read_targets(isolations, samples)

    def _read_targets(self, isolations: Iterable[str], samples: Iterable[str]) -> None:
        """Read the stored isolations and samples of these codes (those not read before)."""
        asked_isolations, asked_samples = self._looked_up
        isos = sorted(set(isolations) - asked_isolations)
        tubes = sorted(set(samples) - asked_samples)
        asked_isolations.update(isos)
        asked_samples.update(tubes)
        mark = "?" if self.sqlite else "%s"
        size = min(self.max_variables, 5_000) if self.sqlite else 5_000
        with closing(self.dbapi.cursor()) as cur:
            for codes, sql, found in (
                (
                    isos,
                    _ISOLATION_TARGETS + " WHERE isolation_code IN ({})",
                    self._found_isolations,
                ),
                (tubes, _SAMPLE_TARGETS + " WHERE sample_code IN ({})", self.samples.update),
            ):
                for i in range(0, len(codes), size):
                    part = codes[i : i + size]
                    cur.execute(sql.format(", ".join([mark] * len(part))), part)
                    found(cur.fetchall())

    def _found_isolations(self, rows: list[tuple[str, int, int]]) -> None:
        self.isolations.update((c, (i, s)) for c, i, s in rows)

    def isolation(self, code: str) -> tuple[int, int] | None:
        """The stored isolation of a code (its id and its sample's), read now if it was not
        read before (after the writer has written what it was handed: it shares the
        connection)."""
        if code not in self.isolations and self._unread(code, 0):
            self._read_targets([code], ())
        return self.isolations.get(code)

    def sample(self, code: str) -> int | None:
        """The stored sample of a code (as :meth:`isolation`)."""
        if code not in self.samples and self._unread(code, 1):
            self._read_targets((), [code])
        return self.samples.get(code)

    def _unread(self, code: str, kind: int) -> bool:
        """Whether a code (of isolations: 0, of samples: 1) was never read nor asked for;
        if so, the writer is drained first (it shares the connection)."""
        if self.all_targets or code in self._looked_up[kind]:
            return False
        self.drain()
        return True

    def analyte_id(self, code: str) -> int:
        """The analyte of a code or synonym; a new one is created (audited), as
        ``record_readout`` does, through the same :func:`readouts.analyte_for`."""
        pk = self.analytes.get(code)
        if pk is None:
            self.drain()
            pk = readout_service.analyte_for(self.tx, code, batch_id=self.batch_id).id
            self.analytes[code] = pk
        return pk

    def stored(self, iso_ids: Iterable[int], sample_ids: Iterable[int]) -> list[tuple[Any, ...]]:
        """The stored readouts of these isolations and of these samples (those not on an
        isolation): (id, sample_id, isolation_id, analyte_id, assay, run_code, replicate,
        *COMPARED) — straight through the driver, the date in its stored form."""
        self.drain()
        mark = "?" if self.sqlite else "%s"
        base = (
            "SELECT id, sample_id, isolation_id, analyte_id, assay, run_code, replicate, "
            f"{', '.join(COMPARED)} FROM readouts WHERE "
        )
        out: list[tuple[Any, ...]] = []
        cur = self.dbapi.cursor()
        try:
            for ids, cond in (
                (sorted(iso_ids), "isolation_id IN ({})"),
                (sorted(sample_ids), "sample_id IN ({}) AND isolation_id IS NULL"),
            ):
                for i in range(0, len(ids), 500):
                    part = ids[i : i + 500]
                    cur.execute(base + cond.format(", ".join([mark] * len(part))), part)
                    out.extend(tuple(row) for row in cur.fetchall())
        finally:
            cur.close()
        return out

    # -- writes ----------------------------------------------------------------------------

    def put(
        self,
        contexts: list[tuple[Any, ...]],
        rows: list[tuple[Any, ...]],
        file_rows: tuple[int, int] | None = None,
    ) -> None:
        """Hand a chunk (its new contexts and its rows, in the order of CONTEXT_INSERT and
        ROW_INSERT + context id) to the writer thread. A chunk left with no rows (all of them
        stored already) still has contexts that later rows share: they wait for the next
        chunk with rows. ``file_rows``: the file rows of the chunk's first and last row,
        named when the database refuses it (:class:`RefusedRows`)."""
        if self.pg is not None:
            # PostgreSQL: whole rows and their sets encoded here, in the validating thread
            # (services/pg_load.py)
            for ctx in contexts:
                self._contexts[ctx[0]] = ctx[1:]
                self._set_contexts[ctx[0]] = ctx[1:4]  # assay, run_code, unit
            if not rows:
                return
            values = self._contexts
            keys = self._set_contexts
            censor, comparator, value = _SET_READS
            with _plain_driver_errors(file_rows):
                chunk = self.pg.chunk(
                    [r[:-1] + values[r[-1]] for r in rows],
                    # (sample, isolation, analyte, (assay, run, unit), censor, comparator, value)
                    [
                        (r[0], r[1], r[2], keys[r[-1]], r[censor], r[comparator], r[value])
                        for r in rows
                    ],
                )
            self._writer.put((None, chunk, file_rows))
            return
        contexts = self._held_contexts + contexts
        if not rows:
            self._held_contexts = contexts
            return
        self._held_contexts = []
        self._writer.put((contexts, rows, file_rows))

    def drain(self) -> None:
        """Wait until every chunk handed over is written (before reading or writing here)."""
        self._writer.drain()

    def close(self) -> None:
        try:
            self._writer.close()
        finally:
            if self.pg is not None:
                self.pg.close()

    def page_cache(self) -> AbstractContextManager[None]:
        """SQLite: the bulk paths' larger page cache on the import's connection while it
        writes (services/sqlite_bulk.page_cache); nothing on PostgreSQL."""
        return page_cache(self.tx)

    def _write(self, item: tuple[Any, Any, tuple[int, int] | None]) -> None:
        contexts, rows, file_rows = item
        with _plain_driver_errors(file_rows):
            self._write_rows(contexts, rows)

    def _create_stage(self, cur: Any) -> None:
        """SQLite: two temporary tables, the contexts and a chunk's rows with their context
        id; PostgreSQL: one, a chunk's replicate sets (services/pg_load.py)."""
        row_cols = ", ".join(ROW_INSERT)
        ctx_cols = ", ".join(CONTEXT_INSERT)
        if self.sqlite:
            # Untyped columns: values keep their type until readouts' own columns apply theirs.
            for table in (STAGE, STAGE_CTX):
                cur.execute(f"DROP TABLE IF EXISTS temp.{table}")
            cur.execute(
                f"CREATE TEMP TABLE {STAGE} (stage_no INTEGER PRIMARY KEY, {row_cols}, ctx_id)"
            )
            cur.execute(f"CREATE TEMP TABLE {STAGE_CTX} (ctx_id INTEGER PRIMARY KEY, {ctx_cols})")
        else:
            pg_load.create_stage(cur)  # (a chunk's sets: its rows go straight into readouts)
        self.staged = True

    def _write_rows(self, contexts: Any, rows: Any) -> None:
        """Stage a chunk; on SQLite also move it into readouts at once. The binding of each
        row's few varying values holds the GIL; the INSERT ... SELECT that checks, indexes and
        stores them runs inside the database without it, beside the next chunk's validation.
        (PostgreSQL: ``rows`` is the chunk as put encoded it, a ``pg_load.Chunk``.)
        """
        if not rows:
            return
        cur = self.dbapi.cursor()
        try:
            first = not self.staged
            if first:
                self._create_stage(cur)
            if self.sqlite:
                if contexts:
                    marks = ", ".join("?" * (len(CONTEXT_INSERT) + 1))
                    cur.executemany(f"INSERT INTO temp.{STAGE_CTX} VALUES ({marks})", contexts)
                insert_values(
                    cur.execute,
                    f"temp.{STAGE}",
                    [*ROW_INSERT, "ctx_id"],
                    rows,
                    self.max_variables,
                    STAGE_ROWS_PER_INSERT,
                )
                cur.execute(self.insert_sql)
                # SQLite: the chunk's sets here in the writer thread, beside the validation of
                # the next chunk. A pair is re-aggregated from all its readouts, so a set whose
                # replicates straddle two chunks ends right after the second.
                readout_sets.refresh(self.conn, readout_sets.PairsOf(f"temp.{STAGE}"))
                cur.execute(f"DELETE FROM temp.{STAGE}")
                return
            # PostgreSQL: the chunk (encoded by put) goes into readouts with its sets at once
            # too (services/pg_load.py), while the next chunk is validated; the sets of pairs
            # that had readouts before it are aggregated again from all of them.
            assert self.pg is not None
            stored = pg_load.write_chunk(cur, self.pg, rows, self.batch_id)
            if stored:
                readout_sets.refresh(self.conn, stored)
        finally:
            cur.close()

    def finish(self, new_runs: dict[str, tuple[str, Any, Any]], write: bool) -> None:
        """End the import: create the new assay runs (code -> (assay, measured_on,
        instrument)); drop the staging tables. (The readouts and their readout_sets were
        written chunk by chunk by the writer; ``write`` False -- problems or a dry run -- means
        the caller rolls them back with the import's transaction.)"""
        self.close()
        if new_runs:
            self.session.execute(
                insert(AssayRun),
                [
                    readout_service.run_values(
                        self.tx, code, assay, measured_on, instrument, self.batch_id
                    )
                    for code, (assay, measured_on, instrument) in new_runs.items()
                ],
            )
        if not self.staged or not self.sqlite:
            return  # (PostgreSQL drops its staging tables at commit)
        conn = self.session.connection()
        for table in (STAGE, STAGE_CTX):
            conn.exec_driver_sql(f"DROP TABLE temp.{table}")


class RefusedRows(ExolabError):
    """The database refused a chunk of readouts: ``row`` is the file row of its first
    readout (the whole chunk is written together), ``detail`` the driver's words."""

    def __init__(self, message: str, row: int | None, detail: str) -> None:
        super().__init__(message)
        self.row = row
        self.column = ""
        self.detail = detail


@contextmanager
def _plain_driver_errors(file_rows: tuple[int, int] | None = None) -> Iterator[None]:
    """Rows go through the raw driver here, so its errors are turned into plain words,
    naming the file rows of the chunk when they are known."""
    try:
        yield
    except Exception as exc:
        if not type(exc).__module__.startswith(("sqlite3", "psycopg")):
            raise
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "locked" in msg or "busy" in msg:
            raise Busy("the database is busy with another writer; try again") from exc
        if file_rows is None:
            raise RefusedRows(f"the database refused the readouts: {msg}", None, msg) from exc
        first, last = file_rows
        rows = f"rows {first}-{last} (written together)" if last > first else f"row {first}"
        text = f"the database refused the readouts of {rows}: {msg}"
        raise RefusedRows(text, first, text) from exc


class _BackgroundWriter:
    """Runs ``write(chunk)`` for each chunk on one thread, in order; errors come back to the
    caller at the next put/drain/close. At most two chunks wait, so memory stays bounded."""

    def __init__(self, write: Callable[[Any], None]) -> None:
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _work(self) -> None:
        while True:
            rows = self._queue.get()
            try:
                if rows is None:
                    return
                if self._error is None:
                    self._write(rows)
            except BaseException as exc:  # handed to the caller
                self._error = exc
            finally:
                self._queue.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, rows: Any) -> None:
        self._raise()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="exolab-import", daemon=True)
            self._thread.start()
        self._queue.put(rows)

    def drain(self) -> None:
        if self._thread is not None:
            self._queue.join()
        self._raise()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise()


def _same(value: Any) -> Any:
    return value
