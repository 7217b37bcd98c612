"""Benchmark: `exolab export samples|isolations` of N records against a raw floor.

N subjects, N tubes and N isolations (``bench_import_samples.py``'s files) are imported into
a fresh database first (setup, not measured). Then, for each kind, the whole command as a
user types it (``python -m exolab export KIND --out FILE``, start-up included; median of 3
runs, in a subprocess so its peak memory, VmHWM, is its own) against a floor measured in the
same run:

- SQLite: the export's own query for the kind (compiled from the service's statement) read
  with the raw ``sqlite3`` driver and written with ``csv.writer``: no formatting, no
  spreadsheet guard, no start-up;
- PostgreSQL: ``COPY (that query) TO STDOUT (FORMAT csv)`` through psycopg into the file.

For isolations the floor query reads the isolations joined to their tube; their steps (one
more query per page in the export) are not in it.

    python benchmarks/bench_export_records.py [--records N] [--backend sqlite|postgresql]

PostgreSQL URL: EXOLAB_BENCH_POSTGRES_URL (default the local test server).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_import import PEAK_MB, PG_DEFAULT, drop_pg, pg_database
from bench_import_samples import make_files

RUNNER = (
    PEAK_MB
    + r"""
import contextlib, io, time
t = time.perf_counter()
from exolab.cli import main
sys.argv = ["exolab", "--db", sys.argv[1], "--user", "bench", "export", sys.argv[2],
            "--out", sys.argv[3]]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main()
    except SystemExit as e:
        if e.code:
            raise
print(json.dumps({"seconds": time.perf_counter() - t, "peak_mb": peak_mb()}))
"""
)


def floor_sql(kind: str, dialect: str) -> str:
    """The export's own statement for ``kind``, as SQL text for the raw driver."""
    from sqlalchemy.dialects import postgresql, sqlite

    from exolab.db.models import Isolation, Sample
    from exolab.services import samples

    if kind == "samples":
        q = samples._sample_query().order_by(Sample.id)
    else:
        from sqlalchemy import select

        q = (
            select(Isolation, Sample.sample_code)
            .join(Sample, Sample.id == Isolation.sample_id)
            .order_by(Isolation.id)
        )
    d = sqlite.dialect() if dialect == "sqlite" else postgresql.dialect()
    return str(q.compile(dialect=d, compile_kwargs={"literal_binds": True}))


def floor_sqlite(path: Path, sql: str, out: Path) -> float:
    t = time.perf_counter()
    con = sqlite3.connect(path)
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        cur = con.execute(sql)
        w.writerow([c[0] for c in cur.description])
        while rows := cur.fetchmany(2000):
            w.writerows(rows)
    con.close()
    return time.perf_counter() - t


def floor_pg(url: str, sql: str, out: Path) -> float:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    t = time.perf_counter()
    copy_out = f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER)"
    with (
        psycopg.connect(dsn) as con,
        out.open("wb") as f,
        con.cursor().copy(copy_out) as copy,
    ):
        for block in copy:
            f.write(block)
    return time.perf_counter() - t


def command(url: str, kind: str, out: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, url, kind, str(out)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "EXOLAB_USER": "bench"},
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def load(url: str, d: Path, n: int) -> None:
    from exolab.db.engine import Database
    from exolab.io.importer import run_import
    from exolab.services.context import Lab
    from exolab.services.setup import initialise

    subjects, samples, isolations = make_files(d, n)
    initialise(url, "bench")
    db = Database(url)
    lab = Lab(db, "bench")
    for kind, path in (("subjects", subjects), ("samples", samples), ("isolations", isolations)):
        run_import(lab, kind, str(path), create_locations=True, bulk=True)
    db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("EXOLAB_USER", "bench")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pg_name = None
        if args.backend == "sqlite":
            db_path = d / "lab.db"
            url = f"sqlite:///{db_path}"
        else:
            base = os.environ.get("EXOLAB_BENCH_POSTGRES_URL", PG_DEFAULT)
            url, pg_name = pg_database(base)
        try:
            load(url, d, args.records)
            subprocess.run(  # (the command's start-up as a user's: compiled once)
                [
                    sys.executable,
                    "-m",
                    "compileall",
                    "-q",
                    str(Path(__file__).parents[1] / "exolab"),
                ],
                check=True,
            )
            for kind in ("samples", "isolations"):
                sql = floor_sql(kind, args.backend)
                floors, runs = [], []
                for _ in range(args.runs):  # alternating, so both see the same machine
                    out = d / f"floor-{kind}.csv"
                    if args.backend == "sqlite":
                        floors.append(floor_sqlite(db_path, sql, out))
                    else:
                        floors.append(floor_pg(url, sql, out))
                    runs.append(command(url, kind, d / f"{kind}.csv"))
                floor = statistics.median(floors)
                secs = statistics.median(r["seconds"] for r in runs)
                peak = max(r["peak_mb"] for r in runs)
                n = args.records
                print(
                    f"{args.backend:10s} export {kind:10s} rows={n:,}  floor {n / floor:9,.0f} rows/s"
                    f" ({floor:6.2f} s)  exolab {n / secs:9,.0f} rows/s ({secs:6.2f} s, whole"
                    f" command)  ratio {floor / secs:.3f}  peak {peak:.0f} MB"
                )
        finally:
            if pg_name is not None:
                drop_pg(os.environ.get("EXOLAB_BENCH_POSTGRES_URL", PG_DEFAULT), pg_name)


if __name__ == "__main__":
    main()
