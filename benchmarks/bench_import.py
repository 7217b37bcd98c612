"""Benchmark: importing N readouts (default 1,000,000) against the raw database floor.

SQLite: the floor is stdlib ``csv`` + ``sqlite3.executemany`` of the same rows (raw strings, no
validation) into a table with the same columns and the same unique natural-key index.
PostgreSQL: the floor is a raw psycopg ``COPY`` of the same rows into such a table.
exolab's import runs in a subprocess (``exolab import readouts FILE``'s code path) so its peak
memory (VmHWM, its own peak RSS) is measured alone; on SQLite the whole command (``python -m
exolab import readouts FILE``, start-up included) is also timed, on a copy of the database.
Prints rows/s, the ratio to the floor and peak memory.

    python benchmarks/bench_import.py [--rows N] [--backend sqlite|postgresql|both]

PostgreSQL URL: EXOLAB_BENCH_POSTGRES_URL (default the local test server).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

from exolab.io.importer import kind_of

PG_DEFAULT = "postgresql+psycopg://exolab:exolab@localhost/exolab_test"
COLUMNS = kind_of("readouts").columns  # the readouts import columns
ANALYTES = [
    "CD9", "CD63", "CD81", "TSG101", "ALIX", "SDCBP", "FLOT1", "CANX", "APOA1", "ALB",
    "particle_concentration", "protein_total", "hsa-miR-21-5p", "hsa-miR-16-5p", "GAPDH",
    "HSPA8", "ANXA2", "UMOD", "CD41", "EPCAM",
]  # fmt: skip
REPLICATES = 5


def n_isolations(rows: int) -> int:
    return max(1, rows // (len(ANALYTES) * REPLICATES))


def make_file(path: Path, rows: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    n_iso = n_isolations(rows)
    day0 = date(2024, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        written = 0
        for i in range(n_iso):
            run_day = day0 + timedelta(days=i % 300)
            for analyte in ANALYTES:
                for rep in range(1, REPLICATES + 1):
                    if written >= rows:
                        return
                    r = rnd.random()
                    value = (
                        "<0.5" if r < 0.03 else ("ND" if r < 0.04 else f"{rnd.uniform(1, 900):.4g}")
                    )
                    w.writerow(
                        [
                            f"ISO-{i:07d}", "", analyte, value, "pg/mL", "elisa",
                            f"RUN-{i % 500:04d}", run_day.isoformat(), rep, "0.5", "", "",
                            "", "", "", "Reader-1", "pass", "",
                        ]
                        + [""] * (len(COLUMNS) - 18)  # well, dilution_factor, ...: empty
                    )  # fmt: skip
                    written += 1


def setup_database(url: str, rows: int) -> None:
    """A migrated database with one study, subjects, samples and isolations (Core inserts)."""
    from sqlalchemy import insert

    from exolab.db.engine import Database
    from exolab.db.models import Isolation, Sample, Study, Subject, Visit
    from exolab.services.setup import initialise

    initialise(url, "bench")
    db = Database(url)
    n = n_isolations(rows)
    now = datetime(2024, 1, 1, 9, 0)
    with db.write() as s:
        s.execute(insert(Study), [{"id": 1, "code": "BENCH"}])
        n_subj = max(1, n // 10)
        s.execute(
            insert(Subject),
            [{"id": i + 1, "study_id": 1, "subject_code": f"S{i:06d}"} for i in range(n_subj)],
        )
        s.execute(
            insert(Visit),
            [
                {"id": i + 1, "subject_id": i + 1, "label": "baseline", "visit_date": now.date()}
                for i in range(n_subj)
            ],
        )
        s.execute(
            insert(Sample),
            [
                {
                    "id": i + 1,
                    "sample_code": f"SMP-{i:07d}",
                    "biofluid": "plasma",
                    "collected_at": now,
                    "subject_id": i % n_subj + 1,
                    "visit_id": i % n_subj + 1,
                    "freeze_thaw_count": 0,
                    "status": "available",
                }
                for i in range(n)
            ],
        )
        s.execute(
            insert(Isolation),
            [
                {
                    "id": i + 1,
                    "isolation_code": f"ISO-{i:07d}",
                    "sample_id": i + 1,
                    "isolated_on": now.date(),
                    "method": "sec",
                    "input_volume_ml": 0.5,
                }
                for i in range(n)
            ],
        )
    db.dispose()


# Head of the scripts run in a subprocess: its own peak memory.
PEAK_MB = r"""
import json, resource, sys, time
def peak_mb():
    # VmHWM is this process's own peak; ru_maxrss would include the parent's at fork time
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def proc_cpu(pid):
    # user + system seconds of a local process (the database server's, on this machine)
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    import os
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
"""
RUNNER = (
    PEAK_MB
    + r"""
