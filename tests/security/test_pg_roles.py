"""PostgreSQL enforces exolab's roles itself: real, non-superuser logins connect with plain
psycopg (as psql would) and through exolab. Login roles are cluster-wide: unique names, dropped
after each test."""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from exolab.cli import main
from exolab.db.engine import Database
from exolab.db.models import AuditEvent
from exolab.services.context import Lab
from tests.conftest import _fresh_pg, pg_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_db(_templates: dict[str, str]) -> Iterator[str]:
    if not pg_url():
        pytest.skip("PostgreSQL tests need EXOLAB_TEST_POSTGRES_URL")
    yield from _fresh_pg(_templates)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


Login = Callable[[str], tuple[str, str]]


@pytest.fixture
def login(pg_db: str, tmp_path: Path) -> Iterator[Login]:
    """``login(role)`` makes an exolab user with its own database login through
    `exolab user add --password-file` (run by the superuser as admin 'tester');
    returns (name, URL connecting as it)."""
    made: list[str] = []

    def make(role: str) -> tuple[str, str]:
        name = f"exo_{role[:4]}_{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        pw_file = tmp_path / f"{name}.pw"
        pw_file.write_text(password + "\n")
        code, _, err = run(
            "--db", pg_db, "--user", "tester", "user", "add", name,
            "--role", role, "--password-file", str(pw_file),
        )  # fmt: skip
        assert code == 0, err
        made.append(name)
        url = make_url(pg_db).set(username=name, password=password)
        return name, url.render_as_string(hide_password=False)

    yield make
    admin = create_engine(make_url(pg_db), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for name in made:
            c.execute(text(f'DROP OWNED BY "{name}"'))
            c.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
    admin.dispose()


def psql(url: str) -> psycopg.Connection:
    """A plain driver connection, as psql would open."""
    u = make_url(url)
    return psycopg.connect(
        host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
        autocommit=True,
    )  # fmt: skip


def test_viewer_login_cannot_write_even_with_plain_sql(login: Login) -> None:
    _, url = login("viewer")
    with psql(url) as conn:
        assert conn.execute("SELECT count(*) FROM subjects").fetchone() is not None
        for sql in (
            "INSERT INTO studies (code, version) VALUES ('X', 1)",
            "UPDATE subjects SET notes = 'x'",
            "DELETE FROM samples",
            "UPDATE users SET role = 'admin'",
            "INSERT INTO audit_events (at, user_name, action, entity, entity_id, prev_hash, hash)"
            " VALUES ('t', 'v', 'a', 'e', 'i', 'p', 'h')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)


def test_technician_cannot_make_itself_admin(login: Login, pg_db: str) -> None:
    name, url = login("technician")
    # through exolab: as itself, and by typing an admin's name
    code, _, err = run("--db", url, "user", "role", name, "admin")
    assert code == 3 and "technician" in err
    code, _, err = run("--db", url, "--user", "tester", "user", "role", name, "admin")
    assert code == 3 and f"you are '{name}'" in err
    # through SQL
    with psql(url) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE users SET role = 'admin' WHERE name = %s", (name,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f'GRANT exolab_admin TO "{name}"')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE analytes SET name = 'x'")
        # but it records data
        conn.execute("INSERT INTO studies (code, version, created_at) VALUES ('TECH', 1, now())")
    with psql(pg_db) as conn:
        row = conn.execute("SELECT role FROM users WHERE name = %s", (name,)).fetchone()
    assert row == ("technician",)


def test_no_exolab_role_can_change_audit_rows(login: Login) -> None:
    for role in ("viewer", "technician", "admin"):
        _, url = login(role)
        with psql(url) as conn:
            for sql in (
                "UPDATE audit_events SET user_name = 'mallory'",
                "DELETE FROM audit_events",
                "TRUNCATE audit_events",
                "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change",
                "DROP TRIGGER audit_events_no_change ON audit_events",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(sql)


def test_audit_records_the_login(login: Login, pg_db: str) -> None:
    tech, tech_url = login("technician")
    boss, boss_url = login("admin")
    code, _, err = run("--db", tech_url, "user", "list")  # any --user-less command works
    assert code == 0, err
    # the technician works as itself; the admin acts for the technician
    for url, extra in ((tech_url, []), (boss_url, ["--user", tech])):
        db = Database(url)
        try:
            from exolab.services.identity import authenticate

            who = authenticate(db, extra[1] if extra else None)
            lab = Lab(db, who.user, login=who.login)
            from exolab.services import subjects

            with lab.write() as tx:
                subjects.create_subject(tx, {"study": "A", "subject_id": f"S-{who.login}"})
        finally:
            db.dispose()
    db = Database(pg_db)
    try:
        with Lab(db, "tester").read() as tx:
            got = {
                (e.entity_id, e.user_name, e.login)
                for e in tx.session.scalars(
                    select(AuditEvent).where(AuditEvent.entity == "subject")
                )
            }
    finally:
        db.dispose()
    assert got == {(f"A/S-{tech}", tech, tech), (f"A/S-{boss}", tech, boss)}


def test_admin_login_adds_a_technician_and_grant_check(login: Login, pg_db: str,
                                                        tmp_path: Path) -> None:  # fmt: skip
    boss, boss_url = login("admin")
    pw = tmp_path / "new.pw"
    pw.write_text("s3cret-" + uuid.uuid4().hex + "\n")
    new = f"exo_new_{uuid.uuid4().hex[:8]}"
    try:
        code, _, err = run(
            "--db", boss_url, "user", "add", new, "--role", "technician",
            "--password-file", str(pw),
        )  # fmt: skip
        assert code == 0, err
        url = make_url(pg_db).set(username=new, password=pw.read_text().strip())
        with psql(url.render_as_string(hide_password=False)) as conn:
            assert conn.execute("SELECT session_user").fetchone() == (new,)
        # the fixture's admin 'tester' has no login: that is drift, and named
        code, _, err = run("--db", pg_db, "--user", "tester", "db", "grant-check")
        assert code == 1 and "tester" in err and new not in err and boss not in err
        with psql(pg_db) as conn:  # someone grants admin behind exolab's back
            conn.execute(f'GRANT exolab_admin TO "{new}"')
            conn.execute("GRANT UPDATE ON audit_events TO exolab_technician")
        code, _, err = run("--db", pg_db, "--user", "tester", "db", "grant-check")
        assert f"drift: {new}: exolab role technician" in err
        assert "drift: exolab_technician: may UPDATE audit_events" in err
        # `exolab db upgrade` by the owner puts the table grants back
        assert run("--db", pg_db, "--user", "tester", "db", "upgrade")[0] == 0
        code, _, err = run("--db", pg_db, "--user", "tester", "db", "grant-check")
        assert "may UPDATE audit_events" not in err
    finally:
        admin = create_engine(make_url(pg_db), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP ROLE IF EXISTS "{new}"'))
        admin.dispose()


@pytest.mark.parametrize("option", ["--password", "--passw", "--password=hunter2"])
def test_password_is_never_an_option(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Not even as an abbreviation argparse would stretch to --password-file."""
    for command in (["user", "add", "x", "--role", "viewer"], ["user", "login", "x"]):
        with pytest.raises(SystemExit) as e:
            main([*command, option, "hunter2"])
        assert e.value.code == 2
    assert "hunter2" not in capsys.readouterr().out


def test_direct_edits_without_an_audit_event_are_found(login: Login, pg_db: str) -> None:
    """The issue's last audit finding: edits made straight in the data tables."""
    tech, url = login("technician")
    db = Database(url)
    try:
        from exolab.services import subjects
        from exolab.services.identity import authenticate

        who = authenticate(db, None)
        with Lab(db, who.user, login=who.login).write() as tx:  # through exolab: audited
            subjects.create_subject(tx, {"study": "A", "subject_id": "S1"})
    finally:
        db.dispose()
    code, out, err = run("--db", pg_db, "--user", "tester", "db", "check")
    assert code == 0, err
    assert "every data change by an exolab login has an audit event" in out
    with psql(url) as conn:  # the same technician, straight in SQL
        conn.execute("UPDATE subjects SET notes = 'edited behind exolab'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM data_changes")
    code, _, err = run("--db", pg_db, "--user", "tester", "db", "check")
    assert code == 1
    assert f"login {tech} changed data without an audit event" in err
    assert "UPDATE subjects" in err
