"""Paged lists for the UI: one page of a kind with its search, filters and sort.

UI-agnostic and fast on a large database: every list is a keyset page (``WHERE (sort, pk) >
cursor ORDER BY sort, pk LIMIT n``) so the next page costs the same as the first however deep
the user scrolls, and an id prefix search is an index range scan. Nothing here counts a whole
list (the home screen's counts are :mod:`exolab.services.home`). The kinds' builders are
:mod:`exolab.services.list_kinds`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from exolab.services.context import Tx
from exolab.services.errors import FieldError, ValidationFailed
from exolab.services.list_kinds import BUILDERS
from exolab.services.list_query import (
    KINDS,
    MAX_PAGE,
    PAGE_SIZE,
    ColumnOut,
    Kind,
    ListQuery,
    Page,
    RowOut,
)

__all__ = [
    "KINDS",
    "MAX_PAGE",
    "PAGE_SIZE",
    "ColumnOut",
    "Kind",
    "ListQuery",
    "Page",
    "RowOut",
    "list_page",
    "sort_keys",
]


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


def list_page(
    tx: Tx, kind: str, query: ListQuery | None = None, after: list[Any] | None = None
) -> Page:
    """One page of a list; ``after`` is the previous page's ``next_cursor``."""
    if kind not in BUILDERS:
        raise ValidationFailed(
            [FieldError("kind", f"unknown list {kind!r}; choose one of {', '.join(KINDS)}")]
        )
    q = _normalise_filters(query or ListQuery())
    spec = BUILDERS[kind](tx, q)
    sort_key = q.sort or spec.default_sort
    if sort_key not in spec.sorts:
        sortable = ", ".join(spec.sorts)
        raise ValidationFailed([FieldError("sort", f"{kind} sort by one of {sortable}", sort_key)])
    sort = spec.sorts[sort_key]
    desc = spec.default_desc if q.descending is None else q.descending
    sel = spec.query.add_columns(sort.expr.label("_sort"))
    order = [sort.expr.desc() if desc else sort.expr.asc()]
    if not sort.unique:
        order.append(spec.pk.desc() if desc else spec.pk.asc())
    n = q.limit + 1
    if after is None:
        result = tx.session.execute(sel.order_by(*order).limit(n)).all()
    else:
        value, pk = after
        if isinstance(value, str) and sort_key.endswith(("_at", "_on")):
            value = _parse_cursor_date(value)
        beyond = sort.expr < value if desc else sort.expr > value
        result = []
        if not sort.unique:
            # The rest of the cursor's own sort value first, then the values beyond it: two
            # index seeks on (sort, pk). One ``sort > v OR (sort = v AND pk > p)`` condition
            # makes SQLite walk every row of the cursor's value from its start (a third of a
            # million-tube list for a biofluid).
            # (ordered by the id alone: the value is fixed, and SQLite does not see that an
            # expression index's expression is when it is constrained by equality)
            same = spec.pk < pk if desc else spec.pk > pk
            by_pk = spec.pk.desc() if desc else spec.pk.asc()
            result = list(
                tx.session.execute(sel.where(sort.expr == value, same).order_by(by_pk).limit(n))
            )
        if len(result) < n:
            rest = sel.where(beyond).order_by(*order).limit(n - len(result))
            result += tx.session.execute(rest).all()
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
    spec = BUILDERS[kind](tx, ListQuery())
    return [spec.default_sort, *(k for k in spec.sorts if k != spec.default_sort)]
