"""How the bulk paths write to SQLite: many rows per INSERT and a larger page cache while an
import writes (docs/bulk-imports.md). Shared by the readouts' and the records' bulk paths."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any

from exolab.services.context import Tx

__all__ = ["SQLITE_CACHE_KIB", "insert_values", "page_cache"]

SQLITE_CACHE_KIB = 65_536


def insert_values(
    execute: Callable[[str, Sequence[Any]], Any],
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    max_variables: int,
    most: int,
) -> None:
    """Insert ``rows`` (values in the order of ``columns``) with up to ``most`` rows per
    ``INSERT ... VALUES (...), (...)`` and at most ``max_variables`` parameters per statement:
    executemany steps SQLite, and releases and takes back the GIL, once per row, which costs
    more than the rows' own indexes and stalls against a thread validating the next chunk."""
    per = max(1, min(most, max_variables // len(columns)))
    group = f"({', '.join('?' * len(columns))})"
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    for i in range(0, len(rows), per):
        part = rows[i : i + per]
        execute(head + ", ".join([group] * len(part)), tuple(chain.from_iterable(part)))


@contextmanager
def page_cache(tx: Tx) -> Iterator[None]:
    """On SQLite, a larger page cache for the import's connection while it writes: the
    indexes of a large file's rows and events no longer fit SQLite's default 2 MB, and every
    insert then reads index pages back from the file (docs/bulk-imports.md)."""
    if tx.dialect != "sqlite":
        yield
        return
    driver = tx.session.connection().connection.driver_connection
    assert driver is not None
    before = driver.execute("PRAGMA cache_size").fetchone()[0]
    driver.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:  # (on the driver's connection: whatever state the session is left in)
        driver.execute(f"PRAGMA cache_size = {int(before)}")
