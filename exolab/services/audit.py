"""The append-only, hash-chained audit trail.

Each event's hash covers the previous event's hash and the event's canonical JSON, so changing,
removing or reordering any stored event breaks the chain from that event on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import insert, select, text

from exolab.db.models import AuditEvent
from exolab.domain.schemas import control_character
from exolab.services.errors import FieldError, ValidationFailed

if TYPE_CHECKING:  # (the context imports this module to append events: no cycle at runtime)
    from exolab.services.context import Tx

GENESIS = "0" * 64
# tx.memo key: the tubes lifecycle.note_status_history found with no status change since
# their registration; an event naming one forgets it (forget_status_history)
STATUS_UNCHANGED = "status_unchanged"
_INSERT_EVENT = insert(AuditEvent).returning(AuditEvent.id)  # built once: appends are a hot path
AUDIT_LOCK_KEY = 7_130_001  # PostgreSQL advisory lock serialising appends (= WRITE_LOCK_KEY)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


_TEXT = json.encoder.encode_basestring  # what json.dumps(..., ensure_ascii=False) writes
_FLOAT_REPR = float.__repr__  # what json writes for a finite float


def _flat_json(value: dict[str, Any]) -> str | None:
    """The canonical JSON text (sorted keys, no spaces, no ASCII escaping) of a dict whose
    keys are text and whose values are text, whole or finite numbers, booleans or None,
    written field by field: the same text as ``json.dumps`` without its walk (every event's
    fields, and the bulk import's many small old/new values such as a volume taken). None
    for any other dict."""
    parts = []
    for key in sorted(value):
        if type(key) is not str:
            return None
        v = value[key]
        t = type(v)
        if v is None:
            text = "null"
        elif t is str:
            text = _TEXT(v)
        elif t is float and v - v == 0.0:  # (finite)
            text = _FLOAT_REPR(v)
        elif t is int:
            text = int.__repr__(v)
        elif t is bool:
            text = "true" if v else "false"
        else:
            return None
        parts.append(f"{_TEXT(key)}:{text}")
    return "{" + ",".join(parts) + "}"


def canonical_json(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is dict and (flat := _flat_json(value)) is not None:
        return flat
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), default=_json_default, ensure_ascii=False
    )


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    text = _flat_json(fields)
    if text is None:
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


def hashed_fields(ev: AuditEvent) -> dict[str, Any]:
    """What an event's hash covers besides the previous hash (docs/security.md):
    ``event_hash(prev, hashed_fields(ev)) == ev.hash`` on an intact chain."""
    fields: dict[str, Any] = {
        "at": ev.at,
        "user": ev.user_name,
        "action": ev.action,
        "entity": ev.entity,
        "entity_id": ev.entity_id,
        "old": ev.old_values,
        "new": ev.new_values,
        "reason": ev.reason,
        "batch_id": ev.batch_id,
    }
    if ev.login is not None:  # events written before migration 0009 have no login
        fields["login"] = ev.login
    return fields


def chain_head(tx: Tx) -> str:
    """The chain's head in this transaction (taking the audit lock on PostgreSQL first)."""
    prev = tx.memo.get("audit_last_hash")
    if prev is None:
        if tx.dialect == "postgresql":
            tx.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})
        prev = (
            tx.session.execute(
                select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
            ).scalar_one_or_none()
            or GENESIS
        )
    return str(prev)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def forget_status_history(tx: Tx, events: list[EventSpec]) -> None:
    """Events about to be appended: a tube they name (other than its ``create`` or an
    ``import``) may have changed status, so lifecycle.status_changed reads it again."""
    known: set[str] | None = tx.memo.get(STATUS_UNCHANGED)
    if known:
        for action, entity, entity_id, *_ in events:
            if entity == "sample" and action not in ("create", "import"):
                known.discard(entity_id)


