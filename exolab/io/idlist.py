"""Lists of ids from a file (``--from-list``): one id a line, or a CSV with an id column."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from exolab.io.cells import import_cell
from exolab.io.reading import (
    CsvFile,
    FileProblem,
    open_csv,
    quote_problem,
    sniff_delimiter,
    to_decimal_point,
)
from exolab.services.errors import FieldError, ValidationFailed
from exolab.services.picklist import TAKE_PROBLEM, PickRequest, is_amount

ID_COLUMNS = ("sample_id", "isolation_id", "id", "box")


def _quote_check(path: Path, lines: list[str], sep: str, names: list[str]) -> None:
    """A list holds no value over several lines: a quote left open, or a stray one, on any
    line is an error naming FILE:ROW:COLUMN (it would swallow the rows after it)."""
    for row_no, line in enumerate(lines, start=1):
        if '"' not in line:
            continue
        found = quote_problem(line, sep)
        if found is not None:
            col, _, message = found
            column = names[col] if col < len(names) and names[col] else f"column {col + 1}"
            raise ValidationFailed([FieldError(f"{path}:{row_no}:{column}", message)])


def _id_rows(path: Path, columns: tuple[str, ...]) -> tuple[str, list[tuple[int, str]]]:
    """The id column's name (``sample_id`` for a plain list) and (row, id) of each id."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            [FieldError(str(path), "is not UTF-8 text; save the list as UTF-8")]
        ) from None
    lines = text.splitlines()
    header = next((ln for ln in lines if ln.strip() and not ln.startswith("#")), "")
    sep = sniff_delimiter(header)  # as every import: comma, semicolon or tab
    names = [h.strip().lower() for h in next(csv.reader([header], delimiter=sep))] if header else []
    # The list's own key is its first id column (an isolations export: isolation_id, then
    # the sample it came from).
    column = next((n for n in names if n in columns), None)
    _quote_check(path, lines, sep, names if column is not None else [columns[0]])
    if column is None:
        if sep in header:
            raise ValidationFailed(
                [
                    FieldError(
                        f"{path}:1",
                        f"a CSV list needs one of the columns {', '.join(columns)}",
                        header,
                    )
                ]
            )
        return columns[0], [
            (row_no, ln.strip())
            for row_no, ln in enumerate(lines, start=1)
            if ln.strip() and not ln.lstrip().startswith("#")
        ]
    index = names.index(column)
    ids: list[tuple[int, str]] = []
    seen_header = False
    for row_no, row in enumerate(csv.reader(lines, delimiter=sep), start=1):
        if not seen_header:
            seen_header = (
                bool(row) and row[0].strip().lower() == names[0] and not row[0].startswith("#")
            )
            continue
        if not any(cell.strip() for cell in row):
            continue
        value = row[index].strip() if index < len(row) else ""
        if not value:
            raise ValidationFailed(
                [FieldError(f"{path}:{row_no}:{column}", "is empty; every row needs an id")]
            )
        ids.append((row_no, value))
    return column, ids


def read_id_list(path: Path, columns: tuple[str, ...] = ID_COLUMNS) -> list[str]:
    """The ids in ``path``: a CSV whose header names one of ``columns`` (the values of the
    first such column of the file are read), else one id a line. Blank lines and lines
    starting with ``#`` are skipped."""
    return [value for _, value in _id_rows(path, columns)[1]]


def read_pick_requests(path: Path) -> list[PickRequest]:
    """Pick requests from a list of ids, or a CSV with ``sample_id`` and optional ``take_ml``
    (mL to take) and ``destination`` columns (a cohort export's sample_id column works too).
    Each request knows its FILE:ROW:sample_id, for the message naming an unknown tube."""
    column, id_rows = _id_rows(path, ("sample_id",))
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    sep = sniff_delimiter(next((ln for ln in lines if ln.strip()), ""))
    rows = list(csv.reader(lines, delimiter=sep))
    header = next((r for r in rows if any(c.strip() for c in r)), [])
    names = [h.strip().lower() for h in header]
    if "sample_id" not in names or not ({"take_ml", "destination"} & set(names)):
        return [PickRequest(i, where=f"{path}:{row_no}:{column}") for row_no, i in id_rows]
    out: list[PickRequest] = []
    start = rows.index(header) + 1
    for row_no, row in enumerate(rows[start:], start=start + 1):
        if not any(c.strip() for c in row):
            continue
        # (a cell guarded against spreadsheets, '=A1 run, comes back as it was: a pick list
        # written by exolab is a plan too)
        values = dict(zip(names, (import_cell(c) for c in row), strict=False))
        take: float | None = None
        if values.get("take_ml"):
            try:
                number = values["take_ml"]
                take = float(to_decimal_point(number) if sep == ";" else number)
            except ValueError:
                take = None
            if take is None or not is_amount(take):
                raise ValidationFailed(
                    [
                        FieldError(
                            f"{path}:{row_no}:take_ml",
                            TAKE_PROBLEM,
                            values["take_ml"],
                        )
                    ]
                )
        out.append(
            PickRequest(
                values["sample_id"],
                take,
                values.get("destination") or None,
                where=f"{path}:{row_no}:sample_id",
            )
        )
    return out


def read_manifest(path: Path) -> list[dict[str, str]]:
    """The rows of a shipment manifest CSV (``exolab ship create`` writes one); it needs the
    ``shipment`` and ``sample_id`` columns, every row both filled, each tube once.

    It is read as every import is (docs/reliability.md): strictly, so a quote left open names
    its row and column instead of swallowing the rows after it, and a cell the manifest
    guarded against spreadsheets (``'=DHL``) comes back as written (docs/security.md)."""
    # The file is read once (a pipe, or a file on a slow share, cannot be read again), into
    # a private scratch copy that the strict reader reads; a file that cannot be read as CSV
    # raises FileProblem naming FILE:ROW:COLUMN.
    if path.is_dir():
        raise FileProblem(f"{path}: is a directory, not a CSV file")
    data = path.read_bytes()
    with tempfile.TemporaryDirectory(prefix="exolab-manifest-") as scratch:
        copy = Path(scratch) / "manifest.csv"
        copy.write_bytes(data)
        return _manifest_rows(path, open_csv(copy, str(path)))


def _manifest_rows(path: Path, opened: CsvFile) -> list[dict[str, str]]:
    with opened as f:
        names = f.header
        for needed in ("shipment", "sample_id"):
            if needed not in names:
                raise ValidationFailed(
                    [FieldError(f"{path}:{f.header_row}", f"a manifest needs a {needed} column")]
                )
        rows: list[dict[str, str]] = []
        first_row: dict[str, int] = {}
        for row_no, fields in f.rows():
            values = {
                name: import_cell(cell) for name, cell in zip(names, fields, strict=False) if name
            }
            for needed in ("shipment", "sample_id"):
                if not values.get(needed):
                    raise ValidationFailed([FieldError(f"{path}:{row_no}:{needed}", "is empty")])
            sid = values["sample_id"]
            if sid in first_row:
                raise ValidationFailed(
                    [
                        FieldError(
                            f"{path}:{row_no}:sample_id",
                            f"lists tube {sid} again (first on row {first_row[sid]}); "
                            "a manifest lists each tube once",
                            sid,
                        )
                    ]
                )
            first_row[sid] = row_no
            rows.append(values | {"_row": str(row_no)})  # for FILE:ROW:COLUMN messages
    return rows
