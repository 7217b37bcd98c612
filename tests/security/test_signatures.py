"""Electronic signatures: personal (no acting for someone), password re-entered on
PostgreSQL, recorded in the audit chain with signer, meaning and time."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from sqlalchemy import select

from exolab.cli import main
from exolab.db.engine import Database
from exolab.db.models import AuditEvent
from exolab.services import users
from exolab.services.audit import verify_chain
from exolab.services.context import Lab
from exolab.settings import login_name
from tests.io.helpers import base_cohort
from tests.security.test_pg_roles import Login, login, pg_db  # noqa: F401  (fixtures)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def sign_events(url: str) -> list[tuple[str, str, str | None, str | None]]:
    db = Database(url)
    try:
        with Lab(db, "tester").read() as tx:
            rows = tx.session.scalars(select(AuditEvent).where(AuditEvent.action == "sign"))
            out = [(e.entity_id, e.user_name, e.login, e.new_values) for e in rows]
            assert verify_chain(tx).ok
    finally:
        db.dispose()
    return out


def test_sign_on_sqlite_is_personal(sqlite_url: str, tmp_path: Path) -> None:
    me = login_name()
    db = Database(sqlite_url)
    lab = Lab(db, "tester")
    base_cohort(lab, tmp_path)
    with lab.write() as tx:
        users.add_user(tx, me, "technician")
    db.dispose()
    code, out, err = run("--db", sqlite_url, "sign", "isolation", "ISO-1", "--meaning", "approved")
    assert code == 0, err
    assert f"approved by {me}" in out
    [(entity_id, user, who, new)] = sign_events(sqlite_url)
    assert (entity_id, user, who) == ("ISO-1", me, me)
    assert new is not None and '"meaning":"approved"' in new and "signed_at" in new
    code, out, _ = run("--db", sqlite_url, "sign", "isolation", "ISO-1", "--meaning",
                       "approved", "--list")  # fmt: skip
    assert code == 0 and f"approved  {me}" in out
    # an admin (or root) acting for someone cannot sign in their name
    code, _, err = run("--db", sqlite_url, "--user", "tester", "sign", "isolation", "ISO-2",
                       "--meaning", "reviewed")  # fmt: skip
    assert code == 3 and "personal" in err
    code, _, err = run("--db", sqlite_url, "sign", "isolation", "NOPE", "--meaning", "reviewed")
    assert code == 1 and "no isolation 'NOPE'" in err
    assert len(sign_events(sqlite_url)) == 1


def test_sign_on_postgresql_needs_the_password(
    login: Login,  # noqa: F811
    pg_db: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    db = Database(pg_db)
    base_cohort(Lab(db, "tester"), tmp_path)
    db.dispose()
    name, url = login("technician")
    from sqlalchemy.engine import make_url

    right = tmp_path / "right.pw"
    right.write_text(str(make_url(url).password) + "\n")
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-my-password\n")
    code, _, err = run("--db", url, "sign", "isolation", "ISO-1", "--meaning", "reviewed",
                       "--password-file", str(wrong))  # fmt: skip
    assert code == 3 and "password was not accepted" in err
    assert sign_events(pg_db) == []
    code, _, err = run("--db", url, "sign", "isolation", "ISO-1", "--meaning", "reviewed",
                       "--password-file", str(right))  # fmt: skip
    assert code == 0, err
    [(entity_id, user, who, _new)] = sign_events(pg_db)
    assert (entity_id, user, who) == ("ISO-1", name, name)
