"""Validated, all-or-nothing CSV imports recorded as undoable batches (docs/import-formats.md).

Subjects, cell sources, samples and isolations go row by row through the service functions
(the one set of rules the UI and CLI use), each row in a savepoint so that every problem of the
file is found; readouts take the bulk path in :mod:`exolab.io.bulk`. Nothing is committed
unless the whole file passed: one transaction per import, one :class:`ImportBatch` row, one
``import`` audit event (plus the services' own per-record events).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import BaseModel
from sqlalchemy import delete, func, select, text

from exolab.db.base import utcnow
from exolab.db.models import (
    Analyte,
    AssayRun,
    AuditEvent,
    CellSource,
    ImportBatch,
    InstrumentRun,
    Isolation,
    IsolationStep,
    Readout,
    Sample,
    Study,
    Subject,
    Visit,
)
from exolab.domain import readout_rules
from exolab.domain.schemas import (
    CellSourceIn,
    InputModel,
    IsolationIn,
    ReadoutIn,
    SampleIn,
    SubjectIn,
)
from exolab.io.cells import import_cell
from exolab.io.problems import Problems
from exolab.io.reading import CsvFile, FileProblem, open_csv, ragged_row, to_decimal_point
from exolab.services import cell_sources, isolations, readout_sets, readouts, samples, subjects
from exolab.services.common import validate
from exolab.services.context import Lab, Tx
from exolab.services.errors import (
    Conflict,
    ExolabError,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    database_error_text,
)

OnDuplicate = Literal["error", "skip", "update"]
IMPORT_LOCK_KEY = 7_130_002  # PostgreSQL advisory lock: one import at a time per database
KIND_NAMES = ("subjects", "cell_sources", "samples", "isolations", "readouts")


@dataclass(frozen=True)
class Kind:
    """One import kind: its input model, natural key and the services that apply a row."""

    name: str
    entity: str
    model: type[InputModel]
    key_columns: tuple[str, ...]
    example: dict[str, str]

    @property
    def columns(self) -> list[str]:
        return [f for f in self.model.model_fields if f != "decimal_comma"]

    @property
    def required(self) -> list[str]:
        if self.name == "readouts":
            return ["analyte", "value", "assay"]
        return [n for n, f in self.model.model_fields.items() if f.is_required()]

    @property
    def numeric_columns(self) -> frozenset[str]:
        return frozenset(
            name for name, f in self.model.model_fields.items() if _has_float(f.annotation)
        )


def _has_float(annotation: Any) -> bool:
    """Whether a field annotation (``float``, ``float | None``, ``Annotated[float, ...]``...)
    accepts a float."""
    if annotation is float:
        return True
    return any(_has_float(a) for a in typing.get_args(annotation))


KINDS: dict[str, Kind] = {
    "subjects": Kind(
        "subjects",
        "subject",
        SubjectIn,
        ("study", "subject_id"),
        {
            "study": "PDAC-EV",
            "subject_id": "P001",
            "sex": "F",
            "birth_year": "1961",
            "group": "case",
            "diagnosis": "pancreatic ductal adenocarcinoma",
            "enrolled_on": "2024-01-11",
            "consent": "yes",
        },
    ),
    "cell_sources": Kind(
        "cell_sources",
        "cell_source",
        CellSourceIn,
        ("cell_source_id",),
        {
            "cell_source_id": "MSC-BM-07",
            "cell_type": "mesenchymal stromal cells",
            "species": "Homo sapiens",
            "tissue_origin": "bone marrow",
            "passage": "4",
            "confluency_pct": "80",
            "viability_pct": "96",
            "culture_medium": "alpha-MEM",
            "serum_condition": "ev_depleted_uc",
            "conditioning_hours": "48",
            "mycoplasma_result": "negative",
            "mycoplasma_tested_on": "2024-02-01",
        },
    ),
    "samples": Kind(
        "samples",
        "sample",
        SampleIn,
        ("sample_id",),
        {
            "sample_id": "P001-V1-PL",
            "biofluid": "plasma",
            "collected_at": "2024-01-11 10:41",
            "study": "PDAC-EV",
            "subject_id": "P001",
            "visit": "baseline",
            "tube": "k2edta",
            "volume_ml": "4.0",
            "processed_at": "2024-01-11 11:41",
            "pre_centrifugation_delay_min": "60",
            "pre_centrifugation_temp": "RT",
            "spin1_g": "2500",
            "spin1_min": "15",
            "spin1_temp_c": "20",
            "spin1_brake": "no",
            "storage_temp_c": "-80",
            "location": "F-80-1/R2/B07/C5",
        },
    ),
    "isolations": Kind(
        "isolations",
        "isolation",
        IsolationIn,
        ("isolation_id",),
        {
            "isolation_id": "ISO-0001",
            "sample_id": "P001-V1-PL",
            "isolated_on": "2024-03-02",
            "method": "uf+sec",
            "input_volume_ml": "0.5",
            "sec_column": "qEV original 70 nm",
            "sec_fractions": "7-9",
            "uf_mwco_kda": "100",
            "final_volume_ul": "200",
            "resuspension_buffer": "PBS",
        },
    ),
    "readouts": Kind(
        "readouts",
        "readout",
        ReadoutIn,
        ("isolation_id", "sample_id", "analyte", "assay", "run_id", "replicate"),
        {
            "isolation_id": "ISO-0001",
            "analyte": "CD63",
            "value": "<0.5",
            "unit": "ng/mL",
            "assay": "elisa",
            "run_id": "ELISA-2024-03-05",
            "measured_on": "2024-03-05",
            "replicate": "1",
            "lod": "0.5",
            "qc": "pass",
        },
    ),
}


def kind_of(name: str) -> Kind:
    from exolab.io.reading import normalize_header

    kind = KINDS.get(normalize_header(name))
    if kind is None:
        raise ValidationFailed(
            [FieldError("kind", f"unknown import kind '{name}'; use one of {', '.join(KINDS)}")]
        )
    return kind


def template(kind_name: str) -> str:
    """The CSV header of a kind and one commented example row."""
    import csv
    import io

    kind = kind_of(kind_name)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(kind.columns)
    example = io.StringIO()
    csv.writer(example, lineterminator="\n").writerow(
        [kind.example.get(c, "") for c in kind.columns]
    )
    buf.write("# " + example.getvalue())
    return buf.getvalue()


# -- results ------------------------------------------------------------------------------


@dataclass
class ImportReport:
    kind: str
    file_name: str
    dry_run: bool
    batch_id: int | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    refused: int = 0
    problems: Problems | None = None
    extra: dict[str, int] = field(default_factory=dict)
    locations: list[str] = field(default_factory=list)  # storage created (--create-locations)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "refused": self.refused,
            **self.extra,
        }


class _Abort(Exception):
    """Leave the write transaction without committing (dry run or problems)."""


class ImportFailed(ExolabError):
    """The file has problems; nothing was written. ``report.problems`` lists them."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        n = report.problems.count if report.problems else 0
        first = report.problems.lines()[:3] if report.problems else []
        super().__init__(
            "\n".join([*first, f"{report.file_name}: {n:,} problems; nothing was imported"])
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
    partial_ok = on_duplicate == "update" and kind.name != "readouts"
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
) -> None:
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
        stored = readouts.find_readout(tx, m)
        assert stored is not None
        readouts.update_readout(tx, stored.id, changes, reason=reason, batch_id=batch_id)
    else:
        isolations.update_isolation(tx, m.isolation_id, changes, reason=reason, batch_id=batch_id)


