"""Paged list queries for the UI: lists, search by id or prefix, filters, counts, work queues.

UI-agnostic and fast on a large database: every list is a keyset page (``WHERE (sort, pk) >
cursor ORDER BY sort, pk LIMIT n``) so the next page costs the same as the first however deep
the user scrolls, and an id prefix search is an index range scan. Nothing here counts a whole
list; counts are only computed for the home screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, aliased

from exolab.db.models import (
    Analyte,
    AssayRun,
    Box,
    CellSource,
    Isolation,
    Readout,
    ReadoutSet,
    Sample,
    Study,
    Subject,
    Visit,
)
from exolab.db.raw import reader_for
from exolab.domain.visits import visit_day
from exolab.services.analyte_lookup import find_analyte
from exolab.services.context import Tx
from exolab.services.errors import FieldError, ValidationFailed

Kind = Literal["subjects", "samples", "isolations", "readouts", "runs", "boxes"]
KINDS: tuple[Kind, ...] = ("subjects", "samples", "isolations", "readouts", "runs", "boxes")
PAGE_SIZE = 100
MAX_PAGE = 1000
# Text that sorts after every id (SQLite compares text bytewise; ids are short).
_TOP = "\U0010ffff"


class ListQuery(BaseModel):
    """What the user asked for: search text, filters, sort and page size."""

    search: str | None = None
    study: str | None = None
    biofluid: str | None = None
    method: str | None = None
    status: str | None = None
    analyte: str | None = None
    assay: str | None = None
    since: date | None = None
    until: date | None = None
    sort: str | None = None  # a column key of the kind; None = the kind's default
    descending: bool | None = None  # None = the kind's default direction
    limit: int = Field(default=PAGE_SIZE, ge=1, le=MAX_PAGE)


class ColumnOut(BaseModel):
    key: str
    label: str
    sortable: bool = False


class RowOut(BaseModel):
    """One list row: what to show, what Enter opens, and what an edit needs."""

    pk: int
    key: str  # the record's id as users type it (sample id, STUDY/SUBJECT, ...)
    cells: list[str]
    open_kind: str  # subject, sample, isolation, box, run
    open_key: str
    version: int | None = None


class Page(BaseModel):
    kind: str
    columns: list[ColumnOut]
    rows: list[RowOut]
    sort: str
    descending: bool
    next_cursor: list[Any] | None  # pass back as ``after`` for the next page; None = last page


@dataclass(frozen=True)
class _Sort:
    expr: Any
    unique: bool  # the column alone orders rows (no pk tie-break needed)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _prefix(tx: Tx, column: Any, text: str) -> ColumnElement[bool]:
    """``column`` starts with ``text``: an index range scan on SQLite, LIKE elsewhere."""
    variants = {text, text.upper()}
    if tx.dialect == "sqlite":
        return or_(*(and_(column >= v, column < v + _TOP) for v in variants))
    escaped = {v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for v in variants}
    return or_(*(column.like(v + "%", escape="\\") for v in escaped))


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min)


def _day_after(d: date) -> datetime:
    return datetime.combine(date.fromordinal(d.toordinal() + 1), time.min)


def _date_range(column: Any, q: ListQuery, *, is_datetime: bool) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if q.since:
        out.append(column >= (_day_start(q.since) if is_datetime else q.since))
    if q.until:
        out.append(column < _day_after(q.until) if is_datetime else column <= q.until)
    return out


def _method_has(column: Any, method: str) -> ColumnElement[bool]:
    """The method chain (``uf+sec``) contains this method as one of its steps."""
    return or_(
        column == method,
        column.like(method + "+%"),
        column.like("%+" + method),
        column.like("%+" + method + "+%"),
    )


def _normalise_filters(q: ListQuery) -> ListQuery:
    """Accept vocabulary synonyms in filters (``EDTA plasma`` -> ``plasma``)."""
    from exolab.domain import vocab

    changes: dict[str, Any] = {}
    for name, voc in (
        ("biofluid", vocab.BIOFLUID),
        ("method", vocab.METHOD),
        ("status", vocab.SAMPLE_STATUS),
        ("assay", vocab.ASSAY),
    ):
        value = getattr(q, name)
        if value:
            try:
                changes[name] = voc.normalize(value)
            except ValueError as exc:
                raise ValidationFailed([FieldError(name, str(exc), value)]) from None
    for name in ("search", "study", "analyte"):
        value = getattr(q, name)
        if value is not None:
            changes[name] = value.strip() or None
    return q.model_copy(update=changes)


# -- one builder per kind: (select of display columns, pk, filters) ------------------------


@dataclass
class _Spec:
    columns: list[ColumnOut]
    query: Any  # a Select of the display columns
    pk: InstrumentedAttribute[int]
    sorts: dict[str, _Sort]
    default_sort: str
    default_desc: bool
    row: Any  # callable(row) -> RowOut


def _subjects(tx: Tx, q: ListQuery) -> _Spec:
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
            query = query.where(Study.code == study.strip())
            if code.strip():
                query = query.where(_prefix(tx, Subject.subject_code, code.strip()))
        else:
            query = query.where(_prefix(tx, Subject.subject_code, q.search))
    if q.study:
        query = query.where(Study.code == q.study)
    query = query.where(*_date_range(Subject.enrolled_on, q, is_datetime=False))

    def row(r: Any) -> RowOut:
        key = f"{r[1]}/{r[2]}"
        return RowOut(
            pk=r[0],
            key=key,
            cells=[_text(v) for v in r[1:10]],
            open_kind="subject",
            open_key=key,
            version=r[10],
        )

    return _Spec(
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
            "subject_id": _Sort(Subject.subject_code, False),
            "birth_year": _Sort(func.coalesce(Subject.birth_year, 0), False),
            "group": _Sort(func.coalesce(Subject.group_name, ""), False),
            "enrolled_on": _Sort(func.coalesce(Subject.enrolled_on, date(1, 1, 1)), False),
            "registered": _Sort(Subject.id, True),
        },
        default_sort="registered",
        default_desc=False,
        row=row,
    )


def _samples(tx: Tx, q: ListQuery) -> _Spec:
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
        query = query.where(_prefix(tx, Sample.sample_code, q.search))
    if q.study:
        query = query.where(Study.code == q.study)
    if q.biofluid:
        query = query.where(Sample.biofluid == q.biofluid)
    if q.status:
        query = query.where(Sample.status == q.status)
    if q.method:
        iso = aliased(Isolation)
        query = query.where(
            exists().where(iso.sample_id == Sample.id, _method_has(iso.method, q.method))
        )
    query = query.where(*_date_range(Sample.collected_at, q, is_datetime=True))

    def row(r: Any) -> RowOut:
        location = (r[10] + (f"/{r[11]}" if r[11] else "")) if r[10] else ""
        owner = f"{r[2]}/{r[3]}" if r[3] else (r[13] or "")
        return RowOut(
            pk=r[0],
            key=r[1],
            cells=[
                r[1],
                owner,
                _text(r[4]),
                r[5],
                r[9],
                _text(r[7]),
                _text(r[8]),
                location,
                _text(r[6]),
            ],
            open_kind="sample",
            open_key=r[1],
            version=r[12],
        )

    return _Spec(
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
            "sample_id": _Sort(Sample.sample_code, True),
            "biofluid": _Sort(Sample.biofluid, False),
            "collected_at": _Sort(Sample.collected_at, False),
            "volume_ml": _Sort(func.coalesce(Sample.volume_ml, -1.0), False),
            "freeze_thaw_count": _Sort(Sample.freeze_thaw_count, False),
            "status": _Sort(Sample.status, False),
            "registered": _Sort(Sample.id, True),
        },
        default_sort="sample_id",
        default_desc=False,
        row=row,
    )


def _isolations(tx: Tx, q: ListQuery) -> _Spec:
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
        query = query.where(_prefix(tx, Isolation.isolation_code, q.search))
    if q.study:
        query = query.where(Study.code == q.study)
    if q.biofluid:
        query = query.where(Sample.biofluid == q.biofluid)
    if q.method:
        query = query.where(_method_has(Isolation.method, q.method))
    query = query.where(*_date_range(Isolation.isolated_on, q, is_datetime=False))

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
                _text(r[7]),
                _text(r[8]),
                _text(r[9]),
                _text(r[10]),
            ],
            open_kind="isolation",
            open_key=r[1],
            version=r[11],
        )

    return _Spec(
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
            "isolation_id": _Sort(Isolation.isolation_code, True),
            "method": _Sort(Isolation.method, False),
            "isolated_on": _Sort(Isolation.isolated_on, False),
            "registered": _Sort(Isolation.id, True),
        },
        default_sort="isolation_id",
        default_desc=False,
        row=row,
    )


def _readouts(tx: Tx, q: ListQuery) -> _Spec:
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
        samples = select(Sample.id).where(_prefix(tx, Sample.sample_code, q.search)).limit(5000)
        isolations = (
            select(Isolation.id).where(_prefix(tx, Isolation.isolation_code, q.search)).limit(5000)
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
        query = query.where(_method_has(Isolation.method, q.method))
    if q.study:
        study_id = tx.session.scalar(select(Study.id).where(Study.code == q.study))
        query = query.where(
            Sample.subject_id.in_(select(Subject.id).where(Subject.study_id == (study_id or -1)))
        )
    query = query.where(*_date_range(Readout.measured_on, q, is_datetime=False))

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
                _text(r[6]),
                r[7],
                r[8] or "",
                str(r[9]),
                _text(r[10]),
                _text(r[11]),
            ],
            open_kind="isolation" if r[1] else "sample",
            open_key=target,
            version=r[12],
        )

    return _Spec(
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
            "id": _Sort(Readout.id, True),
            "assay": _Sort(Readout.assay, False),
            "run_id": _Sort(Readout.run_code, False),
            "measured_on": _Sort(func.coalesce(Readout.measured_on, date(1, 1, 1)), False),
        },
        default_sort="id",
        default_desc=True,
        row=row,
    )


def _runs(tx: Tx, q: ListQuery) -> _Spec:
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
        query = query.where(_prefix(tx, AssayRun.run_code, q.search))
    if q.assay:
        query = query.where(AssayRun.assay == q.assay)
    query = query.where(*_date_range(AssayRun.measured_on, q, is_datetime=False))

    def row(r: Any) -> RowOut:
        return RowOut(
            pk=r[0],
            key=r[1],
            cells=[_text(v) for v in r[1:7]],
            open_kind="run",
            open_key=r[1],
        )

    return _Spec(
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
            "run_id": _Sort(AssayRun.run_code, True),
            "assay": _Sort(AssayRun.assay, False),
            "measured_on": _Sort(func.coalesce(AssayRun.measured_on, date(1, 1, 1)), False),
            "registered": _Sort(AssayRun.id, True),
        },
        default_sort="measured_on",
        default_desc=True,
        row=row,
    )


def _boxes(tx: Tx, q: ListQuery) -> _Spec:
    used = select(func.count()).select_from(Sample).where(Sample.box_id == Box.id).scalar_subquery()
    query = select(Box.id, Box.path, Box.n_rows, Box.n_cols, used)
    if q.search:
        query = query.where(_prefix(tx, Box.path, q.search))

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

    return _Spec(
        columns=[
            ColumnOut(key="path", label="Box", sortable=True),
            ColumnOut(key="size", label="Size"),
            ColumnOut(key="used", label="Tubes"),
            ColumnOut(key="free", label="Free"),
        ],
        query=query,
        pk=Box.id,
        sorts={"path": _Sort(Box.path, True)},
        default_sort="path",
        default_desc=False,
        row=row,
    )


_BUILDERS = {
    "subjects": _subjects,
    "samples": _samples,
    "isolations": _isolations,
    "readouts": _readouts,
    "runs": _runs,
    "boxes": _boxes,
}


def list_page(
    tx: Tx, kind: str, query: ListQuery | None = None, after: list[Any] | None = None
) -> Page:
    """One page of a list; ``after`` is the previous page's ``next_cursor``."""
    if kind not in _BUILDERS:
        raise ValidationFailed(
            [FieldError("kind", f"unknown list {kind!r}; choose one of {', '.join(KINDS)}")]
        )
    q = _normalise_filters(query or ListQuery())
    spec = _BUILDERS[kind](tx, q)
    sort_key = q.sort or spec.default_sort
    if sort_key not in spec.sorts:
        sortable = ", ".join(spec.sorts)
        raise ValidationFailed([FieldError("sort", f"{kind} sort by one of {sortable}", sort_key)])
    sort = spec.sorts[sort_key]
    desc = spec.default_desc if q.descending is None else q.descending
    sel = spec.query.add_columns(sort.expr.label("_sort"))
    if after is not None:
        value, pk = after
        if isinstance(value, str) and sort_key.endswith(("_at", "_on")):
            value = _parse_cursor_date(value)
        if sort.unique:
            cond = sort.expr < value if desc else sort.expr > value
        elif desc:
            cond = or_(sort.expr < value, and_(sort.expr == value, spec.pk < pk))
        else:
            cond = or_(sort.expr > value, and_(sort.expr == value, spec.pk > pk))
        sel = sel.where(cond)
    order = [sort.expr.desc() if desc else sort.expr.asc()]
    if not sort.unique:
        order.append(spec.pk.desc() if desc else spec.pk.asc())
    sel = sel.order_by(*order).limit(q.limit + 1)
    result = tx.session.execute(sel).all()
    more = len(result) > q.limit
    result = result[: q.limit]
    rows = [spec.row(r) for r in result]
    next_cursor = None
    if more and result:
        last = result[-1]
        value = last[-1]
        if isinstance(value, datetime | date):
            value = value.isoformat()
        next_cursor = [value, last[0]]
    return Page(
        kind=kind,
        columns=spec.columns,
        rows=rows,
        sort=sort_key,
        descending=desc,
        next_cursor=next_cursor,
    )


