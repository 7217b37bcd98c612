"""Shipments: send tubes to another site with a manifest, receive them back (or receive tubes
from another site) by manifest and scan (docs/labels.md).

Both directions follow the tube life-cycle (docs/lifecycle.md): sending is its ``ship`` action
(:func:`exolab.services.samples.set_status`: only active tubes, the position is freed, audited);
receiving a tube of ours is its ``receive`` action (:func:`~exolab.services.samples.receive_back`:
only shipped tubes, back to ``available``), then it is placed through
:func:`~exolab.services.samples.move_sample`; tubes new to this database are registered. A tube
on the manifest that did not arrive stays ``shipped`` (it has not come back; the shipment
records it as missing). Received tubes go into existing storage: ``--into`` must name a box
that exists, unless ``create_locations`` (as for imports).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from exolab.db.base import utcnow
from exolab.db.models import CODE, Box, Shipment, ShipmentItem
from exolab.domain.schemas import parse_location
from exolab.services import lifecycle, storage
from exolab.services import samples as sample_service
from exolab.services import subjects as subject_service
from exolab.services.context import Tx
from exolab.services.errors import Conflict, FieldError, NotFound, ValidationFailed

SHIPPABLE = lifecycle.ACTIONS["ship"].allowed_from
RECEIVABLE = lifecycle.ACTIONS["receive"].allowed_from
COUNTERPART = 256  # shipments.counterpart: where tubes went / came from
NOTE_FIELD = 128  # shipments.courier, shipments.tracking
MANIFEST_COLUMNS = [
    "shipment",
    "sent_from",
    "sent_to",
    "courier",
    "tracking",
    "sent_on",
    "sample_id",
    "biofluid",
    "collected_at",
    "study",
    "subject_id",
    "visit",
    "volume_ml",
    "sprec",
    "from_location",
]


class ShipmentItemOut(BaseModel):
    sample_id: str
    from_location: str | None
    volume_ml: float | None
    outcome: str
    received_location: str | None


class ShipmentOut(BaseModel):
    code: str
    direction: str
    counterpart: str
    courier: str | None
    tracking: str | None
    status: str
    created_at: datetime
    created_by: str
    received_at: datetime | None
    received_by: str | None
    notes: str | None
    items: list[ShipmentItemOut]


class ReceiveResult(BaseModel):
    shipment: ShipmentOut
    returned: list[str]  # tubes of ours back in stock
    registered: list[str]  # tubes new to this database
    missing: list[str]  # on the manifest, not received
    unexpected: list[str]  # received (scanned), not on the manifest


def _out(tx: Tx, s: Shipment) -> ShipmentOut:
    items = tx.session.scalars(
        select(ShipmentItem).where(ShipmentItem.shipment_id == s.id).order_by(ShipmentItem.id)
    )
    return ShipmentOut(
        code=s.code,
        direction=s.direction,
        counterpart=s.counterpart,
        courier=s.courier,
        tracking=s.tracking,
        status=s.status,
        created_at=s.created_at,
        created_by=s.created_by,
        received_at=s.received_at,
        received_by=s.received_by,
        notes=s.notes,
        items=[
            ShipmentItemOut(
                sample_id=i.sample_code,
                from_location=i.from_location,
                volume_ml=i.volume_ml,
                outcome=i.outcome,
                received_location=i.received_location,
            )
            for i in items
        ],
    )


def _find(tx: Tx, code: str) -> Shipment | None:
    return tx.session.scalar(select(Shipment).where(Shipment.code == code))


def get_shipment(tx: Tx, code: str) -> ShipmentOut:
    s = _find(tx, code)
    if s is None:
        raise NotFound(f"no shipment {code}")
    return _out(tx, s)


def list_shipments(tx: Tx) -> list[ShipmentOut]:
    return [_out(tx, s) for s in tx.session.scalars(select(Shipment).order_by(Shipment.id))]


def _new_code(tx: Tx, on: date) -> str:
    prefix = f"SHP-{on:%Y%m%d}-"
    n = tx.session.scalar(
        select(func.count()).select_from(Shipment).where(Shipment.code.like(prefix + "%"))
    )
    return f"{prefix}{(n or 0) + 1:03d}"


def _check_lengths(values: dict[str, tuple[str | None, int]]) -> None:
    """Refuse text longer than its column (field -> (value, limit)) on both databases: SQLite
    would store it, PostgreSQL refuse it with its own words."""
    errors = [
        FieldError(field, f"at most {limit} characters (this one has {len(value)})")
        for field, (value, limit) in values.items()
        if value is not None and len(value) > limit
    ]
    if errors:
        raise ValidationFailed(errors)


def create_shipment(
    tx: Tx,
    *,
    to: str,
    sample_ids: list[str],
    courier: str | None = None,
    tracking: str | None = None,
    code: str | None = None,
    notes: str | None = None,
) -> ShipmentOut:
    """Ship tubes to ``to``: each must be available or checked out; each becomes ``shipped``
    (position freed, audited) and the shipment is recorded with where every tube was."""
    tx.require_write("ship samples")
    to = (to or "").strip()
    if not to:
        raise ValidationFailed([FieldError("to", "say where the tubes go")])
    ids = [i.strip() for i in sample_ids if i.strip()]
    if not ids:
        raise ValidationFailed([FieldError("sample_id", "no tubes to ship")])
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValidationFailed([FieldError("sample_id", "listed twice", i) for i in repeated])
    _check_lengths(
        {
            "to": (to, COUNTERPART),
            "courier": (courier, NOTE_FIELD),
            "tracking": (tracking, NOTE_FIELD),
            "code": ((code or "").strip() or None, CODE),
        }
    )
    code = (code or "").strip() or _new_code(tx, utcnow().date())
    if _find(tx, code) is not None:
        raise Conflict(f"shipment {code} already exists")
    problems: list[FieldError] = []
    tubes = []
    for sid in ids:
        tube = sample_service.find_sample(tx, sid)
        if tube is None:
            problems.append(FieldError("sample_id", "no such sample", sid))
        elif tube.status == "shipped":
            problems.append(FieldError("sample_id", "is already shipped", sid))
        elif tube.status not in SHIPPABLE:
            problems.append(
                FieldError(
                    "sample_id", f"is {tube.status}; only tubes in stock can be shipped", sid
                )
            )
        else:
            tubes.append(tube)
    if problems:
        raise ValidationFailed(problems)
    shipment = Shipment(
        code=code,
        direction="out",
        counterpart=to,
        courier=(courier or "").strip() or None,
        tracking=(tracking or "").strip() or None,
        status="sent",
        created_by=tx.actor.name,
        notes=notes,
    )
    tx.session.add(shipment)
    tx.session.flush()
    for tube in tubes:
        before = sample_service.get_sample(tx, tube.sample_code)
        sample_service.set_status(
            tx, tube.sample_code, "shipped", reason=f"shipped to {to} ({code})"
        )
        tx.session.add(
            ShipmentItem(
                shipment_id=shipment.id,
                sample_id=tube.id,
                sample_code=tube.sample_code,
                from_location=before.location,
                volume_ml=before.volume_ml,
                outcome="sent",
            )
        )
    tx.session.flush()
    tx.audit(
        "create",
        "shipment",
        code,
        new={"to": to, "courier": shipment.courier, "tracking": shipment.tracking, "samples": ids},
    )
    return _out(tx, shipment)


def manifest_rows(tx: Tx, code: str, *, sent_from: str = "") -> list[dict[str, Any]]:
    """The manifest of a shipment: one row per tube with what a receiving site needs to
    register it (MANIFEST_COLUMNS)."""
    s = get_shipment(tx, code)
    rows = []
    for item in s.items:
        tube = sample_service.get_sample(tx, item.sample_id)
        rows.append(
            {
                "shipment": s.code,
                "sent_from": sent_from,
                "sent_to": s.counterpart,
                "courier": s.courier,
                "tracking": s.tracking,
                "sent_on": s.created_at.date(),
                "sample_id": tube.sample_id,
                "biofluid": tube.biofluid,
                "collected_at": tube.collected_at,
                "study": tube.study,
                "subject_id": tube.subject_id,
                "visit": tube.visit,
                "volume_ml": item.volume_ml,
                "sprec": tube.sprec,
                "from_location": item.from_location,
            }
        )
    return rows


def _into_box(tx: Tx, into: str, *, create: bool) -> Box:
    """The box ``into`` names; it must exist unless ``create`` (docs/labels.md)."""
    path = into.strip().strip("/")
    try:
        loc = parse_location(path)
    except ValueError as exc:
        raise ValidationFailed([FieldError("into", str(exc), into)]) from None
    if loc.position is not None:
        raise ValidationFailed(
            [FieldError("into", f"'{into}' names a position; give the box FREEZER/RACK/BOX", into)]
        )
    box = storage.find_box(tx, loc.box_path)
    if box is None:
        if not create:
            message = storage.unknown_location(tx, loc).replace(
                "import with --create-locations", "receive with --create-locations"
            )
            raise ValidationFailed([FieldError("into", message, into)])
        storage.add_location(tx, loc.box_path, exist_ok=True)
        box = storage.find_box(tx, loc.box_path)
        assert box is not None
    return box


def _placements(
    tx: Tx, count: int, into: str | None, wanted: list[str | None], *, create: bool
) -> list[str | None]:
    """Where each received tube goes: the next free positions of ``into``, else the position
    each tube left from (``wanted``) when its box still exists and the position is free, else
    nowhere (out of storage)."""
    if into:
        box = _into_box(tx, into, create=create)
        free = storage.free_positions(tx, box.path) if box.n_rows else []
        if box.n_rows and len(free) < count:
            raise ValidationFailed(
                [
                    FieldError(
                        "into", f"box {box.path} has {len(free)} free positions for {count} tubes"
                    )
                ]
            )
        return [f"{box.path}/{p}" for p in free[:count]] if box.n_rows else [box.path] * count
    out: list[str | None] = []
    for loc in wanted:
        if loc and "/" in loc:
            parsed = parse_location(loc)
            old_box = storage.find_box(tx, parsed.box_path)
            if old_box is not None and storage.occupant(tx, old_box, parsed.position) is None:
                out.append(loc)
                continue
        out.append(None)
    return out


def receive_shipment(
    tx: Tx,
    manifest: list[dict[str, Any]],
    *,
    into: str | None = None,
    scanned: list[str] | None = None,
    source: str = "manifest",
    create_locations: bool = False,
) -> ReceiveResult:
    """Receive the tubes of a manifest (all of them, or those ``scanned``). Tubes this database
    shipped come back ``available`` (the life-cycle's ``receive``); others are registered.
    Missing and unexpected tubes are reported and recorded on the shipment. ``into`` must be
    an existing box unless ``create_locations``."""
    tx.require_write("receive samples")
    if not manifest:
        raise ValidationFailed([FieldError(source, "the manifest lists no tubes")])
    codes = {(r.get("shipment") or "").strip() for r in manifest}
    if len(codes) != 1 or "" in codes:
        raise ValidationFailed(
            [FieldError(f"{source}:shipment", "every row must name the same shipment")]
        )
    code = codes.pop()
    first = manifest[0]
    _check_lengths(
        {
            f"{source}:shipment": (code, CODE),
            f"{source}:sent_from": ((first.get("sent_from") or "").strip() or None, COUNTERPART),
            f"{source}:courier": ((first.get("courier") or "").strip() or None, NOTE_FIELD),
            f"{source}:tracking": ((first.get("tracking") or "").strip() or None, NOTE_FIELD),
        }
    )
    listed = [r["sample_id"].strip() for r in manifest]
    by_id = {r["sample_id"].strip(): r for r in manifest}
    received = [s.strip() for s in scanned if s.strip()] if scanned is not None else listed
    received = list(dict.fromkeys(received))
    missing = [i for i in listed if i not in set(received)]
    unexpected = [i for i in received if i not in by_id]
    arrived = [i for i in received if i in by_id]

    shipment = _find(tx, code)
    items: dict[str, ShipmentItem] = {}
    if shipment is not None:
        if shipment.status == "received" or shipment.direction == "in":
            raise Conflict(f"shipment {code} was already received")
        items = {
            i.sample_code: i
            for i in tx.session.scalars(
                select(ShipmentItem).where(ShipmentItem.shipment_id == shipment.id)
            )
        }
        strangers = [i for i in arrived if i not in items]
        if strangers:
            raise ValidationFailed(
                [
                    FieldError("sample_id", f"is not in shipment {code} as sent", i)
                    for i in strangers
                ]
            )
    else:
        origin = (manifest[0].get("sent_from") or "").strip() or "another site"
        shipment = Shipment(
            code=code,
            direction="in",
            counterpart=origin,
            courier=(manifest[0].get("courier") or "").strip() or None,
            tracking=(manifest[0].get("tracking") or "").strip() or None,
            status="sent",
            created_by=tx.actor.name,
        )
        tx.session.add(shipment)
        tx.session.flush()

    ours = []
    for sid in arrived:
        tube = sample_service.find_sample(tx, sid)
        if tube is not None and tube.status not in RECEIVABLE:
            raise Conflict(f"sample {sid} is already here ({tube.status}); it cannot be received")
        ours.append(tube is not None)
    wanted = [items[s].from_location if s in items else None for s in arrived]
    places = _placements(tx, len(arrived), into, wanted, create=create_locations)
    returned: list[str] = []
    registered: list[str] = []
    reason = f"received from {shipment.counterpart} ({code})"
    for sid, is_ours, place in zip(arrived, ours, places, strict=True):
        if is_ours:
            sample_service.receive_back(tx, sid, reason=reason)
            if place:
                sample_service.move_sample(tx, sid, place, reason=reason)
            returned.append(sid)
        else:
            row = by_id[sid]
            try:
                _register(tx, row, place)
            except ValidationFailed as exc:
                where = f"{source}:{row['_row']}" if row.get("_row") else source
                raise ValidationFailed(
                    [FieldError(f"{where}:{e.field}", e.message, e.value) for e in exc.errors]
                ) from None
            registered.append(sid)
        tube = sample_service.find_sample(tx, sid)
        assert tube is not None
        item = items.get(sid)
        if item is None:
            item = ShipmentItem(
                shipment_id=shipment.id,
                sample_code=sid,
                from_location=(by_id[sid].get("from_location") or None),
                volume_ml=tube.volume_ml,
                outcome="received",
            )
            tx.session.add(item)
        item.sample_id = tube.id
        item.outcome = "received"
        item.received_location = sample_service.get_sample(tx, sid).location
    for sid in missing:
        item = items.get(sid)
        if item is None:
            tx.session.add(
                ShipmentItem(shipment_id=shipment.id, sample_code=sid, outcome="missing")
            )
        else:
            item.outcome = "missing"
    for sid in unexpected:
        tx.session.add(ShipmentItem(shipment_id=shipment.id, sample_code=sid, outcome="unexpected"))
    shipment.status = "received"
    shipment.received_at = utcnow()
    shipment.received_by = tx.actor.name
    tx.session.flush()
    tx.audit(
        "receive",
        "shipment",
        code,
        new={
            "returned": returned,
            "registered": registered,
            "missing": missing,
            "unexpected": unexpected,
        },
    )
    return ReceiveResult(
        shipment=_out(tx, shipment),
        returned=returned,
        registered=registered,
        missing=missing,
        unexpected=unexpected,
    )


def _register(tx: Tx, row: dict[str, Any], place: str | None) -> None:
    """Register a tube received from another site, creating its subject when new here."""
    study = (row.get("study") or "").strip() or None
    subject = (row.get("subject_id") or "").strip() or None
    if study and subject and subject_service.find_subject(tx, study, subject) is None:
        subject_service.create_subject(tx, {"study": study, "subject_id": subject})
    data = {
        "sample_id": row["sample_id"].strip(),
        "biofluid": row.get("biofluid"),
        "collected_at": row.get("collected_at"),
        "study": study,
        "subject_id": subject,
        "visit": (row.get("visit") or "").strip() or None,
        "volume_ml": (row.get("volume_ml") or "").strip() or None,
        "sprec": (row.get("sprec") or "").strip() or None,
        "location": place,
        "notes": f"received in shipment {row.get('shipment')}",
    }
    sample_service.register_sample(tx, data)