def _same(column: str, a: Any, b: Any) -> bool:
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
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
    if not decimal_comma:
        return
    for col in kind.numeric_columns & data.keys():
        v = data[col]
        if v:
            data[col] = to_decimal_point(v)


def _import_rows(
    tx: Tx,
    kind: Kind,
    src: CsvFile,
    index: dict[str, int],
    report: ImportReport,
    problems: Problems,
    on_duplicate: OnDuplicate,
    create_locations: bool = False,
) -> None:
    width = len(src.header)
    seen: dict[tuple[Any, ...], int] = {}
    absent = [c for c in kind.required if c not in index]  # a partial update file
    for rownum, fields in src.rows():
        data, ragged = row_values(fields, width, index)
        if data is None:
            problems.add(rownum, src.ragged_column(len(fields)), ragged or "ragged row")
            report.refused += 1
            continue
        _convert_numbers(kind, data, src.decimal_comma)
        try:
            m = (
                _partial_row(tx, kind, data, absent)
                if absent and on_duplicate == "update"
                else validate(kind.model, data)
            )
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
            problems.add(rownum, col, readout_rules.duplicate_message(first))
        elif first is not None:
            problems.add(
                rownum,
                kind.key_columns[-1],
                f"duplicate key {'/'.join(str(k) for k in key)}: also on row {first}",
            )
        if first is not None:
            report.refused += 1
            continue
        seen[key] = rownum
        existing = _find(tx, kind, m)
        apply_row(
            tx, kind, rownum, m, data, existing, report, problems, on_duplicate, create_locations
        )


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
        with tx.session.begin_nested():
            if existing is None:
                _create(tx, kind, data, report.batch_id, create_locations)
                report.created += 1
                return
            given = [c for c, v in data.items() if v]
            diff_cols = differences(kind, m, existing, given)
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


