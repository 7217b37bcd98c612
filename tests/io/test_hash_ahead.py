"""The file checksum an import records, computed ahead in a thread (exolab/io/reading.py,
hash_ahead): the same digest as reading the file, and never a stale one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import select

from exolab.cli import main
from exolab.db.engine import Database
from exolab.db.models import ImportBatch
from exolab.io import reading
from exolab.io.reading import file_sha256, hash_ahead


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_digest_computed_ahead_is_the_files(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    data = b"isolation_id,analyte,value\n" + b"ISO-1,CD9,1.5\n" * 300_000  # several blocks
    f.write_bytes(data)
    hash_ahead(f)
    assert file_sha256(f) == _digest(data)
    assert not reading._AHEAD  # taken once


def test_file_changed_after_hashing_started_is_read_again(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_bytes(b"a,b\n1,2\n")
    hash_ahead(f)
    st = f.stat()
    f.write_bytes(b"a,b\n1,3\n")  # same size, other bytes
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert file_sha256(f) == _digest(b"a,b\n1,3\n")


def test_missing_file_and_folder_are_left_to_the_reader(tmp_path: Path) -> None:
    hash_ahead(tmp_path / "nope.csv")
    hash_ahead(tmp_path)
    assert not reading._AHEAD
    late = tmp_path / "nope.csv"
    late.write_bytes(b"x\n")
    assert file_sha256(late) == _digest(b"x\n")


def test_import_command_records_the_files_checksum(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    assert main(["--db", str(db), "--user", "alice", "init"]) == 0
    f = tmp_path / "subjects.csv"
    data = b"study,subject_id,sex\nS1,P-1,F\nS1,P-2,M\n"
    f.write_bytes(data)
    assert main(["--db", str(db), "--user", "alice", "import", "subjects", str(f)]) == 0
    database = Database(f"sqlite:///{db}")
    with database.read() as session:
        assert session.scalars(select(ImportBatch.sha256)).all() == [_digest(data)]
    database.dispose()
