"""The readouts import's writer thread (services/readout_write.py): chunks are written while
the next ones are validated, inside the import's one transaction. Whatever goes wrong, and
wherever (a late row, the writer's own statement, a killed process), nothing is left behind,
the user reads a plain message, and the command ends (docs/bulk-imports.md)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from exolab.io import bulk
from exolab.services import pg_load
from exolab.services.context import Lab
from exolab.services.readout_write import ReadoutStore
from tests.io.helpers import READOUTS, base_cohort, counts, write
from tests.queries.test_readout_sets import assert_sets_current
from tests.test_cli import run

# Nine good rows (five chunks of two), then a row with a problem.
ROWS = "".join(f"ISO-1,,CD63,{i}.5,pg/mL,elisa,R1,2024-03-05,{i},0.5,pass\n" for i in range(1, 10))
GOOD = READOUTS.splitlines(keepends=True)[0] + ROWS
LATE_PROBLEM = GOOD + "ISO-1,,CD63,7,pg/mL,elisa,R1,2024-03-05,0,0.5,pass\n"  # replicate 0


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "CHUNK_ROWS", 2)
    monkeypatch.setattr(pg_load, "CHUNK_ROWS", 2)


def cli_in_thread(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in-process, in a thread given a minute: a hung writer fails the test."""
    out: list[subprocess.CompletedProcess[str]] = []
    t = threading.Thread(target=lambda: out.append(run(*args)), daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the import hung"
    assert not [th for th in threading.enumerate() if th.name == "exolab-import"]
    return out[0]


def written_chunks(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The chunks the writer thread wrote (their rows on SQLite; PostgreSQL's arrive as
    encoded COPY data: None)."""
    chunks: list[int | None] = []
    original = ReadoutStore._write_rows

    def counting(self: ReadoutStore, contexts: list[Any], rows: list[Any]) -> None:
        original(self, contexts, rows)
        chunks.append(len(rows) if isinstance(rows, list) else None)

    monkeypatch.setattr(ReadoutStore, "_write_rows", counting)
    return chunks


def test_a_late_problem_leaves_nothing(
    lab: Lab, db_url: str, tmp_path: Path, tiny_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_cohort(lab, tmp_path)
    chunks = written_chunks(monkeypatch)
    path = write(tmp_path, "late.csv", LATE_PROBLEM)
    r = cli_in_thread("--db", db_url, "import", "readouts", str(path))
    assert r.returncode == 1
    assert len(chunks) == 4 and set(chunks) <= {2, None}  # written before the problem
    assert "late.csv:11:replicate:" in r.stderr
    assert "nothing was imported" in r.stderr and "Traceback" not in r.stderr
    assert counts(lab)[2] == 0
    assert assert_sets_current(lab) == 0


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            sqlite3.OperationalError("disk I/O error"),
            "the database refused the readouts of rows 6-7 (written together): disk I/O error",
        ),
        (
            sqlite3.OperationalError("database is locked"),
            "the database is busy with another writer",
        ),
    ],
)
def test_an_error_in_the_writer_is_a_plain_message(
    lab: Lab,
    db_url: str,
    tmp_path: Path,
    tiny_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    message: str,
) -> None:
    """The writer's third chunk fails; the validating thread hears of it at its next chunk,
    the transaction is rolled back, and the command says so in plain words."""
    base_cohort(lab, tmp_path)
    original = ReadoutStore._write_rows
    calls: list[int] = []

    def failing(self: ReadoutStore, contexts: list[Any], rows: list[Any]) -> None:
        calls.append(len(rows))
        if len(calls) == 3:
            raise error
        original(self, contexts, rows)

    monkeypatch.setattr(ReadoutStore, "_write_rows", failing)
    path = write(tmp_path, "good.csv", GOOD)
    r = cli_in_thread("--db", db_url, "import", "readouts", str(path))
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr
    assert "sqlite3" not in r.stderr and "INSERT" not in r.stderr
    assert counts(lab)[2] == 0
    assert assert_sets_current(lab) == 0
    # and the same file imports whole afterwards
    monkeypatch.setattr(ReadoutStore, "_write_rows", original)
    assert cli_in_thread("--db", db_url, "import", "readouts", str(path)).returncode == 0
    assert counts(lab)[2] == 9


def test_dry_run_and_errors_file_with_written_chunks(
    lab: Lab, db_url: str, tmp_path: Path, tiny_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--dry-run hands nothing to the writer and reports the counts; --errors gets the late
    problem; neither leaves a readout."""
    base_cohort(lab, tmp_path)
    chunks = written_chunks(monkeypatch)
    good = write(tmp_path, "good.csv", GOOD)
    r = cli_in_thread("--db", db_url, "import", "readouts", str(good), "--dry-run")
    assert r.returncode == 0 and "would be 9 created" in r.stdout
    assert chunks == [] and counts(lab)[2] == 0
    bad = write(tmp_path, "late.csv", LATE_PROBLEM)
    errors = tmp_path / "errors.txt"
    r = cli_in_thread("--db", db_url, "import", "readouts", str(bad), "--errors", str(errors))
    assert r.returncode == 1 and f"all problems are in {errors}" in r.stderr
    assert "11,replicate,0,must be at least 1" in errors.read_text(encoding="utf-8")
    assert len(chunks) == 4 and set(chunks) <= {2, None}  # written, then rolled back
    assert counts(lab)[2] == 0


KILLER = r"""
import os, signal, sys
from exolab.io import bulk
from exolab.services import pg_load
from exolab.services.readout_write import ReadoutStore
bulk.CHUNK_ROWS = pg_load.CHUNK_ROWS = 2
original = ReadoutStore._write_rows
done = []
def write_then_die(self, contexts, rows):
    original(self, contexts, rows)
    done.append(1)
    if len(done) == 3:  # three chunks are in the database's transaction
        print("killing", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
ReadoutStore._write_rows = write_then_die
from exolab.cli import main
sys.exit(main(["--db", sys.argv[1], "import", "readouts", sys.argv[2]]))
"""


def test_killed_mid_import_leaves_nothing(lab: Lab, db_url: str, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    lab.db.dispose()
    path = write(tmp_path, "good.csv", GOOD)
    r = subprocess.run(
        [sys.executable, "-c", KILLER, db_url, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "EXOLAB_USER": "tester"},
    )
    assert r.returncode == -9 and "killing" in r.stdout, r.stderr
    assert counts(lab)[2] == 0
    assert assert_sets_current(lab) == 0
    r2 = run("--db", db_url, "import", "readouts", str(path))
    assert r2.returncode == 0, r2.stderr
    assert counts(lab)[2] == 9
