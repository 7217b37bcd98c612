"""Output formats of a query command: ``exolab patient`` as table, csv and json.

    python benchmarks/bench_output.py [--readouts 5000] [--runs 7]

Builds a SQLite database with one subject holding about ``--readouts`` readouts through the
ordinary import commands (6 visits x 3 isolations x 18 analytes x N replicates), then times the
whole ``exolab patient STUDY SUBJECT`` command in each format (median of ``--runs``) and prints
how much json and csv cost over the table (target: json at most 0.05 s more for 5,000
readouts).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_queries import ISO_ANALYTES  # noqa: E402

VISITS = [("baseline", "2024-01-11"), ("M3", "2024-04-11"), ("M6", "2024-07-11")]
VISITS += [("M12", "2025-01-11"), ("M18", "2025-07-11"), ("M24", "2026-01-11")]
ANALYTES = ISO_ANALYTES  # the query benchmark's analytes, units and assays
METHODS = ["sec", "precipitation", "uf+sec"]


def _exolab(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "exolab", "--db", str(db), "--user", "bench", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True)


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def build(folder: Path, n_readouts: int) -> Path:
    db = folder / "output.db"
    replicates = max(1, n_readouts // (len(VISITS) * len(METHODS) * len(ANALYTES)))
    _exolab(db, "init")
    _write(folder / "subjects.csv", ["study", "subject_id"], [["BENCH", "S1"]])
    samples, isolations, readouts = [], [], []
    for visit, day in VISITS:
        sid = f"S1-{visit}-PL"
        samples.append([sid, "plasma", f"{day} 09:00", "BENCH", "S1", visit, "20"])
        for m, method in enumerate(METHODS):
            iso = f"ISO-{visit}-{m}"
            isolations.append([iso, sid, day, method, "1"])
            for a, (code, unit, assay) in enumerate(ANALYTES):
                for rep in range(1, replicates + 1):
                    value = 10 + a + rep * 0.37 + m
                    run = f"R-{visit}-{assay}"
                    readouts.append([iso, code, f"{value:.3f}", unit, assay, run, day, rep])
    _write(
        folder / "samples.csv",
        ["sample_id", "biofluid", "collected_at", "study", "subject_id", "visit", "volume_ml"],
        samples,
    )
    _write(
        folder / "isolations.csv",
        ["isolation_id", "sample_id", "isolated_on", "method", "input_volume_ml"],
        isolations,
    )
    _write(
        folder / "readouts.csv",
        ["isolation_id", "analyte", "value", "unit", "assay", "run_id", "measured_on", "replicate"],
        readouts,
    )
    for kind in ("subjects", "samples", "isolations", "readouts"):
        _exolab(db, "import", kind, str(folder / f"{kind}.csv"))
    return db


def _median_seconds(db: Path, fmt: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        _exolab(db, "patient", "BENCH", "S1", "--format", fmt)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--readouts", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = build(Path(tmp), args.readouts)
        out = _exolab(db, "patient", "BENCH", "S1", "--format", "csv").stdout
        print(f"subject S1: {out.count(chr(10)) - 1} readout rows")
        table = _median_seconds(db, "table", args.runs)
        print(f"exolab patient --format table: {table:.3f} s (median of {args.runs})")
        for fmt in ("json", "csv"):
            t = _median_seconds(db, fmt, args.runs)
            print(f"exolab patient --format {fmt}: {t:.3f} s, {t - table:+.3f} s over table")


if __name__ == "__main__":
    main()
