"""What a paged list is asked for and what it answers: the query (search, filters, sort),
its columns, rows and pages, and the pieces each kind's builder shares (display text of a
cell, date ranges, a method within a chain, the builder's spec).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import (
    ColumnElement,
    or_,
)
from sqlalchemy.orm import InstrumentedAttribute

from exolab.domain.schemas import without_control_characters

Kind = Literal["subjects", "samples", "isolations", "readouts", "runs", "boxes"]
KINDS: tuple[Kind, ...] = ("subjects", "samples", "isolations", "readouts", "runs", "boxes")
PAGE_SIZE = 100
MAX_PAGE = 1000


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
    cell_source: str | None = None  # samples: the conditioned medium of one cell source
    sort: str | None = None  # a column key of the kind; None = the kind's default
    descending: bool | None = None  # None = the kind's default direction
    limit: int = Field(default=PAGE_SIZE, ge=1, le=MAX_PAGE)

    @field_validator(
        "search", "study", "biofluid", "method", "status", "analyte", "assay", "cell_source"
    )
    @classmethod
    def _no_control_characters(cls, value: str | None) -> str | None:
        """Typed or pasted text without its control characters: no stored id has one, and
        PostgreSQL refuses a NUL in a parameter (a search then failed as an unexpected
        error)."""
        return None if value is None else without_control_characters(value)


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
class Sort:
    expr: Any
    unique: bool  # the column alone orders rows (no pk tie-break needed)


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min)


def _day_after(d: date) -> datetime:
    return datetime.combine(date.fromordinal(d.toordinal() + 1), time.min)


def date_range(column: Any, q: ListQuery, *, is_datetime: bool) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if q.since:
        out.append(column >= (_day_start(q.since) if is_datetime else q.since))
    if q.until:
        out.append(column < _day_after(q.until) if is_datetime else column <= q.until)
    return out


def method_has(column: Any, method: str) -> ColumnElement[bool]:
    """The method chain (``uf+sec``) contains this method as one of its steps."""
    return or_(
        column == method,
        column.like(method + "+%"),
        column.like("%+" + method),
        column.like("%+" + method + "+%"),
    )


@dataclass
class Spec:
    columns: list[ColumnOut]
    query: Any  # a Select of the display columns
    pk: InstrumentedAttribute[int]
    sorts: dict[str, Sort]
    default_sort: str
    default_desc: bool
    row: Any  # callable(row) -> RowOut