def _chained(tx: Tx, prev: str, spec: EventSpec, at: str | None = None) -> dict[str, Any]:
    """The stored row of one event chained after ``prev``: the one definition of which
    fields are hashed (the login too, since migration 0009), for one event or many (``at``:
    the time they are written together)."""
    action, entity, entity_id, old, new, reason, batch_id = spec
    fields: dict[str, Any] = {
        "at": at or _now(),
        "user": tx.actor.name,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "old": canonical_json(old),
        "new": canonical_json(new),
        "reason": reason,
        "batch_id": batch_id,
    }
    if tx.actor.login is not None:
        fields["login"] = tx.actor.login
    return _stored_row(
        tx, spec, fields["at"], fields["old"], fields["new"], prev, event_hash(prev, fields)
    )


def _stored_row(
    tx: Tx, spec: EventSpec, at: str, old: str | None, new: str | None, prev: str, digest: str
) -> dict[str, Any]:
    """The stored row of an event: its fields as ``audit_events`` names them."""
    action, entity, entity_id, _old, _new, reason, batch_id = spec
    return {
        "at": at,
        "user_name": tx.actor.name,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "old_values": old,
        "new_values": new,
        "reason": reason,
        "batch_id": batch_id,
        "prev_hash": prev,
        "hash": digest,
        "login": tx.actor.login,
    }


# One event: (action, entity, entity_id, old, new, reason, batch_id).
EventSpec = tuple[
    str, str, str, dict[str, Any] | None, dict[str, Any] | None, str | None, int | None
]


def append_event(
    tx: Tx,
    action: str,
    entity: str,
    entity_id: str,
    *,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    reason: str | None = None,
    batch_id: int | None = None,
) -> int:
    # A reason is typed text (--reason, the UI's reason fields): the text rule holds for it
    # too (docs/reliability.md); raised before the event, so the transaction writes nothing.
    problem = control_character(reason) if reason else None
    if problem is not None:
        raise ValidationFailed([FieldError("reason", problem)])
    spec: EventSpec = (action, entity, entity_id, old, new, reason, batch_id)
    forget_status_history(tx, [spec])
    row = _chained(tx, chain_head(tx), spec)
    event_id = tx.session.connection().execute(_INSERT_EVENT, row).scalar_one()
    tx.memo["audit_last_hash"] = row["hash"]
    return int(event_id)


def append_events(
    tx: Tx,
    events: list[EventSpec],
    insert_rows: Callable[[list[dict[str, Any]]], None] | None = None,
) -> None:
    """Append many events in one executemany, chained exactly as :func:`append_event` would
    chain them one by one (same fields, same hash), stamped with the one time they are
    written at: the bulk import's events (the volumes it takes, the storage it creates).
    ``insert_rows`` writes the rows (by default Core's executemany)."""
    if not events:
        return
    forget_status_history(tx, events)
    prev = chain_head(tx)
    at = _now()
    rows = []
    chain = _Chain(tx, at)
    for spec in events:
        row = chain.row(prev, spec)
        rows.append(row)
        prev = row["hash"]
    if insert_rows is None:
        tx.session.connection().execute(insert(AuditEvent), rows)
    else:
        insert_rows(rows)
    tx.memo["audit_last_hash"] = prev