def _partial_row(tx: Tx, kind: Kind, data: dict[str, str], absent: list[str]) -> Any:
    """A row of a partial update file (key + changed columns): the stored record with the
    given cells over it. A key that does not exist yet would create a record, which needs
    every required column."""
    from types import SimpleNamespace

    key = SimpleNamespace(**{c: data.get(c, "") for c in kind.key_columns})
    existing = _find(tx, kind, key) if all(getattr(key, c) for c in kind.key_columns) else None
    if existing is None:
        shown = "/".join(str(getattr(key, c)) for c in kind.key_columns)
        raise ValidationFailed(
            [
                FieldError(
                    absent[0],
                    f"{kind.entity} {shown} does not exist; creating it needs the column(s) "
                    f"{', '.join(absent)} (this file has only some columns, for an update)",
                )
            ]
        )
    return validate(kind.model, _as_input(kind, existing) | {c: v for c, v in data.items() if v})


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# -- entry points --------------------------------------------------------------------------


def _lock_imports(tx: Tx) -> None:
    if tx.dialect == "postgresql":
        tx.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": IMPORT_LOCK_KEY})


def run_import(
    lab: Lab,
    kind_name: str,
    path: str | Path,
    *,
    dry_run: bool = False,
    on_duplicate: OnDuplicate = "error",
    ignore_extra: bool = False,
    errors_out: TextIO | None = None,
    display_name: str | None = None,
    create_locations: bool = False,
    bulk: bool = True,
) -> ImportReport:
    """Import one file. Raises :class:`ImportFailed` (nothing written) when it has problems,
    :class:`FileProblem` when it cannot be read at all. ``create_locations`` lets sample rows
    create the freezers, racks and boxes they name (listed in ``report.locations``);
    otherwise an unknown one is a problem naming the closest existing one. Subjects, samples
    and isolations take the bulk path (docs/bulk-imports.md) unless ``bulk`` is False or the file
    is a partial update."""
    kind = kind_of(kind_name)
    name = display_name or str(path)
    src = open_csv(path, name)
    problems = Problems(name, errors_out)
    report = ImportReport(kind.name, name, dry_run, problems=problems)
    with src:
        index = check_header(
            kind, src, problems, ignore_extra=ignore_extra, on_duplicate=on_duplicate
        )
        if problems:
            raise ImportFailed(report)
        try:
            with (
                lab.write() as tx,
                lab.writing_as(tx, f"an exolab import of {Path(name).name} by {tx.actor.name}"),
            ):
                _lock_imports(tx)
                batch = ImportBatch(
                    kind=kind.name,
                    file_name=name[-512:],
                    sha256=src.sha256,
                    user_name=tx.actor.name,
                    counts={},
                    status="applied",
                )
                tx.session.add(batch)
                tx.session.flush()
                report.batch_id = batch.id
                if kind.name == "readouts" and bulk:
                    from exolab.io.bulk import ExistingRows, import_readouts

                    rules = ExistingRows(kind, row_values, differences)
                    import_readouts(tx, src, index, report, problems, on_duplicate, rules)
                elif (
                    bulk
                    and kind.name in ("subjects", "samples", "isolations")
                    and not (
                        on_duplicate == "update" and any(c not in index for c in kind.required)
                    )
                ):
                    from exolab.io.bulk_records import RowRules, import_records

                    row_rules = RowRules(
                        row_values, _convert_numbers, _report_failed, _find, apply_row
                    )
                    import_records(
                        tx,
                        kind,
                        src,
                        index,
                        report,
                        problems,
                        on_duplicate,
                        create_locations,
                        row_rules,
                    )
                else:
                    _import_rows(
                        tx, kind, src, index, report, problems, on_duplicate, create_locations
                    )
                    if kind.name == "readouts" and readouts.runs_created(tx, batch.id):
                        report.extra["assay_runs_created"] = readouts.runs_created(tx, batch.id)
                report.locations = list(tx.memo.get("locations_created", []))
                if problems or dry_run:
                    raise _Abort
                batch.counts = report.counts()
                tx.session.flush()
                tx.audit(
                    "import",
                    "import_batch",
                    str(batch.id),
                    new={
                        "kind": kind.name,
                        "file_name": name,
                        "sha256": src.sha256,
                        "counts": report.counts(),
                        **({"locations_created": report.locations} if report.locations else {}),
                    },
                    batch_id=batch.id,
                )
        except _Abort:
            pass
        except FileProblem:
            raise
    if dry_run:
        report.batch_id = None
    if problems:
        if dry_run:
            return report
        raise ImportFailed(report)
    return report


