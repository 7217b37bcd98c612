"""One builder per list kind (subjects, samples, isolations, readouts, runs, boxes): the
select of its display columns, its filters, its sort orders and how a result row becomes a
:class:`RowOut`. :mod:`exolab.services.lists` pages over them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    exists,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from exolab.db.models import (
    Analyte,
    AssayRun,
    Box,
    CellSource,
    Isolation,
    Readout,
    Sample,
    Study,
    Subject,
    Visit,
)
from exolab.db.raw import reader_for
from exolab.services.analyte_lookup import find_analyte
from exolab.services.context import Tx
from exolab.services.list_query import (
    ColumnOut,
    ListQuery,
    RowOut,
    Sort,
    Spec,
    cell_text,
    date_range,
    method_has,
)
from exolab.services.prefix import equals_any_case, starts_with


def _subjects(tx: Tx, q: ListQuery) -> Spec:
    n_samples = (
        select(func.count())
        .select_from(Sample)
        .where(Sample.subject_id == Subject.id)
        .scalar_subquery()
    )
    query = select(
        Subject.id,
        Study.code,
        Subject.subject_code,
        Subject.sex,
        Subject.birth_year,
        Subject.group_name,
        Subject.diagnosis,
        Subject.enrolled_on,
        Subject.consent,
        n_samples,
        Subject.version,
    ).join(Study, Study.id == Subject.study_id)
    if q.search:
        study, sep, code = q.search.partition("/")
        if sep:
            query = query.where(equals_any_case(tx, Study.code, study.strip()))
            if code.strip():
                query = query.where(starts_with(tx, Subject.subject_code, code.strip()))
        else:
            query = query.where(starts_with(tx, Subject.subject_code, q.search))
    if q.study:
        query = query.where(Study.code == q.study)
    query = query.where(*date_range(Subject.enrolled_on, q, is_datetime=False))

    def row(r: Any) -> RowOut:
        key = f"{r[1]}/{r[2]}"
        return RowOut(
            pk=r[0],
            key=key,
            cells=[cell_text(v) for v in r[1:10]],
            open_kind="subject",
            open_key=key,
            version=r[10],
        )

    return Spec(
        columns=[
            ColumnOut(key="study", label="Study"),
            ColumnOut(key="subject_id", label="Subject", sortable=True),
            ColumnOut(key="sex", label="Sex"),
            ColumnOut(key="birth_year", label="Born", sortable=True),
            ColumnOut(key="group", label="Group", sortable=True),
            ColumnOut(key="diagnosis", label="Diagnosis"),
            ColumnOut(key="enrolled_on", label="Enrolled", sortable=True),
            ColumnOut(key="consent", label="Consent"),
            ColumnOut(key="samples", label="Samples"),
        ],
        query=query,
        pk=Subject.id,
        sorts={
            "subject_id": Sort(Subject.subject_code, False),
            "birth_year": Sort(func.coalesce(Subject.birth_year, 0), False),
            "group": Sort(func.coalesce(Subject.group_name, ""), False),
            "enrolled_on": Sort(func.coalesce(Subject.enrolled_on, date(1, 1, 1)), False),
            "registered": Sort(Subject.id, True),
        },
        default_sort="registered",
        default_desc=False,
        row=row,
    )


def _samples(tx: Tx, q: ListQuery) -> Spec:
    query = (
        select(
            Sample.id,
            Sample.sample_code,
            Study.code,
            Subject.subject_code,
            Visit.label,
            Sample.biofluid,
            Sample.collected_at,
            Sample.volume_ml,
            Sample.freeze_thaw_count,
            Sample.status,
            Box.path,
            Sample.position,
            Sample.version,
            CellSource.code,
        )
        .outerjoin(Subject, Subject.id == Sample.subject_id)
        .outerjoin(Study, Study.id == Subject.study_id)
        .outerjoin(Visit, Visit.id == Sample.visit_id)
        .outerjoin(Box, Box.id == Sample.box_id)
        .outerjoin(CellSource, CellSource.id == Sample.cell_source_id)
    )
    if q.search:
        query = query.where(starts_with(tx, Sample.sample_code, q.search))
    if q.study:
        query = query.where(Study.code == q.study)
    if q.cell_source:
        query = query.where(CellSource.code == q.cell_source)
    if q.biofluid:
        query = query.where(Sample.biofluid == q.biofluid)
    if q.status:
        query = query.where(Sample.status == q.status)
    if q.method:
        iso = aliased(Isolation)
        query = query.where(
            exists().where(iso.sample_id == Sample.id, method_has(iso.method, q.method))
        )
    query = query.where(*date_range(Sample.collected_at, q, is_datetime=True))

    def row(r: Any) -> RowOut:
        location = (r[10] + (f"/{r[11]}" if r[11] else "")) if r[10] else ""
        owner = f"{r[2]}/{r[3]}" if r[3] else (r[13] or "")
        return RowOut(
            pk=r[0],
            key=r[1],
            cells=[
                r[1],
                owner,
                cell_text(r[4]),
                r[5],
                r[9],
                cell_text(r[7]),
                cell_text(r[8]),
                location,
                cell_text(r[6]),
            ],
            open_kind="sample",
            open_key=r[1],
            version=r[12],
        )

    return Spec(
        columns=[
            ColumnOut(key="sample_id", label="Sample", sortable=True),
            ColumnOut(key="subject", label="Subject / source"),
            ColumnOut(key="visit", label="Visit"),
            ColumnOut(key="biofluid", label="Biofluid", sortable=True),
            ColumnOut(key="status", label="Status", sortable=True),
            ColumnOut(key="volume_ml", label="mL", sortable=True),
            ColumnOut(key="freeze_thaw_count", label="FT", sortable=True),
            ColumnOut(key="location", label="Location"),
            ColumnOut(key="collected_at", label="Collected", sortable=True),
        ],
        query=query,
        pk=Sample.id,
        sorts={
            "sample_id": Sort(Sample.sample_code, True),
            "biofluid": Sort(Sample.biofluid, False),
            "collected_at": Sort(Sample.collected_at, False),
            # the literal (not a bound -1.0) so the index on this expression serves it
            "volume_ml": Sort(func.coalesce(Sample.volume_ml, literal_column("-1.0")), False),
            "freeze_thaw_count": Sort(Sample.freeze_thaw_count, False),
            "status": Sort(Sample.status, False),
            "registered": Sort(Sample.id, True),
        },
        default_sort="sample_id",
        default_desc=False,
        row=row,
    )


def _isolations(tx: Tx, q: ListQuery) -> Spec:
    query = (
        select(
            Isolation.id,
            Isolation.isolation_code,
            Sample.sample_code,
            Study.code,
            Subject.subject_code,
            Sample.biofluid,
            Isolation.method,
            Isolation.isolated_on,
            Isolation.input_volume_ml,
            Isolation.final_volume_ul,
            Isolation.operator,
            Isolation.version,
        )
        .join(Sample, Sample.id == Isolation.sample_id)
        .outerjoin(Subject, Subject.id == Sample.subject_id)
        .outerjoin(Study, Study.id == Subject.study_id)
    )
    if q.search:
        query = query.where(starts_with(tx, Isolation.isolation_code, q.search))
    if q.study:
        query = query.where(Study.code == q.study)
    if q.biofluid:
        query = query.where(Sample.biofluid == q.biofluid)
    if q.method:
        query = query.where(method_has(Isolation.method, q.method))
    query = query.where(*date_range(Isolation.isolated_on, q, is_datetime=False))

    def row(r: Any) -> RowOut:
        subject = f"{r[3]}/{r[4]}" if r[4] else ""
        return RowOut(
            pk=r[0],
            key=r[1],
            cells=[
                r[1],
                r[2],
                subject,
                r[5],
                r[6],
                cell_text(r[7]),
                cell_text(r[8]),
                cell_text(r[9]),
                cell_text(r[10]),
            ],
            open_kind="isolation",
            open_key=r[1],
            version=r[11],
        )

    return Spec(
        columns=[
            ColumnOut(key="isolation_id", label="Isolation", sortable=True),
            ColumnOut(key="sample_id", label="Sample"),
            ColumnOut(key="subject", label="Subject"),
            ColumnOut(key="biofluid", label="Biofluid"),
            ColumnOut(key="method", label="Method", sortable=True),
            ColumnOut(key="isolated_on", label="Isolated", sortable=True),
            ColumnOut(key="input_volume_ml", label="Input mL"),
            ColumnOut(key="final_volume_ul", label="Final µL"),
            ColumnOut(key="operator", label="Operator"),
        ],
        query=query,
        pk=Isolation.id,
        sorts={
            "isolation_id": Sort(Isolation.isolation_code, True),
            "method": Sort(Isolation.method, False),
            "isolated_on": Sort(Isolation.isolated_on, False),
            "registered": Sort(Isolation.id, True),
        },
        default_sort="isolation_id",
        default_desc=False,
        row=row,
    )


def _readouts(tx: Tx, q: ListQuery) -> Spec:
    query = (
        select(
            Readout.id,
            Isolation.isolation_code,
            Sample.sample_code,
            Analyte.code,
            Readout.value_text,
            Readout.censor,
            Readout.unit,
            Readout.assay,
            Readout.run_code,
            Readout.replicate,
            Readout.qc,
            Readout.measured_on,
            Readout.version,
        )
        .join(Analyte, Analyte.id == Readout.analyte_id)
        .join(Sample, Sample.id == Readout.sample_id)
        .outerjoin(Isolation, Isolation.id == Readout.isolation_id)
    )
    if q.search:
        # The id of a sample or isolation (or a prefix of one), else an analyte code.
        samples = select(Sample.id).where(starts_with(tx, Sample.sample_code, q.search)).limit(5000)
        isolations = (
            select(Isolation.id)
            .where(starts_with(tx, Isolation.isolation_code, q.search))
            .limit(5000)
        )
        sample_ids = list(tx.session.scalars(samples))
        isolation_ids = list(tx.session.scalars(isolations))
        conditions: list[ColumnElement[bool]] = []
        if sample_ids:
            conditions.append(Readout.sample_id.in_(sample_ids))
        if isolation_ids:
            conditions.append(Readout.isolation_id.in_(isolation_ids))
        if not conditions:
            analyte_id = find_analyte(reader_for(tx), q.search)
            conditions.append(Readout.analyte_id == (analyte_id or -1))
        query = query.where(or_(*conditions))
    if q.analyte:
        analyte_id = find_analyte(reader_for(tx), q.analyte)
        query = query.where(Readout.analyte_id == (analyte_id or -1))
    if q.assay:
        query = query.where(Readout.assay == q.assay)
    if q.biofluid:
        query = query.where(Sample.biofluid == q.biofluid)
    if q.method:
        query = query.where(method_has(Isolation.method, q.method))
    if q.study:
        study_id = tx.session.scalar(select(Study.id).where(Study.code == q.study))
        query = query.where(
            Sample.subject_id.in_(select(Subject.id).where(Subject.study_id == (study_id or -1)))
        )
    query = query.where(*date_range(Readout.measured_on, q, is_datetime=False))

    def row(r: Any) -> RowOut:
        target = r[1] or r[2]
        value = r[4] + (" (censored)" if r[5] not in ("none", None) else "")
        return RowOut(
            pk=r[0],
            key=str(r[0]),
            cells=[
                str(r[0]),
                target,
                r[3],
                value,
                cell_text(r[6]),
                r[7],
                r[8] or "",
                str(r[9]),
                cell_text(r[10]),
                cell_text(r[11]),
            ],
            open_kind="isolation" if r[1] else "sample",
            open_key=target,
            version=r[12],
        )

    return Spec(
        columns=[
            ColumnOut(key="id", label="#", sortable=True),
            ColumnOut(key="target", label="Isolation / sample"),
            ColumnOut(key="analyte", label="Analyte"),
            ColumnOut(key="value", label="Value"),
            ColumnOut(key="unit", label="Unit"),
            ColumnOut(key="assay", label="Assay", sortable=True),
            ColumnOut(key="run_id", label="Run", sortable=True),
            ColumnOut(key="replicate", label="Rep"),
            ColumnOut(key="qc", label="QC"),
            ColumnOut(key="measured_on", label="Measured", sortable=True),
        ],
        query=query,
        pk=Readout.id,
        sorts={
            "id": Sort(Readout.id, True),
            "assay": Sort(Readout.assay, False),
            "run_id": Sort(Readout.run_code, False),
            "measured_on": Sort(func.coalesce(Readout.measured_on, date(1, 1, 1)), False),
        },
        default_sort="id",
        default_desc=True,
        row=row,
    )


def _runs(tx: Tx, q: ListQuery) -> Spec:
    query = select(
        AssayRun.id,
        AssayRun.run_code,
        AssayRun.assay,
        AssayRun.measured_on,
        AssayRun.instrument,
        AssayRun.operator,
        AssayRun.notes,
    )
    if q.search:
        query = query.where(starts_with(tx, AssayRun.run_code, q.search))
    if q.assay:
        query = query.where(AssayRun.assay == q.assay)
    query = query.where(*date_range(AssayRun.measured_on, q, is_datetime=False))

    def row(r: Any) -> RowOut:
        return RowOut(
            pk=r[0],
            key=r[1],
            cells=[cell_text(v) for v in r[1:7]],
            open_kind="run",
            open_key=r[1],
        )

    return Spec(
        columns=[
            ColumnOut(key="run_id", label="Run", sortable=True),
            ColumnOut(key="assay", label="Assay", sortable=True),
            ColumnOut(key="measured_on", label="Measured", sortable=True),
            ColumnOut(key="instrument", label="Instrument"),
            ColumnOut(key="operator", label="Operator"),
            ColumnOut(key="notes", label="Notes"),
        ],
        query=query,
        pk=AssayRun.id,
        sorts={
            "run_id": Sort(AssayRun.run_code, True),
            "assay": Sort(AssayRun.assay, False),
            "measured_on": Sort(func.coalesce(AssayRun.measured_on, date(1, 1, 1)), False),
            "registered": Sort(AssayRun.id, True),
        },
        default_sort="measured_on",
        default_desc=True,
        row=row,
    )


def _boxes(tx: Tx, q: ListQuery) -> Spec:
    used = select(func.count()).select_from(Sample).where(Sample.box_id == Box.id).scalar_subquery()
    query = select(Box.id, Box.path, Box.n_rows, Box.n_cols, used)
    if q.search:
        query = query.where(starts_with(tx, Box.path, q.search))

    def row(r: Any) -> RowOut:
        size = r[2] * r[3]
        return RowOut(
            pk=r[0],
            key=r[1],
            cells=[
                r[1],
                f"{r[2]}x{r[3]}" if size else "bag",
                str(r[4]),
                str(size - r[4]) if size else "",
            ],
            open_kind="box",
            open_key=r[1],
        )

    return Spec(
        columns=[
            ColumnOut(key="path", label="Box", sortable=True),
            ColumnOut(key="size", label="Size"),
            ColumnOut(key="used", label="Tubes"),
            ColumnOut(key="free", label="Free"),
        ],
        query=query,
        pk=Box.id,
        sorts={"path": Sort(Box.path, True)},
        default_sort="path",
        default_desc=False,
        row=row,
    )


BUILDERS = {
    "subjects": _subjects,
    "samples": _samples,
    "isolations": _isolations,
    "readouts": _readouts,
    "runs": _runs,
    "boxes": _boxes,
}
