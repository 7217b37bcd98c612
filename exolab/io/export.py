"""Exports (docs/import-formats.md, "Exports"): the import columns of each kind, and the longitudinal view.

Every export streams: rows come from the database in pages (``yield_per``; a server-side
cursor on PostgreSQL, or pages keyed by id) and go straight to the CSV writer, so memory stays
flat. A kind's export writes exactly its import columns through the services' import-column
rules (``sample_input``, ``isolation_input``, ``readout_input``: what each ``as_input()`` gives),
read as plain rows with no entity or model per record, so it re-imports into an empty database
without loss.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO

from exolab.domain.replicates import summarise
from exolab.domain.values import parse_result
from exolab.io.cells import GUARD_FIRSTS, spreadsheet_safe
from exolab.io.import_kinds import KINDS
from exolab.io.progress import WRITTEN, CountProgress, counted
from exolab.services import cell_sources, export_rows, isolations, samples, storage, subjects
from exolab.services import readouts as readout_service
from exolab.services.context import Lab, Tx
from exolab.services.errors import ExolabError, FieldError, ValidationFailed
from exolab.services.safe_files import exclusive_temp, publish

PAGE = 2000
EXPORT_KINDS = (*KINDS, "storage", "longitudinal")


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
        return value.isoformat()  # ISO 8601 with `T` (docs/exports.md)
    if isinstance(value, list):
        return "+".join(str(v) for v in value)
    return str(value)


# -- record kinds --------------------------------------------------------------------------


def _iter_subjects(tx: Tx) -> Iterator[dict[str, Any]]:
    return subjects.iter_subject_inputs(tx, PAGE)


def _iter_cell_sources(tx: Tx) -> Iterator[dict[str, Any]]:
    return cell_sources.iter_cell_source_inputs(tx, PAGE)


def _iter_samples(tx: Tx) -> Iterator[dict[str, Any]]:
    return samples.iter_sample_inputs(tx, PAGE)


def _iter_isolations(tx: Tx) -> Iterator[dict[str, Any]]:
    return isolations.iter_isolation_inputs(tx, PAGE)


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
    for data in readout_service.iter_readout_inputs(tx, page=PAGE):
        data["value"] = portable_value(data["value"])
        yield data


ITERATORS = {
    "subjects": _iter_subjects,
    "cell_sources": _iter_cell_sources,
    "samples": _iter_samples,
    "isolations": _iter_isolations,
    "readouts": _iter_readouts,
}


# Types csv.writer already writes as exolab does: None -> "", str(date) is ISO, str(float) is
# the shortest exact repr. datetimes go through cell() for the ISO 8601 `T`.
_NATIVE = frozenset({str, int, float, type(None), date})

# RFC 4180: CRLF record ends. The csv module quotes a field containing any character of the
# line terminator, so with CRLF a bare CR or LF inside a value is always quoted.
LINE_END = "\r\n"


def write_rows(
    out: TextIO,
    columns: list[str],
    rows: Iterable[dict[str, Any]],
    progress: CountProgress | None = None,
) -> int:
    """Write the header and ``rows``; how many rows. ``progress`` hears how many are written
    (io/progress.py ``counted``: every few thousand rows)."""
    rows = counted(rows, progress)
    w = csv.writer(out, lineterminator=LINE_END)
    w.writerow(columns)
    writerow = w.writerow
    native = _NATIVE
    guard = GUARD_FIRSTS
    pick = itemgetter(*columns) if len(columns) > 1 else (lambda r: (r[columns[0]],))
    n = 0
    for r in rows:
        try:
            values = pick(r)
        except KeyError:
            values = tuple(r.get(c) for c in columns)
        # (_safe inline for the common cells: a function call per cell was a third of an
        # export of 1,000,000 tubes)
        writerow(
            [
                (spreadsheet_safe(v) if v[:1] in guard else v)
                if v.__class__ is str
                else (v if v.__class__ in native else _safe(cell(v)))
                for v in values
            ]
        )
        n += 1
    return n


def _safe(value: Any) -> Any:
    """``spreadsheet_safe`` for a str cell, with the common case (no formula start) inline."""
    if value.__class__ is str and value[:1] in GUARD_FIRSTS:
        return spreadsheet_safe(value)
    return value


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


def iter_longitudinal(
    tx: Tx, filters: Filters, *, with_ids: bool = False
) -> Iterator[dict[str, Any]]:
    q = _queries()
    flt = q.LongitudinalFilter(**filters.as_dict())
    # (the filters are checked now, not at the first row)
    rows: Iterator[dict[str, Any]] = q.iter_longitudinal(tx, flt, with_ids=with_ids)
    return rows


class Deidentifier:
    """Keyed subject pseudonyms and a per-subject date shift derived from the same digest.

    Pseudonyms are HMAC-SHA256 under the database's own secret (``lab_identity``), or under
    ``--salt``: without the key, hashing a list of candidate ids does not find them. Every
    date of a subject moves by the same offset (-182 to +183 days, never 0), so
    ``visit_day`` is unchanged; dates written
    inside other fields (``ELISA-20240302``) move too. Free-text notes are dropped, and the
    free-text ``group`` is left blank unless ``keep_group`` (docs/security.md).
    """

    DATE_COLUMNS = ("collected_at", "measured_on", "isolated_on", "enrolled_on", "visit_date")
    CODE_COLUMNS = ("sample_id", "isolation_id", "run_id")
    KEEP_TEXT = frozenset({"study", "analyte", "unit", "std_unit", "value", "biofluid"})

    def __init__(self, key: bytes, *, keep_group: bool = False) -> None:
        self.key = key
        self.keep_group = keep_group
        self._cache: dict[tuple[str, str], tuple[str, timedelta]] = {}

    def _digest(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def subject(self, study: str, subject: str) -> tuple[str, timedelta]:
        key = (study, subject)
        hit = self._cache.get(key)
        if hit is None:
            digest = self._digest("subject", study, subject)
            days = int(digest[12:20], 16) % 365 - 182
            # never 0: a subject that does not move would be exported with its real dates
            offset = timedelta(days=days or 183)
            hit = (digest[:12], offset)
            self._cache[key] = hit
        return hit

    def code(self, column: str, value: str) -> str:
        return self._digest(column, value)[:12]

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in row.items() if "notes" not in k}
        if not self.keep_group and "group" in out:
            out["group"] = None  # (the column stays, blank: the export's fields are fixed)
        study = str(row.get("study") or "")
        subject = row.get("subject_id")
        if subject is None:
            # a sample without a subject (conditioned medium): its sample, isolation and run
            # ids are pseudonymised too (docs/security.md) -- a run shared with subjects'
            # samples would otherwise pair its pseudonym with its real id and date -- and its
            # dates move by an offset of the sample's own
            real = code = ""
            offset = self.subject("\x1fsample", str(row.get("sample_id") or ""))[1]
        else:
            real = str(subject)
            code, offset = self.subject(study, real)
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
        for k in self.CODE_COLUMNS:
            if out.get(k):
                out[k] = self.code(k, str(out[k]))
        for k, v in out.items():  # ids and dates inside the other text fields
            if (
                isinstance(v, str)
                and v
                and k not in self.KEEP_TEXT
                and k != "subject_id"
                and k not in self.CODE_COLUMNS  # (pseudonyms already)
            ):
                out[k] = self._scrub(v, real, code, offset)
        return out

    @staticmethod
    def _scrub(text: str, subject: str, code: str, offset: timedelta) -> str:
        if subject and subject in text:
            # the id as a word of its own: subject 1 leaves visit V1 and 2024 alone
            text = _id_in_text(subject).sub(code, text)
        if not any(ch.isdigit() for ch in text):
            return text

        def shift(m: re.Match[str]) -> str:
            y, mo, d = m.group("y"), m.group("m"), m.group("d")
            try:
                moved = date(int(y), int(mo), int(d)) + offset
            except ValueError:
                return m.group(0)
            sep = m.group("s1") or ""
            return f"{moved.year:04d}{sep}{moved.month:02d}{sep}{moved.day:02d}"

        def shift_day_first(m: re.Match[str]) -> str:
            try:
                moved = date(int(m.group("y")), int(m.group("m")), int(m.group("d"))) + offset
            except ValueError:
                return m.group(0)
            return f"{moved.day:02d}.{moved.month:02d}.{moved.year:04d}"

        return _DAY_FIRST_IN_TEXT.sub(shift_day_first, _DATE_IN_TEXT.sub(shift, text))


@functools.lru_cache(maxsize=4096)
def _id_in_text(subject: str) -> re.Pattern[str]:
    """``subject`` not inside a longer word or number (no letter or digit either side)."""
    return re.compile(rf"(?<![^\W_]){re.escape(subject)}(?![^\W_])")


# YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD not inside a longer number
_DATE_IN_TEXT = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d\d)(?P<s1>[-/]?)(?P<m>0[1-9]|1[0-2])(?P=s1)"
    r"(?P<d>0[1-9]|[12]\d|3[01])(?!\d)"
)
# DD.MM.YYYY (the dotted, day-first European form; slashed D/M/Y is ambiguous and left)
_DAY_FIRST_IN_TEXT = re.compile(
    r"(?<![\d.])(?P<d>0?[1-9]|[12]\d|3[01])\.(?P<m>0?[1-9]|1[0-2])\."
    r"(?P<y>(?:19|20)\d\d)(?!\.?\d)"
)


def deidentify_key(tx: Tx, salt: str | None) -> bytes:
    """The pseudonym key: ``--salt`` if given (never empty), else the database's secret."""
    if salt is not None:
        if len(salt) < MIN_SALT:
            raise ValidationFailed(
                [
                    FieldError(
                        "salt",
                        f"must be at least {MIN_SALT} characters (a short salt is guessed "
                        "along with the ids); leave it out to use this database's secret",
                    )
                ]
            )
        return hashlib.sha256(b"exolab-salt\x1f" + salt.encode("utf-8")).digest()
    secret = export_rows.pseudonym_secret(tx)
    if not secret:
        raise ValidationFailed(
            [FieldError("deidentify", "this database has no secret; run `exolab db upgrade`")]
        )
    return bytes.fromhex(secret)