from exolab.db.engine import Database
from exolab.services.context import Lab
from exolab.io.importer import run_import
url, path = sys.argv[1], sys.argv[2]
db = Database(url)
lab = Lab(db, "bench")
t = time.perf_counter()
c = time.process_time()
rep = run_import(lab, "readouts", path)
dt = time.perf_counter() - t
cpu = time.process_time() - c
server = None
if url.startswith("postgresql"):  # the CPU time of this database's server processes
    from sqlalchemy import text
    with db.engine.connect() as conn:
        # (the pool hands back the import's own connection: its backend is among these)
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity "
                                 "WHERE datname = current_database()")).scalars().all()
    server = sum(proc_cpu(p) or 0.0 for p in pids)
print(json.dumps({"seconds": dt, "created": rep.created, "batch": rep.batch_id,
                  "maxrss_mb": peak_mb(), "cpu": cpu, "server_cpu": server}))
"""
)


def run_exolab_import(url: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, url, str(path)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "EXOLAB_USER": "bench"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def command_sqlite(url: str, path: Path, runs: int = 3) -> list[float]:
    """The whole command as a user types it, start-up included: ``python -m exolab import
    readouts FILE`` on a fresh copy of the prepared database, ``runs`` times (wall seconds,
    sorted; each copy is thrown away)."""
    import shutil

    import exolab

    # As an installed program runs: with its modules' bytecode cached (pip writes it on
    # install, Python on the first run), even where PYTHONDONTWRITEBYTECODE is set.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(exolab.__file__).parent)], check=True
    )
    src = Path(url[len("sqlite:///") :])
    copy = src.with_name("command.db")
    command = [sys.executable, "-m", "exolab", "--db", f"sqlite:///{copy}", "--user", "bench"]
    times = []
    for _ in range(runs):
        shutil.copyfile(src, copy)
        t = time.perf_counter()
        subprocess.run(
            [*command, "import", "readouts", str(path)],
            check=True,
            capture_output=True,
            env={**os.environ, "EXOLAB_USER": "bench"},
        )
        times.append(time.perf_counter() - t)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
    return sorted(times)


def raw_sqlite(
    path: Path,
    db_path: Path,
    columns: tuple[str, ...] | list[str] = COLUMNS,
    key: tuple[str, ...] = ("isolation_id", "analyte", "assay", "run_id", "replicate"),
) -> float:
    """The raw floor: stdlib csv + sqlite3.executemany of the file's rows (text, no
    validation) into a table of ``columns`` with a unique index on ``key``."""
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(f"CREATE TABLE raw_rows ({', '.join(c + ' TEXT' for c in columns)})")
    con.execute(f"CREATE UNIQUE INDEX uq_raw ON raw_rows ({', '.join(key)})")
    marks = ", ".join("?" for _ in columns)
    t = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        next(r)
        con.execute("BEGIN")
        con.executemany(f"INSERT INTO raw_rows VALUES ({marks})", r)
        con.execute("COMMIT")
    dt = time.perf_counter() - t
    con.close()
    return dt


FLOOR_COLUMNS = (
    "sample_id, isolation_id, analyte_id, assay, run_code, replicate, value_text, value, "
    "comparator, censor, unit, lod, instrument, measured_on, qc, version, created_at"
)


def floor_rows(path: Path, iso: dict[str, tuple[int, int]], analyte_ids: list[int]):  # type: ignore[no-untyped-def]
    """The file's rows converted for exolab's readouts table with plain lookups and no
    validation (one distinct analyte id per analyte name)."""
    spare = iter(sorted(analyte_ids))
    a_ids: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        next(r)
        for row in r:
            i, s = iso[row[0]]
            a = a_ids.get(row[2])
            if a is None:
                a = a_ids[row[2]] = next(spare)
            try:
                v: float | None = float(row[3])
            except ValueError:
                v = 0.5
            yield (s, i, a, row[5], row[6], int(row[8]), row[3], v, "=", "none",
                   row[4], 0.5, row[15], row[7], row[16], 1, "2024-01-01 00:00:00")  # fmt: skip


def table_floor_sqlite(path: Path, url: str) -> float:
    """csv + sqlite3.executemany straight into exolab's own readouts table (its checks, foreign
    keys and indexes), rows converted with plain dict lookups and no validation: what the
    schema alone costs. Run on a copy of the prepared database, then thrown away."""
    import shutil

    src = Path(url[len("sqlite:///") :])
    copy = src.with_name("table_floor.db")
    shutil.copyfile(src, copy)
    con = sqlite3.connect(copy, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    iso = {
        c: (i, s) for c, i, s in con.execute("SELECT isolation_code, id, sample_id FROM isolations")
    }
    analytes = [i for (i,) in con.execute("SELECT id FROM analytes")]
    t = time.perf_counter()
    con.execute("BEGIN IMMEDIATE")
    con.executemany(
        f"INSERT INTO readouts ({FLOOR_COLUMNS}) VALUES ({', '.join('?' * 17)})",
        floor_rows(path, iso, analytes),
    )
    con.execute("ROLLBACK")
    dt = time.perf_counter() - t
    con.close()
    copy.unlink()
    return dt


def table_floor_pg(path: Path, url: str) -> float:
    """psycopg COPY straight into exolab's own readouts table (its checks, indexes and the
    reference checks: since 0011_pg_fk set-based triggers, before that four per-row foreign
    keys, which dominated), no validation; rolled back."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as con:
        iso = {
            c: (i, s)
            for c, i, s in con.execute("SELECT isolation_code, id, sample_id FROM isolations")
        }
        analytes = [i for (i,) in con.execute("SELECT id FROM analytes")]
        t = time.perf_counter()
        with con.cursor() as cur, cur.copy(f"COPY readouts ({FLOOR_COLUMNS}) FROM STDIN") as cp:
            for row in floor_rows(path, iso, analytes):
                cp.write_row(row)
        con.execute("SELECT 1")
        dt = time.perf_counter() - t
        con.rollback()
    return dt


