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

import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

from exolab.domain.cached_rows import CachedRows, usable
from exolab.io.cells import import_cell
from exolab.io.pacing import fewer_collections, shorter_switches
from exolab.io.problems import Problems
from exolab.io.reading import CsvFile, FileProblem
from exolab.services.bulk_records import Chunk, RowRules, write_records
from exolab.services.common import validate
from exolab.services.context import Tx
from exolab.services.errors import ValidationFailed

CHUNK_ROWS = 5_000
# objects allocated between young collections during a bulk import of records: their rows,
# models and tubes are a chunk's many small objects, none of them cyclic garbage (20k
# samples: ~0.08 s less CPU than at 100,000; memory the same)
RECORDS_GC_THRESHOLD = 1_000_000
# Python's switch interval while a chunk is read ahead (ReadAhead): the thread that comes
# back from the database waits at most this long for the reading thread to hand the GIL back
# (Python's default, 5 ms, serialised them: 20k samples 0.76 s with the thread as without;
# 0.2 ms: 0.67 s; 20 us: 0.68 s, more CPU).
RECORDS_SWITCH_INTERVAL = 0.0002  # seconds


_DONE: Any = object()  # the chunks' end


class ReadAhead:
    """The chunks of :func:`read_chunks`, the next one read and validated on a thread of its
    own while the database side writes the current one (the database works without the
    GIL). It is read only when asked (:meth:`ask`, called by the writer just before it
    writes a window), never while the rules of a chunk run: two threads that both run
    Python only take turns (reading ahead as soon as a chunk was taken was measured no
    faster). Not asked, the next chunk is read when it is taken, as without the thread.
    Same chunks, same order; an error raised while reading one (a file problem) is raised
    where that chunk is taken. Nothing of the file is read by the thread but the chunks:
    the rows' problems are reported by the caller, in file order, as before."""

    def __init__(self, chunks: Iterator[Chunk]) -> None:
        self._chunks = chunks
        self._thread: threading.Thread | None = None
        self._ready: tuple[Any, BaseException | None] | None = None

    def _read(self) -> None:
        try:
            self._ready = (next(self._chunks, _DONE), None)
        except BaseException as exc:  # (handed to the taker)
            self._ready = (None, exc)

    def ask(self) -> None:
        """Begin reading the next chunk now, on the thread."""
        if self._thread is None and self._ready is None:
            self._thread = threading.Thread(target=self._read, name="exolab-read", daemon=True)
            self._thread.start()

    def __iter__(self) -> ReadAhead:
        return self

    def __next__(self) -> Chunk:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        elif self._ready is None:
            self._read()
        assert self._ready is not None
        chunk, error = self._ready
        self._ready = None
        if error is not None:
            raise error
        if chunk is _DONE:
            self._ready = (_DONE, None)
            raise StopIteration
        return chunk  # type: ignore[no-any-return]

    def close(self) -> None:
        """Wait for a chunk being read (the file stays open until it is done)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None


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
    rows = src.rows()
    while True:
        try:
            rownum, fields = next(rows)
        except StopIteration:
            break
        except FileProblem:  # reading stopped: the rows before it are checked first
            if chunk:  # (their problems are told before the stop, docs/bulk-imports.md)
                yield chunk
            raise
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
                try:
                    if decimal_comma:
                        rules.convert_numbers(kind, data, decimal_comma)
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
    chunks = ReadAhead(read_chunks(kind, src, index, rules))
    try:
        with fewer_collections(RECORDS_GC_THRESHOLD), shorter_switches(RECORDS_SWITCH_INTERVAL):
            write_records(tx, kind, chunks, report, problems, on_duplicate, create_locations, rules)
    finally:
        chunks.close()
