"""Reading a subjects, cell sources, samples or isolations file for the bulk import
(docs/bulk-imports.md): rows in, validated input models out, chunk by chunk. The database
side (set-based reads, the rules that need stored records, the writes and their audit events)
is :mod:`exolab.services.bulk_records`.

Each row is validated by the rules of the input model the per-record path uses (``SubjectIn``,
``CellSourceIn``, ``SampleIn``, ``IsolationIn``), cell by cell, each distinct cell once
(:class:`exolab.domain.cached_rows.CachedRows`); a row that fails is validated by the model
itself, which names its problems (docs/bulk-imports.md, "Validation").
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from exolab.domain.cached_rows import CachedRows, usable
from exolab.io.cells import import_cell
from exolab.io.problems import Problems
from exolab.io.reading import CsvFile
from exolab.services.bulk_records import Chunk, RowRules, write_records
from exolab.services.common import validate
from exolab.services.context import Tx
from exolab.services.errors import ValidationFailed

CHUNK_ROWS = 5_000
GC_THRESHOLD = 100_000  # objects allocated between young collections during a bulk import
# ... of records: their rows, models and tubes are a chunk's many small objects, none of
# them cyclic garbage (20k samples: ~0.08 s less CPU than at 100,000; memory the same)
RECORDS_GC_THRESHOLD = 1_000_000


@contextmanager
def fewer_collections(threshold: int = GC_THRESHOLD) -> Iterator[None]:
    """Collect garbage less often while a bulk import holds a chunk's rows, models and events
    alive: each collection walks them all, for nothing (they are not cyclic garbage)."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], threshold), before[1], max(before[2], 1_000))
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _cells(columns: list[tuple[str, int]], fields: list[str]) -> dict[str, Any]:
    """A row's cells as imported (as importer.row_values, without the call per cell)."""
    return {col: (import_cell(v) if (v := fields[i]) else "") for col, i in columns}


def read_chunks(kind: Any, src: CsvFile, index: dict[str, int], rules: RowRules) -> Iterator[Chunk]:
    """(row number, cells, validated model or its ValidationFailed / the ragged-row column
    and message), in chunks of :data:`CHUNK_ROWS` rows. A row that passes is validated cell
    by cell, each distinct cell once (:class:`CachedRows`: the model's own rules); its cells
    are then given as a function that reads them when a later rule needs them. Any other row
    is validated by the model, which names its problems."""
    width = len(src.header)
    columns = list(index.items())
    decimal_comma = src.decimal_comma
    cached = (
        CachedRows(kind.model, columns, import_cell)
        if not decimal_comma and usable(kind.model, list(index))
        else None
    )
    chunk: Chunk = []
    for rownum, fields in src.rows():
        whole = len(fields) == width
        m = cached.row(fields) if cached is not None and whole else None
        if m is not None:
            chunk.append((rownum, partial(_cells, columns, fields), m))
        else:
            data, ragged = (
                (_cells(columns, fields), None) if whole else rules.row_values(fields, width, index)
            )
            if data is None:
                column = src.ragged_column(len(fields))  # as the per-record path names it
                chunk.append((rownum, None, (column, ragged or "ragged row")))
            else:
                if decimal_comma:
                    rules.convert_numbers(kind, data, decimal_comma)
                try:
                    chunk.append((rownum, data, validate(kind.model, data)))
                except ValidationFailed as exc:
                    chunk.append((rownum, data, exc))
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def import_records(
    tx: Tx,
    kind: Any,
    src: CsvFile,
    index: dict[str, int],
    report: Any,
    problems: Problems,
    on_duplicate: str,
    create_locations: bool,
    rules: RowRules,
) -> None:
    """Import a subjects, cell sources, samples or isolations file in bulk into the import's
    transaction."""
    with fewer_collections(RECORDS_GC_THRESHOLD):
        write_records(
            tx,
            kind,
            read_chunks(kind, src, index, rules),
            report,
            problems,
            on_duplicate,
            create_locations,
            rules,
        )