def raw_pg(path: Path, url: str) -> float:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as con:
        con.execute("DROP TABLE IF EXISTS raw_readouts")
        con.execute(f"CREATE TABLE raw_readouts ({', '.join(c + ' TEXT' for c in COLUMNS)})")
        con.execute(
            "CREATE UNIQUE INDEX uq_raw ON raw_readouts "
            "(isolation_id, analyte, assay, run_id, replicate)"
        )
        con.commit()
        server0 = _proc_cpu(con.info.backend_pid)
        cpu0 = time.process_time()
        t = time.perf_counter()
        with path.open(newline="", encoding="utf-8") as f, con.cursor() as cur:
            r = csv.reader(f)
            next(r)
            with cur.copy(f"COPY raw_readouts ({', '.join(COLUMNS)}) FROM STDIN") as cp:
                for row in r:
                    cp.write_row(row)
        con.commit()
        dt = time.perf_counter() - t
        RAW_CPU["client"] = time.process_time() - cpu0
        server1 = _proc_cpu(con.info.backend_pid)
        RAW_CPU["server"] = server1 - server0 if server0 is not None and server1 else None
        con.execute("DROP TABLE raw_readouts")
        con.commit()
    return dt


RAW_CPU: dict[str, float | None] = {}  # the last raw_pg run: client and server CPU seconds


