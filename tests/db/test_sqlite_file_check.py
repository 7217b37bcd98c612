"""The check that a --db path is an SQLite file (commands/common.refuse_non_sqlite_file) never
drops the locks this process's open connections hold on it. Opening and closing a second
descriptor of a database file releases every POSIX lock the process holds on that file; a
write made after that was lost (an in-process `user add` whose user was never stored)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from exolab.commands.common import refuse_non_sqlite_file
from exolab.services.errors import ExolabError


def test_the_check_keeps_the_locks_of_open_connections(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x)")
    writer.commit()
    reader = sqlite3.connect(db)
    reader.execute("SELECT * FROM t").fetchall()  # open: a shared lock on the file
    try:
        refuse_non_sqlite_file(db)
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0)\n"
                "try:\n    print(c.execute('PRAGMA journal_mode=DELETE').fetchone()[0])\n"
                "except sqlite3.OperationalError as e:\n    print(e)",
                str(db),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        # another process cannot take the file out of WAL mode while it is open here
        assert other.stdout.strip() == "database is locked"
    finally:
        reader.close()
        writer.close()


def test_a_file_of_another_kind_is_named(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("sample_id,biofluid\n" * 20)
    with pytest.raises(ExolabError, match="is not an SQLite database"):
        refuse_non_sqlite_file(text)
    with pytest.raises(ExolabError, match="is a directory"):
        refuse_non_sqlite_file(tmp_path)
    db = tmp_path / "ok.db"
    sqlite3.connect(db).close()
    refuse_non_sqlite_file(db)  # an empty file SQLite created is fine
