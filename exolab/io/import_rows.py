"""Rows of an import file applied to the database, one kind at a time (docs/import-formats.md).

The header check and the row values shared by every path; then the row-by-row path: each row
validated, looked up by its natural key, and created, compared, skipped or updated through the
service functions (the one set of rules the UI and CLI use), in a savepoint so that every
problem of the file is found. The bulk paths (:mod:`exolab.io.bulk`,
:mod:`exolab.io.bulk_records`) get these functions handed in by :mod:`exolab.io.importer`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from exolab.domain import readout_rules
from exolab.domain.schemas import ReadoutIn
from exolab.io.cells import import_cell
from exolab.io.import_kinds import Kind, OnDuplicate
from exolab.io.import_report import ImportReport
from exolab.io.problems import Problems
from exolab.io.reading import CsvFile, FileProblem, ragged_row, to_decimal_point
from exolab.services import (
    audit,
    cell_sources,
    isolations,
    readout_sets,
    readouts,
    samples,
    storage,
    subjects,
)
from exolab.services.common import duplicate_key, validate
from exolab.services.context import Tx
from exolab.services.errors import (
    Conflict,
    ExolabError,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    database_error_text,
)

# -- header --------------------------------------------------------------------------------


def check_header(
    kind: Kind,
    src: CsvFile,
    problems: Problems,
    *,
    ignore_extra: bool,
    on_duplicate: OnDuplicate = "error",
) -> dict[str, int]:
    """Map import column -> field index; header problems are reported against row 1.

    With ``on_duplicate="update"`` a file may carry only the key and the changed columns (a
    partial update): the other required columns are then checked on each row that would
    create a record."""
    known = set(kind.columns)
    index: dict[str, int] = {}
    for i, (name, raw) in enumerate(zip(src.header, src.raw_header, strict=True)):
        if not name:
            problems.add(src.header_row, f"column {i + 1}", "empty column name in the header")
            continue
        if name in index:
            problems.add(src.header_row, name, f"column '{raw.strip()}' appears twice")
            continue
        if name not in known:
            if not ignore_extra:
                problems.add(
                    src.header_row,
                    raw.strip(),
                    f"unknown column for {kind.name}; expected some of: "
                    f"{', '.join(kind.columns)} (or use --ignore-extra)",
                )
            continue
        index[name] = i
    partial_ok = on_duplicate == "update"
    for col in kind.required:
        if col not in index and not (partial_ok and col not in kind.key_columns):
            problems.add(src.header_row, col, "required column is missing")
    if kind.name == "readouts" and "isolation_id" not in index and "sample_id" not in index:
        problems.add(src.header_row, "isolation_id", "required column is missing (or sample_id)")
    return index


def row_values(
    fields: list[str], width: int, index: dict[str, int]
) -> tuple[dict[str, str] | None, str | None]:
    """The row's known columns (stripped), or a ragged-row message."""
    ragged = ragged_row(fields, width)
    if ragged is not None:
        return None, ragged
    return {col: import_cell(fields[i]) for col, i in index.items()}, None


# -- the row-by-row path (small kinds) -----------------------------------------------------


def _find(tx: Tx, kind: Kind, m: Any) -> BaseModel | None:
    try:
        if kind.name == "subjects":
            return subjects.get_subject(tx, m.study, m.subject_id)
        if kind.name == "cell_sources":
            return cell_sources.get_cell_source(tx, m.cell_source_id)
        if kind.name == "samples":  # most rows are new: a cheap look first
            found = samples.find_sample(tx, m.sample_id) is not None
            return samples.get_sample(tx, m.sample_id) if found else None
        if kind.name == "isolations":
            return isolations.get_isolation(tx, m.isolation_id)
        if kind.name == "readouts":
            return readouts.find_readout(tx, m)
    except NotFound:
        return None
    raise AssertionError(kind.name)


def _find_many(tx: Tx, kind: Kind, models: list[Any]) -> dict[tuple[str, ...], BaseModel]:
    """:func:`_find` for many rows at once, by their natural key (as a tuple of the key
    columns' values): the bulk path reads the stored records of a chunk's stored keys so."""
    found: dict[Any, BaseModel]
    if kind.name == "subjects":
        keys = list(dict.fromkeys((m.study, m.subject_id) for m in models))
        return {key: out for key, out in subjects.subjects_by_code(tx, keys).items()}
    if kind.name == "cell_sources":
        found = dict(cell_sources.cell_sources_by_code(tx, [m.cell_source_id for m in models]))
    elif kind.name == "samples":
        found = dict(samples.samples_by_code(tx, [m.sample_id for m in models]))
    elif kind.name == "isolations":
        found = dict(isolations.isolations_by_code(tx, [m.isolation_id for m in models]))
    else:
        raise AssertionError(kind.name)
    return {(code,): out for code, out in found.items()}


