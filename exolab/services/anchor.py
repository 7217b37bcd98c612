"""Audit anchors: the chain head written down outside the database.

The hash chain shows an edited or removed event in the middle, but someone who can write the
database can cut events off the end, or rewrite events and recompute every hash after them.
An anchor (sequence number, hash of that event, time, the database's id) kept elsewhere - a
file beside the backup, a lab notebook, an e-mail, optionally signed with the lab manager's
Ed25519 key - catches both: the anchored event must still be there with the same hash.
docs/security.md describes how to use anchors.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select

from exolab.db.models import AuditEvent, LabIdentity
from exolab.services.audit import GENESIS, verify_chain
from exolab.services.context import Tx
from exolab.services.errors import ExolabError, FieldError, ValidationFailed

FORMAT = "exolab-audit-anchor/1"
# The largest event count or id an anchor may name: a database integer (64 bits signed).
MAX_EVENTS = 2**63 - 1


class Anchor(BaseModel):
    format: str = FORMAT
    database_id: str
    seq: int = Field(ge=0, le=MAX_EVENTS)  # how many events the chain had; the seq-th is anchored
    event_id: int | None = Field(ge=1, le=MAX_EVENTS)
    hash: str
    event_at: str | None
    anchored_at: str
    anchored_by: str
    public_key: str | None = None  # Ed25519, base64 (raw 32 bytes)
    signature: str | None = None  # over signed_bytes(), base64

    def signed_bytes(self) -> bytes:
        body = self.model_dump(exclude={"signature", "public_key"})
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def key_fingerprint(self) -> str | None:
        if self.public_key is None:
            return None
        return hashlib.sha256(base64.b64decode(self.public_key)).hexdigest()[:16]


def database_id(tx: Tx) -> str:
    row = tx.session.scalar(select(LabIdentity.db_id).where(LabIdentity.id == 1))
    if row is None:
        raise ExolabError("this database has no identity row; run `exolab db upgrade`")
    return str(row)


def chain_head(tx: Tx) -> Anchor:
    seq = int(tx.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    last = tx.session.execute(
        select(AuditEvent.id, AuditEvent.hash, AuditEvent.at)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    return Anchor(
        database_id=database_id(tx),
        seq=seq,
        event_id=None if last is None else int(last[0]),
        hash=GENESIS if last is None else str(last[1]),
        event_at=None if last is None else str(last[2]),
        anchored_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        anchored_by=tx.actor.name,
    )


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - depends on the installation
        raise ExolabError(
            "signing anchors needs the 'cryptography' package: pip install 'exolab[sign]'"
        ) from None
    return serialization, ed25519


def generate_key(private_path: Path) -> Path:
    """Write a new Ed25519 private key (PEM, 0600) and its public key beside it (.pub)."""
    from exolab.db.files import create_private_binary

    serialization, ed25519 = _crypto()
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_path = private_path.with_name(private_path.name + ".pub")
    for path, data in ((private_path, pem), (public_path, pub)):
        try:
            with create_private_binary(path) as f:
                f.write(data)
        except FileExistsError:
            raise ExolabError(f"{path} exists; choose a new file name") from None
    return public_path


def sign(anchor: Anchor, key_file: Path) -> Anchor:
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            [FieldError("--sign", f"{key_file}: not an unencrypted PEM private key ({exc})")]
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValidationFailed([FieldError("--sign", f"{key_file}: not an Ed25519 key")])
    raw_pub = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    signed = anchor.model_copy(update={"public_key": base64.b64encode(raw_pub).decode()})
    signature = key.sign(signed.signed_bytes())
    return signed.model_copy(update={"signature": base64.b64encode(signature).decode()})


def _check_signature(anchor: Anchor, public_key_file: Path | None) -> list[str]:
    if anchor.signature is None:
        if public_key_file is not None:
            return ["the anchor is not signed, but a public key was given to check it with"]
        return []
    serialization, ed25519 = _crypto()
    from cryptography.exceptions import InvalidSignature

    try:
        raw = base64.b64decode(anchor.public_key or "", validate=True)
    except ValueError:
        return ["the anchor's public key is not base64 (the anchor was edited)"]
    if public_key_file is not None:
        try:
            expected = serialization.load_pem_public_key(public_key_file.read_bytes())
        except ValueError:
            expected = None
        if not isinstance(expected, ed25519.Ed25519PublicKey):
            raise ValidationFailed(
                [
                    FieldError(
                        "--public-key",
                        f"{public_key_file}: not an Ed25519 public key (give the .pub file "
                        "that `exolab audit keygen` wrote beside the private key)",
                    )
                ]
            )
        expected_raw = expected.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        if expected_raw != raw:
            return [f"the anchor was signed with another key than {public_key_file}"]
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(raw).verify(
            base64.b64decode(anchor.signature, validate=True), anchor.signed_bytes()
        )
    except (InvalidSignature, ValueError):
        return ["the anchor's signature does not match its contents (the anchor was edited)"]
    return []


def anchor_json(anchor: Anchor) -> str:
    return json.dumps(anchor.model_dump(exclude_none=True), indent=2) + "\n"


def write_anchor(anchor: Anchor, path: Path) -> Path:
    from exolab.db.files import create_private

    try:
        with create_private(path) as f:
            f.write(anchor_json(anchor))
    except FileExistsError:
        raise ExolabError(f"{path} exists; choose a new file name") from None
    return path


def _fields_wrong(exc: ValidationError) -> str:
    """What is wrong with a file that is JSON but not an anchor, on one line."""
    missing = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "missing" and e["loc"]]
    wrong = [
        f"{'.'.join(str(x) for x in e['loc']) or 'file'}: {e['msg'].lower()}"
        for e in exc.errors()
        if e["type"] != "missing"
    ]
    return "; ".join(wrong + ([f"missing: {', '.join(missing)}"] if missing else []))


MAX_ANCHOR_BYTES = 64 * 1024  # an anchor is a few hundred bytes


def read_anchor(path: Path) -> Anchor:
    with path.open("rb") as f:  # at most this much: never a whole device or a huge file
        raw = f.read(MAX_ANCHOR_BYTES + 1)
    if len(raw) > MAX_ANCHOR_BYTES:
        raise ValidationFailed(
            [
                FieldError(
                    "--anchor",
                    f"{path}: not an exolab audit anchor (larger than {MAX_ANCHOR_BYTES // 1024} "
                    "KiB; an anchor is a few hundred bytes)",
                )
            ]
        )
    try:
        data = json.loads(raw.decode("utf-8"))
        anchor = Anchor.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            [FieldError("--anchor", f"{path}: not an exolab audit anchor ({_fields_wrong(exc)})")]
        ) from None
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            [FieldError("--anchor", f"{path}: not an exolab audit anchor ({exc})")]
        ) from None
    if anchor.format != FORMAT:
        raise ValidationFailed([FieldError("--anchor", f"{path}: unknown format {anchor.format}")])
    return anchor


class AnchorCheck(BaseModel):
    ok: bool
    problems: list[str]
    message: str


def check_against(tx: Tx, anchor: Anchor, public_key_file: Path | None = None) -> AnchorCheck:
    """The chain verifies, and still holds the anchored event with the anchored hash."""
    problems = _check_signature(anchor, public_key_file)
    here = database_id(tx)
    if anchor.database_id != here:
        problems.append(f"the anchor is for database {anchor.database_id}, this database is {here}")
    chain = verify_chain(tx)
    if not chain.ok:
        problems.append(chain.message)
    # An anchor of an empty trail names no event and the chain's starting hash; one edited to
    # 0 events (to check nothing) names them still.
    if anchor.seq == 0 and (anchor.event_id is not None or anchor.hash != GENESIS):
        problems.append(
            "the anchor says the audit trail was empty (seq 0) but names an event or a hash: "
            "the anchor was edited"
        )
    if anchor.seq > 0:
        row = tx.session.execute(
            select(AuditEvent.id, AuditEvent.hash)
            .order_by(AuditEvent.id)
            .offset(anchor.seq - 1)
            .limit(1)
        ).first()
        if row is None:
            have = int(tx.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
            problems.append(
                f"the audit trail has {have} events but had {anchor.seq} when anchored at "
                f"{anchor.anchored_at}: events were cut off the end"
            )
        elif row[1] != anchor.hash or row[0] != anchor.event_id:
            problems.append(
                f"audit event {anchor.seq} (id {row[0]}) is not the event anchored at "
                f"{anchor.anchored_at}: the trail was rewritten and its hashes recomputed"
            )
    if problems:
        return AnchorCheck(ok=False, problems=problems, message="; ".join(problems))
    signed = f", signed by key {anchor.key_fingerprint()}" if anchor.signature else ""
    return AnchorCheck(
        ok=True,
        problems=[],
        message=f"{chain.checked} audit events verified; event {anchor.seq} matches the anchor "
        f"of {anchor.anchored_at}{signed}",
    )


def rotate_pseudonym_secret(tx: Tx, reason: str | None = None) -> str:
    """Replace the secret that keys export pseudonyms (admin). Exports made after this use new
    pseudonyms that cannot be linked to earlier ones. The secret itself is never audited."""
    import secrets

    tx.require_admin("rotate the pseudonym secret")
    row = tx.session.get(LabIdentity, 1)
    if row is None:
        raise ExolabError("this database has no identity row; run `exolab db upgrade`")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    old_fingerprint = hashlib.sha256(bytes.fromhex(row.pseudonym_secret)).hexdigest()[:12]
    row.pseudonym_secret = secrets.token_hex(32)
    row.rotated_at = now
    tx.session.flush()
    new_fingerprint = hashlib.sha256(bytes.fromhex(row.pseudonym_secret)).hexdigest()[:12]
    tx.audit(
        "update",
        "lab_identity",
        "pseudonym_secret",
        old={"fingerprint": old_fingerprint},
        new={"fingerprint": new_fingerprint, "rotated_at": now},
        reason=reason,
    )
    return new_fingerprint
