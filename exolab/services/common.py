"""Small helpers shared by the record services."""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import inspect

from exolab.db.base import Base, utcnow
from exolab.domain.schemas import field_errors
from exolab.services.errors import FieldError, StaleRecord, ValidationFailed

M = TypeVar("M", bound=BaseModel)

# Values per IN (...) list of a lookup of many records (SQLite before 3.32 takes 999
# parameters per statement)
IN_LIST = 500


def validate(
    model: type[M], data: dict[str, Any] | M, *, changed: Collection[str] | None = None
) -> M:
    """Validate input into ``model``; errors become :class:`ValidationFailed` naming fields.
    ``changed``: for an edit (a stored record with changes over it), the columns it changes,
    which a rule across fields names rather than the stored one (ReadoutIn's limits)."""
    if isinstance(data, model):
        return data
    try:
        if changed is not None:
            return model.model_validate(data, context={"changed": frozenset(changed)})
        return model.model_validate(data)
    except ValidationError as exc:
        errors = []
        raw = data if isinstance(data, dict) else {}
        for field, msg in field_errors(exc):
            value = raw.get(field)
            errors.append(FieldError(field, msg, None if value is None else str(value)))
        raise ValidationFailed(errors) from None


def column_values(
    obj: Base, exclude: tuple[str, ...] = (), only: Collection[str] | None = None
) -> dict[str, Any]:
    """A record's stored columns (for the audit trail); ``only`` these, when given."""
    out: dict[str, Any] = {}
    for key in _column_keys(type(obj)):
        if key in exclude or (only is not None and key not in only):
            continue
        value = getattr(obj, key)
        if isinstance(value, datetime | date):
            value = value.isoformat()
        out[key] = value
    return out


@functools.cache
def _column_keys(cls: type) -> tuple[str, ...]:
    mapper: Any = inspect(cls)
    return tuple(attr.key for attr in mapper.column_attrs)


def diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in new if old.get(k) != new.get(k)]
    return {k: old.get(k) for k in keys}, {k: new[k] for k in keys}


def check_version(entity: str, key: str, current: int, expected: int | None) -> None:
    if expected is not None and current != expected:
        raise StaleRecord(
            f"{entity} {key} was changed by someone else since you opened it "
            f"(version {expected}, now {current}); reload it and apply your change again"
        )


def touch(obj: Any, user: str) -> None:
    obj.version = (obj.version or 0) + 1
    obj.updated_at = utcnow()


def audit_update(
    tx: Any,
    obj: Base,
    entity: str,
    key: str,
    before: dict[str, Any],
    *,
    reason: str | None,
    batch_id: int | None = None,
    extra: dict[str, Any] | None = None,
    events: list[Any] | None = None,
    only: Collection[str] | None = None,
) -> None:
    """After an edit: audit what changed on ``obj`` since ``before`` (its earlier
    :func:`column_values`, plus ``extra`` derived values) and bump its version. No change, no
    event. ``events``: the event is added to this list (an ``audit.EventSpec``), for the
    caller to flush the session and append them together (``audit.append_events``, chained
    as one-by-one appends chain them: an update import, docs/bulk-imports.md). ``only``: the
    columns the edit may have changed (``before`` holds just those)."""
    old, new = diff(before, column_values(obj, only=only) | (extra or {}))
    if new:
        touch(obj, tx.actor.name)
        if events is not None:
            events.append(("update", entity, key, old, new, reason, batch_id))
            return
        tx.session.flush()
        tx.audit("update", entity, key, old=old, new=new, reason=reason, batch_id=batch_id)


def require_reason(reason: str | None, what: str) -> str:
    if not reason or not reason.strip():
        raise ValidationFailed([FieldError("reason", f"a reason is required to {what}")])
    return reason.strip()


def duplicate_key(key: tuple[Any, ...], first: int) -> str:
    """The problem of a record's row whose key an earlier row of the file has: every import
    path says it so."""
    return f"duplicate key {'/'.join(str(k) for k in key)}: also on row {first}"
