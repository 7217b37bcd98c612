"""Exports (docs/import-formats.md, "Exports"): the import columns of each kind, and the longitudinal view.

Every export streams: rows come from the database in pages (``yield_per``; a server-side
cursor on PostgreSQL) and go straight to the CSV writer, so memory stays flat. A kind's export
writes exactly its import columns through the service ``as_input()`` forms, so it re-imports
into an empty database without loss.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select

from exolab.db.models import CellSource, Isolation, Sample, Study, Subject
from exolab.domain.replicates import summarise
from exolab.domain.values import parse_result
from exolab.io.importer import KINDS
from exolab.services import cell_sources, isolations, samples, subjects
from exolab.services import readouts as readout_service
from exolab.services.context import Lab, Tx
from exolab.services.errors import FieldError, ValidationFailed

PAGE = 2000
EXPORT_KINDS = (*KINDS, "longitudinal")


def cell(value: Any) -> str:
    """One CSV cell: exact floats, ISO dates, blanks for missing values."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime | date):
        return str(value)
    if isinstance(value, list):
        return "+".join(str(v) for v in value)
    return str(value)


# -- record kinds --------------------------------------------------------------------------


def _iter_subjects(tx: Tx) -> Iterator[dict[str, Any]]:
    q = (
        select(Subject, Study.code)
        .join(Study, Study.id == Subject.study_id)
        .order_by(Subject.id)
        .execution_options(yield_per=PAGE)
    )
    for subject, study in tx.session.execute(q):
        yield subjects.subject_as_input(subjects.subject_out(subject, study))


def _iter_codes(tx: Tx, column: Any, order: Any) -> Iterator[list[Any]]:
    page: list[Any] = []
    for value in tx.session.scalars(
        select(column).order_by(order).execution_options(yield_per=PAGE)
    ):
        page.append(value)
        if len(page) >= PAGE:
            yield page
            page = []
    if page:
        yield page


def _iter_cell_sources(tx: Tx) -> Iterator[dict[str, Any]]:
    for page in _iter_codes(tx, CellSource.code, CellSource.id):
        for code in page:
            yield cell_sources.get_cell_source(tx, code).as_input()


def _iter_samples(tx: Tx) -> Iterator[dict[str, Any]]:
    for page in _iter_codes(tx, Sample.id, Sample.id):
        for s in sorted(samples.samples_by_id(tx, page), key=lambda s: s.id):
            yield s.as_input()


def _iter_isolations(tx: Tx) -> Iterator[dict[str, Any]]:
    for page in _iter_codes(tx, Isolation.isolation_code, Isolation.id):
        for code in page:
            yield isolations.get_isolation(tx, code).as_input()


def portable_value(text: str) -> str:
    """A result text that reads the same in a ``,``-separated file: ``0,5`` (kept as typed in
    a ``;`` file with decimal commas) is written ``0.5``; everything else unchanged."""
    if "," not in text:
        return text
    try:
        parse_result(text)
        return text
    except ValueError:
        pass
    try:
        a = parse_result(text, decimal_comma=True)
    except ValueError:
        return text
    dotted = text.replace(",", ".")
    try:
        b = parse_result(dotted)
    except ValueError:
        return text
    same = (a.value, a.comparator, a.censor, a.qualitative) == (
        b.value,
        b.comparator,
        b.censor,
        b.qualitative,
    )
    return dotted if same else text


def _iter_readouts(tx: Tx) -> Iterator[dict[str, Any]]:
    for readout in readout_service.iter_readouts(tx, page=PAGE):
        data = readout.as_input()
        data["value"] = portable_value(data["value"])
        yield data


ITERATORS = {
    "subjects": _iter_subjects,
    "cell_sources": _iter_cell_sources,
    "samples": _iter_samples,
    "isolations": _iter_isolations,
    "readouts": _iter_readouts,
}


# Types csv.writer already writes as exolab does: None -> "", str(date) and str(datetime) are
# ISO ("2024-01-11 10:41:00"), str(float) is the shortest exact repr.
_NATIVE = frozenset({str, int, float, type(None), date, datetime})


def write_rows(out: TextIO, columns: list[str], rows: Iterable[dict[str, Any]]) -> int:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(columns)
    writerow = w.writerow
    native = _NATIVE
    pick = itemgetter(*columns) if len(columns) > 1 else (lambda r: (r[columns[0]],))
    n = 0
    for r in rows:
        try:
            values = pick(r)
        except KeyError:
            values = tuple(r.get(c) for c in columns)
        writerow([v if v.__class__ in native else cell(v) for v in values])
        n += 1
    return n