def _given(data: dict[str, Any]) -> list[str]:
    """The columns a row gives (a blank cell is not given: an update leaves it as it is)."""
    return [c for c, v in data.items() if v]


def unchanged(kind: Kind, m: Any, data: dict[str, Any], existing: Any) -> bool:
    """Whether a row (``m`` validated from the cells ``data``) equals its stored record in
    every column it gives: what a re-import counts as unchanged."""
    return not differences(kind, m, existing, _given(data))


def _as_input(kind: Kind, out: Any) -> dict[str, Any]:
    if kind.name == "subjects":
        return subjects.subject_as_input(out)
    return dict(out.as_input())


def _create(
    tx: Tx, kind: Kind, data: dict[str, Any], batch_id: int | None, create_locations: bool
) -> None:
    if kind.name == "samples":
        samples.insert_sample(tx, data, batch_id, create_locations=create_locations)
        return
    create: Callable[..., Any] = {
        "subjects": subjects.create_subject,
        "cell_sources": cell_sources.create_cell_source,
        "isolations": isolations.record_isolation,
        "readouts": readouts.record_readout,
    }[kind.name]
    create(tx, data, batch_id)


def _update(
    tx: Tx,
    kind: Kind,
    m: Any,
    changes: dict[str, Any],
    reason: str,
    batch_id: int | None,
    create_locations: bool = False,
    existing: Any = None,
) -> None:
    """``existing``: the stored record as the row was compared with it; when the record is
    still that version, the service's edit is applied to it without reading it again."""
    if kind.name == "samples" and isinstance(existing, samples.SampleOut):
        tx.require_write("edit samples")
        tube = samples.find_sample(tx, m.sample_id)
        if tube is not None and tube.version == existing.version:
            samples.edit_sample(
                tx,
                tube,
                existing,
                changes,
                reason=reason,
                batch_id=batch_id,
                create_locations=create_locations,
            )
            return
    if kind.name == "isolations" and isinstance(existing, isolations.IsolationOut):
        tx.require_write("edit isolations")
        iso = isolations.find_isolation(tx, m.isolation_id)
        if iso is not None and iso.version == existing.version:
            isolations.edit_isolation(tx, iso, existing, changes, reason=reason, batch_id=batch_id)
            return
    if kind.name == "subjects":
        subjects.update_subject(
            tx, m.study, m.subject_id, changes, reason=reason, batch_id=batch_id
        )
    elif kind.name == "cell_sources":
        cell_sources.update_cell_source(
            tx, m.cell_source_id, changes, reason=reason, batch_id=batch_id
        )
    elif kind.name == "samples":
        samples.update_sample(
            tx,
            m.sample_id,
            changes,
            reason=reason,
            batch_id=batch_id,
            create_locations=create_locations,
        )
    elif kind.name == "readouts":
        stored = (
            existing if isinstance(existing, readouts.ReadoutOut) else readouts.find_readout(tx, m)
        )  # (the readout the row was compared with: its id, without finding it again)
        assert stored is not None
        readouts.update_readout(tx, stored.id, changes, reason=reason, batch_id=batch_id)
    else:
        isolations.update_isolation(tx, m.isolation_id, changes, reason=reason, batch_id=batch_id)


def _same(column: str, a: Any, b: Any) -> bool:
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        if column == "value":  # '1,5' typed in a ';' file is exported as '1.5': the same result
            from exolab.io.export import portable_value

            return portable_value(a) == portable_value(b)
        return a.upper() == b.upper() if column == "sprec" else False
    return False


def differences(kind: Kind, row: Any, existing: Any, given: list[str]) -> list[str]:
    """Columns given in the file whose value differs from the stored record.

    A blank cell means "not given" and is not compared (an update leaves it unchanged)."""
    try:
        current: Any = validate(kind.model, _as_input(kind, existing))
    except ValidationFailed:
        current = None
    out = []
    for col in given:
        if col in kind.key_columns:
            continue
        new = getattr(row, col)
        old = getattr(current, col) if current is not None else _as_input(kind, existing)[col]
        if not _same(col, new, old):
            out.append(col)
    return out


def _report_failed(
    problems: Problems, row: int, exc: ExolabError, kind: Kind, data: dict[str, Any]
) -> None:
    if isinstance(exc, ValidationFailed):
        for e in exc.errors:
            col = e.field or kind.key_columns[0]
            problems.add(row, col, e.message, e.value or data.get(col))
    elif isinstance(exc, Conflict):
        col = exc.field or kind.key_columns[-1]
        problems.add(row, col, str(exc), data.get(col))
    else:
        problems.add(row, kind.key_columns[0], str(exc))


