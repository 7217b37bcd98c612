"""What goes on a label: the id its 2D code holds and the lines printed beside it.

A sample label reads: id, subject/visit (or cell source, or parent), biofluid and collection
date, volume. An isolation label: id, its sample's subject/visit, method and date, volume.
A box id prints the labels of the tubes in it (in position order), or the box's own label.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import func, select

from exolab.db.models import Box, Sample
from exolab.domain.ordering import natural_key
from exolab.services import isolations as isolation_service
from exolab.services import samples as sample_service
from exolab.services.context import Tx
from exolab.services.errors import FieldError, ValidationFailed


class LabelData(BaseModel):
    kind: str  # sample, isolation, box
    code: str  # what the 2D code holds: the record's id
    title: str  # the human-readable id
    lines: list[str]  # subject/visit, biofluid and date, volume
    status: str | None = None  # a tube's status (the command warns of one no longer in use)


def _volume(ml: float | None) -> str:
    if ml is None:
        return ""
    return f"{ml * 1000:g} uL" if ml < 0.1 else f"{ml:g} mL"


def _who(study: str | None, subject: str | None, visit: str | None) -> str:
    return " ".join(p for p in (study, subject, visit) if p)


def sample_label(s: sample_service.SampleOut) -> LabelData:
    who = _who(s.study, s.subject_id, s.visit)
    if not who:
        who = s.cell_source_id or (f"from {s.parent_sample_id}" if s.parent_sample_id else "")
    return LabelData(
        kind="sample",
        code=s.sample_id,
        title=s.sample_id,
        lines=[
            who,
            f"{s.biofluid} {s.collected_at.date().isoformat()}",
            _volume(s.volume_ml),
        ],
        status=s.status,
    )


def isolation_label(tx: Tx, code: str) -> LabelData:
    iso = isolation_service.get_isolation(tx, code)
    sample = sample_service.get_sample(tx, iso.sample_id)
    who = _who(sample.study, sample.subject_id, sample.visit) or sample.sample_id
    volume = f"{iso.final_volume_ul:g} uL" if iso.final_volume_ul is not None else ""
    return LabelData(
        kind="isolation",
        code=iso.isolation_id,
        title=iso.isolation_id,
        lines=[who, f"EV {iso.method} {iso.isolated_on.isoformat()}", volume],
    )


def box_label(tx: Tx, box: Box) -> LabelData:
    n = tx.session.scalar(select(func.count()).select_from(Sample).where(Sample.box_id == box.id))
    size = f"{box.n_rows}x{box.n_cols}" if box.n_rows else "bag"
    freezer, rack, _ = box.path.split("/")
    return LabelData(
        kind="box",
        code=box.path,
        title=box.code,
        lines=[f"{freezer} / {rack}", f"box {size}", f"{n} tubes"],
    )


def tubes_in_box(tx: Tx, box: Box) -> list[str]:
    """The sample ids in a box, position by position (A1, A2, ... A10, B1), loose ones last."""
    rows = tx.session.execute(
        select(Sample.sample_code, Sample.position).where(Sample.box_id == box.id)
    ).all()
    ordered = sorted(rows, key=lambda r: (r[1] is None, natural_key(r[1]), natural_key(r[0])))
    return [code for code, _ in ordered]


def labels_for(tx: Tx, ids: list[str], *, box_itself: bool = False) -> list[LabelData]:
    """Labels for sample, isolation or box ids, in the order given (a box: its tubes, or its
    own label with ``box_itself``). Every unknown id is named in one error."""
    out: list[LabelData] = []
    unknown: list[FieldError] = []
    empty_boxes: list[str] = []
    for raw in ids:
        code = raw.strip()
        if not code:
            continue
        if sample_service.find_sample(tx, code) is not None:
            out.append(sample_label(sample_service.get_sample(tx, code)))
            continue
        if isolation_service.find_isolation(tx, code) is not None:
            out.append(isolation_label(tx, code))
            continue
        box = tx.session.scalar(select(Box).where(Box.path == code.rstrip("/")))
        if box is not None:
            if box_itself:
                out.append(box_label(tx, box))
            else:
                codes = tubes_in_box(tx, box)
                if not codes:
                    empty_boxes.append(box.path)
                out.extend(sample_label(sample_service.get_sample(tx, c)) for c in codes)
            continue
        unknown.append(FieldError("id", "no sample, isolation or box with this id", code))
    if unknown:
        raise ValidationFailed(unknown)
    if not out and empty_boxes:
        raise ValidationFailed(
            [
                FieldError(
                    "id",
                    f"nothing to print: box {path} holds no tubes "
                    "(--box-label prints the box's own label)",
                )
                for path in empty_boxes
            ]
        )
    if not out:
        raise ValidationFailed([FieldError("id", "nothing to print: no ids given")])
    return out