# -- longitudinal --------------------------------------------------------------------------


@dataclass
class Filters:
    study: str | None = None
    subjects: list[str] = field(default_factory=list)
    analytes: list[str] = field(default_factory=list)
    biofluid: str | None = None
    method: str | None = None
    since: date | None = None
    until: date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "subjects": self.subjects,
            "analytes": self.analytes,
            "biofluid": self.biofluid,
            "method": self.method,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def _queries() -> Any:
    try:
        from exolab.services import queries
    except ImportError:
        raise ValidationFailed(
            [FieldError("kind", "the longitudinal view is not available in this build")]
        ) from None
    return queries


def longitudinal_columns() -> list[str]:
    return list(_queries().LONGITUDINAL_COLUMNS)


def iter_longitudinal(tx: Tx, filters: Filters) -> Iterator[dict[str, Any]]:
    q = _queries()
    flt = q.LongitudinalFilter(**filters.as_dict())
    yield from q.iter_longitudinal(tx, flt)


class Deidentifier:
    """Stable salted subject hashes and a per-subject date shift derived from the same hash.

    ``visit_day`` (days from the subject's first collection) is unchanged because every date
    of a subject moves by the same offset. Free-text notes are dropped.
    """

    DATE_COLUMNS = ("collected_at", "measured_on", "isolated_on", "enrolled_on", "visit_date")

    def __init__(self, salt: str) -> None:
        self.salt = salt
        self._cache: dict[tuple[str, str], tuple[str, timedelta]] = {}

    def subject(self, study: str, subject: str) -> tuple[str, timedelta]:
        key = (study, subject)
        hit = self._cache.get(key)
        if hit is None:
            digest = hashlib.sha256(f"{self.salt}{study}{subject}".encode()).hexdigest()
            offset = timedelta(days=int(digest[12:20], 16) % 365 - 182)
            hit = (digest[:12], offset)
            self._cache[key] = hit
        return hit

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if "notes" not in k}
        study = str(row.get("study") or "")
        subject = row.get("subject_id")
        if subject is None:
            return out
        code, offset = self.subject(study, str(subject))
        out["subject_id"] = code
        for col in self.DATE_COLUMNS:
            v = out.get(col)
            if isinstance(v, str) and v:
                try:
                    v = datetime.fromisoformat(v) if len(v) > 10 else date.fromisoformat(v)
                except ValueError:
                    continue
            if isinstance(v, datetime | date):
                out[col] = v + offset
        for k in ("sample_id", "isolation_id"):
            if out.get(k):
                out[k] = hashlib.sha256(f"{self.salt}{k}{out[k]}".encode()).hexdigest()[:12]
        return out


WIDE_KEYS = (
    "study",
    "subject_id",
    "group",
    "visit",
    "visit_day",
    "collected_at",
    "sample_id",
    "biofluid",
    "isolation_id",
    "method",
)


def _wide_value(rows: list[dict[str, Any]]) -> str:
    """A cell of the wide table: the value; the mean of uncensored numeric replicates; else
    the replicates' texts joined with '; ' (censored values stay visible, never averaged)."""
    if len(rows) == 1:
        return cell(rows[0].get("value"))
    numbers = [r.get("numeric_value") for r in rows]
    if all(
        isinstance(v, int | float) and r.get("censor") in (None, "none")
        for v, r in zip(numbers, rows, strict=True)
    ):
        return cell(summarise([float(v) for v in numbers if v is not None], 0).mean)
    return "; ".join(cell(r.get("value")) for r in rows)


