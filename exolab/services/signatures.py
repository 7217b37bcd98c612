"""Electronic signatures: a named person states a meaning (reviewed, approved) for a record.

The signature is an audit event (action ``sign``) carrying the signer's printed name, the
login that authenticated, the meaning, the time and the record signed, so it is part of the
hash chain and of every anchor (21 CFR 11.50, 11.70). On PostgreSQL the signer re-enters their
password, checked by the server with a fresh connection as their own login; an admin acting
for someone cannot sign for them. docs/security.md.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import URL, select

from exolab.db.models import AssayRun, Isolation
from exolab.services.context import Tx
from exolab.services.errors import FieldError, NotFound, PermissionDenied, ValidationFailed

MEANINGS = ("reviewed", "approved")
SIGNABLE = {"run": AssayRun.run_code, "isolation": Isolation.isolation_code}


class Signature(BaseModel):
    entity: str
    entity_id: str
    meaning: str
    signer: str
    login: str | None
    signed_at: str

    def kind_label(self) -> str:
        return f"{self.entity} {self.entity_id}"


def check_password(url: URL, login: str, password: str) -> bool:
    """Whether the PostgreSQL server accepts ``password`` for ``login`` (a new connection)."""
    import psycopg

    try:
        with psycopg.connect(
            host=url.host,
            port=url.port,
            dbname=url.database,
            user=login,
            password=password,
            connect_timeout=10,
        ):
            return True
    except psycopg.OperationalError:
        return False


def sign(
    tx: Tx,
    kind: str,
    code: str,
    meaning: str,
    *,
    password_ok: bool | None,
    reason: str | None = None,
) -> Signature:
    """Record the signature. ``password_ok`` is the result of re-entering the password
    (PostgreSQL; None on SQLite where the operating-system login is the identity)."""
    tx.require_write("sign records")
    if meaning not in MEANINGS:
        raise ValidationFailed(
            [FieldError("meaning", f"use one of {', '.join(MEANINGS)}", meaning)]
        )
    if kind not in SIGNABLE:
        raise ValidationFailed([FieldError("kind", f"use one of {', '.join(SIGNABLE)}", kind)])
    if tx.actor.login is not None and tx.actor.login != tx.actor.name:
        raise PermissionDenied(
            f"'{tx.actor.login}' is acting for '{tx.actor.name}': a signature is personal; "
            f"'{tx.actor.name}' signs under their own login"
        )
    if tx.dialect == "postgresql" and not password_ok:
        raise PermissionDenied("the password was not accepted; nothing was signed")
    column = SIGNABLE[kind]
    if tx.session.scalar(select(column).where(column == code)) is None:
        raise NotFound(f"no {kind} '{code}'")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = Signature(
        entity=kind,
        entity_id=code,
        meaning=meaning,
        signer=tx.actor.name,
        login=tx.actor.login,
        signed_at=now,
    )
    tx.audit(
        "sign",
        kind,
        code,
        new={
            "meaning": meaning,
            "signer": tx.actor.name,
            "signed_at": now,
            "statement": f"{tx.actor.name} {meaning} {kind} {code} at {now}",
        },
        reason=reason,
    )
    return signature


def signatures(tx: Tx, kind: str, code: str) -> list[Signature]:
    """The signatures of a record (those of a record since removed too); a record that
    neither exists nor was ever signed is not found."""
    from exolab.services.audit import list_events

    found = [
        Signature(
            entity=e.entity,
            entity_id=e.entity_id,
            meaning=str((e.new_values or {}).get("meaning")),
            signer=e.user,
            login=e.login,
            signed_at=str((e.new_values or {}).get("signed_at")),
        )
        for e in list_events(tx, entity=kind, entity_id=code, limit=None)
        if e.action == "sign"
    ]
    if not found:
        if kind not in SIGNABLE:
            raise ValidationFailed([FieldError("kind", f"use one of {', '.join(SIGNABLE)}", kind)])
        column = SIGNABLE[kind]
        if tx.session.scalar(select(column).where(column == code)) is None:
            raise NotFound(f"no {kind} '{code}'")
    return found