class _Chain:
    """:func:`_chained` for many events written at one time by one user: the hashed text
    (``_flat_json`` of the fields) is put together from the parts every event shares (time,
    user, login, each distinct action, entity and batch) and the parts that vary (entity id,
    old and new values, reason). The same text and hash as :func:`_chained`
    (tests/services/test_audit.py holds them equal); an event of any other shape (an
    entity id that is not text, ...) is chained by :func:`_chained` itself. A bulk import
    writes one event per tube whose volume it takes: 20,000 events cost 0.15 s chained one
    by one, ~0.06 s so."""

    def __init__(self, tx: Tx, at: str) -> None:
        self.tx, self.at = tx, at
        user, login = tx.actor.name, tx.actor.login
        self.tail = f'"user":{_TEXT(user)}}}' if type(user) is str else None
        self.at_text = _TEXT(at)
        self.login_text = (
            "" if login is None else f'"login":{_TEXT(login)},' if type(login) is str else None
        )
        self.heads: dict[tuple[Any, ...], str | None] = {}

    def _head(self, action: Any, entity: Any, batch_id: Any) -> str | None:
        """The text up to the entity id: action, time, batch, entity."""
        key = (action, entity, batch_id, type(batch_id))  # (True == 1: told apart)
        head = self.heads.get(key, self)
        if head is self:
            ok = type(action) is str and type(entity) is str
            ok = ok and (batch_id is None or type(batch_id) is int)
            batch = "null" if batch_id is None else int.__repr__(batch_id)
            head = self.heads[key] = (
                f'{{"action":{_TEXT(action)},"at":{self.at_text},"batch_id":{batch},'
                f'"entity":{_TEXT(entity)},"entity_id":'
                if ok
                else None
            )
        return head  # type: ignore[return-value]

    def row(self, prev: str, spec: EventSpec) -> dict[str, Any]:
        action, entity, entity_id, old, new, reason, batch_id = spec
        head = self._head(action, entity, batch_id)
        if (
            head is None
            or self.tail is None
            or self.login_text is None
            or type(entity_id) is not str
            or (reason is not None and type(reason) is not str)
        ):
            return _chained(self.tx, prev, spec, self.at)
        old_json, new_json = canonical_json(old), canonical_json(new)
        text = (
            f"{head}{_TEXT(entity_id)},{self.login_text}"
            f'"new":{"null" if new_json is None else _TEXT(new_json)},'
            f'"old":{"null" if old_json is None else _TEXT(old_json)},'
            f'"reason":{"null" if reason is None else _TEXT(reason)},{self.tail}'
        )
        digest = hashlib.sha256(f"{prev}\n{text}".encode()).hexdigest()
        return _stored_row(self.tx, spec, self.at, old_json, new_json, prev, digest)


class AuditRow(BaseModel):
    id: int
    at: str
    user: str
    action: str
    entity: str
    entity_id: str
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    reason: str | None
    batch_id: int | None
    login: str | None = None


def _row(ev: AuditEvent) -> AuditRow:
    return AuditRow(
        id=ev.id,
        at=ev.at,
        user=ev.user_name,
        action=ev.action,
        entity=ev.entity,
        entity_id=ev.entity_id,
        old_values=json.loads(ev.old_values) if ev.old_values else None,
        new_values=json.loads(ev.new_values) if ev.new_values else None,
        reason=ev.reason,
        batch_id=ev.batch_id,
        login=ev.login,
    )


def list_events(
    tx: Tx,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    user: str | None = None,
    limit: int | None = 200,
    before_id: int | None = None,
) -> list[AuditRow]:
    """Newest first."""
    q = select(AuditEvent).order_by(AuditEvent.id.desc())
    if entity:
        q = q.where(AuditEvent.entity == entity)
    if entity_id:
        q = q.where(AuditEvent.entity_id == entity_id)
    if user:
        q = q.where(AuditEvent.user_name == user)
    if before_id is not None:
        q = q.where(AuditEvent.id < before_id)
    if limit:
        q = q.limit(limit)
    return [_row(ev) for ev in tx.session.scalars(q)]


# The records an import creates in bulk without an event of their own: their batch's
# ``import`` event is their creation record (docs/bulk-imports.md, "Audit rule").
RECORD_TABLES = {
    "sample": ("samples", "sample_code"),
    "isolation": ("isolations", "isolation_code"),
    "cell_source": ("cell_sources", "code"),
    "subject": ("subjects", "subject_code"),
}


def creating_batch(tx: Tx, entity: str, entity_id: str) -> int | None:
    """The import batch that created a stored subject (``STUDY/CODE``), cell source, sample
    or isolation, if an import did."""
    if entity not in RECORD_TABLES:
        return None
    table, column = RECORD_TABLES[entity]
    if entity == "subject":
        study, _, code = entity_id.partition("/")
        found = tx.session.execute(
            text(
                "SELECT s.batch_id FROM subjects s JOIN studies st ON st.id = s.study_id "
                "WHERE st.code = :study AND s.subject_code = :code"
            ),
            {"study": study, "code": code},
        ).scalar()
    else:
        found = tx.session.execute(
            text(f"SELECT batch_id FROM {table} WHERE {column} = :code"), {"code": entity_id}
        ).scalar()
    return None if found is None else int(found)


