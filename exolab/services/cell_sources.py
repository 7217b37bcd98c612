"""Cell sources of conditioned medium."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from operator import attrgetter
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from exolab.db.models import CellSource
from exolab.domain.schemas import CellSourceIn
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

FIELDS = tuple(f for f in CellSourceIn.model_fields if f != "cell_source_id")


class CellSourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    cell_source_id: str
    cell_type: str
    species: str | None
    tissue_origin: str | None
    donor: str | None
    passage: int | None
    confluency_pct: float | None
    viability_pct: float | None
    culture_medium: str | None
    serum_condition: str | None
    conditioning_hours: float | None
    mycoplasma_result: str | None
    mycoplasma_tested_on: date | None
    authentication: str | None
    notes: str | None
    version: int

    def as_input(self) -> dict[str, Any]:
        """The import-column form: its id and every field (:func:`iter_cell_source_inputs`
        writes the same)."""
        return self.model_dump(exclude={"id", "version"})


def iter_cell_source_inputs(tx: Tx, page: int) -> Iterator[dict[str, Any]]:
    """Every cell source in the order they were added, in its import-column form (what
    :meth:`CellSourceOut.as_input` gives: ``cell_source_id`` and the stored ``FIELDS``), read
    as plain rows ``page`` at a time (a server-side cursor on PostgreSQL)."""
    q = (
        select(CellSource.code, *(getattr(CellSource, f) for f in FIELDS))
        .order_by(CellSource.id)
        .execution_options(yield_per=page)
    )
    for code, *values in tx.session.connection().execute(q):
        yield {"cell_source_id": code, **dict(zip(FIELDS, values, strict=True))}


def _out(c: CellSource) -> CellSourceOut:
    return CellSourceOut(
        cell_source_id=c.code, **{k: getattr(c, k) for k in ("id", "version", *FIELDS)}
    )


def get_cell_source(tx: Tx, code: str) -> CellSourceOut:
    c = tx.session.scalar(select(CellSource).where(CellSource.code == code))
    if c is None:
        raise NotFound(f"no cell source {code}")
    return _out(c)


def cell_sources_by_code(tx: Tx, codes: list[str]) -> dict[str, CellSourceOut]:
    """The stored cell sources of these codes (those that exist), as
    :func:`get_cell_source` gives each (the bulk import compares a file's stored rows with
    them)."""
    out: dict[str, CellSourceOut] = {}
    for i in range(0, len(codes), IN_LIST):
        for c in tx.session.scalars(
            select(CellSource).where(CellSource.code.in_(codes[i : i + IN_LIST]))
        ):
            out[c.code] = _out(c)
    return out


_FIELD_VALUES = attrgetter(*FIELDS)


def cell_source_columns(d: CellSourceIn) -> dict[str, Any]:
    """The stored columns a cell source takes from its input (besides its key); the bulk
    import shares it (docs/bulk-imports.md)."""
    return dict(zip(FIELDS, _FIELD_VALUES(d), strict=True))


def create_cell_source(
    tx: Tx, data: CellSourceIn | dict[str, Any], batch_id: int | None = None
) -> CellSourceOut:
    tx.require_write("register cell sources")
    d = validate(CellSourceIn, data)
    if tx.session.scalar(select(CellSource.id).where(CellSource.code == d.cell_source_id)):
        raise Conflict(f"cell source {d.cell_source_id} already exists")
    c = CellSource(
        code=d.cell_source_id,
        created_by=tx.actor.name,
        batch_id=batch_id,
        **cell_source_columns(d),
    )
    tx.session.add(c)
    tx.session.flush()
    tx.audit("create", "cell_source", d.cell_source_id, new=column_values(c), batch_id=batch_id)
    return _out(c)


def update_cell_source(
    tx: Tx,
    code: str,
    changes: dict[str, Any],
    *,
    reason: str | None,
    expected_version: int | None = None,
    batch_id: int | None = None,
) -> CellSourceOut:
    tx.require_write("edit cell sources")
    reason = require_reason(reason, "edit a cell source")
    c = tx.session.scalar(select(CellSource).where(CellSource.code == code))
    if c is None:
        raise NotFound(f"no cell source {code}")
    check_version("cell source", code, c.version, expected_version)
    edit_cell_source(tx, c, changes, reason=reason, batch_id=batch_id)
    return _out(c)


def edit_cell_source(
    tx: Tx,
    c: CellSource,
    changes: dict[str, Any],
    *,
    reason: str,
    batch_id: int | None = None,
    events: list[Any] | None = None,
    checked: CellSourceIn | None = None,
) -> None:
    """The rules of an edit (:func:`update_cell_source`'s) on the stored cell source ``c``.
    An update import of many (docs/bulk-imports.md) calls this with the records it read for
    a chunk, ``events`` (appended together after the chunk is flushed: ``audit_update``) and
    ``checked``, the row it validated already (the stored record with the row's cells over
    it)."""
    if checked is None:
        merged = _out(c).as_input() | changes
        merged["cell_source_id"] = c.code
        checked = validate(CellSourceIn, merged)
    old_all = column_values(c)
    for k in FIELDS:
        setattr(c, k, getattr(checked, k))
    audit_update(
        tx, c, "cell_source", c.code, old_all, reason=reason, batch_id=batch_id, events=events
    )


def cell_source_records(tx: Tx, codes: list[str]) -> dict[str, CellSource]:
    """The stored cell sources of these codes (those that exist), as the records an edit
    changes (:func:`edit_cell_source`)."""
    out: dict[str, CellSource] = {}
    for i in range(0, len(codes), IN_LIST):
        for c in tx.session.scalars(
            select(CellSource).where(CellSource.code.in_(codes[i : i + IN_LIST]))
        ):
            out[c.code] = c
    return out