# -- undo ----------------------------------------------------------------------------------


@dataclass
class UndoReport:
    batch_id: int
    kind: str
    file_name: str
    removed: dict[str, int]
    restored: int


def _ids(tx: Tx, model: Any, batch_id: int) -> list[int]:
    return list(tx.session.scalars(select(model.id).where(model.batch_id == batch_id)))


def _chunks(ids: list[int], n: int = 500) -> list[list[int]]:
    return [ids[i : i + n] for i in range(0, len(ids), n)]


def _count_where(tx: Tx, model: Any, col: Any, ids: list[int], batch_id: int) -> tuple[int, Any]:
    """How many rows outside the batch reference ``ids`` through ``col``; one example."""
    total = 0
    example = None
    for part in _chunks(ids):
        cond = (col.in_(part)) & ((model.batch_id.is_(None)) | (model.batch_id != batch_id))
        total += tx.session.scalar(select(func.count()).select_from(model).where(cond)) or 0
        if example is None:
            example = tx.session.execute(select(model.batch_id).where(cond).limit(1)).first()
    return total, example


def _refuse_if(tx: Tx, what: str, model: Any, col: Any, ids: list[int], batch_id: int) -> None:
    if not ids:
        return
    n, example = _count_where(tx, model, col, ids, batch_id)
    if n:
        src = (
            f"import batch {example[0]}"
            if example is not None and example[0]
            else "records added by hand"
        )
        raise Conflict(
            f"cannot undo import batch {batch_id}: {n:,} {what} depend on records it created "
            f"(e.g. from {src}); undo or delete those first"
        )


def _created_by_audit(tx: Tx, entity: str, batch_id: int) -> list[str]:
    return list(
        tx.session.scalars(
            select(AuditEvent.entity_id).where(
                AuditEvent.batch_id == batch_id,
                AuditEvent.entity == entity,
                AuditEvent.action == "create",
            )
        )
    )


def _coerce(model: Any, key: str, value: Any) -> Any:
    from sqlalchemy import Date, DateTime

    col = model.__table__.c.get(key)
    if col is None or value is None or not isinstance(value, str):
        return value
    if isinstance(col.type, DateTime):
        return datetime.fromisoformat(value)
    if isinstance(col.type, Date):
        return date.fromisoformat(value)
    return value


