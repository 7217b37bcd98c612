"""Plain output helpers shared by the commands: aligned tables, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from itertools import islice
from operator import itemgetter
from typing import Any, TextIO

from exolab.io.cells import GUARD_FIRSTS, spreadsheet_safe
from exolab.io.progress import Throttled

_CHUNK_ROWS = 2000


class ProgressLine:
    """A long import's progress on a terminal: one line on ``stream``, rewritten in place
    (docs/bulk-imports.md, "Progress"), cleared by :meth:`clear` before the command prints
    its outcome. :attr:`watch` is the function the file's reader calls."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.width = max(20, shutil.get_terminal_size().columns - 1)
        self.watch = Throttled(self._show)

    def _show(self, text: str) -> None:
        self.stream.write(f"\r{self.label}: {text}"[: self.width + 1] + "\x1b[K")
        self.stream.flush()

    def clear(self) -> None:
        if self.watch.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


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
    # Rows are formatted a chunk at a time, column by column (each distinct value of a column
    # formatted once), and written in large pieces: one write per row to a terminal or pipe
    # costs more than formatting the row.
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180, as the exports (docs/exports.md)
    w.writerow(columns)
    it = iter(rows)
    while chunk := list(islice(it, _CHUNK_ROWS)):
        cells = [_column_cells([r.get(c) for r in chunk], _csv_cell) for c in columns]
        w.writerows(zip(*cells, strict=True))
        out.write(buf.getvalue())
        buf.seek(0)
        buf.truncate()
    out.write(buf.getvalue())


def _column_cells(
    values: list[Any],
    cell: Callable[[Any], str],
    many: Callable[[list[Any]], list[str]] | None = None,
) -> list[str]:
    """``cell`` of each value of one column (``many`` formats a list at once), each distinct
    value formatted once.

    Values are shared through a dict only where equal values always format alike: never
    across numeric types (``1 == 1.0 == True``) nor for a float zero (``-0.0 == 0.0``).
    """
    encode = many or (lambda vs: list(map(cell, vs)))
    types = set(map(type, values))
    if not types <= _HASHABLE or len(types & _NUMERIC) > 1:
        return encode(values)
    distinct = list(set(values))
    if float in types and 0 in distinct:
        return encode(values)
    cache = dict(zip(distinct, encode(distinct), strict=True))
    return list(map(cache.__getitem__, values))


_NUMERIC = {int, bool, float}
_HASHABLE = {str, int, bool, float, type(None), date, datetime}


def _csv_cell(value: Any) -> str:
    """Exact floats, ISO 8601 datetimes with ``T`` and text a spreadsheet would run as a
    formula guarded by a quote (docs/security.md), as in the exports."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in GUARD_FIRSTS:
        return spreadsheet_safe(value)
    return fmt(value)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def write_json(data: Any, out: TextIO | None = None) -> None:
    """Write JSON; a list is written one compact object per line.

    json's C encoder runs only without ``indent``; indenting every field of thousands of rows
    went through the pure-Python encoder and cost several times the query itself. A list of
    rows with the same keys is encoded column by column (:func:`_json_rows`).
    """
    out = out or sys.stdout
    if isinstance(data, list):
        write_json_rows(data, out)
    else:
        out.write(json.dumps(_finite(data), indent=2, default=_default, ensure_ascii=False) + "\n")


def write_json_rows(items: Iterable[Any], out: TextIO | None = None) -> None:
    """A JSON list, one compact object per line, written a chunk at a time as ``items`` come
    (a report of every isolation is not held in memory first). A chunk of rows with the same
    keys is encoded column by column (:func:`_json_rows`: the same text)."""
    out = out or sys.stdout
    it = iter(items)
    opened = False
    while chunk := list(islice(it, _CHUNK_ROWS)):
        first = chunk[0]
        if isinstance(first, dict) and all(
            isinstance(r, dict) and r.keys() == first.keys() for r in chunk
        ):
            lines = _json_rows(chunk, list(first))
        else:
            lines = ["  " + _ENCODE(_finite(item)) for item in chunk]
        out.write((",\n" if opened else "[\n") + ",\n".join(lines))
        opened = True
    out.write("\n]\n" if opened else "[]\n")


_ENCODE = json.JSONEncoder(default=_default, ensure_ascii=False, check_circular=False).encode
# JSON has no infinity nor NaN (RFC 8259): a number beyond the float range (a percent change
# from a baseline of 1e-300) is written null, as JavaScript's JSON.stringify does.
_NOT_FINITE = {"Infinity": "null", "-Infinity": "null", "NaN": "null"}


def _finite(data: Any) -> Any:
    """``data`` with each infinite or NaN float (in lists and dicts too) made None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def _encode_value(value: Any) -> str:
    """One value as JSON (an infinite or NaN float: null)."""
    return _ENCODE(_finite(value))


def _encode_numbers(values: list[Any]) -> list[str]:
    """Numbers and nulls encoded as one array by the C encoder, then split (no number or
    ``null`` contains ``", "``); an infinite or NaN number is null."""
    cells = _ENCODE(values)[1:-1].split(", ")
    if not all(map(math.isfinite, filter(None, values))):
        cells = [_NOT_FINITE.get(c, c) for c in cells]
    return cells


def _json_rows(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    """One line per row, exactly as ``_ENCODE(row)`` writes it, built column by column.

    Each distinct value of a column is encoded once (numbers and nulls as one array by the C
    encoder); the lines are then one ``%`` formatting each.
    """
    encoded = []
    for c in columns:
        values = list(map(itemgetter(c), rows))
        numbers = set(map(type, values)) <= {int, float, type(None)}
        encoded.append(_column_cells(values, _encode_value, _encode_numbers if numbers else None))
    template = "  {" + ", ".join(_ENCODE(c).replace("%", "%%") + ": %s" for c in columns) + "}"
    return [template % cells for cells in zip(*encoded, strict=True)]


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt_name: str) -> None:
    """Print rows as table, csv or json (json keeps every key of each row)."""
    if fmt_name == "json":
        write_json(list(rows))
    elif fmt_name == "csv":
        write_csv(rows, columns)
    else:
        print_table(rows, columns)
