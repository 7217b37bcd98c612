"""Who is working: the authenticated login, never a name typed on the command line.

SQLite: the operating-system account running exolab (from the process's user id, not from
``$USER``). PostgreSQL: the login the server authenticated (``session_user``). ``--user`` /
``EXOLAB_USER`` naming someone else is accepted only from a login that may act for others: an
active exolab admin, or the machine's superuser (SQLite: uid 0, who can rewrite the file
anyway) / a PostgreSQL superuser. Every audit event then records both names. The rule is
described in docs/security.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from exolab.db.engine import Database
from exolab.db.models import User
from exolab.services.errors import PermissionDenied
from exolab.settings import login_name as os_login


def os_is_superuser() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def database_login(dialect: str, session: Session) -> str:
    """The authenticated login of a session: PostgreSQL's ``session_user``, else the OS account."""
    if dialect == "postgresql":
        return str(session.execute(text("SELECT session_user")).scalar_one())
    return os_login()


def _login_is_superuser(dialect: str, session: Session, login: str) -> bool:
    if dialect == "postgresql":
        return bool(
            session.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = :n"), {"n": login}
            ).scalar()
        )
    return os_is_superuser()


def _login_is_admin(session: Session, login: str) -> bool:
    try:
        role = session.scalar(select(User.role).where(User.name == login, User.active.is_(True)))
    except SQLAlchemyError:  # no schema yet (a database `exolab init` is about to create)
        session.rollback()
        return False
    return role == "admin"


def _known_or_first(session: Session, name: str) -> bool:
    """``name`` is an active user, or the database has no users yet (its first admin)."""
    from sqlalchemy import func

    try:
        if (
            session.scalar(select(User.id).where(User.name == name, User.active.is_(True)))
            is not None
        ):
            return True
        return not session.scalar(select(func.count()).select_from(User))
    except SQLAlchemyError:  # no schema yet
        session.rollback()
        return True


@dataclass(frozen=True)
class Identity:
    user: str  # the exolab user the work is attributed to
    login: str  # who authenticated
    acting_for: bool  # an admin (or superuser) working as ``user``


def authenticate(
    db: Database,
    requested: str | None,
    *,
    login: str | None = None,
    superuser: bool | None = None,
) -> Identity:
    """The exolab user for this process.

    ``requested`` is ``--user``/``EXOLAB_USER`` (None when not given). ``login`` and
    ``superuser`` default to what the operating system or the server says; tests of the rule
    pass them, the command line never does.
    """
    with db.read() as session:
        who = login if login is not None else database_login(db.dialect, session)
        if not requested or requested == who:
            return Identity(who, who, False)
        privileged = (
            superuser if superuser is not None else _login_is_superuser(db.dialect, session, who)
        )
        if privileged or _login_is_admin(session, who):
            if _known_or_first(session, requested):
                return Identity(requested, who, True)
            raise PermissionDenied(
                f"no active exolab user '{requested}' to work for; "
                f"add it first (`exolab user add {requested} --role ROLE`)"
            )
    where = "database login" if db.dialect == "postgresql" else "operating-system account"
    raise PermissionDenied(
        f"you are '{who}' (your {where}); only an exolab admin may work as '{requested}' "
        "(drop --user / EXOLAB_USER to work as yourself)"
    )