MIN_SALT = 16


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
    """A cell of the wide table, in its column's (standard) unit: per replicate set (assay x
    run), the value; the mean of uncensored numeric replicates; else the replicates' texts
    joined with '; ' (censored values stay visible, never averaged). Two sets in one cell (an
    ELISA and a Simoa of one isolation, or a re-run) are never averaged together: their values
    are joined with '; ' in the order they come. A result typed in a unit that converts to
    the standard unit (ng/mL in a pg/mL column) is given converted (docs/longitudinal.md)."""
    sets: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for r in rows:
        sets.setdefault((r.get("assay"), r.get("run_id")), []).append(r)
    return "; ".join(_wide_set_value(s) for s in sets.values())


def _wide_set_value(rows: list[dict[str, Any]]) -> str:
    """The wide cell's text for one replicate set."""
    if len(rows) == 1:
        return _wide_text(rows[0])
    numbers = [r.get("std_value") for r in rows]
    if all(
        isinstance(v, int | float) and r.get("censor") in (None, "none")
        for v, r in zip(numbers, rows, strict=True)
    ):
        return cell(summarise([float(v) for v in numbers if v is not None], 0).mean)
    return "; ".join(_wide_text(r) for r in rows)


def _wide_text(r: dict[str, Any]) -> str:
    """One result's text in its column's unit: as typed when typed in that unit (a decimal
    comma of a ``;`` file written as a point, ``portable_value``: the wide table is
    ``,``-separated and its columns are read as numbers); else the converted number after its
    comparator (``<``, ``>``), if it has one."""
    value = r.get("std_value")
    if r.get("unit") == r.get("std_unit") or not isinstance(value, int | float):
        return portable_value(cell(r.get("value")))
    comparator = r.get("comparator")
    return (comparator if comparator and comparator != "=" else "") + cell(value)