def _parse_cursor_date(text: str) -> date | datetime:
    return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)


def sort_keys(tx: Tx, kind: str) -> list[str]:
    """The sort orders a list offers, default first."""
    spec = _BUILDERS[kind](tx, ListQuery())
    return [spec.default_sort, *(k for k in spec.sorts if k != spec.default_sort)]


# -- the home screen -------------------------------------------------------------------------


class HomeCounts(BaseModel):
    subjects: int
    samples: int
    isolations: int
    readouts: int
    runs: int
    boxes: int
    estimated: list[str] = Field(default_factory=list)  # names counted from the id range


# Up to this many ids a table is counted exactly; above, the id range stands in for the count
# (an exact count of 10M readouts is a full index scan: ~200 ms warm, seconds cold on SQLite).
EXACT_COUNT_LIMIT = 100_000


def home_counts(tx: Tx, *, exact_limit: int = EXACT_COUNT_LIMIT) -> HomeCounts:
    """Record counts for the home screen, in a few milliseconds however large the tables:
    exact up to ``exact_limit`` ids, else estimated as max(id) - min(id) + 1 (an upper bound;
    deletions leave gaps) and named in ``estimated``."""
    estimated: list[str] = []

    def count(name: str, pk: Any) -> int:
        # Separate statements: SQLite answers a lone min() or max() from the index at once,
        # but both in one SELECT scan the table.
        high = tx.session.scalar(select(func.max(pk)))
        low = tx.session.scalar(select(func.min(pk)))
        if high is None or low is None:
            return 0
        if high - low + 1 <= exact_limit:
            return int(tx.session.scalar(select(func.count(pk))) or 0)
        estimated.append(name)
        return int(high - low + 1)

    return HomeCounts(
        subjects=count("subjects", Subject.id),
        samples=count("samples", Sample.id),
        isolations=count("isolations", Isolation.id),
        readouts=count("readouts", Readout.id),
        runs=count("runs", AssayRun.id),
        boxes=count("boxes", Box.id),
        estimated=estimated,
    )


