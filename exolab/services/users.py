"""Users and roles: viewer reads, technician records, admin also manages users and vocabularies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exolab.db.models import ROLES, User
from exolab.services.context import Actor, Tx
from exolab.services.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    role: str
    active: bool


def _check_role(role: str) -> str:
    r = role.strip().lower()
    if r not in ROLES:
        raise ValidationFailed(
            [FieldError("role", f"unknown role '{role}'; use {', '.join(ROLES)}")]
        )
    return r


def bootstrap_admin(session: Session, name: str) -> bool:
    """Make ``name`` admin when the database has no users yet (first ``exolab init``)."""
    if session.scalar(select(func.count()).select_from(User)):
        return False
    session.add(User(name=name, role="admin"))
    session.flush()
    return True


#: PostgreSQL cuts longer role names (NAMEDATALEN - 1); a user's login has its name, so the
#: same limit holds on SQLite too (a lab may move its database to PostgreSQL)
LOGIN_NAME_BYTES = 63


def add_user(
    tx: Tx, name: str, role: str, *, password: str | None = None, notes: list[str] | None = None
) -> UserOut:
    """Add an exolab user. On PostgreSQL also its LOGIN role in the role's group (a new login
    needs ``password``); see :mod:`exolab.services.pgroles` and docs/security.md."""
    tx.require_admin("add users")
    role = _check_role(role)
    name = name.strip()
    if not name:
        raise ValidationFailed([FieldError("name", "required")])
    control = next((c for c in name if ord(c) < 32 or 127 <= ord(c) < 160), None)
    if control is not None:
        # A name is a login and is printed in every listing: no line breaks, tabs or
        # terminal escapes (docs/security.md).
        raise ValidationFailed(
            [
                FieldError(
                    "name",
                    f"contains the control character U+{ord(control):04X}; a user name is a "
                    "login name",
                    name.encode("unicode_escape").decode(),
                )
            ]
        )
    if len(name.encode()) > LOGIN_NAME_BYTES:
        raise ValidationFailed(
            [
                FieldError(
                    "name",
                    f"at most {LOGIN_NAME_BYTES} characters (bytes in UTF-8): the longest "
                    "PostgreSQL login name",
                    name,
                )
            ]
        )
    if tx.session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"user '{name}' already exists; use `exolab user role {name} ROLE`")
    user = User(name=name, role=role)
    tx.session.add(user)
    tx.session.flush()
    _server_login(tx, name, role, password, notes)
    tx.audit("create", "user", name, new={"name": name, "role": role})
    return UserOut.model_validate(user)


def _server_login(
    tx: Tx, name: str, role: str, password: str | None, notes: list[str] | None
) -> None:
    if tx.dialect != "postgresql":
        return
    from exolab.services import pgroles

    conn = tx.session.connection()
    if not pgroles.may_manage_roles(conn):
        (notes if notes is not None else []).append(
            f"this login may not manage database roles: ask your database administrator to "
            f"create login '{name}' in {pgroles.GROUPS[role]} (docs/security.md)"
        )
        return
    if password is None and not pgroles.role_exists(conn, name):
        if notes is not None:
            notes.append(
                f"no database login created for '{name}' (no password given): "
                f"run `exolab user login {name} --password-file FILE`"
            )
        return
    added = pgroles.create_or_grant_login(conn, name, role, password)
    if notes is not None:
        notes.extend(added)


def set_role(
    tx: Tx, name: str, role: str, reason: str | None = None, notes: list[str] | None = None
) -> UserOut:
    tx.require_admin("change roles")
    role = _check_role(role)
    user = tx.session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user '{name}'")
    old = user.role
    if old == "admin" and role != "admin" and user.active:
        admins = tx.session.scalar(
            select(func.count()).select_from(User).where(User.role == "admin", User.active)
        )
        if (admins or 0) <= 1:
            raise Conflict(
                f"'{name}' is the only active admin: without one nobody could manage users, "
                "roles or restores again; make another user admin first"
            )
    user.role = role
    tx.session.flush()
    if tx.dialect == "postgresql":
        from exolab.services import pgroles

        if pgroles.role_exists(tx.session.connection(), name):
            _server_login(tx, name, role, None, notes)
    tx.audit("update", "user", name, old={"role": old}, new={"role": role}, reason=reason)
    return UserOut.model_validate(user)


def set_login(tx: Tx, name: str, password: str | None) -> list[str]:
    """PostgreSQL: create (or give a new password to) the LOGIN role of an exolab user, in
    exactly the group of the user's role."""
    tx.require_admin("manage logins")
    user = tx.session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user '{name}'")
    if tx.dialect != "postgresql":
        raise ValidationFailed(
            [FieldError("database", "SQLite users are operating-system accounts; no logins")]
        )
    from exolab.services import pgroles

    conn = tx.session.connection()
    if not pgroles.may_manage_roles(conn):
        raise PermissionDenied(
            f"login '{tx.actor.login}' may not manage database roles (needs CREATEROLE)"
        )
    if password is None and not pgroles.role_exists(conn, name):
        raise ValidationFailed([FieldError("password", f"login '{name}' is new: give one")])
    notes = pgroles.create_or_grant_login(conn, name, user.role, password)
    tx.audit(
        "update",
        "user",
        name,
        new={"login": name, "password_changed": password is not None},
    )
    return notes


def list_users(tx: Tx) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in tx.session.scalars(select(User).order_by(User.name))]


def whoami(tx: Tx) -> Actor:
    return tx.actor
