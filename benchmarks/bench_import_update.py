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

``--kind readouts``: N stored readouts (the readouts benchmark's file, imported first) and two
correction files, each run as the whole command (``python -m exolab import readouts FILE
--on-duplicate update``, start-up included): a partial file
``isolation_id,analyte,assay,run_id,replicate,qc`` marking every readout ``qc=fail`` (a re-QC
of the runs), and the whole file again with every value changed. The floor keys the raw
table by the natural key's five columns (SQLite: ``UPDATE ... WHERE`` the five = ?; PostgreSQL:
``COPY`` + one ``UPDATE ... FROM`` joined on the five).

    python benchmarks/bench_import_update.py [--samples N] [--backend sqlite|postgresql]
    python benchmarks/bench_import_update.py --kind readouts [--readouts N] [--backend ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def floor_sqlite(path: Path, db: Path, keys: int = 1) -> float:
    """csv + sqlite3.executemany UPDATE of the file's rows, keyed by its first ``keys``
    columns, on a table of its columns holding every key (loaded first, not timed)."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    cols = ", ".join(f'"{c}" TEXT' for c in header)
    con.execute(f"CREATE TABLE raw_rows ({cols})")
    key = ", ".join(f'"{c}"' for c in header[:keys])
    con.execute(f"CREATE UNIQUE INDEX uq_raw ON raw_rows ({key})")
    con.executemany(
        f"INSERT INTO raw_rows VALUES ({', '.join('?' for _ in header)})",
        [r[:keys] + [""] * (len(header) - keys) for r in body],
    )
    con.commit()
    sets = ", ".join(f'"{c}" = ?' for c in header[keys:])
    where = " AND ".join(f'"{c}" = ?' for c in header[:keys])
    t = time.perf_counter()
    with path.open(newline="") as f:
        r = csv.reader(f)
        next(r)
        con.executemany(
            f"UPDATE raw_rows SET {sets} WHERE {where}", (row[keys:] + row[:keys] for row in r)
        )
    con.commit()
    dt = time.perf_counter() - t
    con.close()
    return dt


def floor_pg(path: Path, url: str, keys: int = 1) -> float:
    """psycopg COPY of the file into a staging table + one UPDATE ... FROM it, on a table of
    its columns keyed by its first ``keys`` columns (loaded first, not timed)."""
    import psycopg

    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    cols = ", ".join(f'"{c}" TEXT' for c in header)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as con:
        con.execute("DROP TABLE IF EXISTS raw_rows")
        con.execute(f"CREATE TABLE raw_rows ({cols})")
        key = ", ".join(f'"{c}"' for c in header[:keys])
        con.execute(f"CREATE UNIQUE INDEX uq_raw ON raw_rows ({key})")
        with con.cursor() as cur, cur.copy(f"COPY raw_rows ({key}) FROM STDIN") as cp:
            for r in body:
                cp.write_row(r[:keys])
        con.commit()
        sets = ", ".join(f'"{c}" = s."{c}"' for c in header[keys:])
        on = " AND ".join(f't."{c}" = s."{c}"' for c in header[:keys])
        t = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE staged ({cols}) ON COMMIT DROP")
        with path.open(newline="") as f, con.cursor() as cur:
            r = csv.reader(f)
            next(r)
            with cur.copy("COPY staged FROM STDIN") as cp:
                for row in r:
                    cp.write_row(row)
        con.execute(f"UPDATE raw_rows AS t SET {sets} FROM staged AS s WHERE {on}")
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


# The natural key's columns, first in both readouts correction files (the floor keys by them)
READOUT_KEY = ["isolation_id", "analyte", "assay", "run_id", "replicate"]


def readout_files(d: Path, stored: Path) -> list[tuple[str, Path]]:
    """(what, file) of the two readouts corrections of the stored file ``stored``: every
    readout re-QC'd as failed (key + qc), and every row again with its value changed."""
    with stored.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    at = [header.index(c) for c in READOUT_KEY]
    rest = [i for i in range(len(header)) if i not in at]
    value = header.index("value")
    qc = d / "readouts-qc.csv"
    with qc.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*READOUT_KEY, "qc"])
        w.writerows([[row[i] for i in at] + ["fail"] for row in body])
    whole = d / "readouts-values.csv"
    with whole.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([header[i] for i in at + rest])
        for k, row in enumerate(body):
            row[value] = f"{k % 997 + 1}.25"  # (every value changed, a censored one too)
            w.writerow([row[i] for i in at + rest])
    return [("readouts qc=fail (key + qc)", qc), ("readouts values (whole rows)", whole)]


COMMAND = r"""
import json, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run([sys.executable, "-m", "exolab", *sys.argv[1:]], capture_output=True,
                      text=True)
print(json.dumps({"seconds": time.perf_counter() - t, "rc": done.returncode,
                  "out": done.stdout[-3000:], "err": done.stderr[-3000:]}))
"""


def command(url: str, path: Path) -> dict[str, Any]:
    """The whole command as a user types it (start-up included): its wall seconds and its
    output."""
    args = ["--db", url, "--user", "bench", "import", "readouts", str(path)]
    out = subprocess.run(
        [sys.executable, "-c", COMMAND, *args, "--on-duplicate", "update"],
        capture_output=True,
        text=True,
        env={**os.environ, "EXOLAB_USER": "bench"},
    )
    r: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if r["rc"]:
        sys.exit(f"readouts import of {path.name} failed:\n{r['out']}\n{r['err']}")
    return r


def readouts_main(n: int, backend: str) -> None:
    from bench_import import make_file, run_exolab_import, setup_database

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        stored = d / "readouts.csv"
        make_file(stored, n)
        base = os.environ.get("EXOLAB_BENCH_POSTGRES_URL", PG_DEFAULT)
        name = None
        if backend == "postgresql":
            url, name = pg_database(base)
        else:
            url = f"sqlite:///{d / 'update.db'}"
        try:
            setup_database(url, n)
            assert run_exolab_import(url, stored)["created"] == n
            for what, path in readout_files(d, stored):
                if name is not None:
                    floor = floor_pg(path, url, len(READOUT_KEY))
                else:
                    floor = floor_sqlite(path, d / f"raw-{path.stem}.db", len(READOUT_KEY))
                r = command(url, path)
                updated = re.search(r"([\d,]+) updated", r["out"])
                if updated is None or int(updated.group(1).replace(",", "")) != n:
                    sys.exit(f"expected {n} updated:\n{r['out']}")
                s = r["seconds"]
                print(
                    f"{what + f' ({backend})':<42} rows={n:,}  floor {n / floor:9,.0f} rows/s "
                    f"({floor:6.2f} s)  exolab {n / s:8,.0f} rows/s ({s:6.2f} s, whole command)"
                    f"  ratio {floor / s:.3f}",
                    flush=True,
                )
        finally:
            if name is not None:
                drop_pg(base, name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--readouts", type=int, default=20_000)
    ap.add_argument("--kind", choices=["records", "readouts"], default="records")
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = ap.parse_args()
    if args.kind == "readouts":
        readouts_main(args.readouts, args.backend)
        return
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
