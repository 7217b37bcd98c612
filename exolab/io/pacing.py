"""The interpreter's settings while a bulk import runs (docs/bulk-imports.md): the garbage
collector runs less often, and threads hand the interpreter lock to each other sooner.
Shared by the readouts' and the records' bulk paths; each is put back when the import ends."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

GC_THRESHOLD = 100_000  # objects allocated between young collections during a bulk import


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


@contextmanager
def shorter_switches(interval: float) -> Iterator[None]:
    """Python's switch interval at most ``interval`` (seconds) while an import's threads
    run: a thread coming back from the database waits at most that long for the lock."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(before)