def _proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process of this machine (the local database server's
    backend), or None when it cannot be read (a remote server)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_database(base: str) -> tuple[str, str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"exolab_bench_{uuid.uuid4().hex[:8]}"
    eng = create_engine(make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False), name


def drop_pg(base: str, name: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    eng = create_engine(make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


def report(backend: str, rows: int, raw_s: float, ours: dict[str, float]) -> None:
    raw_rate = rows / raw_s
    rate = rows / ours["seconds"]
    print(
        f"{backend:10s} rows={rows:,}  raw {raw_rate:10,.0f} rows/s ({raw_s:6.2f} s)  "
        f"exolab {rate:10,.0f} rows/s ({ours['seconds']:6.2f} s)  "
        f"ratio {rate / raw_rate:4.2f}  peak {ours['maxrss_mb']:5.0f} MB"
    )


def report_cpu(ours: dict[str, float]) -> None:
    """CPU seconds (client + server) of the raw COPY and of exolab's import, and their ratio:
    less sensitive than the wall-clock ratio to other work on the machine."""
    raw_client, raw_server = RAW_CPU.get("client"), RAW_CPU.get("server")
    server = ours.get("server_cpu")
    if raw_client is None or raw_server is None or server is None:
        return
    raw_cpu, our_cpu = raw_client + raw_server, ours["cpu"] + server
    print(
        f"{'':10s} cpu: raw {raw_client:.2f} + {raw_server:.2f} server = {raw_cpu:.2f} s; "
        f"exolab {ours['cpu']:.2f} + {server:.2f} server = {our_cpu:.2f} s; "
        f"cpu ratio {raw_cpu / our_cpu:4.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        csv_path = d / "readouts.csv"
        make_file(csv_path, args.rows)
        size = csv_path.stat().st_size / 1e6
        print(f"file: {args.rows:,} readouts, {size:.0f} MB")
        if args.backend in ("sqlite", "both"):
            url = f"sqlite:///{d / 'bench.db'}"
            setup_database(url, args.rows)
            # the floor as often as the whole command below: the median of each is compared
            raw_s = sorted(raw_sqlite(csv_path, d / f"raw{i}.db") for i in range(3))[1]
            table_s = table_floor_sqlite(csv_path, url)
            command_s = command_sqlite(url, csv_path)
            ours = run_exolab_import(url, csv_path)
            assert ours["created"] == args.rows, ours
            report("sqlite", args.rows, raw_s, ours)
            best, median = command_s[0], command_s[len(command_s) // 2]
            print(
                f"{'':10s} whole command (python -m exolab import readouts, start-up "
                f"included; {len(command_s)} runs): median {median:.2f} s = ratio "
                f"{raw_s / median:.2f}, best {best:.2f} s = {raw_s / best:.2f}"
            )
            print(
                f"{'':10s} schema floor (executemany into exolab's readouts table, no "
                f"validation): {args.rows / table_s:,.0f} rows/s = {raw_s / table_s:.2f}x raw; "
                f"exolab = {table_s / ours['seconds']:.2f}x the schema floor"
            )
        if args.backend in ("postgresql", "both"):
            base = os.environ.get("EXOLAB_BENCH_POSTGRES_URL", PG_DEFAULT)
            url, name = pg_database(base)
            try:
                setup_database(url, args.rows)
                raw_s = raw_pg(csv_path, url)
                table_s = table_floor_pg(csv_path, url)
                ours = run_exolab_import(url, csv_path)
                assert ours["created"] == args.rows, ours
                report("postgresql", args.rows, raw_s, ours)
                report_cpu(ours)
                print(
                    f"{'':10s} schema floor (COPY into exolab's readouts table, no "
                    f"validation): {args.rows / table_s:,.0f} rows/s = {raw_s / table_s:.2f}x "
                    f"raw; exolab = {table_s / ours['seconds']:.2f}x the schema floor"
                )
            finally:
                drop_pg(base, name)


if __name__ == "__main__":
    main()
