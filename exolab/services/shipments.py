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

Each database is a site with its own identity (``lab_identity.db_id``). A shipment is known by
its sender (``origin``) and its code, so another site's shipment never takes the place of one of
ours with the same code; the default code carries the sending site's tag (docs/labels.md,
"Shipments between sites").
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from exolab.db.base import utcnow
from exolab.db.models import CODE, Box, Shipment, ShipmentItem
from exolab.domain.schemas import CODE_RE, control_character, parse_location
from exolab.services import cell_sources as cell_source_service
from exolab.services import lifecycle, storage
from exolab.services import samples as sample_service
from exolab.services import subjects as subject_service
from exolab.services.anchor import database_id
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
    "origin",  # the sending database's identity; manifests of earlier versions have none
    # A cell-culture tube's source (created at the receiving site when new there, as a
    # subject is); manifests of earlier versions have none.
    "cell_source_id",
    "cell_type",
]
TAG = 6  # characters of a site's identity in default codes and in CODE@TAG


class ShipmentItemOut(BaseModel):
    sample_id: str
    from_location: str | None
    volume_ml: float | None
    outcome: str
    received_location: str | None


class ShipmentOut(BaseModel):
    code: str
    origin: str  # the sender's identity ('' when its manifest did not say)
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
    missing: list[str]  # sent (on the manifest, or in the shipment sent), not received
    unexpected: list[str]  # received (scanned), not on the manifest


def _out(tx: Tx, s: Shipment) -> ShipmentOut:
    items = tx.session.scalars(
        select(ShipmentItem).where(ShipmentItem.shipment_id == s.id).order_by(ShipmentItem.id)
    )
    return ShipmentOut(
        code=s.code,
        origin=s.origin,
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


def site_tag(origin: str) -> str:
    """The short tag of a site's identity: in default codes and in ``CODE@TAG``."""
    return origin.replace("-", "")[:TAG].upper()


def qualified(s: ShipmentOut | Shipment) -> str:
    """A shipment's full name, ``CODE@TAG`` (``CODE@`` when its sender is not known)."""
    return f"{s.code}@{site_tag(s.origin)}"


def _with_code(tx: Tx, code: str) -> list[Shipment]:
    return list(
        tx.session.scalars(select(Shipment).where(Shipment.code == code).order_by(Shipment.id))
    )


def _by_origin(tx: Tx, origin: str, code: str) -> Shipment | None:
    return tx.session.scalar(
        select(Shipment).where(Shipment.origin == origin, Shipment.code == code)
    )


def find_shipment(tx: Tx, ref: str) -> Shipment:
    """The shipment ``ref`` names: its code when only one shipment has it, else ``CODE@TAG``
    (TAG: the start of its sender's identity, any case; nothing after ``@`` for a sender not
    known). An ambiguous code is refused with each shipment's full name."""
    ref = ref.strip()
    found = _with_code(tx, ref)
    if not found and "@" in ref:
        code, tag = ref.rsplit("@", 1)
        want = tag.replace("-", "").lower()
        found = [
            s
            for s in _with_code(tx, code)
            if (s.origin.replace("-", "").lower().startswith(want) if want else s.origin == "")
        ]
    if not found:
        raise NotFound(f"no shipment {ref}")
    if len(found) > 1:
        names = ", ".join(
            f"{qualified(s)} ("
            + (f"sent to {s.counterpart}" if s.direction == "out" else f"from {s.counterpart}")
            + ")"
            for s in found
        )
        raise NotFound(f"{ref} names {len(found)} shipments: {names}; give one of these")
    return found[0]


def get_shipment(tx: Tx, ref: str) -> ShipmentOut:
    """The shipment ``ref`` names (:func:`find_shipment`)."""
    return _out(tx, find_shipment(tx, ref))


def list_shipments(tx: Tx) -> list[ShipmentOut]:
    return [_out(tx, s) for s in tx.session.scalars(select(Shipment).order_by(Shipment.id))]


def _new_code(tx: Tx, here: str, on: date) -> str:
    """``SHP-TAG-YYYYMMDD-NNN``: this site's tag, the day, the next number of the day."""
    prefix = f"SHP-{site_tag(here)}-{on:%Y%m%d}-"
    n = tx.session.scalar(
        select(func.count())
        .select_from(Shipment)
        .where(Shipment.origin == here, Shipment.code.like(prefix + "%"))
    )
    n = (n or 0) + 1
    while _with_code(tx, f"{prefix}{n:03d}"):  # a code given by hand took this one
        n += 1
    return f"{prefix}{n:03d}"


def _check_text(values: dict[str, str | None]) -> None:
    """A shipment code given by hand is an identifier as sample ids are (an ``@`` would read
    as ``CODE@SITE``, a space or line break would break listings); the other fields are lab
    text without control characters (docs/labels.md)."""
    errors = []
    for field, value in values.items():
        value = (value or "").strip()
        if not value:
            continue
        if field == "code" and not CODE_RE.match(value):
            errors.append(
                FieldError(
                    field,
                    "a shipment code is letters, digits and - _ . : only (no spaces, @ or /)",
                    value,
                )
            )
        elif (problem := control_character(value)) is not None:
            errors.append(FieldError(field, problem, value.encode("unicode_escape").decode()))
    if errors:
        raise ValidationFailed(errors)


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
    _check_text({"to": to, "courier": courier, "tracking": tracking, "code": code})
    here = database_id(tx)
    code = (code or "").strip() or _new_code(tx, here, utcnow().date())
    if _with_code(tx, code):
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
        origin=here,
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
    """The manifest of a shipment this database sent: one row per tube with what a receiving
    site needs to register it, and who sent it (MANIFEST_COLUMNS)."""
    here = database_id(tx)
    found = _by_origin(tx, here, code)
    if found is None or found.direction != "out":
        raise NotFound(f"this database sent no shipment {code}")
    s = _out(tx, found)
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
                "origin": s.origin,
                "cell_source_id": tube.cell_source_id,
                "cell_type": (
                    cell_source_service.get_cell_source(tx, tube.cell_source_id).cell_type
                    if tube.cell_source_id
                    else None
                ),
            }
        )
    return rows


