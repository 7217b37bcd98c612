"""How far an import has read its file (docs/bulk-imports.md, "Progress"): the one text the
command line's progress line and the UI's import status show, and how often they show it.

A file's reader reports ``(rows, bytes_read, file_bytes)`` as it reads
(:meth:`exolab.io.reading.CsvFile.watch`), possibly from a thread of its own; what is shown
follows the bytes, which is what a large file's time follows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

SHOW_AFTER = 0.5  # seconds: an import done sooner shows no progress at all
SHOW_EVERY = 0.2  # seconds between two updates


def progress_text(rows: int, done: int, total: int) -> str:
    """``41% read (82,000 rows)``; once the whole file is read, what is left is the last
    rows' rules and the writing."""
    if total <= 0 or done >= total:
        return f"read all {rows:,} rows; finishing"
    return f"{min(99, 100 * done // total)}% read ({rows:,} rows)"


class Throttled:
    """A progress function (for :meth:`CsvFile.watch`) that hands ``show`` the progress text
    at most every :data:`SHOW_EVERY` seconds, and only once the import has taken
    :data:`SHOW_AFTER` seconds: a small file shows nothing. The end of the reading is shown
    whenever something was shown before it or the time has come. Safe to call from the
    reading thread; ``show`` runs in the caller's thread."""

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
        now = self._clock()
        end = done >= total
        with self._lock:
            if now < self._next and not (end and self.shown):
                return
            self._next = now + self._every
            self.shown = True
        self._show(progress_text(rows, done, total))