def _convert_numbers(kind: Kind, data: dict[str, Any], decimal_comma: bool) -> None:
    """Numbers of a ``;`` file with its decimal commas read as points; ValidationFailed
    naming each ambiguous one (``1.000``: docs/import-formats.md)."""
    if not decimal_comma:
        return
    errors = []
    for col in [c for c in data if c in kind.numeric_columns]:  # (in the file's order)
        v = data[col]
        if v:
            try:
                data[col] = to_decimal_point(v)
            except ValueError as exc:
                errors.append(FieldError(col, str(exc), v))
    if errors:
        raise ValidationFailed(errors)


def _read_rows(
    kind: Kind, src: CsvFile, index: dict[str, int], report: ImportReport, problems: Problems
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The file's rows as cells, numbers read (a decimal comma too); a ragged row or a
    number that cannot be read is reported (and refused) instead."""
    width = len(src.header)
    for rownum, fields in src.rows():
        data, ragged = row_values(fields, width, index)
        if data is None:
            problems.add(rownum, src.ragged_column(len(fields)), ragged or "ragged row")
            report.refused += 1
            continue
        try:
            _convert_numbers(kind, data, src.decimal_comma)
        except ValidationFailed as exc:
            _report_failed(problems, rownum, exc, kind, data)
            report.refused += 1
            continue
        yield rownum, data


_NOT_LOOKED_UP: Any = object()  # (a row's stored record, not looked up yet)


def _import_rows(
    tx: Tx,
    kind: Kind,
    src: CsvFile,
    index: dict[str, int],
    report: ImportReport,
    problems: Problems,
    on_duplicate: OnDuplicate,
    create_locations: bool = False,
    batched: bool = False,
) -> None:
    seen: dict[tuple[Any, ...], int] = {}
    absent = [c for c in kind.required if c not in index]  # a partial update file
    if batched and absent and on_duplicate == "update" and kind.name in _EDITS:
        chunk_of = functools.partial(_update_chunk, create_locations=create_locations)
        _import_updates(tx, kind, src, index, report, problems, absent, chunk_of)
        return
    if batched and absent and on_duplicate == "update" and kind.name == "readouts":
        dup_column = "replicate" if "replicate" in index else "analyte"
        chunk_of = functools.partial(_update_readout_chunk, dup_column=dup_column)
        _import_updates(tx, kind, src, index, report, problems, absent, chunk_of)
        return
    for rownum, data in _read_rows(kind, src, index, report, problems):
        found: Any = _NOT_LOOKED_UP
        try:
            if absent and on_duplicate == "update":
                m, found = _partial_row(tx, kind, data, absent)
            else:
                m = validate(kind.model, data)
        except ValidationFailed as exc:
            _report_failed(problems, rownum, exc, kind, data)
            report.refused += 1
            continue
        key = (
            readouts.key_of(tx, m)
            if isinstance(m, ReadoutIn)
            else tuple(getattr(m, c) for c in kind.key_columns)
        )
        first = seen.get(key)
        if first is not None and kind.name == "readouts":  # (the bulk loader's message)
            col = "replicate" if "replicate" in index else "analyte"
            problems.add(rownum, col, readout_rules.duplicate_message(first), data.get(col))
        elif first is not None:
            col = kind.key_columns[-1]
            problems.add(rownum, col, duplicate_key(key, first), data.get(col))
        if first is not None:
            report.refused += 1
            continue
        seen[key] = rownum
        existing = _find(tx, kind, m) if found is _NOT_LOOKED_UP else found
        apply_row(
            tx, kind, rownum, m, data, existing, report, problems, on_duplicate, create_locations
        )


# -- a partial update file, a chunk at a time (docs/bulk-imports.md, "Updates") ----------

# Rows per chunk of an update file: its stored records are read together, its changes
# flushed and its audit events appended together.
UPDATE_CHUNK_ROWS = 2_000


class _Edits:
    """What an update chunk shares: the stored records it read (by their key), the positions
    its moves leave (:class:`storage.PositionView`) and the audit events its edits make."""

    def __init__(self, tx: Tx, kind: Kind, keys: list[tuple[str, ...]]) -> None:
        self.kind = kind
        self.stored: dict[tuple[str, ...], Any] = {}
        self.records: dict[tuple[str, ...], Any] = {}
        codes = [k[0] for k in keys]
        if kind.name == "samples":
            self.stored = {(c,): out for c, out in samples.samples_by_code(tx, codes).items()}
            self.records = {(c,): r for c, r in samples.tubes_by_code(tx, codes).items()}
        elif kind.name == "subjects":
            pairs = [(k[0], k[1]) for k in keys]
            self.stored = {k: out for k, out in subjects.subjects_by_code(tx, pairs).items()}
            self.records = {k: r for k, r in subjects.find_subjects(tx, pairs).items()}
        elif kind.name == "isolations":
            found = isolations.isolations_by_code(tx, codes)
            self.stored = {(c,): out for c, out in found.items()}
            self.records = {(c,): r for c, r in isolations.isolation_records(tx, codes).items()}
        else:
            self.stored = {
                (c,): out for c, out in cell_sources.cell_sources_by_code(tx, codes).items()
            }
            self.records = {(c,): r for c, r in cell_sources.cell_source_records(tx, codes).items()}
        self.positions = storage.PositionView(tx)
        self.events: list[Any] = []

    def edit(
        self,
        tx: Tx,
        key: tuple[str, ...],
        m: Any,
        existing: Any,
        changes: dict[str, Any],
        reason: str,
        batch_id: int | None,
        create_locations: bool,
    ) -> None:
        """The service's own edit (the rules of ``update_sample``, ``update_isolation``,
        ``update_subject``, ``update_cell_source``) on the record read for the chunk."""
        record = self.records[key]
        events = self.events
        if self.kind.name == "samples":
            tx.require_write("edit samples")
            before = (record.box_id, record.position)
            samples.edit_sample(
                tx,
                record,
                existing,
                changes,
                reason=reason,
                batch_id=batch_id,
                create_locations=create_locations,
                positions=self.positions,
                events=events,
                checked=m,
            )
            self.positions.moved(key[0], before, (record.box_id, record.position))
        elif self.kind.name == "isolations":
            tx.require_write("edit isolations")
            isolations.edit_isolation(
                tx,
                record,
                existing,
                changes,
                reason=reason,
                batch_id=batch_id,
                events=events,
                checked=m,
            )
        elif self.kind.name == "subjects":
            tx.require_write("edit subjects")
            subjects.edit_subject(
                tx, record, key[0], changes, reason=reason, batch_id=batch_id, events=events,
                checked=m,
            )  # fmt: skip
        else:
            tx.require_write("edit cell sources")
            cell_sources.edit_cell_source(
                tx, record, changes, reason=reason, batch_id=batch_id, events=events, checked=m
            )

    def write(self, tx: Tx) -> None:
        """Flush the chunk's changes and append its events, chained as one-by-one appends."""
        self.positions.flush()
        audit.append_events(tx, self.events)

    def rolled_back(self) -> None:
        """The chunk was rolled back: the storage it made is gone (the replay makes it again).
        Its records are let go: the replay reads each one again, and while the session held
        the whole chunk every savepoint the replay rolls back walked all of them (a file
        refused on every row, 20,000 tubes moved to a box not there: 41 s, ~1 ms a row)."""
        self.positions.forget_made()
        self.records, self.events = {}, []


