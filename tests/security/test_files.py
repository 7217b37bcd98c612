"""Files exolab writes are private (0600, folders 0700), created exclusively, never through a
planted symlink; the PostgreSQL password never reaches a command line."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exolab.cli import main
from exolab.io.export import run_export
from exolab.services import integrity, subjects
from exolab.services.context import Lab
from exolab.services.safe_files import temp_name


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the common default that made every file 0644
    yield
    os.umask(old)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old = os.umask(0o022)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--user", "tester", *argv])
    finally:
        os.umask(old)
    return code, out.getvalue(), err.getvalue()


def test_new_database_folder_wal_and_backup_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "labdata" / "nested"
    db = folder / "lab.db"
    code, _, err = run("--db", str(db), "init")
    assert code == 0, err
    assert mode(db) == 0o600
    assert mode(folder) == 0o700 and mode(folder.parent) == 0o700
    assert run("--db", str(db), "user", "add", "vera", "--role", "viewer")[0] == 0
    for suffix in ("-wal", "-shm"):
        side = Path(str(db) + suffix)
        if side.exists():
            assert mode(side) == 0o600, suffix
    code, _, err = run("--db", str(db), "db", "backup", str(tmp_path / "bk" / "copy.db"))
    assert code == 0, err
    assert mode(tmp_path / "bk" / "copy.db") == 0o600
    assert mode(tmp_path / "bk") == 0o700


def test_group_setting_shares_with_the_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXOLAB_FILE_GROUP", "1")
    db = tmp_path / "shared" / "lab.db"
    assert run("--db", str(db), "init")[0] == 0
    assert mode(db) == 0o660 and mode(db.parent) == 0o770


def test_warns_when_others_can_read_the_database(sqlite_url: str) -> None:
    path = Path(sqlite_url[len("sqlite:///") :])
    path.chmod(0o644)
    code, _, err = run("--db", sqlite_url, "user", "list")
    assert code == 0
    assert "warning:" in err and "can be read by every account" in err
    path.chmod(0o600)
    assert "warning" not in run("--db", sqlite_url, "user", "list")[2]


def test_export_and_manifest_are_private(lab: Lab, tmp_path: Path, loose_umask: None) -> None:
    with lab.write() as tx:
        subjects.create_subject(tx, {"study": "A", "subject_id": "S1"})
    out = tmp_path / "subjects.csv"
    result = run_export(lab, "subjects", str(out))
    assert result.manifest is not None
    assert mode(out) == 0o600 and mode(result.manifest) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_planted_symlinks_are_not_written_through(
    lab: Lab, tmp_path: Path, loose_umask: None
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "subjects.csv"
    # the old fixed temporary name, and the temporary name this very process will use
    (tmp_path / "subjects.csv.part").symlink_to(victim)
    temp_name(out).symlink_to(victim)
    run_export(lab, "subjects", str(out))
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and mode(out) == 0o600
    assert not temp_name(out).exists() and not temp_name(out).is_symlink()
    # an export target planted as a symlink is refused (docs/reliability.md), its target untouched
    out.unlink()
    out.symlink_to(victim)
    with pytest.raises(integrity.Conflict, match="symbolic link"):
        run_export(lab, "subjects", str(out))
    assert victim.read_text() == "precious\n"
    assert out.is_symlink()
    # a backup target planted as a symlink is refused, its target untouched
    (tmp_path / "copy.db").symlink_to(victim)
    with pytest.raises(integrity.Conflict, match="exists"):
        integrity.backup(lab, str(tmp_path / "copy.db"))
    assert victim.read_text() == "precious\n"


def test_backup_is_private_and_pg_dump_gets_no_password_on_its_command_line(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loose_umask: None
) -> None:
    seen: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def spy(argv: list[str], **kwargs: Any) -> Any:
        seen.append((list(argv), dict(kwargs.get("env") or {})))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(integrity.subprocess, "run", spy)
    target, anchor = integrity.backup(lab, str(tmp_path / "bk.dump"))
    assert mode(anchor) == 0o600 and anchor.name == "bk.dump.anchor.json"
    assert mode(target) == 0o600 and target.stat().st_size > 0
    if lab.db.dialect == "postgresql":
        password = lab.db.engine.url.password
        assert password and seen
        argv, env = seen[0]
        # pg_dump writes exolab's own temporary file, named after the target alone (the
        # test password "exolab" is part of that name); nothing else carries the password
        out = argv[argv.index("--file") + 1]
        assert out == str(temp_name(tmp_path / "bk.dump"))
        assert not any(password in a for a in argv if a != out)
        assert not any("://" in a or a.startswith(("--password", "-W")) for a in argv)
        assert env["PGPASSWORD"] == password


def test_standard_exports_are_private_and_never_written_through_a_symlink(
    lab: Lab, tmp_path: Path, loose_umask: None
) -> None:
    from exolab.io.standards_export import run_standard_export
    from tests.io.helpers import base_cohort

    base_cohort(lab, tmp_path, readouts=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "sdtm"
    out.mkdir()
    # the fixed temporary names the standard exports once used, and this process's own
    for name in ("LB.csv.part", "DM.csv.part"):
        (out / name).symlink_to(victim)
    temp_name(out / "LB.csv").symlink_to(victim)
    result = run_standard_export(lab, "sdtm", str(out), study="S1")
    assert result.rows > 0 and victim.read_text() == "precious\n"
    written = [p for p in out.iterdir() if not p.is_symlink()]
    assert {"LB.csv", "DM.csv"} <= {p.name for p in written}
    assert all(mode(p) == 0o600 for p in written)
    assert not [p for p in out.iterdir() if ".exolab-tmp-" in p.name]
    # a target planted as a symlink is refused, not written through
    (out / "LB.csv").unlink()
    (out / "LB.csv").symlink_to(victim)
    with pytest.raises(integrity.Conflict, match="symbolic link"):
        run_standard_export(lab, "sdtm", str(out), study="S1")
    assert victim.read_text() == "precious\n"