def write_wide(out: TextIO, rows_twice: Callable[[], Iterator[dict[str, Any]]]) -> int:
    """Pivot to one row per study/subject/visit/sample/isolation and one column per
    ``ANALYTE [unit]``. Two passes over the stream (the columns first); rows arrive ordered by
    subject, so only one subject's cells are held at a time and memory stays flat."""
    columns: dict[str, None] = {}
    for r in rows_twice():
        columns.setdefault(_wide_column(r), None)
    value_columns = sorted(columns)
    w = csv.writer(out, lineterminator="\n")
    w.writerow([*WIDE_KEYS, *value_columns])
    n = 0
    subject: tuple[Any, Any] | None = None
    groups: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]] = {}

    def flush() -> None:
        nonlocal n
        ordered = sorted(
            groups.values(),
            key=lambda bg: tuple(
                cell(bg[0].get(k)) for k in ("visit_day", "sample_id", "isolation_id")
            ),
        )
        for base, cells in ordered:
            w.writerow(
                [cell(base.get(k)) for k in WIDE_KEYS]
                + [_wide_value(cells[c]) if c in cells else "" for c in value_columns]
            )
            n += 1
        groups.clear()

    for r in rows_twice():
        who = (r.get("study"), r.get("subject_id"))
        if who != subject:
            flush()
            subject = who
        key = tuple(r.get(k) for k in ("visit", "sample_id", "isolation_id"))
        group = groups.get(key)
        if group is None:
            group = ({k: r.get(k) for k in WIDE_KEYS}, {})
            groups[key] = group
        group[1].setdefault(_wide_column(r), []).append(r)
    flush()
    return n


def _wide_column(r: dict[str, Any]) -> str:
    unit = r.get("unit")
    return f"{r.get('analyte')} [{unit}]" if unit else str(r.get("analyte"))


# -- entry point ---------------------------------------------------------------------------


@dataclass
class ExportResult:
    kind: str
    rows: int
    path: Path | None
    manifest: Path | None


def run_export(
    lab: Lab,
    kind: str,
    out_path: str | None,
    *,
    filters: Filters | None = None,
    wide: bool = False,
    deidentify: bool = False,
    salt: str | None = None,
    stdout: TextIO | None = None,
) -> ExportResult:
    """Write an export to ``out_path`` (and its manifest) or to ``stdout``."""
    from exolab.io.reading import normalize_header

    kind = normalize_header(kind)
    if kind not in EXPORT_KINDS:
        raise ValidationFailed(
            [
                FieldError(
                    "kind", f"unknown export kind '{kind}'; use one of {', '.join(EXPORT_KINDS)}"
                )
            ]
        )
    filters = filters or Filters()
    if kind != "longitudinal" and (wide or deidentify or filters.as_dict() != Filters().as_dict()):
        raise ValidationFailed(
            [
                FieldError(
                    "options", "filters, --wide and --deidentify apply to `export longitudinal`"
                )
            ]
        )
    deid = Deidentifier(salt if salt is not None else secrets.token_hex(16)) if deidentify else None
    path = Path(out_path) if out_path else None
    tmp = path.with_name(path.name + ".part") if path else None
    with lab.read() as tx:
        if tmp is not None:
            stream: TextIO = tmp.open("w", encoding="utf-8", newline="")
        else:
            import sys

            stream = stdout or sys.stdout
        try:
            if kind == "longitudinal":
                n = _write_longitudinal(tx, stream, filters, wide, deid)
            else:
                n = write_rows(stream, KINDS[kind].columns, ITERATORS[kind](tx))
        finally:
            if tmp is not None:
                stream.close()
    if path is None or tmp is None:
        return ExportResult(kind, n, None, None)
    os.replace(tmp, path)
    manifest = path.with_name(path.name + ".manifest.json")
    _write_manifest(lab, manifest, path, kind, n, filters, wide, deidentify)
    return ExportResult(kind, n, path, manifest)


def _write_longitudinal(
    tx: Tx, stream: TextIO, filters: Filters, wide: bool, deid: Deidentifier | None
) -> int:
    def rows() -> Iterator[dict[str, Any]]:
        for r in iter_longitudinal(tx, filters):
            yield deid.row(r) if deid else r

    if wide:
        return write_wide(stream, rows)
    columns = [c for c in longitudinal_columns() if not (deid and "notes" in c)]
    return write_rows(stream, columns, rows())


def _write_manifest(
    lab: Lab,
    manifest: Path,
    path: Path,
    kind: str,
    rows: int,
    filters: Filters,
    wide: bool,
    deidentified: bool,
) -> None:
    from exolab import __version__
    from exolab.db import migrate
    from exolab.io.reading import file_sha256

    data = {
        "exolab_version": __version__,
        "schema_revision": migrate.current_revision(lab.db.engine),
        "kind": kind,
        "file": path.name,
        "rows": rows,
        "sha256": file_sha256(path),
        "filters": filters.as_dict() if kind == "longitudinal" else {},
        "wide": wide,
        "deidentified": deidentified,
        "exported_by": lab.user_name,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if kind == "longitudinal":
        from exolab.domain.replicates import BASELINE_RULE

        data["baseline_rule"] = BASELINE_RULE
    manifest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