class QueueItem(BaseModel):
    kind: str  # sample or isolation
    key: str
    detail: str


class WorkQueues(BaseModel):
    no_isolation: list[QueueItem]
    no_characterisation: list[QueueItem]
    over_freeze_thaw: list[QueueItem]
    low_volume: list[QueueItem]
    limit: int


# Queues look at the most recently registered records only, so the home screen stays fast
# however large the database grows (a full scan of a million tubes takes seconds).
QUEUE_WINDOW_SAMPLES = 100_000
QUEUE_WINDOW_ISOLATIONS = 10_000


def work_queues(
    tx: Tx, *, freeze_thaw_limit: int = 3, low_volume_ml: float = 0.1, limit: int = 10
) -> WorkQueues:
    """What is waiting among the latest records (QUEUE_WINDOW_*): newest first, at most
    ``limit`` (+1 to tell "more") of each."""
    n = limit + 1
    recent_sample = Sample.id > (
        select(func.coalesce(func.max(Sample.id), 0)).scalar_subquery() - QUEUE_WINDOW_SAMPLES
    )
    recent_isolation = Isolation.id > (
        select(func.coalesce(func.max(Isolation.id), 0)).scalar_subquery() - QUEUE_WINDOW_ISOLATIONS
    )
    no_iso = tx.session.execute(
        select(Sample.sample_code, Sample.biofluid, Sample.collected_at)
        .where(
            recent_sample,
            Sample.status == "available",
            ~exists().where(Isolation.sample_id == Sample.id),
            ~exists().where(Sample.__table__.alias("kid").c.parent_id == Sample.id),
        )
        .order_by(Sample.id.desc())
        .limit(n)
    ).all()
    no_char = tx.session.execute(
        select(Isolation.isolation_code, Isolation.method, Isolation.isolated_on)
        .where(recent_isolation, ~exists().where(Readout.isolation_id == Isolation.id))
        .order_by(Isolation.id.desc())
        .limit(n)
    ).all()
    thawed = tx.session.execute(
        select(Sample.sample_code, Sample.freeze_thaw_count, Sample.status)
        .where(
            recent_sample,
            Sample.freeze_thaw_count > freeze_thaw_limit,
            Sample.status.in_(("available", "checked_out")),
        )
        .order_by(Sample.id.desc())
        .limit(n)
    ).all()
    low = tx.session.execute(
        select(Sample.sample_code, Sample.volume_ml)
        .where(
            recent_sample,
            Sample.volume_ml < low_volume_ml,
            Sample.status.in_(("available", "checked_out")),
        )
        .order_by(Sample.id.desc())
        .limit(n)
    ).all()
    return WorkQueues(
        no_isolation=[
            QueueItem(kind="sample", key=c, detail=f"{b} {_text(at)}") for c, b, at in no_iso
        ],
        no_characterisation=[
            QueueItem(kind="isolation", key=c, detail=f"{m} {_text(on)}") for c, m, on in no_char
        ],
        over_freeze_thaw=[
            QueueItem(kind="sample", key=c, detail=f"{ft} freeze-thaws, {st}")
            for c, ft, st in thawed
        ],
        low_volume=[QueueItem(kind="sample", key=c, detail=f"{v:g} mL") for c, v in low],
        limit=limit,
    )


