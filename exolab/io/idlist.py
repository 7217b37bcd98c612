"""Lists of ids from a file (``--from-list``): one id a line, or a CSV with an id column."""

from __future__ import annotations

import csv
from pathlib import Path

from exolab.io.reading import sniff_delimiter, to_decimal_point
from exolab.services.errors import FieldError, ValidationFailed
from exolab.services.picklist import TAKE_PROBLEM, PickRequest, is_amount

ID_COLUMNS = ("sample_id", "isolation_id", "id", "box")


def read_id_list(path: Path, columns: tuple[str, ...] = ID_COLUMNS) -> list[str]:
    """The ids in ``path``: a CSV whose header names one of ``columns`` (its values are read),
    else one id a line. Blank lines and lines starting with ``#`` are skipped."""
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
    column = next((c for c in columns if c in names), None)
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
        return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    index = names.index(column)
    ids: list[str] = []
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
        ids.append(value)
    return ids


def read_pick_requests(path: Path) -> list[PickRequest]:
    """Pick requests from a list of ids, or a CSV with ``sample_id`` and optional ``take_ml``
    (mL to take) and ``destination`` columns (a cohort export's sample_id column works too)."""
    ids = read_id_list(path, ("sample_id",))
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    sep = sniff_delimiter(next((ln for ln in lines if ln.strip()), ""))
    rows = list(csv.reader(lines, delimiter=sep))
    header = next((r for r in rows if any(c.strip() for c in r)), [])
    names = [h.strip().lower() for h in header]
    if "sample_id" not in names or not ({"take_ml", "destination"} & set(names)):
        return [PickRequest(i) for i in ids]
    out: list[PickRequest] = []
    start = rows.index(header) + 1
    for row_no, row in enumerate(rows[start:], start=start + 1):
        if not any(c.strip() for c in row):
            continue
        values = dict(zip(names, (c.strip() for c in row), strict=False))
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
        out.append(PickRequest(values["sample_id"], take, values.get("destination") or None))
    return out


def read_manifest(path: Path) -> list[dict[str, str]]:
    """The rows of a shipment manifest CSV (``exolab ship create`` writes one); it needs the
    ``shipment`` and ``sample_id`` columns, every row both filled."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed([FieldError(str(path), "is not UTF-8 text")]) from None
    lines = text.splitlines()
    sep = sniff_delimiter(next((ln for ln in lines if ln.strip()), ""))
    reader = csv.DictReader(lines, delimiter=sep)
    names = [n.strip().lower() for n in reader.fieldnames or []]
    for needed in ("shipment", "sample_id"):
        if needed not in names:
            raise ValidationFailed([FieldError(f"{path}:1", f"a manifest needs a {needed} column")])
    reader.fieldnames = names
    rows: list[dict[str, str]] = []
    for row_no, row in enumerate(reader, start=2):
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        for needed in ("shipment", "sample_id"):
            if not (row.get(needed) or "").strip():
                raise ValidationFailed([FieldError(f"{path}:{row_no}:{needed}", "is empty")])
        values = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
        rows.append(values | {"_row": str(row_no)})  # for messages naming FILE:ROW:COLUMN
    return rows
