"""How far an import has read its file (docs/bulk-imports.md, "Progress") and how many rows
an export has written (docs/exports.md, "Progress"): the one text the command line's progress
line and the UI's import status show, and how often they show it.

A file's reader reports ``(rows, bytes_read, file_bytes)`` as it reads
(:meth:`exolab.io.reading.CsvFile.watch`), possibly from a thread of its own; what is shown
follows the bytes, which is what a large file's time follows. An export's total is not known
before its query has run to the end, so it reports a count only (:func:`counted`,
:meth:`Throttled.count`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

SHOW_AFTER = 0.5  # seconds: an import or export done sooner shows no progress at all
SHOW_EVERY = 0.2  # seconds between two updates
# rows between two reports: of a watched file's reader (CsvFile.watch), of an export (counted)
PROGRESS_ROWS = 5_000
WRITTEN = "rows written"

# How far an export has come: (rows so far, what they are: "rows written", "LB records
# written", ...). Throttled.count is one.
CountProgress = Callable[[int, str], None]
_T = TypeVar("_T")


def progress_text(rows: int, done: int, total: int) -> str:
    """``41% read (82,000 rows)``; once the whole file is read, what is left is the last
    rows' rules and the writing."""
    if total <= 0 or done >= total:
        return f"read all {rows:,} rows; finishing"
    return f"{min(99, 100 * done // total)}% read ({rows:,} rows)"


def count_text(rows: int, what: str = WRITTEN) -> str:
    """``82,000 rows written``: an export's progress, a count with no total."""
    return f"{rows:,} {what}"


def counted(
    rows: Iterable[_T], progress: CountProgress | None, what: str = WRITTEN
) -> Iterable[_T]:
    """``rows`` unchanged, calling ``progress(n, what)`` each time another
    :data:`PROGRESS_ROWS` of them have been taken (``n``: how many so far); ``rows`` itself
    when there is no ``progress``. The rows are handed on a block at a time: the count costs
    one call per block, not one per row."""
    if progress is None:
        return rows
    return _counted(iter(rows), progress, what)


def _counted(rows: Iterator[_T], progress: CountProgress, what: str) -> Iterator[_T]:
    n = 0
    while block := list(islice(rows, PROGRESS_ROWS)):
        yield from block
        n += len(block)
        progress(n, what)


class Throttled:
    """A progress function (for :meth:`CsvFile.watch`) that hands ``show`` the progress text
    at most every :data:`SHOW_EVERY` seconds, and only once the import has taken
    :data:`SHOW_AFTER` seconds: a small file shows nothing. The end of the reading is shown
    whenever something was shown before it or the time has come. Safe to call from the
    reading thread; ``show`` runs in the caller's thread. :meth:`count` is the count-only
    form (an export), shown by the same rule."""

    def __init__(
        self,
        show: Callable[[str], None],
        *,
        after: float | None = None,
        every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._show = show
        self._every = SHOW_EVERY if every is None else every
        self._clock = clock
        self._next = clock() + (SHOW_AFTER if after is None else after)
        self._lock = threading.Lock()
        self.shown = False

    def __call__(self, rows: int, done: int, total: int) -> None:
        if self._due(end=done >= total):
            self._show(progress_text(rows, done, total))

    def count(self, rows: int, what: str = WRITTEN) -> None:
        """A :data:`CountProgress`: ``82,000 rows written``, with no end to show (the
        command's own last words say how many)."""
        if self._due(end=False):
            self._show(count_text(rows, what))

    def _due(self, *, end: bool) -> bool:
        now = self._clock()
        with self._lock:
            if now < self._next and not (end and self.shown):
                return False
            self._next = now + self._every
            self.shown = True
        return True