class _ReadoutEdits:
    """:class:`_Edits` of readouts: the chunk's stored readouts (read by id), the audit events
    its edits make and the (sample, analyte) pairs whose readout_sets it refreshes once."""

    def __init__(self, tx: Tx, ids: list[int]) -> None:
        self.stored, self.records = readouts.readouts_by_id(tx, ids)
        self.events: list[Any] = []
        self.pairs: set[tuple[int, int]] = set()
        self.changed: list[Any] = []  # (the readouts the edits changed)
        self.shapes: set[frozenset[str]] = set()  # (the sets of columns they changed)

    def edit(
        self,
        tx: Tx,
        existing: readouts.ReadoutOut,
        changes: dict[str, Any],
        reason: str,
        batch_id: int | None,
        checked: ReadoutIn | None,
    ) -> None:
        """The service's own edit (``update_readout``'s rules: ``edit_readout``) on the
        readout read for the chunk; ``checked``: the row as validated, when that is the
        readout with ``changes`` over it (:func:`_checked`)."""
        tx.require_write("edit readouts")
        ro = self.records[existing.id]
        events = len(self.events)
        readouts.edit_readout(
            tx, ro, existing, changes, reason=reason, batch_id=batch_id, events=self.events,
            checked=checked,
        )  # fmt: skip
        self.pairs.add((ro.sample_id, ro.analyte_id))
        if len(self.events) > events:  # (it changed: these columns)
            self.changed.append(ro)
            self.shapes.add(frozenset(self.events[-1][4]))

    def write(self, tx: Tx) -> None:
        """Flush the chunk's changes, append its events (chained as one-by-one appends) and
        refresh readout_sets of the pairs it touched (docs/bulk-imports.md, "Readout
        corrections")."""
        if len(self.shapes) > 1 and tx.dialect != "sqlite":
            # PostgreSQL: one UPDATE batch, not a round trip per run of a shape (SQLite
            # runs the narrower statements faster than one wide one: benchmarks/README.md)
            readouts.one_update_shape(self.changed)
        tx.session.flush()
        audit.append_events(tx, self.events)
        readout_sets.refresh(tx, self.pairs)

    def rolled_back(self) -> None:
        """The chunk was rolled back: its events, pairs and changes are gone with it."""
        self.events, self.pairs, self.changed, self.shapes = [], set(), [], set()


