"""PostgreSQL write path of the bulk readout import (docs/bulk-imports.md, "Readouts into
PostgreSQL").

The database server is a process of its own: while Python validates chunk k+1, the server
inserts chunk k into ``readouts``, indexes it, checks its references (set-based, migration
0011_pg_fk) and writes its replicate sets. The server's work per readout is what bounds the
import (benchmarks/README.md), so the chunk reaches it in the cheapest shape measured:

- the validating thread encodes each chunk as binary COPY data of whole ``readouts`` rows
  (:meth:`PgLoad.encode`, called from ``ReadoutStore.put``; the writer thread only hands ready
  bytes to the driver, so it hardly needs Python's interpreter lock) and ``COPY`` puts them
  straight into ``readouts``: no staging table, no join, and the server's batched insert;
- the same thread works out the chunk's replicate sets from its rows (:func:`chunk_sets`, the
  rule of services/readout_sets.py with the domain's :func:`set_limit`), and the writer
  inserts them with one statement that gives each set its first readout's id
  (:func:`write_chunk`). The ids are the ones COPY took from the readouts' sequence, in row
  order; when another session took ids in between, so that the chunk's ids are not the run
  the arithmetic assumes, the chunk's sets are aggregated from its stored rows instead;
- a (sample, analyte) pair that had readouts before the chunk (an earlier chunk's, or an
  earlier import's) is probed before the COPY and its sets are aggregated again from all its
  readouts after it (:func:`exolab.services.readout_sets.refresh`), as every write path does.

Everything happens inside the import's single transaction: a problem found in a later chunk
rolls the earlier ones back, as on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, NamedTuple

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


#: The temporary table of a chunk's replicate sets: readout_sets' columns, with the position
#: of the set's first readout in the chunk instead of its id (not known before the COPY).
SETS_STAGE = "exolab_stage_readout_sets"
SET_STAGE_COLUMNS = (
    *(c.strip() for c in readout_sets.SET_COLUMNS.split(",")[:-1]),  # (all but first_readout_id)
    "first_row",
)

# The chunk's (sample, analyte) pairs that have readouts stored already (an earlier chunk's
# or an earlier import's), one pair at a time: a subquery with LIMIT, which the planner cannot
# turn into a join that reads all of readouts.
_STORED_PAIRS = (
    "SELECT p.s, p.a FROM unnest(%s::int[], %s::int[]) AS p(s, a) WHERE (SELECT 1 "
    "FROM readouts o WHERE o.sample_id = p.s AND o.analyte_id = p.a LIMIT 1) IS NOT NULL"
)


class Chunk(NamedTuple):
    """A chunk as the validating thread hands it to the writer (:meth:`PgLoad.chunk`)."""

    rows: bytes  # COPY data of the readouts
    sets: bytes  # COPY data of their replicate sets (SET_STAGE_COLUMNS); b"" when none
    n: int  # readouts
    samples: list[int]  # the chunk's distinct (sample, analyte) pairs, as two lists
    analytes: list[int]


class PgLoad:
    """Encodes chunks as binary COPY data in the caller's thread; writes them in the writer's.

    ``columns`` names the readouts columns of the encoded rows, in order. Made in the thread
    that owns the connection, before the writer thread starts."""

    def __init__(self, dbapi: Any, columns: Sequence[str]) -> None:
        oids: dict[str, dict[str, int]] = {}
        with dbapi.cursor() as cur:
            for table in ("readouts", "readout_sets"):
                cur.execute(
                    "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass "
                    "AND attnum > 0 AND NOT attisdropped",
                    (table,),
                )
                oids[table] = dict(cur.fetchall())
            cur.execute("SELECT pg_get_serial_sequence('readouts', 'id')")
            (sequence,) = cur.fetchone()
        if sequence is None:
            raise ExolabError("readouts.id has no sequence of its own: run exolab db check")
        #: the sequence that gives readouts their ids (its name, quoted as needed)
        self.sequence: str = sequence
        int4 = oids["readouts"]["replicate"]
        self.rows = _Layout(list(columns), [oids["readouts"][c] for c in columns], int4)
        sets = oids["readout_sets"]
        self.sets = _Layout(
            list(SET_STAGE_COLUMNS), [sets[c] for c in SET_STAGE_COLUMNS[:-1]] + [int4], int4
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

    def chunk(
        self,
        rows: Sequence[Sequence[Any]],
        set_rows: Iterable[readout_sets.SetRow],
    ) -> Chunk:
        """A chunk's readouts (whole rows, in the order of ``columns``) and their replicate
        sets worked out from ``set_rows`` (one per readout, in the same order:
        :func:`exolab.services.readout_sets.sets_of`), encoded for :func:`write_chunk`."""
        sets, pairs = readout_sets.sets_of(set_rows)
        return Chunk(
            self.encode(rows, self.rows),
            self.encode(sets, self.sets) if sets else b"",
            len(rows),
            [s for s, _ in pairs],
            [a for _, a in pairs],
        )

    def close(self) -> None:
        self._format.close()


def create_stage(cur: Any) -> None:
    """The temporary table of a chunk's sets (dropped when the import's transaction ends)."""
    cur.execute(
        f"CREATE TEMP TABLE {SETS_STAGE} ON COMMIT DROP AS SELECT "
        f"{', '.join(SET_STAGE_COLUMNS[:-1])}, 0 AS first_row FROM readout_sets WITH NO DATA"
    )


def write_chunk(cur: Any, load: PgLoad, chunk: Chunk, batch_id: int) -> list[tuple[int, int]]:
    """Write an encoded chunk: its rows COPYed into readouts, the sets of its pairs that had
    no readouts before into readout_sets. Returns the pairs that had (probed before the COPY),
    whose sets the caller aggregates again from all their readouts
    (:func:`exolab.services.readout_sets.refresh`).

    A set's first readout id is the id COPY gave its first row: COPY takes the ids from the
    sequence one row after the other, so when nobody else took one meanwhile (the sequence
    moved by exactly the chunk's rows), the chunk's ids are the run after the value read
    before it. Otherwise (another session recorded a readout at that moment) the sets are
    aggregated from the chunk's rows as stored: those of this batch past that value."""
    cur.execute(f"SELECT last_value - CASE WHEN is_called THEN 0 ELSE 1 END FROM {load.sequence}")
    (before,) = cur.fetchone()
    cur.execute(_STORED_PAIRS, (chunk.samples, chunk.analytes))
    stored: list[tuple[int, int]] = [(s, a) for s, a in cur.fetchall()]
    with cur.copy(f"COPY readouts ({', '.join(load.rows.names)}) FROM STDIN (FORMAT binary)") as c:
        c.write(chunk.rows)
    cur.execute("SELECT currval(%s::regclass)", (load.sequence,))
    (last,) = cur.fetchone()
    unstored = ""
    params: dict[str, Any] = {}
    if stored:
        unstored = (
            " AND NOT EXISTS (SELECT 1 FROM unnest(%(s)s::int[], %(a)s::int[]) AS k(s, a) "
            "WHERE k.s = r.sample_id AND k.a = r.analyte_id)"
        )
        params = {"s": [s for s, _ in stored], "a": [a for _, a in stored]}
    into = f"INSERT INTO readout_sets ({readout_sets.SET_COLUMNS}) "
    if last - before == chunk.n:
        if chunk.sets:
            with cur.copy(f"COPY {SETS_STAGE} FROM STDIN (FORMAT binary)") as c:
                c.write(chunk.sets)
            columns = ", ".join(f"r.{c}" for c in SET_STAGE_COLUMNS[:-1])
            params["first"] = before + 1
            cur.execute(
                f"{into}SELECT {columns}, %(first)s + r.first_row FROM {SETS_STAGE} r "
                f"WHERE TRUE{unstored}",
                params,
            )
            cur.execute(f"TRUNCATE {SETS_STAGE}")
        return stored
    params.update(before=before, last=last, batch=batch_id)
    where = " AND r.id > %(before)s AND r.id <= %(last)s AND r.batch_id = %(batch)s" + unstored
    cur.execute(into + readout_sets.AGGREGATE_SQL.format(source="readouts r", where=where), params)
    return stored
