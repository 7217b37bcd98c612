"""The benchmarks of bulk imports and outputs (benchmarks/README.md) still run: each is run at a
tiny size on SQLite and PostgreSQL and must finish and print its ratio lines. Nothing is timed
here (a benchmark's figures are read by hand, on an idle machine, at its full size)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import pg_url

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# (script, arguments, backend, what each line of its report starts with or holds)
RUNS = [
    ("bench_import.py", ["--rows", "600", "--backend", "sqlite"], "sqlite", ["whole command"]),
    (
        "bench_import.py",
        ["--rows", "600", "--backend", "postgresql"],
        "postgresql",
        ["postgresql rows="],
    ),
    (
        "bench_import_samples.py",
        ["--samples", "120"],
        "sqlite",
        ["subjects (bulk)", "cell sources (bulk)", "samples (bulk)", "isolations (bulk)"],
    ),
    (
        "bench_import_samples.py",
        ["--samples", "120", "--backend", "postgresql"],
        "postgresql",
        ["samples (postgresql)", "isolations (postgresql)"],
    ),
    (
        "bench_import_update.py",
        ["--samples", "60"],
        "sqlite",
        ["full rows", "location moves", "status + notes", "isolation volumes"],
    ),
    (
        "bench_import_update.py",
        ["--samples", "60", "--backend", "postgresql"],
        "postgresql",
        ["full rows", "location moves"],
    ),
    (
        "bench_import_update.py",
        ["--kind", "readouts", "--readouts", "300"],
        "sqlite",
        ["readouts qc=fail", "readouts values"],
    ),
    (
        "bench_import_update.py",
        ["--kind", "readouts", "--readouts", "300", "--backend", "postgresql"],
        "postgresql",
        ["readouts qc=fail", "readouts values"],
    ),
    ("bench_output.py", ["--readouts", "120", "--runs", "1"], "sqlite", ["over table"]),
    (
        "bench_record_work.py",
        ["--rows", "120", "--runs", "1"],
        "sqlite",
        ["reading + validation", "values: taken (writer)", "hand-off / validation"],
    ),
    (
        "bench_export_records.py",
        ["--records", "120", "--runs", "1", "--backend", "postgresql"],
        "postgresql",
        ["export samples", "export isolations"],
    ),
]


@pytest.mark.parametrize(
    ("script", "args", "backend", "expected"),
    RUNS,
    ids=[
        f"{script[:-3]}{'-readouts' if 'readouts' in args[:2] else ''}-{backend}"
        for script, args, backend, _ in RUNS
    ],
)
def test_a_benchmark_runs_and_reports_its_ratios(
    script: str, args: list[str], backend: str, expected: list[str], tmp_path: Path
) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    if backend == "postgresql":
        url = pg_url()
        if url is None:
            pytest.skip("set EXOLAB_TEST_POSTGRES_URL to run the PostgreSQL benchmarks")
        env["EXOLAB_BENCH_POSTGRES_URL"] = url
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for what in expected:
        lines = [line for line in done.stdout.splitlines() if what in line]
        assert lines, f"{script} printed no line with {what!r}:\n{done.stdout}"
        assert all("ratio" in line or "over table" in line for line in lines), lines
