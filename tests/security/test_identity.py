"""Identity: the authenticated login is the user; --user only for an admin acting for someone.

The rule (docs/security.md) is tested in process with the login passed to ``authenticate``, and
end to end on SQLite in a forked process that really runs as another operating-system account.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from exolab.cli import main
from exolab.db.engine import Database
from exolab.db.models import AuditEvent
from exolab.services import subjects, users
from exolab.services.audit import verify_chain
from exolab.services.context import Lab
from exolab.services.errors import PermissionDenied
from exolab.services.identity import authenticate
from exolab.settings import login_name


def _add(lab: Lab, **who: str) -> None:
    with lab.write() as tx:
        for name, role in who.items():
            users.add_user(tx, name, role)


def test_non_admin_login_cannot_name_someone_else(lab: Lab) -> None:
    _add(lab, tech1="technician")
    with pytest.raises(PermissionDenied, match="only an exolab admin may work as 'tester'"):
        authenticate(lab.db, "tester", login="tech1", superuser=False)
    with pytest.raises(PermissionDenied):  # unknown logins neither
        authenticate(lab.db, "tech1", login="mallory", superuser=False)


def test_login_is_the_user_without_user_option(lab: Lab) -> None:
    _add(lab, tech1="technician")
    who = authenticate(lab.db, None, login="tech1", superuser=False)
    assert (who.user, who.login, who.acting_for) == ("tech1", "tech1", False)
    who = authenticate(lab.db, "tech1", login="tech1", superuser=False)
    assert who.user == "tech1" and not who.acting_for


def test_admin_acting_for_someone_is_recorded_with_both_names(lab: Lab) -> None:
    _add(lab, tech1="technician", boss="admin")
    who = authenticate(lab.db, "tech1", login="boss", superuser=False)
    assert (who.user, who.login, who.acting_for) == ("tech1", "boss", True)
    acting = Lab(lab.db, who.user, login=who.login)
    with acting.write() as tx:
        assert tx.actor.role == "technician"  # the acted-for user's rights, not the admin's
        subjects.create_subject(tx, {"study": "A", "subject_id": "S1"})
    with lab.read() as tx:
        ev = tx.session.scalars(select(AuditEvent).where(AuditEvent.entity == "subject")).one()
        assert (ev.user_name, ev.login) == ("tech1", "boss")
        assert verify_chain(tx).ok


def test_login_is_part_of_the_hash(lab: Lab) -> None:
    _add(lab, tech1="technician")
    from sqlalchemy import text

    with lab.db.engine.begin() as c:
        if lab.db.dialect == "sqlite":
            c.execute(text("DROP TRIGGER audit_events_no_update"))
        else:
            c.execute(text("DROP TRIGGER audit_events_no_change ON audit_events"))
        c.execute(text("UPDATE audit_events SET login = 'someone' WHERE entity_id = 'tech1'"))
    with lab.read() as tx:
        result = verify_chain(tx)
    assert not result.ok and "changed after it was written" in result.message


def test_login_name_ignores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import pwd

    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("LOGNAME", "mallory")
    assert login_name() == pwd.getpwuid(os.geteuid()).pw_name != "mallory"


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def _run_as(uid: int, argv: list[str]) -> tuple[int, str]:
    """``exolab ARGV`` in a forked child that has dropped to ``uid`` (only root can)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            code, err = _run(argv)
            os.write(write_fd, err.encode())
        except BaseException as exc:  # report, never run the parent's test code
            os.write(write_fd, repr(exc).encode())
            code = 99
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX accounts")
def test_os_account_is_the_user_end_to_end(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's escalation: a technician typing an admin's name is refused (exit 3)."""
    import pwd

    if os.geteuid() == 0:  # CI runs as root: act as the unprivileged `nobody` account
        account = pwd.getpwnam("nobody")
        shared = Path("/tmp") / f"exolab-ident-{os.getpid()}-{tmp_path.name}"
        shared.mkdir(mode=0o700)
        db = shared / "lab.db"
        shutil.copyfile(sqlite_url[len("sqlite:///") :], db)
        os.chown(shared, account.pw_uid, account.pw_gid)
        os.chown(db, account.pw_uid, account.pw_gid)
        login = account.pw_name

        def as_login(argv: list[str]) -> tuple[int, str]:
            _run(["--db", str(db), "--user", "tester", "user", "list"])  # warm imports as root
            return _run_as(account.pw_uid, argv)
    else:  # a developer's own account, which the template database does not know
        db = Path(sqlite_url[len("sqlite:///") :])
        login = login_name()
        as_login = _run
    try:
        assert _run(["--db", str(db), "--user", "tester", "user", "add", login,
                     "--role", "technician"])[0] == 0  # fmt: skip
        with monkeypatch.context() as env:  # spoofing the environment changes nothing
            env.setenv("USER", "tester")
            env.setenv("LOGNAME", "tester")
            code, err = as_login(["--db", str(db), "--user", "tester", "user", "role",
                                  login, "admin"])  # fmt: skip
        assert code == 3, err
        assert f"you are '{login}'" in err
        code, err = as_login(["--db", str(db), "user", "role", login, "admin"])
        assert code == 3 and "technician" in err
        # made admin, the same login may act for someone; the audit keeps both names
        assert _run(["--db", str(db), "--user", "tester", "user", "role", login, "admin"])[0] == 0
        code, err = as_login(["--db", str(db), "--user", "tester", "user", "add", "zed",
                              "--role", "viewer"])  # fmt: skip
        assert code == 0, err
        db_ = Database(f"sqlite:///{db}")
        try:
            with Lab(db_, "tester").read() as tx:
                ev = tx.session.scalars(
                    select(AuditEvent).where(AuditEvent.entity_id == "zed")
                ).one()
                assert (ev.user_name, ev.login) == ("tester", login)
                assert verify_chain(tx).ok
        finally:
            db_.dispose()
    finally:
        if os.geteuid() == 0:
            shutil.rmtree(shared, ignore_errors=True)


def test_acting_for_an_unknown_user_is_refused(lab: Lab) -> None:
    """The issue's `exolab --user mallory export subjects`: no such exolab user, no access
    under that name - not even for an admin or the superuser."""
    with pytest.raises(PermissionDenied, match="no active exolab user 'mallory'"):
        authenticate(lab.db, "mallory", login="tester", superuser=False)
    with pytest.raises(PermissionDenied, match="no active exolab user 'mallory'"):
        authenticate(lab.db, "mallory", login="root", superuser=True)
    code, err = _run(["--db", str(lab.db.url), "--user", "mallory", "export", "subjects"])
    assert code == 3 and "mallory" in err
