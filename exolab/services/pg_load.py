"""PostgreSQL write path of the bulk readout import (the writer thread of
exolab/services/readout_write.py).

Each chunk of validated rows is written at once, beside the validation of the next chunk: COPY
of the chunk's rows (their varying columns and a context id) and of the contexts seen for the
first time into temporary tables, one ``INSERT ... SELECT`` joining them into ``readouts``, and
the refresh of the chunk's replicate sets (services/readout_sets.py). The database server is
a process of its own, so with the work done per chunk it inserts, indexes and checks the
references (set-based, migration 0011_pg_fk) while Python validates; done once at the end, as
before, all of it came after the validation (benchmarks/README.md).

Everything happens inside the import's single transaction: a problem found in a later chunk
rolls the earlier ones back, as on SQLite.
"""

from __future__ import annotations

from typing import Any

from exolab.services import readout_sets

# Rows per chunk: small enough that the database has work from the first seconds on and the
# last chunk, written after the validation ends, is short; large enough that the few statements
# per chunk cost little.
CHUNK_ROWS = 10_000
PAIRS = "exolab_stage_pg_pairs"  # temporary: the (sample, analyte) pairs of one chunk


def create_pairs(cur: Any) -> None:
    """The temporary pairs table (dropped at commit), once per import."""
    cur.execute(
        f"CREATE TEMP TABLE {PAIRS} (sample_id INTEGER NOT NULL, analyte_id INTEGER NOT NULL, "
        "PRIMARY KEY (analyte_id, sample_id)) ON COMMIT DROP"
    )


def write_chunk(
    cur: Any,
    stage: str,
    stage_ctx: str,
    insert_sql: str,
    contexts: list[tuple[Any, ...]],
    rows: list[tuple[Any, ...]],
) -> None:
    """COPY a chunk into ``stage`` (and its new contexts into ``stage_ctx``), move it into
    readouts with ``insert_sql``, refresh its readout sets, empty ``stage``."""
    if contexts:
        with cur.copy(f"COPY {stage_ctx} FROM STDIN") as copy:
            for c in contexts:
                copy.write_row(c)
    with cur.copy(f"COPY {stage} FROM STDIN") as copy:
        for r in rows:
            copy.write_row(r)
    cur.execute(insert_sql)
    cur.execute(
        f"INSERT INTO {PAIRS} (sample_id, analyte_id) SELECT DISTINCT sample_id, analyte_id FROM {stage}"
    )
    cur.execute(f"ANALYZE {PAIRS}")  # a temporary table has no statistics otherwise
    for statement in readout_sets.refresh_statements(PAIRS, sqlite=False):
        cur.execute(statement)
    cur.execute(f"TRUNCATE {stage}, {PAIRS}")