# -- ids typed or scanned ------------------------------------------------------------------


class Resolved(BaseModel):
    kind: str  # subject, sample, isolation, box, run, cell_source
    key: str  # what the matching view opens: sample id, STUDY/SUBJECT, box path, ...
    label: str


def resolve_id(tx: Tx, text: str) -> Resolved | None:
    """The record an id names: a sample, isolation, subject (``SUBJ`` or ``STUDY/SUBJ``),
    box (``F/R/B``) or a tube position (``F/R/B/A1``), an assay run or a cell source."""
    t = text.strip()
    if not t:
        return None
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
    if t != t.upper():
        return resolve_id(tx, t.upper())
    return None


def search_ids(tx: Tx, prefix: str, limit: int = 8) -> list[Resolved]:
    """Records whose id starts with ``prefix``, a few of each kind (for the command palette)."""
    p = prefix.strip()
    if not p:
        return []
    out: list[Resolved] = []
    for code, biofluid in tx.session.execute(
        select(Sample.sample_code, Sample.biofluid)
        .where(_prefix(tx, Sample.sample_code, p))
        .order_by(Sample.sample_code)
        .limit(limit)
    ):
        out.append(Resolved(kind="sample", key=code, label=f"sample {code} ({biofluid})"))
    for code, method in tx.session.execute(
        select(Isolation.isolation_code, Isolation.method)
        .where(_prefix(tx, Isolation.isolation_code, p))
        .order_by(Isolation.isolation_code)
        .limit(limit)
    ):
        out.append(Resolved(kind="isolation", key=code, label=f"isolation {code} ({method})"))
    for study, code in tx.session.execute(
        select(Study.code, Subject.subject_code)
        .join(Study, Study.id == Subject.study_id)
        .where(_prefix(tx, Subject.subject_code, p))
        .order_by(Subject.subject_code)
        .limit(limit)
    ):
        out.append(Resolved(kind="subject", key=f"{study}/{code}", label=f"subject {study}/{code}"))
    for path in tx.session.scalars(
        select(Box.path).where(_prefix(tx, Box.path, p)).order_by(Box.path).limit(limit)
    ):
        out.append(Resolved(kind="box", key=path, label=f"box {path}"))
    for code in tx.session.scalars(
        select(AssayRun.run_code)
        .where(_prefix(tx, AssayRun.run_code, p))
        .order_by(AssayRun.run_code)
        .limit(limit)
    ):
        out.append(Resolved(kind="run", key=code, label=f"run {code}"))
    return out


