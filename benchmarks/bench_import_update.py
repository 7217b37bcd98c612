"""Benchmark: partial update files (``exolab import KIND FILE --on-duplicate update`` with the
key and the changed columns) of N stored tubes and isolations (default 20,000) against the
raw floor of the same update.

The files: ``sample_id,location`` moving every tube to a new box position (a freezer
failure: every tube into freezer F2, whose boxes the import creates), ``sample_id,status,notes``
(every tube checked out, with a note) and ``isolation_id,final_volume_ul``. They take the
chunked update path (docs/bulk-imports.md, "Updates"): the services' own edit rules per row,
the chunk's records read together, its changes flushed and its per-record ``update`` audit
events appended together. The floor, measured in the same run: SQLite, stdlib ``csv`` +
``sqlite3.executemany`` of ``UPDATE ... WHERE key = ?`` of the same rows on a table of the
file's columns keyed by the code (loaded first, not timed); PostgreSQL, psycopg ``COPY`` of
the file into a staging table + one ``UPDATE ... FROM`` it. Each import runs in a subprocess
(``run_import``, what ``exolab import`` calls).

    python benchmarks/bench_import_update.py [--samples N] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_import import PEAK_MB, PG_DEFAULT, drop_pg, pg_database
from bench_import_samples import VISITS, exolab, make_files

RUNNER = (
    PEAK_MB
    + r"""
import time
from exolab.db.engine import Database
from exolab.services.context import Lab
from exolab.io.importer import run_import
url, kind, path, update = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
lab = Lab(Database(url), "bench")
t, c = time.perf_counter(), time.process_time()
report = run_import(lab, kind, path, create_locations=True,
                    on_duplicate="update" if update else "error")
dt, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"seconds": dt, "cpu": cpu, "created": report.created,
                  "updated": report.updated, "peak_mb": peak_mb()}))
"""
)


def run(url: str, kind: str, path: Path, update: bool) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, url, kind, str(path), "1" if update else "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "EXOLAB_USER": "bench"},
    )
    if out.returncode:
        sys.exit(f"{kind} import of {path.name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def update_files(d: Path, n: int, samples: Path) -> list[tuple[str, str, Path]]:
    """(what, kind, file) of each update, in the order they run; the first is the samples
    file itself (every column) with each tube's notes changed: whole rows that differ from
    their stored records."""

    def write(name: str, header: list[str], rows: list[list[str]]) -> Path:
        p = d / name
        with p.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
        return p

    codes = [f"S{k // VISITS:06d}-V{k % VISITS}" for k in range(n)]

    def moved(k: int) -> str:
        box, pos = divmod(k, 81)
        return f"F2/R{box // 10 + 1}/B{box % 10 + 1}/{'ABCDEFGHI'[pos // 9]}{pos % 9 + 1}"

    return [
        ("full rows, notes changed", "samples", write("update-full.csv", *_notes_changed(samples))),
        (
            "location moves",
            "samples",
            write(
                "update-moves.csv",
                ["sample_id", "location"],
                [[c, moved(k)] for k, c in enumerate(codes)],
            ),
        ),
        (
            "status + notes",
            "samples",
            write(
                "update-status.csv",
                ["sample_id", "status", "notes"],
                [[c, "checked_out", f"bench {k}"] for k, c in enumerate(codes)],
            ),
        ),
        (
            "isolation volumes",
            "isolations",
            write(
                "update-isolations.csv",
                ["isolation_id", "final_volume_ul"],
                [[f"ISO-{k:07d}", "150"] for k in range(n)],
            ),
        ),
    ]


def _notes_changed(samples: Path) -> tuple[list[str], list[list[str]]]:
    with samples.open(newline="") as f:
        rows = list(csv.reader(f))
    notes = rows[0].index("notes")
    for k, row in enumerate(rows[1:]):
        row[notes] = f"full {k}"
    return rows[0], rows[1:]


def floor_sqlite(path: Path, db: Path) -> float:
    """csv + sqlite3.executemany UPDATE of the file's rows, keyed by its first column, on a
    table of its columns holding every key (loaded first, not timed)."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    cols = ", ".join(f'"{c}" TEXT' for c in header)
    con.execute(f"CREATE TABLE raw_rows ({cols})")
    con.execute(f'CREATE UNIQUE INDEX uq_raw ON raw_rows ("{header[0]}")')
    con.executemany(
        f"INSERT INTO raw_rows VALUES ({', '.join('?' for _ in header)})",
        [[r[0]] + [""] * (len(header) - 1) for r in body],
    )
    con.commit()
    sets = ", ".join(f'"{c}" = ?' for c in header[1:])
    t = time.perf_counter()
    with path.open(newline="") as f:
        r = csv.reader(f)
        next(r)
        con.executemany(
            f'UPDATE raw_rows SET {sets} WHERE "{header[0]}" = ?', (row[1:] + row[:1] for row in r)
        )
    con.commit()
    dt = time.perf_counter() - t
    con.close()
    return dt


