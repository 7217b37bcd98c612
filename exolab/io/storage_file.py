"""A storage file: the freezers, racks and boxes of a lab, one a row (docs/exports.md,
"storage"). ``exolab export storage`` writes one; ``exolab storage add --from FILE`` reads it
here, strictly as every import is read, and hands its rows to ``services.storage``."""

from __future__ import annotations

from pathlib import Path

from exolab.domain.schemas import not_a_number, parse_finite
from exolab.io.cells import import_cell
from exolab.io.reading import open_csv, to_decimal_point
from exolab.services.errors import FieldError, ValidationFailed
from exolab.services.storage import STORAGE_COLUMNS, StorageRow


def read_storage_file(path: Path) -> list[StorageRow]:
    """The rows of a storage file. Header names are matched as an import's are (any case,
    surrounding spaces); ``location`` is needed, a column that is not a storage file's is a
    problem. Every problem is named ``FILE:ROW:COLUMN`` and all are reported together."""
    name = str(path)
    with open_csv(path, name) as f:
        header = f.header
        if "location" not in header:
            raise ValidationFailed(
                [FieldError(f"{name}:{f.header_row}", "a storage file needs a location column")]
            )
        unknown = [h for h in header if h and h not in STORAGE_COLUMNS]
        if unknown:
            raise ValidationFailed(
                [
                    FieldError(
                        f"{name}:{f.header_row}:{h}",
                        f"not a column of a storage file ({', '.join(STORAGE_COLUMNS)})",
                    )
                    for h in unknown
                ]
            )
        problems: list[FieldError] = []
        rows: list[StorageRow] = []
        for row_no, fields in f.rows():
            cells = {h: import_cell(c) for h, c in zip(header, fields, strict=False) if h}
            where = f"{name}:{row_no}"
            if not cells.get("location"):
                problems.append(FieldError(f"{where}:location", "is empty"))
                continue
            numbers: dict[str, float | None] = {}
            for column in ("rows", "cols", "temperature_c"):
                text = cells.get(column) or ""
                numbers[column] = None
                if not text:
                    continue
                try:
                    numbers[column] = parse_finite(
                        to_decimal_point(text) if f.decimal_comma else text
                    )
                except ValueError as exc:
                    problems.append(FieldError(f"{where}:{column}", str(exc), text))
                    continue
                if column != "temperature_c" and not float(numbers[column] or 0).is_integer():
                    problems.append(
                        FieldError(f"{where}:{column}", not_a_number(text, whole=True), text)
                    )
            n_rows, n_cols = numbers["rows"], numbers["cols"]
            rows.append(
                StorageRow(
                    where=where,
                    path=cells["location"],
                    n_rows=None if n_rows is None else int(n_rows),
                    n_cols=None if n_cols is None else int(n_cols),
                    name=cells.get("name") or None,
                    temperature_c=numbers["temperature_c"],
                )
            )
    if problems:
        raise ValidationFailed(problems)
    return rows