# -- small look-ups the forms need ---------------------------------------------------------


class RunOut(BaseModel):
    run_id: str
    assay: str
    measured_on: date | None
    instrument: str | None
    operator: str | None
    notes: str | None


def get_run(tx: Tx, run_code: str) -> RunOut | None:
    run = tx.session.scalar(select(AssayRun).where(AssayRun.run_code == run_code))
    if run is None:
        return None
    return RunOut(
        run_id=run.run_code,
        assay=run.assay,
        measured_on=run.measured_on,
        instrument=run.instrument,
        operator=run.operator,
        notes=run.notes,
    )


class RunCell(BaseModel):
    isolation_id: str | None
    sample_id: str
    analyte: str
    replicate: int
    value: str
    unit: str | None


def run_readouts(tx: Tx, run_code: str, limit: int = 5000) -> list[RunCell]:
    """The readouts of one assay run, for the readout grid."""
    rows = tx.session.execute(
        select(
            Isolation.isolation_code,
            Sample.sample_code,
            Analyte.code,
            Readout.replicate,
            Readout.value_text,
            Readout.unit,
        )
        .join(Analyte, Analyte.id == Readout.analyte_id)
        .join(Sample, Sample.id == Readout.sample_id)
        .outerjoin(Isolation, Isolation.id == Readout.isolation_id)
        .where(Readout.run_code == run_code)
        .order_by(Readout.id)
        .limit(limit)
    ).all()
    return [
        RunCell(
            isolation_id=r[0], sample_id=r[1], analyte=r[2], replicate=r[3], value=r[4], unit=r[5]
        )
        for r in rows
    ]


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