# The kinds whose updates take the chunked path (a subjects file is never partial, its
# required columns are its key: its whole rows that differ come from the bulk path)
_EDITS = ("samples", "isolations", "cell_sources", "subjects")


class _Replay(Exception):
    """A chunk's row was refused while its changes were flushed together: the chunk is
    rolled back and applied again row by row, so every problem is the per-record path's."""


def _import_updates(
    tx: Tx,
    kind: Kind,
    src: CsvFile,
    index: dict[str, int],
    report: ImportReport,
    problems: Problems,
    absent: list[str],
    chunk_of: Callable[..., None],
) -> None:
    """A partial update file (key + changed columns), :data:`UPDATE_CHUNK_ROWS` rows at a
    time through ``chunk_of`` (:func:`_update_chunk` for the record kinds,
    :func:`_update_readout_chunk` for readouts, called with ``tx, kind, chunk, seen, report,
    problems, absent``; ``seen``: the keys of the rows before, for duplicates): the chunk's
    stored records are read in a few queries, each row is checked and applied by the
    service's own edit, and the chunk's changes are flushed and its audit events appended
    together. A row the edit refuses sends the chunk back to the per-record path (row by row
    in savepoints), so the problems and what is written are that path's exactly."""
    seen: dict[tuple[Any, ...], int] = {}
    chunk: list[tuple[int, dict[str, Any]]] = []
    try:
        for row in _read_rows(kind, src, index, report, problems):
            chunk.append(row)
            if len(chunk) >= UPDATE_CHUNK_ROWS:
                chunk_of(tx, kind, chunk, seen, report, problems, absent)
                chunk = []
    except FileProblem:  # reading stopped: the rows read before it are checked, their
        if chunk:  # problems told before the stop (docs/bulk-imports.md)
            chunk_of(tx, kind, chunk, seen, report, problems, absent)
        raise
    if chunk:
        chunk_of(tx, kind, chunk, seen, report, problems, absent)


def update_stored(
    tx: Tx,
    kind: Kind,
    rows: list[tuple[int, dict[str, Any]]],
    report: ImportReport,
    problems: Problems,
    create_locations: bool,
) -> None:
    """Rows of a whole-row file whose stored records differ from them
    (``--on-duplicate update``), handed over by the bulk path together: updated a chunk at a
    time as a partial update file's rows are (its rows are the limit case: every column
    given)."""
    assert kind.name in _EDITS, kind.name
    for i in range(0, len(rows), UPDATE_CHUNK_ROWS):
        part = rows[i : i + UPDATE_CHUNK_ROWS]
        _update_chunk(tx, kind, part, {}, report, problems, list(kind.required), create_locations)


# A row of an update chunk to apply: (row number, the row validated, its cells, the stored
# record, the columns that differ); or, in its place in file order, the report of a problem
# found before writing.
_Row = tuple[int, Any, dict[str, Any], Any, list[str]]


def _update_chunk(
    tx: Tx,
    kind: Kind,
    chunk: list[tuple[int, dict[str, Any]]],
    seen: dict[tuple[Any, ...], int],
    report: ImportReport,
    problems: Problems,
    absent: list[str],
    create_locations: bool,
) -> None:
    keys = dict.fromkeys(tuple(data.get(c, "") for c in kind.key_columns) for _, data in chunk)
    edits = _Edits(tx, kind, [k for k in keys if all(k)])
    rows: list[_Row | Callable[[], None]] = []
    for rownum, data in chunk:
        try:
            m, _ = _partial_row(tx, kind, data, absent, edits.stored)
        except ValidationFailed as exc:
            rows.append(functools.partial(_report_failed, problems, rownum, exc, kind, data))
            continue
        key = tuple(getattr(m, c) for c in kind.key_columns)
        first = seen.get(key)
        if first is not None:
            text, col = duplicate_key(key, first), kind.key_columns[-1]
            rows.append(functools.partial(problems.add, rownum, col, text, data.get(col)))
            continue
        seen[key] = rownum
        existing = edits.stored[tuple(data.get(c, "") for c in kind.key_columns)]
        rows.append((rownum, m, data, existing, differences(kind, m, existing, _given(data))))
    reason = f"import of {problems.file_name}"

    def boxes() -> None:  # (the boxes the chunk's tubes go to, read at once)
        if kind.name == "samples":
            todo = [r for r in rows if isinstance(r, tuple)]
            paths = [r[1].location.box_path for r in todo if "location" in r[4] and r[1].location]
            edits.positions.read(paths, create=create_locations)

    def edit(row: _Row) -> None:
        _rownum, m, data, existing, diff_cols = row
        key = tuple(data[c] for c in kind.key_columns)
        changes = {c: data[c] for c in diff_cols}
        edits.edit(
            tx, key, m, existing, changes, reason, report.batch_id, create_locations
        )  # fmt: skip

    def replay(row: _Row) -> None:
        rownum, m, data, existing, _diff = row
        apply_row(
            tx, kind, rownum, m, data, existing, report, problems, "update", create_locations
        )  # fmt: skip

    _apply_chunk(tx, rows, edits, report, edit, replay, boxes)