def records_created_by(tx: Tx, batch_id: int) -> set[tuple[str, str]]:
    """The audit keys (entity, id) of the subjects, cell sources, samples and isolations an
    import batch created: :func:`creating_batch` the other way round."""
    keys = {
        ("subject", f"{study}/{code}")
        for study, code in tx.session.execute(
            text(
                "SELECT st.code, s.subject_code FROM subjects s JOIN studies st "
                "ON st.id = s.study_id WHERE s.batch_id = :b"
            ),
            {"b": batch_id},
        )
    }
    for entity, (table, column) in RECORD_TABLES.items():
        if entity != "subject":
            keys.update(
                (entity, code)
                for (code,) in tx.session.execute(
                    text(f"SELECT {column} FROM {table} WHERE batch_id = :b"), {"b": batch_id}
                )
            )
    return keys


def record_events(
    tx: Tx, entity: str, entity_id: str, *, limit: int | None = 200
) -> list[AuditRow]:
    """A record's history, newest first: the events naming it and, when an import created
    it, that batch's ``import`` event (who, when, which file and its sha256) — the creation
    record of what a bulk import created (docs/bulk-imports.md). A deleted record's creating
    batch is read from its delete event."""
    events = list_events(tx, entity=entity, entity_id=entity_id, limit=limit)
    return with_creating_batch(tx, events, creating_batch(tx, entity, entity_id), limit=limit)


def with_creating_batch(
    tx: Tx, events: list[AuditRow], batch: int | None, *, limit: int | None
) -> list[AuditRow]:
    """A record's own ``events`` with the ``import`` event of the batch that created it
    (``batch``; for a deleted record, the batch its delete event names), newest first: the
    creation record of what an import writes without a per-record event (readouts, and
    records imported in bulk; docs/bulk-imports.md)."""
    batches = {batch} if batch is not None else set()
    for e in events:
        if e.action == "delete" and e.old_values and e.old_values.get("batch_id"):
            batches.add(int(e.old_values["batch_id"]))
    seen = {e.id for e in events}
    for b in sorted(batches):
        events += [
            e
            for e in list_events(tx, entity="import_batch", entity_id=str(b), limit=None)
            if e.action == "import" and e.id not in seen
        ]
    events.sort(key=lambda e: e.id, reverse=True)
    return events[:limit] if limit else events


class VerifyResult(BaseModel):
    ok: bool
    checked: int
    first_bad_id: int | None = None
    message: str = ""


def verify_chain(tx: Tx) -> VerifyResult:
    """Recompute every hash in order; report the first event that does not verify."""
    prev = GENESIS
    checked = 0
    result = tx.session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
    for ev in result.yield_per(5000):
        checked += 1
        if ev.prev_hash != prev:
            return VerifyResult(
                ok=False,
                checked=checked,
                first_bad_id=ev.id,
                message=f"audit event {ev.id} does not follow the event before it "
                "(an event was removed or reordered)",
            )
        if event_hash(prev, hashed_fields(ev)) != ev.hash:
            return VerifyResult(
                ok=False,
                checked=checked,
                first_bad_id=ev.id,
                message=f"audit event {ev.id} was changed after it was written "
                f"({ev.action} {ev.entity} {ev.entity_id})",
            )
        prev = ev.hash
    if checked == 0:
        held = records_without_events(tx)
        if held:
            return VerifyResult(
                ok=False,
                checked=0,
                message="the audit trail is empty, but the database holds "
                f"{', '.join(f'{n:,} {t}' for t, n in held.items())}: every change to them "
                "was audited, so the events were removed (see docs/reliability.md)",
            )
    return VerifyResult(ok=True, checked=checked, message=f"{checked} audit events verified")


# Tables whose every row was written with an audit event: rows here and no event at all means
# the trail was emptied (a downgrade to base and up again keeps no rows, so it is not flagged).
_AUDITED_TABLES = (
    "users",
    "import_batches",
    "studies",
    "subjects",
    "cell_sources",
    "boxes",
    "samples",
    "isolations",
    "readouts",
)


def records_without_events(tx: Tx) -> dict[str, int]:
    """Row counts of the audited tables that have rows (used when the trail is empty)."""
    out = {}
    for table in _AUDITED_TABLES:
        n = tx.session.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0
        if n:
            out[table] = int(n)
    return out