WIDE_FIRST_PASS = "readouts read for the columns"  # what the first pass's count is of


def write_wide(
    out: TextIO,
    rows_twice: Callable[[], Iterator[dict[str, Any]]],
    progress: CountProgress | None = None,
) -> int:
    """Pivot to one row per study/subject/visit/sample/isolation and one column per
    ``ANALYTE [unit]``. Two passes over the stream (the columns first); rows arrive ordered by
    subject, so only one subject's cells are held at a time and memory stays flat.
    ``progress`` hears the readouts read by the first pass, then the rows written."""
    columns: dict[str, None] = {}
    for r in counted(rows_twice(), progress, WIDE_FIRST_PASS):
        columns.setdefault(_wide_column(r), None)
    value_columns = sorted(columns)
    w = csv.writer(out, lineterminator=LINE_END)
    w.writerow([*WIDE_KEYS, *(_safe(c) for c in value_columns)])
    n = 0
    subject: tuple[Any, Any] | None = None
    groups: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]] = {}

    def flush() -> None:
        nonlocal n
        ordered = sorted(
            groups.values(),
            key=lambda bg: (
                _day_order(bg[0].get("visit_day")),
                cell(bg[0].get("sample_id")),
                cell(bg[0].get("isolation_id")),
            ),
        )
        for base, cells in ordered:
            w.writerow(
                [_safe(cell(base.get(k))) for k in WIDE_KEYS]
                + [_safe(_wide_value(cells[c])) if c in cells else "" for c in value_columns]
            )
            n += 1
        groups.clear()

    second = rows_twice()
    if progress is not None:  # the wide rows written so far, after each block of readouts
        second = iter(counted(second, lambda _read, _what: progress(n, WRITTEN)))
    for r in second:
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


def _day_order(day: Any) -> tuple[int, float, str]:
    """Visit days in number order (day 9 before day 10), rows without one last."""
    if isinstance(day, int | float) and not isinstance(day, bool):
        return (0, day, "")
    return (1, 0, cell(day))


