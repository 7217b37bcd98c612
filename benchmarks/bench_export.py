"""Benchmark: `export longitudinal` and `export readouts` of N readouts against a raw floor.

The floor is the same join read with the raw driver (sqlite3 / psycopg) and written with
``csv.writer`` (no baselines, no replicate statistics, no formatting). exolab's export runs in
a subprocess so its peak memory (VmHWM, its own peak RSS) is measured alone. Prints rows/s, ratio and peak memory.

    python benchmarks/bench_export.py [--rows N] [--backend sqlite|postgresql|both]
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
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_import import (
    ANALYTES,
    PEAK_MB,
    PG_DEFAULT,
    REPLICATES,
    drop_pg,
    n_isolations,
    pg_database,
    setup_database,
)

JOIN = """
SELECT st.code, su.subject_code, su.group_name, v.label, s.collected_at, s.sample_code,
       s.biofluid, i.isolation_code, i.method, a.code, r.assay, r.run_code, r.value_text,
       r.comparator, r.censor, r.qualitative, r.value, r.unit, r.lod, r.lloq, r.uloq,
       r.replicate, r.qc
FROM readouts r
JOIN samples s ON s.id = r.sample_id
JOIN analytes a ON a.id = r.analyte_id
LEFT JOIN isolations i ON i.id = r.isolation_id
LEFT JOIN visits v ON v.id = s.visit_id
LEFT JOIN subjects su ON su.id = s.subject_id
LEFT JOIN studies st ON st.id = su.study_id
ORDER BY st.code, su.subject_code, r.analyte_id, s.biofluid, i.method, s.collected_at,
         s.sample_code, i.isolation_code, r.assay, r.run_code, r.replicate
"""


def fill_readouts(url: str, rows: int) -> None:
    """Readouts straight into the table (setup, not measured)."""
    from sqlalchemy import insert, select

    from exolab.db.engine import Database
    from exolab.db.models import Analyte, Readout

    db = Database(url)
    rnd = random.Random(2)
    with db.write() as s:
        ids = {c: i for c, i in s.execute(select(Analyte.code, Analyte.id))}
        analyte_ids = sorted(ids.values())[: len(ANALYTES)]
        n = n_isolations(rows)
        batch: list[dict[str, object]] = []
        written = 0
        for iso in range(1, n + 1):
            for a in analyte_ids:
                for rep in range(1, REPLICATES + 1):
                    if written >= rows:
                        break
                    v = rnd.uniform(1, 900)
                    batch.append(
                        {
                            "sample_id": iso,
                            "isolation_id": iso,
                            "analyte_id": a,
                            "assay": "elisa",
                            "run_code": f"RUN-{iso % 500:04d}",
                            "replicate": rep,
                            "value_text": f"{v:.4g}",
                            "value": float(f"{v:.4g}"),
                            "comparator": "=",
                            "censor": "none",
                            "unit": "pg/mL",
                            "lod": 0.5,
                            "qc": "pass",
                            "measured_on": date(2024, 1, 1) + timedelta(days=iso % 300),
                            "created_by": "bench",
                        }
                    )
                    written += 1
                    if len(batch) >= 50_000:
                        s.execute(insert(Readout), batch)
                        batch = []
        if batch:
            s.execute(insert(Readout), batch)
    db.dispose()


def raw_sqlite(db_path: Path, out: Path) -> tuple[float, int]:
    con = sqlite3.connect(db_path)
    t = time.perf_counter()
    n = 0
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        for row in con.execute(JOIN):
            w.writerow(row)
            n += 1
    dt = time.perf_counter() - t
    con.close()
    return dt, n


def raw_pg(url: str, out: Path) -> tuple[float, int]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    t = time.perf_counter()
    n = 0
    with psycopg.connect(dsn) as con, con.cursor(name="raw") as cur, out.open("w") as f:
        cur.itersize = 2000
        cur.execute(JOIN)
        w = csv.writer(f)
        for row in cur:
            w.writerow(row)
            n += 1
    return time.perf_counter() - t, n


RUNNER = (
    PEAK_MB
    + r"""
from exolab.db.engine import Database
from exolab.services.context import Lab
from exolab.io.export import run_export
url, kind, out = sys.argv[1], sys.argv[2], sys.argv[3]
lab = Lab(Database(url), "bench")
t = time.perf_counter()
res = run_export(lab, kind, out)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "rows": res.rows,
                  "maxrss_mb": peak_mb()}))
"""
)


def run_exolab_export(url: str, kind: str, out: Path) -> dict[str, float]:
    res = subprocess.run(
        [sys.executable, "-c", RUNNER, url, kind, str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "EXOLAB_USER": "bench"},
    )
    if res.returncode:
        raise SystemExit(f"export {kind} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def report(backend: str, kind: str, rows: int, raw_s: float, ours: dict[str, float]) -> None:
    raw_rate = rows / raw_s
    rate = ours["rows"] / ours["seconds"]
    print(
        f"{backend:10s} {kind:12s} rows={int(ours['rows']):,}  raw {raw_rate:10,.0f} rows/s "
        f"({raw_s:6.2f} s)  exolab {rate:10,.0f} rows/s ({ours['seconds']:6.2f} s)  "
        f"ratio {rate / raw_rate:4.2f}  peak {ours['maxrss_mb']:5.0f} MB"
    )


def bench(backend: str, url: str, rows: int, d: Path, raw: object) -> None:
    setup_database(url, rows)
    fill_readouts(url, rows)
    raw_s, n = raw(
        url if backend == "postgresql" else Path(url[len("sqlite:///") :]), d / "raw.csv"
    )  # type: ignore[operator]
    assert n == rows, n
    for kind in ("longitudinal", "readouts"):
        ours = run_exolab_export(url, kind, d / f"{kind}.csv")
        assert ours["rows"] == rows, ours
        report(backend, kind, rows, raw_s, ours)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if args.backend in ("sqlite", "both"):
            bench("sqlite", f"sqlite:///{d / 'bench.db'}", args.rows, d, raw_sqlite)
        if args.backend in ("postgresql", "both"):
            base = os.environ.get("EXOLAB_BENCH_POSTGRES_URL", PG_DEFAULT)
            url, name = pg_database(base)
            try:
                bench("postgresql", url, args.rows, d, raw_pg)
            finally:
                drop_pg(base, name)


if __name__ == "__main__":
    main()
