"""PostgreSQL write path of the bulk readout import (docs/bulk-imports.md, "Readouts into
PostgreSQL").

The database server is a process of its own: while Python validates chunk k+1, the server
inserts chunk k into ``readouts``, indexes it, checks its references (set-based, migration
0011_pg_fk) and refreshes its replicate sets. For the two to run side by side, the thread that
talks to the server must hardly ever need Python's interpreter lock:

- a chunk's rows are encoded as binary COPY data by the thread that validated them
  (:meth:`PgLoad.encode`, called from ``ReadoutStore.put``), so the writer thread only hands
  ready bytes to the driver. Formatting 10,000 rows row by row inside the writer thread held
  the lock for the whole COPY, against the validating thread, and the server waited for its
  data (measured: half of the import's time was spent so, benchmarks/README.md);
- per chunk the writer thread sends two COPYs (the rows, and the contexts seen for the first
  time) and one statement (:func:`chunk_sql`) that moves the rows into ``readouts`` and
  refreshes their readout sets, then empties the staging table.

Everything happens inside the import's single transaction: a problem found in a later chunk
rolls the earlier ones back, as on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from exolab.domain.schemas import INT_MAX
from exolab.services import readout_sets
from exolab.services.errors import ExolabError

# Rows per chunk: small enough that the server has work from the first seconds on and the
# last chunk, written after the validation ends, is short; large enough that the few
# statements per chunk cost little.
CHUNK_ROWS = 10_000


@cache
def _collect_class() -> type:
    """A COPY writer that keeps the encoded blocks instead of sending them. (psycopg is
    imported here, not with this module: a SQLite import should not pay for loading it.)"""
    from psycopg.copy import Writer

    class Collect(Writer):
        def __init__(self) -> None:
            self.blocks: list[Any] = []

        def write(self, data: Any) -> None:
            self.blocks.append(data)

    return Collect


class _Layout:
    """The columns of a staging table: names, type oids, and which ones are ``integer``."""

    def __init__(self, names: list[str], types: list[int], int4: int) -> None:
        self.names = names
        self.types = types
        self.int4 = [i for i, t in enumerate(types) if t == int4]

    def check(self, rows: Sequence[Sequence[Any]]) -> None:
        """Refuse an integer the column cannot hold. The binary encoding of an ``integer``
        keeps its low 32 bits, so 4294967297 would be stored as 1 without this (the text
        form is checked by the server, which refused it)."""
        for i in self.int4:
            values = [r[i] for r in rows if r[i] is not None]
            if values and (max(values) > INT_MAX or min(values) < -INT_MAX - 1):
                bad = next(v for v in values if not -INT_MAX - 1 <= v <= INT_MAX)
                raise ExolabError(
                    f'the database refused the readouts: value "{bad}" is out of range for '
                    f"{self.names[i]} (an integer column)"
                )


class PgLoad:
    """Encodes chunks as binary COPY data in the caller's thread; writes them in the writer's.

    ``row_columns`` and ``context_columns`` name readouts columns, in the order of the
    staging tables (rows: the row columns then the context id; contexts: the id then the
    context columns). Made in the thread that owns the connection, before the writer thread
    starts."""

    def __init__(
        self, dbapi: Any, row_columns: Sequence[str], context_columns: Sequence[str]
    ) -> None:
        with dbapi.cursor() as cur:
            cur.execute(
                "SELECT attname, atttypid FROM pg_attribute "
                "WHERE attrelid = 'readouts'::regclass AND attnum > 0 AND NOT attisdropped"
            )
            oids: dict[str, int] = dict(cur.fetchall())
        int4 = oids["replicate"]
        self.rows = _Layout([*row_columns, "ctx_id"], [oids[c] for c in row_columns] + [int4], int4)
        self.contexts = _Layout(
            ["ctx_id", *context_columns], [int4] + [oids[c] for c in context_columns], int4
        )
        # A cursor that never runs a statement: its adapters turn Python values into COPY
        # data without touching the connection, so the validating thread may use it while
        # the writer thread talks to the server.
        self._format = dbapi.cursor()

    def encode(self, rows: Sequence[Sequence[Any]], layout: _Layout) -> bytes:
        """The binary COPY data (header, rows, trailer) of ``rows`` laid out as ``layout``."""
        import psycopg

        layout.check(rows)
        out = _collect_class()()
        with psycopg.Copy(self._format, binary=True, writer=out) as copy:
            copy.set_types(layout.types)
            for row in rows:
                copy.write_row(row)
        return b"".join(out.blocks)

    def close(self) -> None:
        self._format.close()


def write_chunk(
    cur: Any, stage: str, stage_ctx: str, insert_sql: str, contexts: bytes, rows: bytes
) -> None:
    """COPY an encoded chunk into ``stage`` (and its new contexts into ``stage_ctx``), move it
    into readouts and refresh its readout sets (:func:`chunk_sql`), empty ``stage``."""
    if contexts:
        with cur.copy(f"COPY {stage_ctx} FROM STDIN (FORMAT binary)") as copy:
            copy.write(contexts)
    with cur.copy(f"COPY {stage} FROM STDIN (FORMAT binary)") as copy:
        copy.write(rows)
    cur.execute(f"{chunk_sql(insert_sql, stage)}; TRUNCATE {stage}")


def chunk_sql(insert_sql: str, stage: str) -> str:
    """One statement: the chunk's ``insert_sql`` (INSERT INTO readouts ... SELECT from
    ``stage``) and the refresh of the replicate sets of the (sample, analyte) pairs it touched.

    The refresh is the one of services/readout_sets.py (delete a pair's sets, aggregate all
    its readouts again with ``AGGREGATE_SQL``), done with what the statement already holds:
    every part of one statement sees the database as it was before the statement, so
    ``readouts`` and ``readout_sets`` below hold what was stored before this chunk. A pair
    with readouts stored (by an earlier chunk or import) has its sets deleted and aggregated
    again from those readouts and the chunk's; any other pair -- almost every pair of an
    import -- gets its sets from the chunk's new rows alone (the insert's RETURNING), with no
    second pass over readouts.

    The pairs are probed one at a time (a subquery with LIMIT, which the planner cannot turn
    into a join): on a table of millions of readouts a misjudged join would read all of it
    for every chunk. They are taken from the staged chunk, and the stored readouts come
    first in the aggregation's input, so the probes run before the insert: probed after it,
    each found the chunk's own new index entries (invisible to the statement) and read their
    rows to learn so, ~5,000 needless row visits per 10,000 readouts (benchmarks/README.md).
    Which of the two runs first changes only the cost, never the result."""
    cols = ", ".join(readout_sets.AGGREGATE_READS)
    stored_cols = ", ".join(f"o.{c}" for c in readout_sets.AGGREGATE_READS)
    source = (
        f"(SELECT {stored_cols} FROM readouts o JOIN stored_pairs k "
        "ON o.sample_id = k.sample_id AND o.analyte_id = k.analyte_id "
        f"UNION ALL SELECT {cols} FROM new_rows) r"
    )
    return (
        "WITH stored_pairs AS (SELECT p.sample_id, p.analyte_id "
        f"FROM (SELECT DISTINCT sample_id, analyte_id FROM {stage}) p WHERE (SELECT 1 "
        "FROM readouts o WHERE o.sample_id = p.sample_id AND o.analyte_id = p.analyte_id "
        "LIMIT 1) IS NOT NULL), "
        f"new_rows AS ({insert_sql} RETURNING {cols}), "
        "old_sets AS (DELETE FROM readout_sets rs USING stored_pairs k "
        "WHERE rs.analyte_id = k.analyte_id AND rs.sample_id = k.sample_id) "
        f"INSERT INTO readout_sets ({readout_sets.SET_COLUMNS}) "
        + readout_sets.AGGREGATE_SQL.format(source=source, where="")
    )
