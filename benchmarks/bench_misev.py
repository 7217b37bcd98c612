"""MISEV completeness of every preparation: service vs a raw fetch of the same rows.

    python benchmarks/bench_misev.py [--copies 40] [--db PATH] [--pg URL]

Builds (SQLite) the demo database and copies its 226 isolations with their steps and readouts
``--copies`` times by raw INSERT ... SELECT (a benchmark fixture, not the import path). With
``--pg URL`` the same copy is made in a fresh PostgreSQL database through ``exolab demo``.

Prints, median of 3:
- raw: the driver fetching the same three result sets (isolations joined to samples, steps,
  readouts joined to analytes) without building anything
- service: ``standards.misev_reports(tx)`` (loading, evaluating nine rules, MISEV2018 items,
  ratio and pre-analytical checks per preparation) and the statements it issued
- ratio service / raw, and per-isolation cost
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ISO_COLS = (
    "sample_id, isolated_on, method, input_volume_ml, kit, kit_lot, final_volume_ul, "
    "resuspension_buffer, operator, notes, version, created_at, created_by"
)
READOUT_COLS = (
    "sample_id, analyte_id, assay, run_code, replicate, value_text, value, comparator, censor, "
    "qualitative, unit, lod, lloq, uloq, antibody, antibody_dilution, lysis_buffer, instrument, "
    "measured_on, qc, notes, version, created_at, created_by"
)

RAW = [
    "SELECT i.id, i.isolation_code, i.method, i.isolated_on, i.input_volume_ml, "
    "i.final_volume_ul, s.* FROM isolations i JOIN samples s ON s.id = i.sample_id "
    "ORDER BY i.isolation_code",
    "SELECT isolation_id, method, params FROM isolation_steps ORDER BY isolation_id, step_no",
    "SELECT r.isolation_id, a.code, a.misev_category, r.assay, r.unit, r.value, r.qualitative, "
    "r.censor, r.antibody, r.antibody_dilution, r.lysis_buffer FROM readouts r "
    "JOIN analytes a ON a.id = r.analyte_id WHERE r.isolation_id IS NOT NULL "
    "ORDER BY r.isolation_id, r.id",
]


def build(url: str, copies: int) -> None:
    from sqlalchemy import create_engine, text

    subprocess.run(
        [sys.executable, "-m", "exolab", "--db", url, "--user", "bench", "demo", "--no-tui"],
        check=True,
        capture_output=True,
    )
    engine = create_engine(url)
    with engine.begin() as c:
        base = c.execute(text("SELECT max(id) FROM isolations")).scalar_one()
        for k in range(1, copies + 1):
            suffix = f"-c{k}"
            c.execute(
                text(
                    f"INSERT INTO isolations (isolation_code, {ISO_COLS}) "
                    f"SELECT isolation_code || '{suffix}', {ISO_COLS} FROM isolations "
                    f"WHERE id <= {base}"
                )
            )
            pairs = (
                "FROM isolations i1 JOIN isolations i2 "
                f"ON i2.isolation_code = i1.isolation_code || '{suffix}' WHERE i1.id <= {base}"
            )
            c.execute(
                text(
                    "INSERT INTO isolation_steps (isolation_id, step_no, method, params) "
                    "SELECT i2.id, s.step_no, s.method, s.params FROM isolation_steps s "
                    f"JOIN ({'SELECT i1.id AS old, i2.id AS id ' + pairs}) i2 ON i2.old = "
                    "s.isolation_id"
                )
            )
            cols = ", ".join(f"r.{c.strip()}" for c in READOUT_COLS.split(","))
            c.execute(
                text(
                    f"INSERT INTO readouts (isolation_id, {READOUT_COLS}) "
                    f"SELECT i2.id, {cols} FROM readouts r "
                    f"JOIN ({'SELECT i1.id AS old, i2.id AS id ' + pairs}) i2 ON i2.old = "
                    "r.isolation_id"
                )
            )
    engine.dispose()


def median_time(fn: Any, n: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(n):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def measure(url: str) -> None:
    from sqlalchemy import event, text

    from exolab.db.engine import Database
    from exolab.services import standards
    from exolab.services.context import Lab

    db = Database(url)
    lab = Lab(db, "bench")

    def raw() -> int:
        with db.engine.connect() as c:
            return sum(len(c.exec_driver_sql(q).fetchall()) for q in RAW)

    statements: list[str] = []

    def service() -> int:
        statements.clear()
        with lab.read() as tx:
            return len(standards.misev_reports(tx))

    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with db.engine.connect() as c:
        n_iso = c.execute(text("SELECT count(*) FROM isolations")).scalar_one()
        n_ro = c.execute(
            text("SELECT count(*) FROM readouts WHERE isolation_id IS NOT NULL")
        ).scalar_one()
    t_raw, rows = median_time(raw)
    t_svc, n = median_time(service)
    assert n == n_iso
    print(f"{db.dialect}: {n_iso} isolations, {n_ro} isolation readouts ({rows} raw rows)")
    print(f"  raw fetch         {t_raw * 1000:8.1f} ms")
    print(
        f"  misev_reports     {t_svc * 1000:8.1f} ms  ({len(statements)} statements, "
        f"{t_svc / n_iso * 1e6:.0f} us per isolation)"
    )
    print(f"  ratio service/raw {t_svc / t_raw:8.1f}x")
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--db", default="/tmp/exolab_bench_misev.db")
    parser.add_argument("--pg", help="a fresh PostgreSQL database URL to fill and measure")
    args = parser.parse_args()
    path = Path(args.db)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    urls = [f"sqlite:///{path}"] + ([args.pg] if args.pg else [])
    for url in urls:
        build(url, args.copies)
        measure(url)


if __name__ == "__main__":
    main()