def _record_for(tx: Tx, entity: str, entity_id: str) -> Any:
    if entity == "subject":
        study, _, code = entity_id.partition("/")
        return subjects.find_subject(tx, study, code)
    if entity == "sample":
        return samples.find_sample(tx, entity_id)
    if entity == "isolation":
        return isolations.find_isolation(tx, entity_id)
    if entity == "cell_source":
        return tx.session.scalar(select(CellSource).where(CellSource.code == entity_id))
    if entity == "readout":
        target, analyte, assay, run, rep = readout_rules.parse_key_text(entity_id)
        q = (
            select(Readout)
            .join(Analyte, Analyte.id == Readout.analyte_id)
            .where(
                Analyte.code == analyte,
                Readout.assay == assay,
                Readout.run_code == run,
                Readout.replicate == rep,
            )
        )
        iso = isolations.find_isolation(tx, target)
        if iso is not None:
            found = tx.session.scalar(q.where(Readout.isolation_id == iso.id))
            if found is not None:
                return found
        s = samples.find_sample(tx, target)
        if s is not None:
            return tx.session.scalar(
                q.where(Readout.sample_id == s.id, Readout.isolation_id.is_(None))
            )
    return None


def _restore_updates(tx: Tx, batch_id: int) -> int:
    """Put back the old values of records the batch updated (newest change first)."""
    import json

    from exolab.services.common import column_values

    events = tx.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.batch_id == batch_id, AuditEvent.action == "update")
        .order_by(AuditEvent.id.desc())
    ).all()
    n = 0
    for ev in events:
        obj = _record_for(tx, ev.entity, ev.entity_id)
        if obj is None:
            raise Conflict(
                f"cannot undo import batch {batch_id}: the {ev.entity} {ev.entity_id} it "
                "updated no longer exists"
            )
        old = json.loads(ev.old_values or "{}")
        new = json.loads(ev.new_values or "{}")
        current = column_values(obj)
        if ev.entity == "isolation":
            current["steps"] = [
                {"method": s.method, "params": dict(s.params or {})}
                for s in tx.session.scalars(
                    select(IsolationStep)
                    .where(IsolationStep.isolation_id == obj.id)
                    .order_by(IsolationStep.step_no)
                )
            ]
        changed = [
            k for k, v in new.items() if k not in ("version", "updated_at") and current.get(k) != v
        ]
        if changed:
            raise Conflict(
                f"cannot undo import batch {batch_id}: {ev.entity} {ev.entity_id} was changed "
                f"after the import ({', '.join(changed)}); edit it by hand instead"
            )
        restore = {k: v for k, v in old.items() if k not in ("version", "updated_at")}
        for k, v in restore.items():
            if k == "steps":
                tx.session.execute(
                    delete(IsolationStep).where(IsolationStep.isolation_id == obj.id)
                )
                for i, step in enumerate(v, start=1):
                    tx.session.add(
                        IsolationStep(
                            isolation_id=obj.id,
                            step_no=i,
                            method=step["method"],
                            params=step.get("params") or {},
                        )
                    )
                continue
            setattr(obj, k, _coerce(type(obj), k, v))
        obj.version = (obj.version or 0) + 1
        obj.updated_at = utcnow()
        tx.session.flush()
        if isinstance(obj, Readout):  # keep readout_sets current
            readout_sets.refresh(tx, [(obj.sample_id, obj.analyte_id)])
        tx.audit(
            "update",
            ev.entity,
            ev.entity_id,
            old={k: new.get(k) for k in restore},
            new=restore,
            reason=f"undo of import batch {batch_id}",
            batch_id=batch_id,
        )
        n += 1
    return n


RECORD_ENTITIES = ("subject", "cell_source", "sample", "isolation", "readout")
MAX_RECORDS_NAMED = 10