def _apply_chunk(
    tx: Tx,
    rows: list[_Row | Callable[[], None]],
    edits: _Edits | _ReadoutEdits,
    report: ImportReport,
    edit: Callable[[_Row], None],
    replay: Callable[[_Row], None],
    before: Callable[[], None] | None = None,
) -> None:
    """Apply an update chunk's rows (``edit`` each row that differs), flush its changes and
    append its events together (``edits.write``), in a savepoint; report the problems found
    before in file order and count the rows. A row the edit (or the database) refuses rolls
    the chunk back and ``replay`` applies each of its rows again through the per-record
    path, so the problems and what is written are that path's exactly."""
    todo = [r for r in rows if isinstance(r, tuple)]
    refused = len(rows) - len(todo)
    created = storage.created_mark(tx)  # (storage made by the chunk)
    try:
        with tx.savepoint():
            if before is not None:
                try:
                    before()
                except ExolabError as exc:
                    raise _Replay from exc
            updated = 0
            for row in todo:
                if not row[4]:
                    continue
                try:
                    edit(row)
                except PermissionDenied:
                    raise
                except ExolabError as exc:
                    raise _Replay from exc
                except Exception as exc:
                    if database_error_text(exc) is None:
                        raise
                    raise _Replay from exc
                updated += 1
            try:
                edits.write(tx)
            except Exception as exc:
                if database_error_text(exc) is None:
                    raise
                raise _Replay from exc
    except _Replay:  # (the storage the chunk made is gone with it; the replay makes it again)
        storage.forget_created_since(tx, created)
        edits.rolled_back()
        report.refused += refused
        for r in rows:
            if isinstance(r, tuple):
                replay(r)
            else:
                r()
        return
    for r in rows:
        if not isinstance(r, tuple):
            r()
    report.refused += refused
    report.updated += updated
    report.unchanged += len(todo) - updated


# -- readouts: a correction file, a chunk at a time (docs/bulk-imports.md, "Readout
# corrections") ---------------------------------------------------------------------------


def _natural_key(key: Any) -> tuple[str | None, str | None, str, str, str, int]:
    """A row's key (:func:`_readout_key`) as ``readouts.readouts_by_key`` takes it."""
    return (
        key.isolation_id, key.sample_id, key.analyte, key.assay, key.run_id or "", key.replicate
    )  # fmt: skip


def _update_readout_chunk(
    tx: Tx,
    kind: Kind,
    chunk: list[tuple[int, dict[str, Any]]],
    seen: dict[tuple[Any, ...], int],
    report: ImportReport,
    problems: Problems,
    absent: list[str],
    dup_column: str,
) -> None:
    """One chunk of a partial readouts file: each row's key by ReadoutIn's rules, the chunk's
    stored readouts found by their keys and read in a few queries, then each row checked as
    the row-by-row path checks it (:func:`_partial_row`: the stored readout with the row's
    cells over it, validated; a key repeated in the file) and applied by
    :func:`_apply_chunk`."""
    keyed: list[Any] = []
    for _rownum, data in chunk:
        try:
            keyed.append(_readout_key(data))
        except ValidationFailed as exc:
            keyed.append(exc)
    found = readouts.readouts_by_key(
        tx, [_natural_key(k) for k in keyed if not isinstance(k, ValidationFailed)]
    )
    edits = _ReadoutEdits(tx, list(found.values()))
    rows: list[_Row | Callable[[], None]] = []
    for (rownum, data), key in zip(chunk, keyed, strict=True):
        try:
            if isinstance(key, ValidationFailed):
                raise key
            pk = found.get(_natural_key(key))
            if pk is None:
                raise _unknown(kind, absent, key)
            existing = edits.stored[pk]
            given = {c: v for c, v in data.items() if v}
            m = validate(ReadoutIn, existing.as_input() | given, changed=given)
        except ValidationFailed as exc:
            rows.append(functools.partial(_report_failed, problems, rownum, exc, kind, data))
            continue
        natural = readouts.key_of(tx, m)
        first = seen.get(natural)
        if first is not None:
            text = readout_rules.duplicate_message(first)
            cell = data.get(dup_column)
            rows.append(functools.partial(problems.add, rownum, dup_column, text, cell))
            continue
        seen[natural] = rownum
        rows.append((rownum, m, data, existing, differences(kind, m, existing, _given(data))))
    reason = f"import of {problems.file_name}"

    def edit(row: _Row) -> None:
        _rownum, m, data, existing, diff_cols = row
        changes = {c: data[c] for c in diff_cols}
        checked = _checked(m, existing, _given(data), diff_cols)
        edits.edit(tx, existing, changes, reason, report.batch_id, checked)

    def replay(row: _Row) -> None:
        rownum, m, data, existing, _diff = row
        apply_row(tx, kind, rownum, m, data, existing, report, problems, "update")

    _apply_chunk(tx, rows, edits, report, edit, replay)


