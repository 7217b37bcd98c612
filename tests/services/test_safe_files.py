"""Backups and exports appear under their name only complete and verified (docs/reliability.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from exolab.io.export import run_export
from exolab.services import integrity
from exolab.services.context import Lab
from exolab.services.errors import Conflict, ExolabError, ValidationFailed
from tests.io.helpers import base_cohort
from tests.test_cli import run

KILLED_BACKUP = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from exolab.db.engine import Database
    from exolab.services import integrity
    from exolab.services.context import Lab

    real = integrity.publish
    def slow_publish(tmp, verify=None):
        Path(sys.argv[3]).write_text(str(tmp.temp))  # the copy is written: now kill me
        time.sleep(120)
        return real(tmp, verify)
    integrity.publish = slow_publish
    integrity.backup(Lab(Database(sys.argv[1]), "tester"), sys.argv[2])
    """
)


def _leftovers(directory: Path, keep: Path | None = None) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p != keep)


def test_killed_backup_leaves_nothing_under_the_name_and_a_retry_works(
    lab: Lab, db_url: str, tmp_path: Path
) -> None:
    base_cohort(lab, tmp_path)
    out_dir = tmp_path / "backups"
    out_dir.mkdir()
    target = out_dir / "lab.bak"
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_BACKUP, db_url, str(target), str(marker)],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        temp = Path(marker.read_text())
        assert temp.exists() and temp.parent == out_dir
        assert temp.stat().st_mode & 0o777 == 0o600
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not target.exists()  # the final name never held the unfinished copy
    r = run("--db", db_url, "db", "backup", str(target))
    assert r.returncode == 0, r.stderr
    # the stale temp is gone; beside the copy only its audit anchor, written after it
    assert target.exists() and _leftovers(out_dir, target) == ["lab.bak.anchor.json"]


def test_a_backup_that_fails_verification_is_not_kept(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path) -> None:
        raise ExolabError("the backup failed its integrity check; nothing was kept")

    monkeypatch.setattr(integrity, "verify_sqlite_backup", broken)
    monkeypatch.setattr(integrity, "verify_pg_backup", broken)
    target = tmp_path / "out" / "lab.bak"
    with pytest.raises(ExolabError, match="nothing was kept"):
        integrity.backup(lab, target)
    assert _leftovers(target.parent) == []


def test_a_corrupt_sqlite_copy_fails_verification(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    with pytest.raises(ExolabError, match="nothing was kept"):
        integrity.verify_sqlite_backup(bad)


def test_backup_never_follows_a_symlink(lab: Lab, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "lab.bak"
    link.symlink_to(victim)
    with pytest.raises(Conflict, match="symbolic link"):
        integrity.backup(lab, link)
    assert victim.read_text() == "keep me"


def test_export_to_a_directory_is_refused_and_leaves_no_part(lab: Lab, tmp_path: Path) -> None:
    base_cohort(lab, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValidationFailed, match="is a directory"):
        run_export(lab, "samples", str(out))
    assert _leftovers(out) == [] and not (tmp_path / "out.part").exists()
    assert not [p for p in tmp_path.rglob("*") if "part" in p.name or "tmp" in p.name]


def test_export_that_fails_half_way_keeps_the_old_file(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exolab.io import export

    base_cohort(lab, tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "samples.csv"
    target.write_text("old\n")

    def failing_rows(tx: object) -> object:
        yield from export.ITERATORS["subjects"](tx)  # type: ignore[operator]
        raise OSError("disk full")

    monkeypatch.setitem(export.ITERATORS, "samples", failing_rows)
    with pytest.raises(OSError):
        run_export(lab, "samples", str(target))
    assert target.read_text() == "old\n"
    assert _leftovers(out_dir) == ["samples.csv"]
    monkeypatch.undo()
    result = run_export(lab, "samples", str(target))
    assert result.rows == 3 and target.read_text().count("\n") == 4
    assert _leftovers(out_dir) == ["samples.csv", "samples.csv.manifest.json"]
