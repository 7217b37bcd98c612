"""What the exports read (docs/exports.md), as typed rows (the round-trip CSV exports read
each kind through its service's import-column rule: ``samples.iter_sample_inputs`` and the
like): the subjects, samples, isolations, analytes and
instruments a standards export (SDTM, OMOP, FHIR) refers to; the pseudonym secret."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from exolab.db.models import (
    Analyte,
    AssayRun,
    Isolation,
    IsolationStep,
    LabIdentity,
    Sample,
    Study,
    Subject,
    Visit,
)
from exolab.services.context import Tx


def pseudonym_secret(tx: Tx) -> str | None:
    """This database's pseudonym secret (hex), None before `exolab db upgrade` made one."""
    return tx.session.scalar(select(LabIdentity.pseudonym_secret).where(LabIdentity.id == 1))


# -- what a standards export refers to ------------------------------------------------------


@dataclass
class SubjectInfo:
    pk: int
    study: str
    code: str
    sex: str | None
    birth_year: int | None
    enrolled_on: date | None
    group: str | None


@dataclass
class SampleRecord:
    pk: int
    code: str
    parent: str | None
    biofluid: str
    collected_at: datetime
    subject_pk: int | None
    visit: str | None
    tube: str | None
    sprec: str | None
    volume_ml: float | None
    processed_at: datetime | None
    spins: list[tuple[Any, Any, Any, Any]]  # (g, minutes, temperature, brake) per spin
    storage_temp_c: float | None
    status: str = "available"


@dataclass
class IsolationRecord:
    pk: int
    code: str
    sample_pk: int
    method: str
    isolated_on: date
    input_volume_ml: float | None
    final_volume_ul: float | None
    kit: str | None
    steps: list[tuple[str, dict[str, Any]]]  # (method, parameters) in step order


def study_exists(tx: Tx, study: str) -> bool:
    return tx.session.scalar(select(Study.id).where(Study.code == study)) is not None


def subject_infos(tx: Tx, study: str | None) -> list[SubjectInfo]:
    """The subjects of ``study`` (all studies when None)."""
    sq = select(Subject, Study.code).join(Study, Study.id == Subject.study_id)
    if study:
        sq = sq.where(Study.code == study)
    return [
        SubjectInfo(
            subj.id,
            study_code,
            subj.subject_code,
            subj.sex,
            subj.birth_year,
            subj.enrolled_on,
            subj.group_name,
        )
        for subj, study_code in tx.session.execute(sq)
    ]


def sample_records(tx: Tx, subject_pks: list[int] | None) -> Iterator[SampleRecord]:
    """Samples with their parent's id and visit label; those of ``subject_pks`` when given."""
    parent = Sample.__table__.alias("parent")
    q = (
        select(Sample, parent.c.sample_code, Visit.label)
        .outerjoin(parent, parent.c.id == Sample.parent_id)
        .outerjoin(Visit, Visit.id == Sample.visit_id)
    )
    if subject_pks is not None:
        q = q.where(Sample.subject_id.in_(subject_pks))
    for s, parent_code, visit in tx.session.execute(q):
        yield SampleRecord(
            s.id,
            s.sample_code,
            parent_code,
            s.biofluid,
            s.collected_at,
            s.subject_id,
            visit,
            s.tube,
            s.sprec,
            s.volume_ml,
            s.processed_at,
            [
                (s.spin1_g, s.spin1_min, s.spin1_temp_c, s.spin1_brake),
                (s.spin2_g, s.spin2_min, s.spin2_temp_c, s.spin2_brake),
            ],
            s.storage_temp_c,
            s.status,
        )


def isolation_records(tx: Tx) -> Iterator[IsolationRecord]:
    """Every isolation with its steps (an isolation without steps: none listed)."""
    steps: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for iso_pk, method, params in tx.session.execute(
        select(IsolationStep.isolation_id, IsolationStep.method, IsolationStep.params).order_by(
            IsolationStep.isolation_id, IsolationStep.step_no
        )
    ):
        steps.setdefault(iso_pk, []).append((method, dict(params or {})))
    for iso in tx.session.scalars(select(Isolation)):
        yield IsolationRecord(
            iso.id,
            iso.isolation_code,
            iso.sample_id,
            iso.method,
            iso.isolated_on,
            iso.input_volume_ml,
            iso.final_volume_ul,
            iso.kit,
            steps.get(iso.id, []),
        )


def analyte_names(tx: Tx) -> dict[str, tuple[str | None, str | None]]:
    """analyte code -> (name, kind)."""
    return {
        code: (name, kind)
        for code, name, kind in tx.session.execute(select(Analyte.code, Analyte.name, Analyte.kind))
    }


def analyte_ids(tx: Tx) -> dict[str, int]:
    """analyte code -> its internal number (stable for the life of the database)."""
    return {code: pk for code, pk in tx.session.execute(select(Analyte.code, Analyte.id))}


def run_instruments(tx: Tx) -> dict[str, str]:
    """assay run id -> instrument, for runs that name one."""
    return {
        run_code: instrument
        for run_code, instrument in tx.session.execute(
            select(AssayRun.run_code, AssayRun.instrument).where(AssayRun.instrument.is_not(None))
        )
        if instrument
    }
