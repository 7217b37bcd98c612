"""Ids typed or scanned: the one record an id names (:func:`resolve_id`) and the records whose
id starts with a prefix (:func:`search_ids`, for the command palette).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    select,
)

from exolab.db.models import (
    AssayRun,
    AuditEvent,
    Box,
    CellSource,
    Isolation,
    Sample,
    Study,
    Subject,
)
from exolab.domain.schemas import without_control_characters
from exolab.services.audit import RECORD_TABLES
from exolab.services.context import Tx
from exolab.services.prefix import equals_any_case, starts_with


class Resolved(BaseModel):
    kind: str  # subject, sample, isolation, box, run, cell_source
    key: str  # what the matching view opens: sample id, STUDY/SUBJECT, box path, ...
    label: str


def resolve_id(tx: Tx, text: str) -> Resolved | None:
    """The record an id names: a sample, isolation, subject (``SUBJ`` or ``STUDY/SUBJ``),
    box (``F/R/B``) or a tube position (``F/R/B/A1``), an assay run or a cell source.

    Whatever the case it is typed in (docs/ui.md): the id exactly as typed first (index
    lookups), then ignoring case (:func:`same_ignoring_case`), which finds a mixed-case id
    (``P01-baseline-PL`` typed ``p01-baseline-pl``) when exactly one record matches; when
    several do (``ab-1`` and ``AB-1`` stored, ``Ab-1`` typed) none is chosen."""
    t = without_control_characters(text).strip()  # (pasted: no id has one)
    if not t:
        return None
    found = _resolve_exact(tx, t)
    if found is None:
        same = same_ignoring_case(tx, t)
        found = same[0] if len(same) == 1 else None
    return found


def _resolve_exact(tx: Tx, t: str) -> Resolved | None:
    code = tx.session.execute(
        select(Sample.sample_code, Sample.biofluid).where(Sample.sample_code == t)
    ).first()
    if code:
        return Resolved(kind="sample", key=code[0], label=f"sample {code[0]} ({code[1]})")
    iso = tx.session.execute(
        select(Isolation.isolation_code, Isolation.method).where(Isolation.isolation_code == t)
    ).first()
    if iso:
        return Resolved(kind="isolation", key=iso[0], label=f"isolation {iso[0]} ({iso[1]})")
    if "/" in t:
        parts = [p.strip() for p in t.split("/")]
        if len(parts) == 2:
            subj = tx.session.execute(
                select(Study.code, Subject.subject_code)
                .join(Study, Study.id == Subject.study_id)
                .where(Study.code == parts[0], Subject.subject_code == parts[1])
            ).first()
            if subj:
                return Resolved(
                    kind="subject", key=f"{subj[0]}/{subj[1]}", label=f"subject {subj[0]}/{subj[1]}"
                )
        if len(parts) == 3:
            box = tx.session.scalar(select(Box.path).where(Box.path == "/".join(parts)))
            if box:
                return Resolved(kind="box", key=box, label=f"box {box}")
        if len(parts) == 4:
            box_path = "/".join(parts[:3])
            tube = tx.session.scalar(
                select(Sample.sample_code)
                .join(Box, Box.id == Sample.box_id)
                .where(Box.path == box_path, Sample.position == parts[3].upper())
            )
            if tube:
                return Resolved(kind="sample", key=tube, label=f"sample {tube} at {t}")
            box = tx.session.scalar(select(Box.path).where(Box.path == box_path))
            if box:
                return Resolved(kind="box", key=box, label=f"box {box} (position {parts[3]} free)")
    subjects = tx.session.execute(
        select(Study.code, Subject.subject_code)
        .join(Study, Study.id == Subject.study_id)
        .where(Subject.subject_code == t)
        .limit(2)
    ).all()
    if len(subjects) == 1:
        s = subjects[0]
        return Resolved(kind="subject", key=f"{s[0]}/{s[1]}", label=f"subject {s[0]}/{s[1]}")
    run = tx.session.scalar(select(AssayRun.run_code).where(AssayRun.run_code == t))
    if run:
        return Resolved(kind="run", key=run, label=f"run {run}")
    cell = tx.session.scalar(select(CellSource.code).where(CellSource.code == t))
    if cell:
        return Resolved(kind="cell_source", key=cell, label=f"cell source {cell}")
    return None


def same_ignoring_case(tx: Tx, text: str, limit: int = 5) -> list[Resolved]:
    """The records whose id is ``text`` ignoring case, of the first kind that has one, in
    :func:`resolve_id`'s order of kinds (samples, isolations, subjects, boxes and tube
    positions, runs, cell sources); at most ``limit``. More than one: the ids differ only in
    case, and the text names none of them (docs/ui.md)."""
    t = without_control_characters(text).strip()
    if not t:
        return []

    def same(column: Any, value: str) -> Any:
        return equals_any_case(tx, column, value)

    def rows(stmt: Any) -> list[Any]:
        return list(tx.session.execute(stmt.limit(limit)).all())

    hits = rows(
        select(Sample.sample_code, Sample.biofluid)
        .where(same(Sample.sample_code, t))
        .order_by(Sample.sample_code)
    )
    if hits:
        return [Resolved(kind="sample", key=c, label=f"sample {c} ({b})") for c, b in hits]
    hits = rows(
        select(Isolation.isolation_code, Isolation.method)
        .where(same(Isolation.isolation_code, t))
        .order_by(Isolation.isolation_code)
    )
    if hits:
        return [Resolved(kind="isolation", key=c, label=f"isolation {c} ({m})") for c, m in hits]
    parts = [p.strip() for p in t.split("/")]
    if len(parts) <= 2:
        # (the subjects' ids by their code alone first: SQLite then probes the code's index;
        # with the study joined it scanned every subject, 80 ms at 100,000)
        coded = select(Subject.id).where(same(Subject.subject_code, parts[-1]))
        subjects = (
            select(Study.code, Subject.subject_code)
            .join(Study, Study.id == Subject.study_id)
            .where(Subject.id.in_(coded))
            .order_by(Study.code, Subject.subject_code)
        )
        if len(parts) == 2:
            subjects = subjects.where(same(Study.code, parts[0]))
        hits = rows(subjects)
        if hits:
            return [
                Resolved(kind="subject", key=f"{s}/{c}", label=f"subject {s}/{c}") for s, c in hits
            ]
    if len(parts) == 3:
        boxes = rows(select(Box.path).where(same(Box.path, "/".join(parts))).order_by(Box.path))
        return [Resolved(kind="box", key=b, label=f"box {b}") for (b,) in boxes]
    if len(parts) == 4:
        box_path, position = "/".join(parts[:3]), parts[3].upper()
        boxes = rows(select(Box.id, Box.path).where(same(Box.path, box_path)).order_by(Box.path))
        out: list[Resolved] = []
        for box_id, path in boxes:
            tube = tx.session.scalar(
                select(Sample.sample_code).where(
                    Sample.box_id == box_id, Sample.position == position
                )
            )
            at = f"{path}/{position}"
            out.append(
                Resolved(kind="sample", key=tube, label=f"sample {tube} at {at}")
                if tube
                else Resolved(kind="box", key=path, label=f"box {path} (position {position} free)")
            )
        return out
    if len(parts) > 1:
        return []
    hits = rows(
        select(AssayRun.run_code).where(same(AssayRun.run_code, t)).order_by(AssayRun.run_code)
    )
    if hits:
        return [Resolved(kind="run", key=c, label=f"run {c}") for (c,) in hits]
    hits = rows(select(CellSource.code).where(same(CellSource.code, t)).order_by(CellSource.code))
    return [Resolved(kind="cell_source", key=c, label=f"cell source {c}") for (c,) in hits]


def several_text(tx: Tx, text: str) -> str | None:
    """Why ``text`` opens nothing when it names several records ignoring case (``Ab-1`` with
    ``ab-1`` and ``AB-1`` stored; a subject's code in two studies): the message that lists
    them, for the scan fields. None when it names none."""
    same = same_ignoring_case(tx, text)
    if len(same) < 2:
        return None
    listed = ", ".join(r.label for r in same)
    how = "its study first, STUDY/SUBJECT" if same[0].kind == "subject" else "it as written"
    return f"{text.strip()!r} could be any of: {listed}; type {how}"


def why_no_events(tx: Tx, entity: str | None, entity_id: str | None) -> str | None:
    """Why an audit listing filtered by ``entity`` / ``entity_id`` found no event, for the
    user to tell "nothing happened to it" from a typo: an entity the trail has no event of
    (with the ones it has), or an id that names a record only in another case (with that
    record, :func:`same_ignoring_case`). Read only when nothing was found."""
    if (
        entity
        and tx.session.scalar(select(AuditEvent.id).where(AuditEvent.entity == entity).limit(1))
        is None
    ):
        known = sorted(tx.session.scalars(select(AuditEvent.entity).distinct()))
        return f"no event is about entity {entity!r}; the trail has {', '.join(known)}"
    if not entity_id:
        return None
    hits = same_ignoring_case(tx, entity_id)
    bulk = [r.kind for r in hits if r.key == entity_id and r.kind in RECORD_TABLES]
    if bulk and not entity:  # (created by a bulk import: no event of its own)
        return (
            f"no event is about {entity_id!r} itself (an import made it; its batch's event "
            f"records it): exolab audit --entity {bulk[0]} --id {entity_id} lists that too"
        )
    others = [r.label for r in hits if r.key != entity_id]
    if others:
        return f"no event is about {entity_id!r}; did you mean {' or '.join(others)}?"
    return f"no event is about {entity_id!r}"


def search_ids(tx: Tx, prefix: str, limit: int = 8) -> list[Resolved]:
    """Records whose id starts with ``prefix`` in any case, a few of each kind (for the
    command palette)."""
    p = without_control_characters(prefix).strip()
    if not p:
        return []
    out: list[Resolved] = []
    for code, biofluid in tx.session.execute(
        select(Sample.sample_code, Sample.biofluid)
        .where(starts_with(tx, Sample.sample_code, p))
        .order_by(Sample.sample_code)
        .limit(limit)
    ):
        out.append(Resolved(kind="sample", key=code, label=f"sample {code} ({biofluid})"))
    for code, method in tx.session.execute(
        select(Isolation.isolation_code, Isolation.method)
        .where(starts_with(tx, Isolation.isolation_code, p))
        .order_by(Isolation.isolation_code)
        .limit(limit)
    ):
        out.append(Resolved(kind="isolation", key=code, label=f"isolation {code} ({method})"))
    for study, code in tx.session.execute(
        select(Study.code, Subject.subject_code)
        .join(Study, Study.id == Subject.study_id)
        .where(starts_with(tx, Subject.subject_code, p))
        .order_by(Subject.subject_code)
        .limit(limit)
    ):
        out.append(Resolved(kind="subject", key=f"{study}/{code}", label=f"subject {study}/{code}"))
    for path in tx.session.scalars(
        select(Box.path).where(starts_with(tx, Box.path, p)).order_by(Box.path).limit(limit)
    ):
        out.append(Resolved(kind="box", key=path, label=f"box {path}"))
    for code in tx.session.scalars(
        select(AssayRun.run_code)
        .where(starts_with(tx, AssayRun.run_code, p))
        .order_by(AssayRun.run_code)
        .limit(limit)
    ):
        out.append(Resolved(kind="run", key=code, label=f"run {code}"))
    return out