def _wide_column(r: dict[str, Any]) -> str:
    """``ANALYTE [unit]`` in the analyte's standard unit: the replicates of one set typed in
    pg/mL and ng/mL share a column; a unit that does not convert has a column of its own."""
    unit = r.get("std_unit") or r.get("unit")
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
    keep_group: bool = False,
    stdout: TextIO | None = None,
    progress: CountProgress | None = None,
) -> ExportResult:
    """Write an export to ``out_path`` (and its manifest) or to ``stdout``. ``progress``
    hears how many rows are written as they are (docs/exports.md, "Progress")."""
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
    if keep_group and not deidentify:
        raise ValidationFailed([FieldError("options", "--keep-group goes with --deidentify")])
    deid = None
    if deidentify:
        with lab.read() as tx:
            deid = Deidentifier(deidentify_key(tx, salt), keep_group=keep_group)
    path = Path(out_path).expanduser().absolute() if out_path else None
    if path is None:
        import sys

        with lab.read() as tx:
            n = _write_export(tx, stdout or sys.stdout, kind, filters, wide, deid, progress)
        return ExportResult(kind, n, None, None)
    if path.is_dir():
        raise ValidationFailed(
            [FieldError("out", f"{path} is a directory; give a file name, e.g. {path / kind}.csv")]
        )
    # A temporary file beside the target, renamed into place once complete (see
    # services.safe_files): an interrupted export leaves nothing under the final name.
    with exclusive_temp(path, replace=True) as tmp, lab.read() as tx:
        with os.fdopen(os.dup(tmp.fd), "w", encoding="utf-8", newline="") as stream:
            n = _write_export(tx, stream, kind, filters, wide, deid, progress)
        publish(tmp, lambda written: _verify_export(written, n))
    manifest = path.with_name(path.name + ".manifest.json")
    _write_manifest(lab, manifest, path, kind, n, filters, wide, deidentify)
    return ExportResult(kind, n, path, manifest)


def _write_export(
    tx: Tx,
    stream: TextIO,
    kind: str,
    filters: Filters,
    wide: bool,
    deid: Deidentifier | None,
    progress: CountProgress | None = None,
) -> int:
    if kind == "longitudinal":
        return _write_longitudinal(tx, stream, filters, wide, deid, progress)
    if kind == "storage":  # (what the samples' locations are in: docs/exports.md, "storage")
        return write_rows(stream, list(storage.STORAGE_COLUMNS), storage.storage_rows(tx), progress)
    return write_rows(stream, KINDS[kind].columns, ITERATORS[kind](tx), progress)


def _verify_export(path: Path, rows: int) -> None:
    """The written file reads back as CSV with the header and every row."""
    with path.open(encoding="utf-8", newline="") as f:
        found = sum(1 for _ in csv.reader(f)) - 1
    if found != rows:
        raise ExolabError(
            f"the export file holds {found:,} rows instead of {rows:,}; nothing was kept"
        )


def _write_longitudinal(
    tx: Tx,
    stream: TextIO,
    filters: Filters,
    wide: bool,
    deid: Deidentifier | None,
    progress: CountProgress | None = None,
) -> int:
    def rows() -> Iterator[dict[str, Any]]:
        for r in iter_longitudinal(tx, filters):
            yield deid.row(r) if deid else r

    if wide:
        return write_wide(stream, rows, progress)
    found = iter_longitudinal(tx, filters)  # an unknown filter fails before the header
    columns = [c for c in longitudinal_columns() if not (deid and "notes" in c)]
    return write_rows(stream, columns, (deid.row(r) for r in found) if deid else found, progress)


def _manifest_filters(filters: Filters, deidentified: bool) -> dict[str, Any]:
    """The filters as the manifest states them: a de-identified export names no subject and
    no real date (the count of subjects asked for, and whether dates bounded it)."""
    data = filters.as_dict()
    if deidentified:
        data["subjects"] = f"{len(filters.subjects)} withheld" if filters.subjects else []
        for k in ("since", "until"):
            if data[k]:
                data[k] = "withheld"
    return data


def _write_manifest(
    lab: Lab,
    manifest: Path,
    path: Path,
    kind: str,
    rows: int,
    filters: Filters,
    wide: bool,
    deidentified: bool,
    extra: dict[str, Any] | None = None,
) -> None:
    from exolab import __version__
    from exolab.io.reading import file_sha256
    from exolab.services.setup import schema_revision

    data = {
        "exolab_version": __version__,
        "schema_revision": schema_revision(lab),
        "kind": kind,
        "file": path.name,
        "rows": rows,
        "sha256": file_sha256(path),
        "filters": _manifest_filters(filters, deidentified) if kind == "longitudinal" else {},
        "wide": wide,
        "deidentified": deidentified,
        "exported_by": lab.user_name,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    if kind == "longitudinal":
        from exolab.domain.replicates import BASELINE_RULE

        data["baseline_rule"] = BASELINE_RULE
    with exclusive_temp(manifest, replace=True) as tmp:
        os.write(tmp.fd, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
        publish(tmp)
