"""What the reference checks of samples, isolations, visits and isolation steps cost one
PostgreSQL statement.

Imports N subjects, samples and isolations (``bench_import_samples.py``'s files) into a fresh
PostgreSQL database once; then, in transactions that are rolled back, times statements of
many rows each: an ``INSERT ... SELECT`` of a copy of every sample (each an aliquot of its
original, so ``parent_id`` is checked too), of every isolation, of the steps of every
isolation (for the copies), of every visit; then the DELETE of the copied visits, of the
copied isolations (their steps go with them: ON DELETE CASCADE) and of the copied samples.
Then ``--single`` single-row INSERTs of a sample (copies of one tube, one statement each, in
a transaction of their own): what a per-record write pays per statement. Three ways, on the same data,
alternating:

- ``triggers``: the set-based triggers of migration 0014_pg_fk_records (the head);
- ``constraints``: the database downgraded to 0013_datetime_text (the ten foreign keys);
- ``floor``: the same with the ten constraints dropped inside the transaction (no check, and
  no cascade: its "delete isolations" leaves the steps).

The figure is the median wall time of ``--runs`` runs per way and round.

    python benchmarks/pg_record_refs.py [--rows 20000] [--runs 5] [--rounds 2]

PostgreSQL URL: EXOLAB_BENCH_POSTGRES_URL (default the local test server). Run from outside a
worktree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import PG_DEFAULT, drop_pg, pg_database
from bench_import_samples import make_files

CONSTRAINTS = [
    ("samples", "fk_samples_batch_id_import_batches"),
    ("samples", "fk_samples_box_id_boxes"),
    ("samples", "fk_samples_cell_source_id_cell_sources"),
    ("samples", "fk_samples_parent_id_samples"),
    ("samples", "fk_samples_subject_id_subjects"),
    ("samples", "fk_samples_visit_id_visits"),
    ("isolations", "fk_isolations_sample_id_samples"),
    ("isolations", "fk_isolations_batch_id_import_batches"),
    ("visits", "fk_visits_subject_id_subjects"),
    ("isolation_steps", "fk_isolation_steps_isolation_id_isolations"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--single", type=int, default=2_000)
    args = ap.parse_args()

    from sqlalchemy import text

    from exolab.db import migrate
    from exolab.db.engine import Database, make_engine
    from exolab.io.importer import run_import
    from exolab.services.context import Lab
    from exolab.services.setup import initialise

    base = os.environ.get("EXOLAB_BENCH_POSTGRES_URL", PG_DEFAULT)
    url, name = pg_database(base)
    try:
        initialise(url, "bench")
        lab = Lab(Database(url), "bench")
        subjects, samples, isolations = make_files(Path(tempfile.mkdtemp()), args.rows)
        run_import(lab, "subjects", subjects)
        run_import(lab, "samples", samples, create_locations=True)
        run_import(lab, "isolations", isolations)
        lab.db.dispose()
        engine = make_engine(url)
        with engine.connect() as c:

            def columns(table: str) -> list[str]:
                return list(
                    c.execute(
                        text(
                            "SELECT column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() AND table_name = :t "
                            "AND column_name <> 'id' ORDER BY ordinal_position"
                        ),
                        {"t": table},
                    ).scalars()
                )

            scols, icols = columns("samples"), columns("isolations")
        sv = {"sample_code": "sample_code || '-c'", "position": "NULL", "parent_id": "id"}
        iv = {"isolation_code": "isolation_code || '-c'"}
        statements = {
            "insert samples": f"INSERT INTO samples ({', '.join(scols)}) SELECT "
            f"{', '.join(sv.get(c, c) for c in scols)} FROM samples",
            "insert isolations": f"INSERT INTO isolations ({', '.join(icols)}) SELECT "
            f"{', '.join(iv.get(c, c) for c in icols)} FROM isolations",
            "insert steps": "INSERT INTO isolation_steps (isolation_id, step_no, method, params) "
            "SELECT c.id, s.step_no, s.method, s.params FROM isolation_steps s JOIN isolations o "
            "ON o.id = s.isolation_id JOIN isolations c ON c.isolation_code = o.isolation_code "
            "|| '-c'",
            "insert visits": "INSERT INTO visits (subject_id, label, visit_date) "
            "SELECT subject_id, label || '-c', visit_date FROM visits",
            "delete visits": "DELETE FROM visits WHERE label LIKE '%-c'",
            "delete isolations": "DELETE FROM isolations WHERE isolation_code LIKE '%-c'",
            "delete samples": "DELETE FROM samples WHERE sample_code LIKE '%-c'",
        }

        one = (
            f"INSERT INTO samples ({', '.join(scols)}) SELECT "
            + ", ".join({"sample_code": ":code", "position": "NULL"}.get(c, c) for c in scols)
            + " FROM samples WHERE id = (SELECT min(id) FROM samples)"
        )

        def measure(label: str, drop: bool = False) -> None:
            took: dict[str, list[float]] = {k: [] for k in statements}
            took["single-row inserts (ms each)"] = []
            for _ in range(args.runs):
                with engine.connect() as c:
                    tr = c.begin()
                    for table, con in CONSTRAINTS if drop else []:
                        c.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {con}"))
                    for what, sql in statements.items():
                        t = time.perf_counter()
                        c.execute(text(sql))
                        took[what].append(time.perf_counter() - t)
                    tr.rollback()
                    tr = c.begin()  # the single rows in a transaction of their own
                    for table, con in CONSTRAINTS if drop else []:
                        c.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {con}"))
                    single = text(one)
                    t = time.perf_counter()
                    for i in range(args.single):
                        c.execute(single, {"code": f"one-{i}"})
                    took["single-row inserts (ms each)"].append(
                        1000 * (time.perf_counter() - t) / max(1, args.single)
                    )
                    tr.rollback()
            print(
                f"{label:12s} rows={args.rows:,}  "
                + "  ".join(f"{k} {statistics.median(v):.3f}" for k, v in took.items())
                + " (s)",
                flush=True,
            )

        for _ in range(args.rounds):
            measure("triggers")
            migrate.downgrade(engine, "0013_datetime_text")
            measure("constraints")
            measure("floor", drop=True)
            migrate.upgrade(engine)
        engine.dispose()
    finally:
        drop_pg(base, name)


if __name__ == "__main__":
    main()
