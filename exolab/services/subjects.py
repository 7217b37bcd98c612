"""Studies, subjects and visits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import bindparam, func, select

from exolab.db.models import Sample, Study, Subject, Visit
from exolab.domain.schemas import SubjectIn
from exolab.services.common import (
    IN_LIST,
    audit_update,
    check_version,
    column_values,
    require_reason,
    validate,
)
from exolab.services.context import Tx
from exolab.services.errors import Conflict, NotFound


class SubjectOut(BaseModel):
    id: int
    study: str
    subject_id: str
    sex: str | None
    birth_year: int | None
    group: str | None
    diagnosis: str | None
    enrolled_on: date | None
    consent: str | None
    notes: str | None
    version: int


def subject_out(subject: Subject, study_code: str) -> SubjectOut:
    return SubjectOut(
        id=subject.id,
        study=study_code,
        subject_id=subject.subject_code,
        sex=subject.sex,
        birth_year=subject.birth_year,
        group=subject.group_name,
        diagnosis=subject.diagnosis,
        enrolled_on=subject.enrolled_on,
        consent=subject.consent,
        notes=subject.notes,
        version=subject.version,
    )


def get_or_create_study(tx: Tx, code: str, batch_id: int | None = None) -> Study:
    study = tx.session.scalar(select(Study).where(Study.code == code))
    if study is None:
        study = Study(code=code, created_by=tx.actor.name)
        tx.session.add(study)
        tx.session.flush()
        tx.audit("create", "study", code, new={"code": code}, batch_id=batch_id)
    return study


# Built once (the row-by-row import looks these up for every row).
_SUBJECT_BY_CODE = (
    select(Subject)
    .join(Study, Study.id == Subject.study_id)
    .where(Study.code == bindparam("study"), Subject.subject_code == bindparam("subject"))
)
_VISIT_BY_LABEL = select(Visit).where(
    Visit.subject_id == bindparam("subject"), Visit.label == bindparam("label")
)


def find_subject(tx: Tx, study: str, subject_id: str) -> Subject | None:
    return tx.session.scalar(_SUBJECT_BY_CODE, {"study": study, "subject": subject_id})


def get_subject(tx: Tx, study: str, subject_id: str) -> SubjectOut:
    subject = find_subject(tx, study, subject_id)
    if subject is None:
        raise NotFound(f"no subject {subject_id} in study {study}")
    return subject_out(subject, study)


def find_subjects(tx: Tx, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Subject]:
    """The stored subjects of these (study, subject id) keys (those that exist), by study, 500
    codes per query (:func:`find_subject` for many)."""
    by_study: dict[str, list[str]] = {}
    for study, code in keys:
        by_study.setdefault(study, []).append(code)
    out: dict[tuple[str, str], Subject] = {}
    for study, codes in by_study.items():
        for i in range(0, len(codes), IN_LIST):
            for subject in tx.session.scalars(
                select(Subject)
                .join(Study, Study.id == Subject.study_id)
                .where(Study.code == study, Subject.subject_code.in_(codes[i : i + IN_LIST]))
            ):
                out[(study, subject.subject_code)] = subject
    return out


def subjects_by_code(tx: Tx, keys: list[tuple[str, str]]) -> dict[tuple[str, str], SubjectOut]:
    """The stored subjects of these keys, as :func:`get_subject` gives each (the bulk import
    compares a file's stored rows with them)."""
    return {key: subject_out(subject, key[0]) for key, subject in find_subjects(tx, keys).items()}


def subject_columns(data: SubjectIn) -> dict[str, Any]:
    """The stored columns a subject takes from its input (besides its study and key); the
    bulk import shares it (docs/bulk-imports.md)."""
    return _fields(data)


def _fields(data: SubjectIn) -> dict[str, Any]:
    return {
        "sex": data.sex,
        "birth_year": data.birth_year,
        "group_name": data.group,
        "diagnosis": data.diagnosis,
        "enrolled_on": data.enrolled_on,
        "consent": data.consent,
        "notes": data.notes,
    }


def create_subject(
    tx: Tx, data: SubjectIn | dict[str, Any], batch_id: int | None = None
) -> SubjectOut:
    tx.require_write("register subjects")
    s = validate(SubjectIn, data)
    study = get_or_create_study(tx, s.study, batch_id)
    if find_subject(tx, s.study, s.subject_id) is not None:
        raise Conflict(f"subject {s.subject_id} already exists in study {s.study}")
    subject = Subject(
        study_id=study.id,
        subject_code=s.subject_id,
        created_by=tx.actor.name,
        batch_id=batch_id,
        **_fields(s),
    )
    tx.session.add(subject)
    tx.session.flush()
    tx.audit(
        "create",
        "subject",
        f"{s.study}/{s.subject_id}",
        new=column_values(subject),
        batch_id=batch_id,
    )
    return subject_out(subject, s.study)


# A subject's import columns and where each is stored (the study's code, then its own columns).
_INPUT_COLUMNS = (
    ("study", Study.code),
    ("subject_id", Subject.subject_code),
    ("sex", Subject.sex),
    ("birth_year", Subject.birth_year),
    ("group", Subject.group_name),
    ("diagnosis", Subject.diagnosis),
    ("enrolled_on", Subject.enrolled_on),
    ("consent", Subject.consent),
    ("notes", Subject.notes),
)
_INPUT_NAMES = tuple(name for name, _ in _INPUT_COLUMNS)


def subject_as_input(subject: SubjectOut) -> dict[str, Any]:
    """The import-column form of a subject (:func:`iter_subject_inputs` writes the same)."""
    return {name: getattr(subject, name) for name in _INPUT_NAMES}


def iter_subject_inputs(tx: Tx, page: int) -> Iterator[dict[str, Any]]:
    """Every subject in the order they were added, in its import-column form, read as plain
    rows ``page`` at a time (a server-side cursor on PostgreSQL): no entity or model per
    subject. The values are the stored ones, which SubjectOut takes unchanged."""
    q = (
        select(*(column for _, column in _INPUT_COLUMNS))
        .join(Study, Study.id == Subject.study_id)
        .order_by(Subject.id)
        .execution_options(yield_per=page)
    )
    for row in tx.session.connection().execute(q):
        yield dict(zip(_INPUT_NAMES, row, strict=True))


def update_subject(
    tx: Tx,
    study: str,
    subject_id: str,
    changes: dict[str, Any],
    *,
    reason: str | None,
    expected_version: int | None = None,
    batch_id: int | None = None,
) -> SubjectOut:
    tx.require_write("edit subjects")
    reason = require_reason(reason, "edit a subject")
    subject = find_subject(tx, study, subject_id)
    if subject is None:
        raise NotFound(f"no subject {subject_id} in study {study}")
    check_version("subject", f"{study}/{subject_id}", subject.version, expected_version)
    edit_subject(tx, subject, study, changes, reason=reason, batch_id=batch_id)
    return subject_out(subject, study)


def edit_subject(
    tx: Tx,
    subject: Subject,
    study: str,
    changes: dict[str, Any],
    *,
    reason: str,
    batch_id: int | None = None,
    events: list[Any] | None = None,
    checked: SubjectIn | None = None,
) -> None:
    """The rules of an edit (:func:`update_subject`'s) on the stored subject ``subject`` of
    ``study``. An update import of many (docs/bulk-imports.md) calls this with the records it
    read for a chunk, ``events`` (appended together after the chunk is flushed:
    ``audit_update``) and ``checked``, the row it validated already (the stored record with
    the row's cells over it)."""
    code = subject.subject_code
    if checked is None:
        merged = subject_as_input(subject_out(subject, study)) | changes
        merged["study"], merged["subject_id"] = study, code  # keys are not edited here
        checked = validate(SubjectIn, merged)
    old_all = column_values(subject)
    for k, v in _fields(checked).items():
        setattr(subject, k, v)
    audit_update(
        tx,
        subject,
        "subject",
        f"{study}/{code}",
        old_all,
        reason=reason,
        batch_id=batch_id,
        events=events,
    )


def delete_subject(tx: Tx, study: str, subject_id: str, *, reason: str | None) -> None:
    tx.require_write("delete subjects")
    reason = require_reason(reason, "delete a subject")
    subject = find_subject(tx, study, subject_id)
    if subject is None:
        raise NotFound(f"no subject {subject_id} in study {study}")
    n = tx.session.scalar(
        select(func.count()).select_from(Sample).where(Sample.subject_id == subject.id)
    )
    if n:
        raise Conflict(f"subject {study}/{subject_id} has {n} samples; delete or move them first")
    old = column_values(subject)
    tx.session.delete(subject)
    tx.session.flush()
    tx.audit("delete", "subject", f"{study}/{subject_id}", old=old, reason=reason)


def get_or_create_visit(tx: Tx, subject: Subject, label: str, on: date) -> Visit:
    visit = tx.session.scalar(_VISIT_BY_LABEL, {"subject": subject.id, "label": label})
    if visit is None:
        visit = Visit(subject_id=subject.id, label=label, visit_date=on)
        tx.session.add(visit)
        tx.session.flush()
    elif visit.visit_date is None or on < visit.visit_date:
        visit.visit_date = on
    return visit
