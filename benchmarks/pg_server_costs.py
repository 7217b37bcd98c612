"""Where the PostgreSQL server's CPU goes in a bulk readout import, part by part.

Imports N readouts (``bench_import.py``'s file and database) once, keeping the chunks exactly
as the writer thread sent them (``pg_load.Chunk``: the rows' and the sets' binary COPY data),
then empties ``readouts`` and replays those chunks without Python's validation, in one
transaction that is rolled back, several times per variant, alternating. Each variant changes
one thing inside the replay's transaction (DDL is transactional, so the rollback undoes it);
the printed figure is the server backend's CPU seconds (from /proc: a local server only), best
of the runs:

- ``full``: the import's own writes per chunk (``pg_load.write_chunk``: the probe of stored
  pairs, the rows' COPY into ``readouts``, the sets);
- ``rows``: the COPY into ``readouts`` alone, no sets;
- ``rows-no-trigger``: the COPY with its triggers disabled (the reference check of
  0011_pg_fk and the statement-level change log);
- ``rows-no-<index>``: the COPY with one index dropped;
- ``rows-bare``: the COPY into the heap and primary key only (no trigger, no other index).

(Until 2026-12-05 a chunk was staged and moved by ``INSERT ... SELECT`` with its sets
aggregated from the insert's ``RETURNING``; the variants of that shape, with ``RETURNING`` and
with BRIN for ``batch_id``, are in the README's earlier sections.)

    python benchmarks/pg_server_costs.py [--rows 200000] [--runs 3] [--variants full,rows,...]

PostgreSQL URL: EXOLAB_BENCH_POSTGRES_URL (default the local test server). Run from outside a
worktree (the import runs in this process, with the exolab that python imports).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_import as bench

VARIANTS = [
    "full",
    "rows",
    "rows-no-trigger",
    "rows-no-uq_readouts_isolation_key",
    "rows-no-ix_readouts_sample_analyte",
    "rows-no-uq_readouts_sample_key",
    "rows-no-ix_readouts_batch_id",
    "rows-bare",
]


def capture(url: str, path: Path) -> tuple[list[Any], int]:
    """Import ``path`` once, keeping each chunk as written and the batch; then empty readouts
    again."""
    from sqlalchemy import text

    from exolab.db.engine import Database
    from exolab.io.importer import run_import
    from exolab.services import pg_load
    from exolab.services.context import Lab

    chunks: list[Any] = []
    batches: set[int] = set()
    write = pg_load.write_chunk

    def keep(cur: Any, load: Any, chunk: Any, batch_id: int) -> Any:
        chunks.append(chunk)
        batches.add(batch_id)
        return write(cur, load, chunk, batch_id)

    pg_load.write_chunk = keep  # type: ignore[assignment]
    try:
        db = Database(url)
        run_import(Lab(db, "bench"), "readouts", str(path))
    finally:
        pg_load.write_chunk = write  # type: ignore[assignment]
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM readout_sets"))
        conn.execute(text("DELETE FROM readouts"))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE readouts"))
        conn.execute(text("VACUUM ANALYZE readout_sets"))
    db.dispose()
    (batch,) = batches
    return chunks, batch


def prepare(con: Any, variant: str) -> None:
    """The variant's change, inside the replay's transaction."""
    if variant in ("rows-no-trigger", "rows-bare"):
        con.execute("ALTER TABLE readouts DISABLE TRIGGER USER")
    if variant.startswith("rows-no-") and variant != "rows-no-trigger":
        con.execute(f"DROP INDEX {variant.removeprefix('rows-no-')}")
    if variant == "rows-bare":
        names = con.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'readouts'::regclass AND NOT i.indisprimary"
        ).fetchall()
        for (name,) in names:
            con.execute(f"DROP INDEX {name}")


def replay(dsn: str, chunks: list[Any], batch: int, variant: str) -> float:
    """Server CPU seconds of the chunks' writes under ``variant``."""
    import psycopg

    from exolab.services import pg_load
    from exolab.services.readout_write import INSERT_COLUMNS

    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("VACUUM readouts")
        con.execute("VACUUM readout_sets")
    with psycopg.connect(dsn) as con:
        prepare(con, variant)
        load = pg_load.PgLoad(con, INSERT_COLUMNS)
        with con.cursor() as cur:
            pg_load.create_stage(cur)
        cpu0 = bench._proc_cpu(con.info.backend_pid) or 0.0
        with con.cursor() as cur:
            for chunk in chunks:
                if variant == "full":
                    pg_load.write_chunk(cur, load, chunk, batch)
                    continue
                with cur.copy(
                    f"COPY readouts ({', '.join(load.rows.names)}) FROM STDIN (FORMAT binary)"
                ) as copy:
                    copy.write(chunk.rows)
        cpu = (bench._proc_cpu(con.info.backend_pid) or 0.0) - cpu0
        load.close()
        con.rollback()
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    variants = args.variants.split(",")
    os.environ.setdefault("EXOLAB_USER", "bench")
    base = os.environ.get("EXOLAB_BENCH_POSTGRES_URL", bench.PG_DEFAULT)
    url, name = bench.pg_database(base)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "readouts.csv"
            bench.make_file(path, args.rows)
            bench.setup_database(url, args.rows)
            chunks, batch = capture(url, path)
        print(f"{args.rows:,} readouts in {len(chunks)} chunks; server CPU s, best of {args.runs}")
        best: dict[str, list[float]] = {v: [] for v in variants}
        t = time.perf_counter()
        for _ in range(args.runs):
            for v in variants:
                best[v].append(replay(dsn, chunks, batch, v))
        for v in variants:
            runs = " ".join(f"{x:.2f}" for x in best[v])
            print(f"  {v:38s} {min(best[v]):5.2f}   ({runs})")
        print(f"({time.perf_counter() - t:.0f} s)")
    finally:
        bench.drop_pg(base, name)


if __name__ == "__main__":
    main()