def _into_box(tx: Tx, into: str, *, create: bool) -> Box:
    """The box ``into`` names; it must exist unless ``create`` (docs/labels.md)."""
    path = into.strip().strip("/")
    try:
        loc = parse_location(path)
    except ValueError:
        raise ValidationFailed(
            [FieldError("into", "is not a box; write FREEZER/RACK/BOX, e.g. F-80-1/R2/B07", into)]
        ) from None
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
    scanned_source: str = "the scans",
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
    origin, origin_field = _origin(manifest, source)
    _check_lengths(
        {
            f"{source}:shipment": (code, CODE),
            origin_field: (origin or None, CODE),
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
    if scanned is not None and not arrived:
        # An empty scan file or another box's scans would close the shipment with every
        # tube missing, and the right scans would then be refused as already received.
        seen = f" (it lists {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''})"
        raise ValidationFailed(
            [
                FieldError(
                    scanned_source,
                    f"none of the {len(listed)} tubes on {source} was scanned"
                    + (seen if unexpected else "")
                    + "; nothing was received",
                )
            ]
        )

    shipment = _shipment_of(tx, code, origin, origin_field, listed)
    items: dict[str, ShipmentItem] = {}
    if shipment is not None:
        if shipment.direction == "in" or shipment.status == "received":
            who = (
                "(sent from here)"
                if shipment.direction == "out"
                else f"from {shipment.counterpart}"
            )
            raise Conflict(f"shipment {code} {who} was already received")
        items = _items(tx, shipment)
        # A tube sent in it but left off the manifest that came back (a row deleted) has
        # not come back either: missing, as a tube on the manifest that was not scanned.
        missing += [i for i in items if i not in by_id and items[i].outcome == "sent"]
        strangers = [i for i in arrived if i not in items]
        if strangers:
            raise ValidationFailed(
                [
                    FieldError("sample_id", f"is not in shipment {code} as sent", i)
                    for i in strangers
                ]
            )
    else:
        shipment = Shipment(
            code=code,
            origin=origin,
            direction="in",
            counterpart=(first.get("sent_from") or "").strip()
            or (f"site {site_tag(origin)}" if origin else "another site"),
            courier=(first.get("courier") or "").strip() or None,
            tracking=(first.get("tracking") or "").strip() or None,
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
            "origin": shipment.origin,
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


def _origin(manifest: list[dict[str, Any]], source: str) -> tuple[str, str]:
    """The manifest's sender (its ``origin`` column; '' for a manifest of an earlier version)
    and the FILE:ROW:origin to name in messages. Every row must name the same one."""

    def where(row: dict[str, Any]) -> str:
        return f"{source}:{row['_row']}:origin" if row.get("_row") else f"{source}:origin"

    first = manifest[0]
    origin = (first.get("origin") or "").strip()
    for row in manifest[1:]:
        if (row.get("origin") or "").strip() != origin:
            raise ValidationFailed(
                [FieldError(where(row), "every row must name the same origin", row.get("origin"))]
            )
    return origin, where(first)


def _items(tx: Tx, shipment: Shipment) -> dict[str, ShipmentItem]:
    return {
        i.sample_code: i
        for i in tx.session.scalars(
            select(ShipmentItem).where(ShipmentItem.shipment_id == shipment.id)
        )
    }


def _shipment_of(
    tx: Tx, code: str, origin: str, origin_field: str, listed: list[str]
) -> Shipment | None:
    """The stored shipment a manifest is about, or None for one new here (docs/labels.md,
    "Shipments between sites"): known by its sender and code. A manifest sent from this
    database is the return of a shipment of ours, which must exist. A manifest that does not
    name its sender (an earlier version's) is the return of our shipment of that code when its
    tubes are that shipment's, else another site's shipment known by its code alone."""
    here = database_id(tx)
    ours = _by_origin(tx, here, code)
    if ours is not None and ours.direction != "out":
        ours = None
    if origin == here:
        if ours is None:
            message = f"says {code} was sent from this database, which has no shipment {code}"
            raise ValidationFailed([FieldError(origin_field, message, origin)])
        return ours
    if origin:
        return _by_origin(tx, origin, code)
    if ours is not None and not _items(tx, ours).keys().isdisjoint(listed):
        return ours
    return _by_origin(tx, "", code)


def _register(tx: Tx, row: dict[str, Any], place: str | None) -> None:
    """Register a tube received from another site, creating its subject when new here."""
    study = (row.get("study") or "").strip() or None
    subject = (row.get("subject_id") or "").strip() or None
    if study and subject and subject_service.find_subject(tx, study, subject) is None:
        subject_service.create_subject(tx, {"study": study, "subject_id": subject})
    source = (row.get("cell_source_id") or "").strip() or None
    if source and not cell_source_service.cell_sources_by_code(tx, [source]):
        cell_source_service.create_cell_source(
            tx,
            {
                "cell_source_id": source,
                "cell_type": (row.get("cell_type") or "").strip(),
                "notes": f"received in shipment {row.get('shipment')}",
            },
        )
    data = {
        "sample_id": row["sample_id"].strip(),
        "biofluid": row.get("biofluid"),
        "collected_at": row.get("collected_at"),
        "study": study,
        "subject_id": subject,
        "visit": (row.get("visit") or "").strip() or None,
        "cell_source_id": source,
        "volume_ml": (row.get("volume_ml") or "").strip() or None,
        "sprec": (row.get("sprec") or "").strip() or None,
        "location": place,
        "notes": f"received in shipment {row.get('shipment')}",
    }
    sample_service.register_sample(tx, data)