def _readout_keys_edited(tx: Tx, batch_id: int) -> set[tuple[str, str]]:
    """Audit keys of the readouts the batch created that were edited since (an import writes
    no per-readout create event, docs/bulk-imports.md; an edit bumps the version)."""
    target = func.coalesce(Isolation.isolation_code, Sample.sample_code)
    q = (
        select(target, Analyte.code, Readout.assay, Readout.run_code, Readout.replicate)
        .join(Analyte, Analyte.id == Readout.analyte_id)
        .join(Sample, Sample.id == Readout.sample_id)
        .outerjoin(Isolation, Isolation.id == Readout.isolation_id)
        .where(Readout.batch_id == batch_id, Readout.version > 1)
    )
    return {
        ("readout", readout_rules.key_text(t, a, assay, run, rep))
        for t, a, assay, run, rep in tx.session.execute(q)
    }


def later_changes(tx: Tx, batch_id: int) -> list[AuditEvent]:
    """Audit events after the batch, by anyone else, on a record the batch created or updated
    (events of batches that were themselves undone do not count: their undo put the values
    back). Undo is refused when there are any (docs/reliability.md)."""
    import json

    s = tx.session
    first = s.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.batch_id == batch_id))
    if first is None:
        return []
    undone = set(s.scalars(select(ImportBatch.id).where(ImportBatch.status == "undone")))
    keys: set[tuple[str, str]] = {
        (e, i)
        for e, i in s.execute(
            select(AuditEvent.entity, AuditEvent.entity_id).where(
                AuditEvent.batch_id == batch_id, AuditEvent.entity.in_(RECORD_ENTITIES)
            )
        )
    }
    keys |= _readout_keys_edited(tx, batch_id)
    later = s.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.id > first,
            AuditEvent.entity.in_(RECORD_ENTITIES),
            AuditEvent.batch_id.is_(None) | (AuditEvent.batch_id != batch_id),
        )
        .order_by(AuditEvent.id)
    )
    found = []
    for ev in later.yield_per(2000):
        if ev.batch_id is not None and ev.batch_id in undone:
            continue
        if (ev.entity, ev.entity_id) in keys or (
            ev.action == "delete"
            and ev.old_values
            and json.loads(ev.old_values).get("batch_id") == batch_id
        ):
            found.append(ev)
    return found


def _describe_later(batch_id: int, events: list[AuditEvent]) -> str:
    by_record: dict[tuple[str, str], list[AuditEvent]] = {}
    for ev in events:
        by_record.setdefault((ev.entity, ev.entity_id), []).append(ev)
    parts = []
    for (entity, ident), evs in list(by_record.items())[:MAX_RECORDS_NAMED]:
        what = ", ".join(
            f"event {e.id} {e.action}"
            + (f" in import batch {e.batch_id}" if e.batch_id else "")
            + f" by {e.user_name} at {e.at[:16].replace('T', ' ')}"
            for e in evs[:3]
        )
        more = f" and {len(evs) - 3} more" if len(evs) > 3 else ""
        parts.append(f"{entity} {ident} ({what}{more})")
    if len(by_record) > MAX_RECORDS_NAMED:
        parts.append(f"... and {len(by_record) - MAX_RECORDS_NAMED:,} more records")
    batches = sorted({e.batch_id for e in events if e.batch_id})
    hint = (
        f"undo import batch {', '.join(map(str, batches))} first, or correct the records by hand"
        if batches
        else "correct the records by hand instead"
    )
    return (
        f"cannot undo import batch {batch_id}: {len(by_record):,} records it created or updated "
        f"were changed afterwards: {'; '.join(parts)}. Nothing was changed; {hint}"
    )


