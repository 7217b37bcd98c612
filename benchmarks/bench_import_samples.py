"""Benchmark: importing N samples (default 5,000) row by row, against the raw SQLite floor.

The readout import has a bulk path (bench_import.py); subjects, samples and isolations are
imported row by row through the service layer (each row: the SampleIn rules, subject and visit
resolved or created, the storage position checked, SPREC derived, an audit event). This prints
how far that path is from the raw floor — stdlib ``csv`` + ``sqlite3.executemany`` of the same
rows into a table with a unique index on sample_id — so the gap stays visible.

    python benchmarks/bench_import_samples.py [--samples N]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from exolab.io.importer import kind_of

sys.path.insert(0, str(Path(__file__).parent))
from bench_import import raw_sqlite

COLUMNS = kind_of("samples").columns
VISITS = 4


def make_files(d: Path, n: int) -> tuple[Path, Path]:
    subjects, samples = d / "subjects.csv", d / "samples.csv"
    n_subj = max(1, n // VISITS)
    with subjects.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["study", "subject_id", "group"])
        for i in range(n_subj):
            w.writerow(["BENCH", f"S{i:06d}", "case" if i % 2 else "control"])
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
    return subjects, samples


def exolab(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "exolab", *args], check=True, capture_output=True, text=True
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5_000)
    n = ap.parse_args().samples
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        subjects, samples = make_files(d, n)
        db = str(d / "bench.db")
        exolab("--db", db, "--user", "bench", "init")
        exolab("--db", db, "--user", "bench", "import", "subjects", str(subjects))
        raw_s = raw_sqlite(samples, d / "raw.db", COLUMNS, ("sample_id",))
        t = time.perf_counter()
        exolab(
            "--db", db, "--user", "bench", "import", "samples", str(samples), "--create-locations"
        )
        ours = time.perf_counter() - t
        print(
            f"samples={n:,}  raw {n / raw_s:10,.0f} rows/s ({raw_s:6.2f} s)  "
            f"exolab {n / ours:8,.0f} rows/s ({ours:6.2f} s, incl. CLI start)  "
            f"ratio {raw_s / ours:.4f}  ({1000 * ours / n:.1f} ms a sample)"
        )


if __name__ == "__main__":
    main()
