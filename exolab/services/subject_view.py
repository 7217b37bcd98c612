"""One subject's visits with their samples and isolations, and the analytes, biofluids and
methods of its readouts (the subject screen's pickers).
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from sqlalchemy import (
    select,
)

from exolab.db.models import (
    Analyte,
    Isolation,
    Readout,
    Sample,
    Study,
    Subject,
    Visit,
)
from exolab.domain.visits import visit_day
from exolab.services.context import Tx


class VisitRow(BaseModel):
    label: str
    visit_date: date | None
    visit_day: int | None
    samples: list[str]
    isolations: list[str]


def subject_visits(tx: Tx, study: str, subject_code: str) -> list[VisitRow]:
    """One subject's visits in time order with the samples and isolations of each."""
    subject = tx.session.execute(
        select(Subject.id)
        .join(Study, Study.id == Subject.study_id)
        .where(Study.code == study, Subject.subject_code == subject_code)
    ).scalar()
    if subject is None:
        from exolab.services.errors import NotFound

        raise NotFound(f"no subject {subject_code} in study {study}")
    visits = tx.session.execute(
        select(Visit.id, Visit.label, Visit.visit_date).where(Visit.subject_id == subject)
    ).all()
    samples = tx.session.execute(
        select(Sample.id, Sample.sample_code, Sample.visit_id, Sample.collected_at, Sample.biofluid)
        .where(Sample.subject_id == subject)
        .order_by(Sample.collected_at, Sample.sample_code)
    ).all()
    isolations = tx.session.execute(
        select(Isolation.sample_id, Isolation.isolation_code, Isolation.method)
        .join(Sample, Sample.id == Isolation.sample_id)
        .where(Sample.subject_id == subject)
        .order_by(Isolation.isolation_code)
    ).all()
    first = min((s[3] for s in samples), default=None)
    out: list[VisitRow] = []
    for vid, label, vdate in visits:
        mine = [s for s in samples if s[2] == vid]
        pks = {s[0] for s in mine}
        first_at = min((s[3] for s in mine), default=None)
        when = vdate or (first_at.date() if first_at else None)
        # the day of the visit's earliest collection (a visit without samples: its date)
        at = first_at or when
        day = visit_day(at, first) if (at and first) else None
        out.append(
            VisitRow(
                label=label,
                visit_date=when,
                visit_day=day,
                samples=[f"{s[1]} ({s[4]})" for s in mine],
                isolations=[f"{i[1]} ({i[2]})" for i in isolations if i[0] in pks],
            )
        )
    out.sort(key=lambda v: (v.visit_date or date.max, v.label))
    return out


def subject_filters(
    tx: Tx, study: str, subject_code: str
) -> tuple[list[str], list[str], list[str]]:
    """Analytes, biofluids and methods that occur in one subject's readouts (for the pickers).

    Analytes with numeric results come first (they can be plotted), each group alphabetical.
    """
    base = (
        select(Analyte.code, Sample.biofluid, Isolation.method, Readout.value.is_not(None))
        .select_from(Readout)
        .join(Analyte, Analyte.id == Readout.analyte_id)
        .join(Sample, Sample.id == Readout.sample_id)
        .join(Subject, Subject.id == Sample.subject_id)
        .join(Study, Study.id == Subject.study_id)
        .outerjoin(Isolation, Isolation.id == Readout.isolation_id)
        .where(Study.code == study, Subject.subject_code == subject_code)
        .distinct()
    )
    rows = tx.session.execute(base).all()
    numeric = {r[0] for r in rows if r[3]}
    analytes = sorted({r[0] for r in rows}, key=lambda a: (a not in numeric, a))
    biofluids = sorted({r[1] for r in rows})
    methods = sorted({r[2] or "none" for r in rows})
    return analytes, biofluids, methods