def undo_batch(lab: Lab, batch_id: int) -> UndoReport:
    """Remove exactly what one import batch created and restore what it updated."""
    with lab.write() as tx:
        _lock_imports(tx)
        batch = tx.session.get(ImportBatch, batch_id)
        if batch is None:
            raise NotFound(f"no import batch {batch_id}")
        if batch.status == "undone":
            raise Conflict(
                f"import batch {batch_id} was already undone on "
                f"{batch.undone_at:%Y-%m-%d %H:%M} by {batch.undone_by}"
            )
        b = batch_id
        changed_after = later_changes(tx, b)
        if changed_after:
            raise Conflict(_describe_later(b, changed_after))
        readout_ids = _ids(tx, Readout, b)
        iso_ids = _ids(tx, Isolation, b)
        sample_ids = _ids(tx, Sample, b)
        subject_ids = _ids(tx, Subject, b)
        cell_ids = _ids(tx, CellSource, b)
        run_codes = list(
            tx.session.scalars(select(AssayRun.run_code).where(AssayRun.batch_id == b))
        )
        analyte_codes = _created_by_audit(tx, "analyte", b)
        study_codes = _created_by_audit(tx, "study", b)

        _refuse_if(tx, "readouts", Readout, Readout.isolation_id, iso_ids, b)
        _refuse_if(tx, "readouts", Readout, Readout.sample_id, sample_ids, b)
        _refuse_if(tx, "isolations", Isolation, Isolation.sample_id, sample_ids, b)
        _refuse_if(tx, "aliquots", Sample, Sample.parent_id, sample_ids, b)
        _refuse_if(tx, "samples", Sample, Sample.subject_id, subject_ids, b)
        _refuse_if(tx, "samples", Sample, Sample.cell_source_id, cell_ids, b)
        if run_codes:
            _refuse_if(tx, "readouts", Readout, Readout.run_code, run_codes, b)  # type: ignore[arg-type]
        analyte_ids = (
            list(tx.session.scalars(select(Analyte.id).where(Analyte.code.in_(analyte_codes))))
            if analyte_codes
            else []
        )
        _refuse_if(tx, "readouts", Readout, Readout.analyte_id, analyte_ids, b)

        restored = _restore_updates(tx, b)

        visit_ids: set[int] = set()
        for part in _chunks(sample_ids):
            visit_ids.update(
                v
                for v in tx.session.scalars(select(Sample.visit_id).where(Sample.id.in_(part)))
                if v is not None
            )
        s = tx.session
        batch_pairs = readout_sets.PairsOf(where="batch_id = :b", params={"b": b})
        with readout_sets.refreshing(tx, batch_pairs):  # keep readout_sets current
            s.execute(delete(Readout).where(Readout.batch_id == b))
        for part in _chunks(iso_ids):
            s.execute(delete(IsolationStep).where(IsolationStep.isolation_id.in_(part)))
        s.execute(delete(Isolation).where(Isolation.batch_id == b))
        s.execute(delete(Sample).where(Sample.batch_id == b))
        for part in _chunks(sorted(visit_ids)):
            used = set(s.scalars(select(Sample.visit_id).where(Sample.visit_id.in_(part))))
            gone = [v for v in part if v not in used]
            if gone:
                s.execute(delete(Visit).where(Visit.id.in_(gone)))
        s.execute(delete(Subject).where(Subject.batch_id == b))
        s.execute(delete(CellSource).where(CellSource.batch_id == b))
        s.execute(delete(InstrumentRun).where(InstrumentRun.batch_id == b))  # before its run
        s.execute(delete(AssayRun).where(AssayRun.batch_id == b))
        for part in _chunks(analyte_ids):
            s.execute(delete(Analyte).where(Analyte.id.in_(part)))
        for code in study_codes:
            study = s.scalar(select(Study).where(Study.code == code))
            if study is not None and not s.scalar(
                select(func.count()).select_from(Subject).where(Subject.study_id == study.id)
            ):
                s.delete(study)
        removed = {
            "readouts": len(readout_ids),
            "isolations": len(iso_ids),
            "samples": len(sample_ids),
            "subjects": len(subject_ids),
            "cell_sources": len(cell_ids),
            "assay_runs": len(run_codes),
            "analytes": len(analyte_ids),
        }
        batch.status = "undone"
        batch.undone_at = utcnow()
        batch.undone_by = tx.actor.name
        s.flush()
        tx.audit(
            "undo",
            "import_batch",
            str(b),
            old={"status": "applied"},
            new={"status": "undone", "removed": removed, "restored": restored},
            reason=f"undo of import batch {b} ({batch.kind} from {batch.file_name})",
            batch_id=b,
        )
        return UndoReport(b, batch.kind, batch.file_name, removed, restored)
