"""Users and roles: viewer reads, technician records, admin also manages users and vocabularies."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exolab.db.models import ROLES, User
from exolab.services.context import Actor, Tx
from exolab.services.errors import Conflict, FieldError, NotFound, ValidationFailed


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


def add_user(tx: Tx, name: str, role: str) -> UserOut:
    tx.require_admin("add users")
    role = _check_role(role)
    name = name.strip()
    if not name:
        raise ValidationFailed([FieldError("name", "required")])
    if tx.session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"user '{name}' already exists; use `exolab user role {name} ROLE`")
    user = User(name=name, role=role)
    tx.session.add(user)
    tx.session.flush()
    tx.audit("create", "user", name, new={"name": name, "role": role})
    return UserOut.model_validate(user)


def set_role(tx: Tx, name: str, role: str, reason: str | None = None) -> UserOut:
    tx.require_admin("change roles")
    role = _check_role(role)
    user = tx.session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user '{name}'")
    old = user.role
    user.role = role
    tx.audit("update", "user", name, old={"role": old}, new={"role": role}, reason=reason)
    return UserOut.model_validate(user)


def list_users(tx: Tx) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in tx.session.scalars(select(User).order_by(User.name))]


def whoami(tx: Tx) -> Actor:
    return tx.actor
