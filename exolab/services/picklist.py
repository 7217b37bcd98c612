"""Pick lists: the tubes to pull for an experiment, in the order a person walks the freezers
(freezer -> rack -> box -> position, A2 before A10; docs/labels.md), with what to take and
where it goes. Tubes that are not in storage are listed apart with the reason."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from exolab.db.models import Box, Sample, Study, Subject, Visit
from exolab.domain.ordering import location_key, natural_key
from exolab.domain.vocab import BIOFLUID
from exolab.services.context import Tx
from exolab.services.errors import FieldError, NotFound, ValidationFailed
from exolab.services.lifecycle import INACTIVE as INACTIVE_STATUSES
from exolab.services.lifecycle import nothing_to_take

CHUNK = 900  # ids per IN (...) query: under SQLite's variable limit


TAKE_PROBLEM = "must be a positive number of mL"


def is_amount(take_ml: float) -> bool:
    """What may be taken from a tube: a positive, finite number of mL (not ``inf``, which
    ``float`` reads from ``1e400`` too, nor ``nan``). The one rule of ``--take`` and of a
    plan's ``take_ml``."""
    return math.isfinite(take_ml) and take_ml > 0


@dataclass(frozen=True)
class PickRequest:
    sample_id: str
    take_ml: float | None = None  # None: the whole tube
    destination: str | None = None
    where: str | None = field(default=None, compare=False)  # FILE:ROW:COLUMN it was read from


class PickRow(BaseModel):
    order: int
    sample_id: str
    location: str | None
    freezer: str | None
    rack: str | None
    box: str | None
    position: str | None
    study: str | None
    subject_id: str | None
    visit: str | None
    biofluid: str
    status: str
    volume_ml: float | None
    take_ml: float | None
    destination: str | None
    note: str


class PickList(BaseModel):
    rows: list[PickRow]  # in storage, freezer order
    not_in_storage: list[PickRow]  # checked out, shipped, used up... (order as requested)


def _query() -> Any:  # a Select of many typed columns
    return (
        select(
            Sample.sample_code,
            Sample.biofluid,
            Sample.status,
            Sample.volume_ml,
            Sample.position,
            Box.path,
            Study.code,
            Subject.subject_code,
            Visit.label,
        )
        .outerjoin(Box, Box.id == Sample.box_id)
        .outerjoin(Subject, Subject.id == Sample.subject_id)
        .outerjoin(Study, Study.id == Subject.study_id)
        .outerjoin(Visit, Visit.id == Sample.visit_id)
    )


def select_tubes(
    tx: Tx, *, study: str, visit: str | None = None, biofluid: str | None = None
) -> list[str]:
    """Sample ids of a study's tubes still in use (not consumed, discarded or shipped),
    optionally of one visit and biofluid."""
    if tx.session.scalar(select(Study.id).where(Study.code == study)) is None:
        raise NotFound(f"no study {study}")
    q = (
        select(Sample.sample_code)
        .join(Subject, Subject.id == Sample.subject_id)
        .join(Study, Study.id == Subject.study_id)
        .where(Study.code == study, Sample.status.not_in(INACTIVE_STATUSES))
    )
    if visit:
        q = q.join(Visit, Visit.id == Sample.visit_id).where(Visit.label == visit)
    if biofluid:
        try:
            q = q.where(Sample.biofluid == BIOFLUID.normalize(biofluid))
        except ValueError as exc:
            raise ValidationFailed([FieldError("biofluid", str(exc), biofluid)]) from None
    return sorted(tx.session.scalars(q), key=natural_key)


def _request_text(r: PickRequest) -> str:
    amount = f"{r.take_ml:g} mL" if r.take_ml is not None else "the whole tube"
    return amount + (f" for {r.destination}" if r.destination else "")


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def pick_list(tx: Tx, requests: list[PickRequest]) -> PickList:
    """The requested tubes in freezer order. Unknown ids are an error naming each of them;
    a tube asked for twice the same way is listed once, asked for twice with another amount
    or destination it is an error naming both requests (one would be lost)."""
    wanted: dict[str, PickRequest] = {}
    clashes: list[FieldError] = []
    for r in requests:
        code = r.sample_id.strip()
        first = wanted.setdefault(code, r)
        if (first.take_ml, first.destination) != (r.take_ml, r.destination):
            clashes.append(
                FieldError(
                    "sample_id",
                    f"asked for twice: {_request_text(first)} and {_request_text(r)}; "
                    "ask for each tube once",
                    code,
                )
            )
    if clashes:
        raise ValidationFailed(clashes)
    wanted.pop("", None)
    if not wanted:
        raise ValidationFailed([FieldError("sample_id", "no tubes to pick")])
    found: dict[str, Any] = {}
    for chunk in _chunks(list(wanted)):
        for hit in tx.session.execute(_query().where(Sample.sample_code.in_(chunk))):
            found[hit[0]] = hit
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise ValidationFailed(
            [FieldError(wanted[c].where or "sample_id", "no such sample", c) for c in unknown]
        )
    rows: list[PickRow] = []
    away: list[PickRow] = []
    for code, req in wanted.items():
        _, biofluid, status, volume, position, path, study, subject, visit = found[code]
        freezer, rack, box = path.split("/") if path else (None, None, None)
        notes = []
        # a tube nothing can be taken from (discarded, used up...) gets no amount to take
        out_of_use = nothing_to_take(status)
        take = req.take_ml if req.take_ml is not None else volume
        if out_of_use is not None:
            notes.append(f"status {out_of_use}; nothing can be taken from it")
            take = None
        else:
            if status != "available":
                notes.append(f"status {status}")
            if volume is not None and volume <= 1e-9:
                notes.append("no volume left")  # all of it went into aliquots and isolations
            elif req.take_ml is not None and volume is not None and req.take_ml > volume + 1e-9:
                notes.append(f"only {volume:g} mL left")
        row = PickRow(
            order=0,
            sample_id=code,
            location=(path + (f"/{position}" if position else "")) if path else None,
            freezer=freezer,
            rack=rack,
            box=box,
            position=position,
            study=study,
            subject_id=subject,
            visit=visit,
            biofluid=biofluid,
            status=status,
            volume_ml=volume,
            take_ml=take,
            destination=req.destination,
            note="; ".join(notes),
        )
        if path is None:
            row.note = f"not in storage ({status})" + (
                "; nothing can be taken from it" if out_of_use is not None else ""
            )
            away.append(row)
        else:
            rows.append(row)
    rows.sort(key=lambda r: (location_key(r.freezer, r.rack, r.box, r.position), r.sample_id))
    for i, row in enumerate(rows, start=1):
        row.order = i
    return PickList(rows=rows, not_in_storage=away)