class BatchOut(BaseModel):
    id: int
    kind: str
    file_name: str
    user: str
    started_at: datetime
    counts: dict[str, Any]
    status: str


def import_batches(tx: Tx, limit: int = 50) -> list[BatchOut]:
    """Recent import batches, newest first (for undo)."""
    from exolab.db.models import ImportBatch

    rows = tx.session.scalars(select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit))
    return [
        BatchOut(
            id=b.id,
            kind=b.kind,
            file_name=b.file_name,
            user=b.user_name,
            started_at=b.started_at,
            counts=dict(b.counts or {}),
            status=b.status,
        )
        for b in rows
    ]


# -- compare methods (choices for the UI's pickers) ------------------------------------------


class AnalyteChoices(BaseModel):
    analytes: list[str]  # most replicate sets first
    studies: list[str]


def _analyte_choices(tx: Tx, *, on_isolations: bool, limit: int) -> AnalyteChoices:
    """Analytes with replicate sets (``on_isolations``: sets on isolations), most sets
    first, and the studies. Read from ``readout_sets`` with one index probe and one count
    over its index per analyte, not by grouping every readout (seconds at 10 million)."""
    sets = ReadoutSet
    found = select(sets.id).where(sets.analyte_id == Analyte.id)
    if on_isolations:
        found = found.where(sets.isolation_id.is_not(None))
    n_sets = select(func.count()).where(sets.analyte_id == Analyte.id).scalar_subquery()
    counted = (
        select(Analyte.code)
        .where(found.exists())
        .order_by(n_sets.desc(), Analyte.code)
        .limit(limit)
    )
    return AnalyteChoices(
        analytes=list(tx.session.scalars(counted)),
        studies=list(tx.session.scalars(select(Study.code).order_by(Study.code))),
    )


def compare_choices(tx: Tx, *, limit: int = 200) -> AnalyteChoices:
    """What the compare-methods pickers offer: analytes with numeric results on isolations
    (method comparisons are between isolations, over replicate sets), and the studies."""
    return _analyte_choices(tx, on_isolations=True, limit=limit)


def cohort_choices(tx: Tx, *, limit: int = 200) -> AnalyteChoices:
    """What the cohort view's pickers offer: analytes with results, and the studies."""
    return _analyte_choices(tx, on_isolations=False, limit=limit)
