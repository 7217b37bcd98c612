"""Plain output helpers shared by the commands: aligned tables, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, TextIO

_CHUNK_ROWS = 2000


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], out: TextIO | None = None
) -> None:
    out = out or sys.stdout
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")


def write_csv(
    rows: Iterable[dict[str, Any]], columns: Sequence[str], out: TextIO | None = None
) -> None:
    out = out or sys.stdout
    # Rows are gathered in a buffer and written in large chunks: one write per row to a
    # terminal or pipe costs more than formatting the row.
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180, as the exports (docs/exports.md)
    w.writerow(columns)
    for n, r in enumerate(rows, 1):
        w.writerow([_csv_cell(r.get(c)) for c in columns])
        if n % _CHUNK_ROWS == 0:
            out.write(buf.getvalue())
            buf.seek(0)
            buf.truncate()
    out.write(buf.getvalue())


def _csv_cell(value: Any) -> str:
    """Exact floats and ISO 8601 datetimes with ``T``, as in the exports."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return fmt(value)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def write_json(data: Any, out: TextIO | None = None) -> None:
    """Write JSON; a list is written one compact object per line.

    json's C encoder runs only without ``indent``; indenting every field of thousands of rows
    went through the pure-Python encoder and cost several times the query itself.
    """
    out = out or sys.stdout
    encode = json.JSONEncoder(default=_default, ensure_ascii=False, check_circular=False).encode
    if isinstance(data, list):
        body = ",\n".join("  " + encode(item) for item in data)
        out.write(f"[\n{body}\n]\n" if data else "[]\n")
    else:
        out.write(json.dumps(data, indent=2, default=_default, ensure_ascii=False) + "\n")


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt_name: str) -> None:
    """Print rows as table, csv or json (json keeps every key of each row)."""
    if fmt_name == "json":
        write_json(list(rows))
    elif fmt_name == "csv":
        write_csv(rows, columns)
    else:
        print_table(rows, columns)
