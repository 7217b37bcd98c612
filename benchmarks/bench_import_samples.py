"""Benchmark: importing N subjects, N cell sources, N samples and N isolations (default 20,000)
against the raw SQLite floor.

They take the bulk path (exolab/io/bulk_records.py reads, exolab/services/bulk_records.py
writes; docs/bulk-imports.md): the same input models, subject/visit resolution, storage
position checks, SPREC derivation, life-cycle and volume rules and per-record audit events as
the per-record path, with set-based reads and executemany writes. The floor, measured in the
same run, is stdlib ``csv`` + ``sqlite3.executemany`` of the same rows (text, no validation)
into a table of the same columns with a unique index on the key. Each exolab import runs
alone in a subprocess (``run_import``, what ``exolab import`` calls) so its peak memory
(VmHWM) is its own. ``--per-record`` also times the old row-by-row path (slow: keep N small).

For samples and isolations a second line gives the *schema floor* (:func:`schema_floor`):
exactly the rows the import wrote, already converted, inserted by ``INSERT ... SELECT`` (no
value through Python) into exolab's own tables on a copy of the database as it was just
before the import; the import's ratio to it, and the ceiling it sets on the raw ratio (raw
floor / schema floor: what an import with no Python work at all would reach). A third line
gives the *driver floor* (:func:`driver_floor`): the same rows handed to SQLite by the
import's own writer through the sqlite3 driver, with no rule at all, and the ceiling it sets
(what any import written in Python reaches at most, whatever its rules cost).

    python benchmarks/bench_import_samples.py [--samples N] [--per-record]
    python benchmarks/bench_import_samples.py --backend postgresql [--samples N]

``--backend postgresql`` (EXOLAB_BENCH_POSTGRES_URL, default the test server) imports into a
fresh PostgreSQL database instead, against psycopg ``COPY`` of the same rows (text) into a
table of the same columns with a unique index on the key.
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

from exolab.io.importer import kind_of

sys.path.insert(0, str(Path(__file__).parent))
from bench_import import PEAK_MB, PG_DEFAULT, drop_pg, pg_database, raw_sqlite

COLUMNS = kind_of("samples").columns
ISO_COLUMNS = kind_of("isolations").columns
SUBJECT_COLUMNS = ["study", "subject_id", "sex", "birth_year"]
CELL_COLUMNS = kind_of("cell_sources").columns
VISITS = 4

RUNNER = (
    PEAK_MB
    + r"""
import time
from exolab.db.engine import Database
from exolab.services.context import Lab
from exolab.io.importer import run_import
url, kind, path, bulk = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
lab = Lab(Database(url), "bench")
t, c = time.perf_counter(), time.process_time()
report = run_import(lab, kind, path, create_locations=True, bulk=bulk)
dt, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"seconds": dt, "cpu": cpu, "created": report.created,
                  "unchanged": report.unchanged, "peak_mb": peak_mb()}))
"""
)


def make_cells(d: Path, n: int) -> Path:
    cells = d / "cell_sources.csv"
    with cells.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CELL_COLUMNS, restval="")
        w.writeheader()
        for k in range(n):
            w.writerow(
                {
                    "cell_source_id": f"CS-{k:07d}",
                    "cell_type": "mesenchymal stromal cells",
                    "species": "Homo sapiens",
                    "tissue_origin": "bone marrow",
                    "passage": str(k % 12),
                    "confluency_pct": "80",
                    "culture_medium": "DMEM",
                    "serum_condition": "serum_free",
                    "conditioning_hours": "48",
                    "mycoplasma_result": "negative",
                    "mycoplasma_tested_on": f"2024-0{k % 9 + 1}-1{k % 9}",
                }
            )
    return cells


def make_files(d: Path, n: int) -> tuple[Path, Path, Path]:
    """N subjects (the first N/4 have the samples' visits), N samples and N isolations."""
    subjects, samples, isolations = d / "subjects.csv", d / "samples.csv", d / "isolations.csv"
    with subjects.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(SUBJECT_COLUMNS)
        for i in range(max(1, n)):
            w.writerow(["BENCH", f"S{i:06d}", "F" if i % 2 else "M", str(1940 + i % 60)])
    with samples.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, restval="")
        w.writeheader()
        for k in range(n):
            i, v = divmod(k, VISITS)
            box, pos = divmod(k, 81)
            w.writerow(
                {
                    "sample_id": f"S{i:06d}-V{v}",
                    "biofluid": "plasma",
                    "collected_at": f"2024-0{v + 1}-1{i % 9} 09:00",
                    "study": "BENCH",
                    "subject_id": f"S{i:06d}",
                    "visit": f"V{v}",
                    "tube": "K2EDTA",
                    "volume_ml": "4.0",
                    "spin1_g": "2500",
                    "spin1_min": "15",
                    "location": f"F1/R{box // 10 + 1}/B{box % 10 + 1}/"
                    f"{'ABCDEFGHI'[pos // 9]}{pos % 9 + 1}",
                }
            )
    with isolations.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=ISO_COLUMNS, restval="")
        w.writeheader()
        for k in range(n):  # one isolation per tube
            i, v = divmod(k, VISITS)
            w.writerow(
                {
                    "isolation_id": f"ISO-{k:07d}",
                    "sample_id": f"S{i:06d}-V{v}",
                    "isolated_on": f"2024-0{v + 1}-2{i % 9}",
                    "method": "uf+sec",
                    "input_volume_ml": "0.5",
                    "sec_column": "qEV original 70 nm",
                    "sec_fractions": "7-9",
                    "uf_mwco_kda": "100",
                    "final_volume_ul": "200",
                    "resuspension_buffer": "PBS",
                }
            )
    return subjects, samples, isolations