def update_readouts(
    tx: Tx,
    kind: Kind,
    rows: list[tuple[int, dict[str, Any], int]],
    report: ImportReport,
    problems: Problems,
    replay: Callable[[int, dict[str, Any], int], None],
) -> None:
    """Whole readout rows whose stored readouts (``(row number, cells, readout id)``) they
    may differ from, handed over by the bulk path (``--on-duplicate update``): compared and
    updated a chunk at a time as a partial file's rows are. ``replay`` is the bulk path's own
    code for one such row (compare, update, report), which a chunk with a refused row goes
    back to, so its problems and counts are that code's exactly."""
    for i in range(0, len(rows), UPDATE_CHUNK_ROWS):
        _update_readout_rows(tx, kind, rows[i : i + UPDATE_CHUNK_ROWS], report, problems, replay)


def _update_readout_rows(
    tx: Tx,
    kind: Kind,
    part: list[tuple[int, dict[str, Any], int]],
    report: ImportReport,
    problems: Problems,
    replay: Callable[[int, dict[str, Any], int], None],
) -> None:
    """One chunk of :func:`update_readouts`."""
    edits = _ReadoutEdits(tx, [pk for _, _, pk in part])
    prepared: list[_Row | Callable[[], None]] = []
    pks: dict[int, int] = {}  # row number -> readout id
    for rownum, data, pk in part:
        existing = edits.stored[pk]
        given = [c for c in _given(data) if c != "decimal_comma"]
        try:
            m = validate(kind.model, existing.as_input() | {c: v for c, v in data.items() if v})
        except ValidationFailed:  # (the bulk path's own code says what, and whether)
            for rownum_, data_, pk_ in part:
                replay(rownum_, data_, pk_)
            return
        pks[rownum] = pk
        prepared.append((rownum, m, data, existing, differences(kind, m, existing, given)))
    reason = f"import of {problems.file_name}"

    def edit(row: _Row) -> None:
        _rownum, m, data, existing, diff_cols = row
        changes: dict[str, Any] = {c: data[c] for c in diff_cols}
        if data.get("decimal_comma"):
            changes["decimal_comma"] = True
        given = [c for c in _given(data) if c != "decimal_comma"]
        checked = _checked(m, existing, given, diff_cols)
        edits.edit(tx, existing, changes, reason, report.batch_id, checked)

    def again(row: _Row) -> None:
        replay(row[0], row[2], pks[row[0]])

    _apply_chunk(tx, prepared, edits, report, edit, again)


def _checked(m: Any, existing: Any, given: list[str], diff_cols: list[str]) -> Any:
    """``m`` (a row validated with the stored readout under it) when it is what the edit
    validates (the stored readout with the changed columns over it): when each column the
    row gives and does not change holds the stored value itself -- not so a value written
    another way ('1,5' for '1.5', equal to the comparison); else None (the edit validates)."""
    for col in given:
        if col == "value" and col not in diff_cols and m.value != existing.value:
            return None
    return m


def apply_row(
    tx: Tx,
    kind: Kind,
    rownum: int,
    m: Any,
    data: dict[str, Any],
    existing: Any,
    report: ImportReport,
    problems: Problems,
    on_duplicate: OnDuplicate,
    create_locations: bool = False,
) -> None:
    """Create one record or compare it with the stored one (``existing``) and skip, update
    or report it, in a savepoint; the row-by-row path, and the bulk path's rows whose key
    is already stored (docs/bulk-imports.md)."""
    before = problems.count
    key = tuple(getattr(m, c) for c in kind.key_columns)
    reason = f"import of {problems.file_name}"
    try:
        with tx.savepoint():
            if existing is None:
                _create(tx, kind, data, report.batch_id, create_locations)
                report.created += 1
                return
            diff_cols = differences(kind, m, existing, _given(data))
            if not diff_cols:
                report.unchanged += 1
            elif on_duplicate == "skip":
                report.skipped += 1
            elif on_duplicate == "update":
                _update(
                    tx,
                    kind,
                    m,
                    {c: data[c] for c in diff_cols},
                    reason,
                    report.batch_id,
                    create_locations,
                    existing,
                )
                report.updated += 1
            else:
                old = _as_input(kind, existing)
                shown = ", ".join(
                    f"{c} '{_text(old.get(c))}' -> '{data[c]}'" for c in diff_cols[:4]
                )
                what = (  # (readouts: the bulk loader's words)
                    "this readout"
                    if kind.name == "readouts"
                    else f"{kind.entity} {'/'.join(str(k) for k in key)}"
                )
                problems.add(
                    rownum,
                    diff_cols[0],
                    f"{what} already exists with "
                    f"different values ({shown}); use --on-duplicate skip or update",
                    data[diff_cols[0]],
                )
    except PermissionDenied:
        raise
    except ExolabError as exc:
        _report_failed(problems, rownum, exc, kind, data)
    except Exception as exc:  # the database refused the row: say so without SQL or values
        plain = database_error_text(exc)
        if plain is None:
            raise
        problems.add(rownum, kind.key_columns[-1], plain)
    if problems.count > before:
        report.refused += 1