def floor_pg(path: Path, url: str) -> float:
    """psycopg COPY of the file into a staging table + one UPDATE ... FROM it, on a table of
    its columns keyed by its first column (loaded first, not timed)."""
    import psycopg

    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    cols = ", ".join(f'"{c}" TEXT' for c in header)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as con:
        con.execute("DROP TABLE IF EXISTS raw_rows")
        con.execute(f"CREATE TABLE raw_rows ({cols})")
        con.execute(f'CREATE UNIQUE INDEX uq_raw ON raw_rows ("{header[0]}")')
        with con.cursor() as cur, cur.copy(f'COPY raw_rows ("{header[0]}") FROM STDIN') as cp:
            for r in body:
                cp.write_row(r[:1])
        con.commit()
        sets = ", ".join(f'"{c}" = s."{c}"' for c in header[1:])
        t = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE staged ({cols}) ON COMMIT DROP")
        with path.open(newline="") as f, con.cursor() as cur:
            r = csv.reader(f)
            next(r)
            with cur.copy("COPY staged FROM STDIN") as cp:
                for row in r:
                    cp.write_row(row)
        con.execute(
            f'UPDATE raw_rows AS t SET {sets} FROM staged AS s WHERE t."{header[0]}" = '
            f's."{header[0]}"'
        )
        con.commit()
        dt = time.perf_counter() - t
        con.execute("DROP TABLE raw_rows")
        con.commit()
    return dt


def line(what: str, n: int, floor: float, r: dict[str, float]) -> str:
    s = r["seconds"]
    return (
        f"{what:<30} rows={n:,}  floor {n / floor:9,.0f} rows/s ({floor:6.2f} s)  "
        f"exolab {n / s:8,.0f} rows/s ({s:6.2f} s)  ratio {floor / s:.3f}  "
        f"peak {r['peak_mb']:.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = ap.parse_args()
    n = args.samples
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        subjects, samples, isolations = make_files(d, n)
        updates = update_files(d, n, samples)
        base = os.environ.get("EXOLAB_BENCH_POSTGRES_URL", PG_DEFAULT)
        name = None
        if args.backend == "postgresql":
            url, name = pg_database(base)
        else:
            url = f"sqlite:///{d / 'update.db'}"
        try:
            exolab("--db", url, "--user", "bench", "init")
            for kind, path in (
                ("subjects", subjects),
                ("samples", samples),
                ("isolations", isolations),
            ):
                r = run(url, kind, path, False)
                assert r["created"] == n, r
            for what, kind, path in updates:
                if name is not None:
                    floor = floor_pg(path, url)
                else:
                    floor = floor_sqlite(path, d / f"raw-{path.stem}.db")
                r = run(url, kind, path, True)
                assert r["updated"] == n, r
                print(line(f"{what} ({args.backend})", n, floor, r), flush=True)
        finally:
            if name is not None:
                drop_pg(base, name)


if __name__ == "__main__":
    main()