def raw_pg(path: Path, url: str, columns: list[str], key: tuple[str, ...]) -> float:
    """The PostgreSQL floor: psycopg COPY of the file's rows (text, no validation) into a
    table of ``columns`` with a unique index on ``key``."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as con:
        con.execute("DROP TABLE IF EXISTS raw_rows")
        cols = ", ".join('"' + c + '" TEXT' for c in columns)
        con.execute(f"CREATE TABLE raw_rows ({cols})")
        con.execute(f"CREATE UNIQUE INDEX uq_raw ON raw_rows ({', '.join(key)})")
        con.commit()
        t = time.perf_counter()
        with path.open(newline="", encoding="utf-8") as f, con.cursor() as cur:
            r = csv.reader(f)
            next(r)
            with cur.copy("COPY raw_rows FROM STDIN") as cp:
                for row in r:
                    cp.write_row(row)
        con.commit()
        dt = time.perf_counter() - t
        con.execute("DROP TABLE raw_rows")
        con.commit()
    return dt


def postgresql(n: int, d: Path, subjects: Path, samples: Path, isolations: Path) -> None:
    base = os.environ.get("EXOLAB_BENCH_POSTGRES_URL", PG_DEFAULT)
    url, name = pg_database(base)
    try:
        exolab("--db", url, "--user", "bench", "init")
        r = run(url, "subjects", subjects, True)
        assert r["created"] == n, r
        raw = raw_pg(samples, url, COLUMNS, ("sample_id",))
        r = run(url, "samples", samples, True)
        assert r["created"] == n, r
        print(line("samples (postgresql)", n, raw, r).replace("floor", "COPY"), flush=True)
        raw = raw_pg(isolations, url, ISO_COLUMNS, ("isolation_id",))
        r = run(url, "isolations", isolations, True)
        assert r["created"] == n, r
        print(line("isolations (postgresql)", n, raw, r).replace("floor", "COPY"), flush=True)
    finally:
        drop_pg(base, name)


def exolab(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "exolab", *args], check=True, capture_output=True, text=True
    )


def run(url: str, kind: str, path: Path, bulk: bool) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, url, kind, str(path), "1" if bulk else "0"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "EXOLAB_USER": "bench"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def line(what: str, n: int, floor: float, r: dict[str, float], floor_cpu: float = 0.0) -> str:
    s = r["seconds"]
    cpu = (  # on a loaded machine the CPU seconds of each side compare more steadily
        f"  cpu ratio {floor_cpu / r['cpu']:.3f}" if floor_cpu and r.get("cpu") else ""
    )
    return (
        f"{what:<22} rows={n:,}  floor {n / floor:9,.0f} rows/s ({floor:6.2f} s)  "
        f"exolab {n / s:8,.0f} rows/s ({s:6.2f} s)  ratio {floor / s:.3f}{cpu}  "
        f"peak {r['peak_mb']:.0f} MB"
    )


def schema_line(raw: float, floor: float, floor_cpu: float, r: dict[str, float]) -> str:
    """The import against its schema floor (:func:`schema_floor`), and the ceiling: the raw
    ratio an import with no Python work at all would reach (raw floor / schema floor)."""
    s = r["seconds"]
    return (
        f"{'':<22} schema floor {floor:6.2f} s (cpu {floor_cpu:.2f} s)  "
        f"ratio to it {floor / s:.3f}  cpu ratio {floor_cpu / r['cpu']:.3f}  "
        f"ceiling of the raw ratio {raw / floor:.3f}"
    )


def floor_sqlite(
    path: Path, db: Path, columns: list[str], key: tuple[str, ...]
) -> tuple[float, float]:
    """raw_sqlite's seconds, and the CPU seconds this process spent in it (SQLite runs
    in-process)."""
    c = time.process_time()
    wall = raw_sqlite(path, db, columns, key)
    return wall, time.process_time() - c


# exolab's tables in the order their foreign keys need (a table not listed must get no rows)
FLOOR_TABLES = (
    "import_batches",
    "studies",
    "subjects",
    "cell_sources",
    "freezers",
    "racks",
    "boxes",
    "visits",
    "samples",
    "isolations",
    "isolation_steps",
    "audit_events",
)


def copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database (its WAL included)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def schema_floor(before: Path, after: Path) -> tuple[float, float]:
    """What exolab's own schema costs SQLite for one import: on a copy of the database as it
    was just before the import (``before``), exactly the rows the import wrote (read from
    ``after``, attached: already converted, no validation, no rules) inserted into exolab's
    own tables (their checks, foreign keys, indexes and triggers) by ``INSERT ... SELECT``,
    and the stored tubes' changed volumes set by one ``UPDATE ... FROM``; rolled back. No
    value passes through Python, so this is SQLite's own work alone (an executemany of the
    same rows costs ~2x more: handing 42 values per tube to SQLite is Python's work). Wall
    and CPU seconds."""
    copy = before.with_name("schema-floor.db")
    copy_db(before, copy)
    con = sqlite3.connect(copy, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("ATTACH DATABASE ? AS done", (str(after),))
    work = []
    tables = {t for (t,) in con.execute("SELECT name FROM done.sqlite_master WHERE type='table'")}
    for table in sorted(tables - {"alembic_version"}):
        top = con.execute(f"SELECT coalesce(max(rowid), 0) FROM main.{table}").fetchone()[0]
        cols = [r[1] for r in con.execute(f"PRAGMA main.table_info({table})")]
        names = ", ".join(f'"{c}"' for c in cols)
        (more,) = con.execute(
            f"SELECT count(*) FROM done.{table} WHERE rowid > ?", (top,)
        ).fetchone()
        assert table in FLOOR_TABLES or not more, table
        if more:
            work.append(
                (
                    FLOOR_TABLES.index(table),
                    f"INSERT INTO main.{table} ({names}) SELECT {names} FROM done.{table} "
                    f"WHERE rowid > {int(top)} ORDER BY rowid",
                )
            )
    work.sort()
    t, c = time.perf_counter(), time.process_time()
    con.execute("BEGIN IMMEDIATE")
    for _, sql in work:
        con.execute(sql)
    con.execute(
        "UPDATE main.samples AS b SET volume_ml = a.volume_ml, volume_taken_ml = "
        "a.volume_taken_ml, version = a.version, updated_at = a.updated_at "
        "FROM done.samples AS a WHERE a.id = b.id AND a.version != b.version"
    )
    con.execute("ROLLBACK")
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    con.execute("DETACH DATABASE done")
    con.close()
    copy.unlink()
    return dt, cpu


def driver_floor(before: Path, after: Path) -> tuple[float, float]:
    """What handing the import's rows to SQLite costs through the driver, with no rule at
    all: on a copy of the database as it was before the import, exactly the rows the import
    wrote (read from ``after`` beforehand, untimed, in the driver's own form: no conversion
    left to do) inserted by the import's own writer (``sqlite_bulk.insert_staged``: many rows
    per INSERT, a column every row shares bound once), and the stored tubes' changed volumes
    by the import's ``UPDATE`` executemany; rolled back. Any Python import of the same rows
    pays at least this plus reading the file, so ``raw floor / driver floor`` caps the ratio
    an import can reach whatever its rules cost. Wall and CPU seconds."""
    from exolab.services.bulk_records import ROWS_PER_INSERT
    from exolab.services.sqlite_bulk import insert_staged

    copy = before.with_name("driver-floor.db")
    copy_db(before, copy)
    con = sqlite3.connect(copy, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("PRAGMA cache_size = -65536")
    done = sqlite3.connect(after)
    work = []
    for table in FLOOR_TABLES:
        top = con.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()[0]
        cols = [r[1] for r in done.execute(f"PRAGMA table_info({table})")]
        rows = done.execute(f"SELECT * FROM {table} WHERE rowid > ? ORDER BY rowid", (top,))
        values = [list(c) for c in zip(*rows.fetchall(), strict=True)]
        if values:
            work.append((table, [f'"{c}"' for c in cols], values))
    versions = dict(con.execute("SELECT id, version FROM samples"))
    changed = [
        (v, t, ver, at, pk)
        for v, t, ver, at, pk in done.execute(
            "SELECT volume_ml, volume_taken_ml, version, updated_at, id FROM samples"
        )
        if pk in versions and versions[pk] != ver
    ]
    done.close()
    limit = con.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    t, c = time.perf_counter(), time.process_time()
    con.execute("BEGIN IMMEDIATE")
    for table, cols, values in work:
        insert_staged(con.execute, f'"{table}"', cols, values, limit, ROWS_PER_INSERT)
    if changed:
        con.executemany(
            "UPDATE samples SET volume_ml = ?, volume_taken_ml = ?, version = ?, "
            "updated_at = ? WHERE id = ?",
            changed,
        )
    con.execute("ROLLBACK")
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    con.close()
    copy.unlink()
    return dt, cpu


def driver_line(raw: float, floor: float, floor_cpu: float, r: dict[str, float]) -> str:
    """The import against its driver floor (:func:`driver_floor`), and the ceiling it sets."""
    s = r["seconds"]
    return (
        f"{'':<22} driver floor {floor:6.2f} s (cpu {floor_cpu:.2f} s)  "
        f"ratio to it {floor / s:.3f}  ceiling of the raw ratio {raw / floor:.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--per-record", action="store_true", help="also time the row-by-row path")
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument(
        "--again",
        action="store_true",
        help="also import each file a second time (every row stored and unchanged: a lab's "
        "cumulative manifest) and time it against the same floor",
    )
    args = ap.parse_args()
    n = args.samples
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        subjects, samples, isolations = make_files(d, n)
        if args.backend == "postgresql":
            postgresql(n, d, subjects, samples, isolations)
            return
        cells = make_cells(d, n)
        paths = [("bulk", True)] + ([("per-record", False)] if args.per_record else [])
        for name, bulk in paths:
            db = str(d / f"{name}.db")
            url = f"sqlite:///{db}"
            exolab("--db", db, "--user", "bench", "init")
            for kind, path, cols, key in (
                ("subjects", subjects, SUBJECT_COLUMNS, ("study", "subject_id")),
                ("cell_sources", cells, CELL_COLUMNS, ("cell_source_id",)),
                ("samples", samples, COLUMNS, ("sample_id",)),
                ("isolations", isolations, ISO_COLUMNS, ("isolation_id",)),
            ):
                raw, raw_cpu = floor_sqlite(path, d / f"raw-{kind}-{name}.db", cols, key)
                before = d / f"before-{kind}-{name}.db"
                if kind in ("samples", "isolations"):
                    copy_db(Path(db), before)
                r = run(url, kind, path, bulk)
                assert r["created"] == n, r
                what = f"{kind.replace('_', ' ')} ({name})"
                print(line(what, n, raw, r, raw_cpu), flush=True)
                if kind in ("samples", "isolations"):
                    schema, schema_cpu = schema_floor(before, Path(db))
                    print(schema_line(raw, schema, schema_cpu, r), flush=True)
                    driver, driver_cpu = driver_floor(before, Path(db))
                    before.unlink()
                    print(driver_line(raw, driver, driver_cpu, r), flush=True)
                if args.again:
                    r = run(url, kind, path, bulk)
                    assert r["created"] == 0 and r["unchanged"] == n, r
                    print(line("  again, unchanged", n, raw, r, raw_cpu), flush=True)


if __name__ == "__main__":
    main()
