"""Printable reports: a box map, a freezer's occupancy, a study's holdings (docs/labels.md)."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel
from sqlalchemy import func, select

from exolab.db.models import Box, Isolation, Sample, Study, Subject, Visit
from exolab.domain.ordering import natural_key
from exolab.services import storage
from exolab.services.context import Tx
from exolab.services.errors import NotFound
from exolab.services.standards import StudyCompleteness, study_completeness


class BoxCell(BaseModel):
    position: str
    row: int
    col: int
    sample_id: str | None
    status: str | None
    biofluid: str | None
    subject_id: str | None
    visit: str | None


class BoxMap(BaseModel):
    path: str
    n_rows: int
    n_cols: int
    cells: list[BoxCell]  # row by row
    loose: list[str]  # tubes in a bag (no positions)

    @property
    def occupied(self) -> int:
        return sum(c.sample_id is not None for c in self.cells) + len(self.loose)


def box_map(tx: Tx, path: str) -> BoxMap:
    grid = storage.box_grid(tx, path.strip().rstrip("/"))
    rows = tx.session.execute(
        select(Sample.sample_code, Sample.biofluid, Subject.subject_code, Visit.label)
        .outerjoin(Subject, Subject.id == Sample.subject_id)
        .outerjoin(Visit, Visit.id == Sample.visit_id)
        .where(Sample.box_id == grid.box.id)
    ).all()
    facts = {code: (bf, subj, visit) for code, bf, subj, visit in rows}
    cells = []
    for i, p in enumerate(grid.positions):
        bf, subj, visit = facts.get(p.sample_id or "", (None, None, None))
        cells.append(
            BoxCell(
                position=p.position,
                row=i // grid.box.n_cols,
                col=i % grid.box.n_cols,
                sample_id=p.sample_id,
                status=p.status,
                biofluid=bf,
                subject_id=subj,
                visit=visit,
            )
        )
    return BoxMap(
        path=grid.box.path,
        n_rows=grid.box.n_rows,
        n_cols=grid.box.n_cols,
        cells=cells,
        loose=grid.loose,
    )


class BoxOccupancy(BaseModel):
    box: str
    rack: str
    capacity: int | None  # None for a bag
    occupied: int
    free: int | None
    occupancy_pct: float | None
    available: int
    checked_out: int
    other: int


class FreezerReport(BaseModel):
    freezer: str
    boxes: list[BoxOccupancy]  # rack by rack, box by box (natural order)

    @property
    def capacity(self) -> int:
        return sum(b.capacity or 0 for b in self.boxes)

    @property
    def occupied(self) -> int:
        return sum(b.occupied for b in self.boxes)


def freezer_report(tx: Tx, freezer: str) -> FreezerReport:
    boxes = storage.list_boxes(tx, freezer)
    if not boxes:
        raise NotFound(f"no freezer {freezer} (or it holds no boxes)")
    counts = tx.session.execute(
        select(Box.path, Sample.status, func.count())
        .join(Sample, Sample.box_id == Box.id)
        .where(Box.path.like(f"{freezer}/%"))
        .group_by(Box.path, Sample.status)
    ).all()
    by_box: dict[str, Counter[str]] = {}
    for path, status, n in counts:
        by_box.setdefault(path, Counter())[status] += n
    out = []
    for b in sorted(boxes, key=lambda b: (natural_key(b.rack), natural_key(b.code))):
        c = by_box.get(b.path, Counter())
        occupied = sum(c.values())
        capacity = b.n_rows * b.n_cols or None
        out.append(
            BoxOccupancy(
                box=b.path,
                rack=b.rack,
                capacity=capacity,
                occupied=occupied,
                free=capacity - occupied if capacity else None,
                occupancy_pct=round(100 * occupied / capacity, 1) if capacity else None,
                available=c["available"],
                checked_out=c["checked_out"],
                other=occupied - c["available"] - c["checked_out"],
            )
        )
    return FreezerReport(freezer=freezer, boxes=out)


class StudyReport(BaseModel):
    study: str
    subjects: int
    visits: int
    tubes: dict[str, dict[str, int]]  # biofluid -> status -> tubes
    isolations: dict[str, int]  # method chain -> isolations
    completeness: StudyCompleteness


def study_report(tx: Tx, study: str) -> StudyReport:
    study_id = tx.session.scalar(select(Study.id).where(Study.code == study))
    if study_id is None:
        raise NotFound(f"no study {study}")
    subjects = tx.session.scalar(
        select(func.count()).select_from(Subject).where(Subject.study_id == study_id)
    )
    visits = tx.session.scalar(
        select(func.count())
        .select_from(Visit)
        .join(Subject, Subject.id == Visit.subject_id)
        .where(Subject.study_id == study_id)
    )
    tubes: dict[str, dict[str, int]] = {}
    for biofluid, status, n in tx.session.execute(
        select(Sample.biofluid, Sample.status, func.count())
        .join(Subject, Subject.id == Sample.subject_id)
        .where(Subject.study_id == study_id)
        .group_by(Sample.biofluid, Sample.status)
        .order_by(Sample.biofluid, Sample.status)
    ):
        tubes.setdefault(biofluid, {})[status] = n
    isolations = {
        method: n
        for method, n in tx.session.execute(
            select(Isolation.method, func.count())
            .join(Sample, Sample.id == Isolation.sample_id)
            .join(Subject, Subject.id == Sample.subject_id)
            .where(Subject.study_id == study_id)
            .group_by(Isolation.method)
            .order_by(Isolation.method)
        )
    }
    return StudyReport(
        study=study,
        subjects=subjects or 0,
        visits=visits or 0,
        tubes=tubes,
        isolations=isolations,
        completeness=study_completeness(tx, study),
    )