def _partial_row(
    tx: Tx,
    kind: Kind,
    data: dict[str, str],
    absent: list[str],
    stored: dict[tuple[str, ...], Any] | None = None,
) -> tuple[Any, Any]:
    """A row of a partial update file (key + changed columns): the stored record with the
    given cells over it, validated, and the stored record. A key that does not exist yet
    would create a record, which needs every required column. ``stored``: the stored
    records already read by their key (an update chunk's, :func:`_update_chunk`), else the
    record is looked up."""
    from types import SimpleNamespace

    key: Any
    blank = [c for c in kind.key_columns if kind.name != "readouts" and not data.get(c)]
    if blank:  # (no record to update: say so, not "sample  does not exist")
        raise ValidationFailed(
            [FieldError(blank[0], "is required: it names the record this row updates")]
        )
    if stored is not None:
        key = tuple(data.get(c, "") for c in kind.key_columns)
        existing = stored.get(key)
        shown = "/".join(key)
    elif kind.name == "readouts":
        key = _readout_key(data)
        existing = _find(tx, kind, key)
        if existing is None:
            raise _unknown(kind, absent, key)
        shown = ""
    else:
        key = SimpleNamespace(**{c: data.get(c, "") for c in kind.key_columns})
        found = all(getattr(key, c) for c in kind.key_columns)
        existing = _find(tx, kind, key) if found else None
        shown = "/".join(str(getattr(key, c)) for c in kind.key_columns)
    if existing is None:
        raise _does_not_exist(kind, absent, shown)
    given = {c: v for c, v in data.items() if v}
    return validate(kind.model, _as_input(kind, existing) | given, changed=given), existing


def _does_not_exist(kind: Kind, absent: list[str], shown: str) -> ValidationFailed:
    """The problem of a partial update file's row whose record does not exist."""
    return ValidationFailed(
        [
            FieldError(
                absent[0],
                f"{kind.entity} {shown} does not exist; creating it needs the column(s) "
                f"{', '.join(absent)} (this file has only some columns, for an update)",
            )
        ]
    )


def _unknown(kind: Kind, absent: list[str], key: Any) -> ValidationFailed:
    """:func:`_does_not_exist` of a partial readouts row's key (:func:`_readout_key`)."""
    shown = readout_rules.key_text(
        key.isolation_id or key.sample_id, key.analyte, key.assay, key.run_id, key.replicate
    )
    return _does_not_exist(kind, absent, shown)


@functools.cache
def _key_check(column: str) -> Any:
    """ReadoutIn's rule of one key column, made once (a ColumnCheck builds a TypeAdapter:
    ~0.25 ms, four per row of a partial readouts file; its cache keeps the values seen)."""
    from exolab.domain.readout_columns import ColumnCheck

    return ColumnCheck(column)


def _readout_key(data: dict[str, str]) -> Any:
    """A partial readout row's natural key, each column by ReadoutIn's own rule (the assay's
    vocabulary, replicate 1 when blank); a key column that breaks its rule is refused."""
    from types import SimpleNamespace

    from exolab.domain.readout_columns import Invalid

    iso, sample = data.get("isolation_id", ""), data.get("sample_id", "")
    if bool(iso) == bool(sample):
        raise ValidationFailed(
            [FieldError("isolation_id", "give exactly one of isolation_id or sample_id")]
        )
    values: dict[str, Any] = {"isolation_id": iso or None, "sample_id": sample or None}
    for col in ("analyte", "assay", "run_id", "replicate"):
        value = _key_check(col)(data.get(col, ""))
        if type(value) is Invalid:
            raise ValidationFailed([FieldError(col, value.message, data.get(col))])
        values[col] = value
    return SimpleNamespace(**values)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
