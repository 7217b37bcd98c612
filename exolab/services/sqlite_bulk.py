"""How the bulk paths write to SQLite: many rows per INSERT and a larger page cache while an
import writes (docs/bulk-imports.md). Shared by the readouts' and the records' bulk paths."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any

from exolab.services.context import Tx

__all__ = ["SQLITE_CACHE_KIB", "insert_staged", "insert_values", "page_cache"]

SQLITE_CACHE_KIB = 65_536
STAGE_MIN_ROWS = 64  # fewer rows than this are inserted directly (staging costs 3 statements)
STAGE_ROWS_PER_INSERT = 2_000  # staged rows per INSERT (few columns: more rows fit)


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


def insert_staged(
    execute: Callable[[str, Sequence[Any]], Any],
    table: str,
    columns: Sequence[str],
    values: Sequence[Sequence[Any]],
    max_variables: int,
    most: int,
) -> None:
    """Insert rows given column by column (``values[i]`` holds every row's value of
    ``columns[i]``) as :func:`insert_values` does, binding each value that is the same on
    every row once: the columns that vary are staged in a temporary table (many rows per
    INSERT), and one ``INSERT ... SELECT`` adds the others as parameters of the statement.

    Most of a bulk import's columns repeat on every row (a file's biofluid, tube and spins,
    the import's batch, user and time, a new tube's status and counters), and handing a value
    to SQLite costs Python more than SQLite's own work on it: 20,000 tubes of 42 columns took
    0.27 s through ``insert_values`` and 0.16 s so (7 columns vary; benchmarks/README.md).
    A value is "the same" only if it is equal and of the same type on every row (1 and 1.0
    are stored differently in a text column). The staged columns have no type, so SQLite
    applies the target column's affinity exactly as it does to a value inserted directly.
    The stage is emptied before it is filled: a refused insert, rolled back to a savepoint
    or not, never leaves rows for the next call."""
    n = len(columns)
    varying = [i for i, column in enumerate(values) if not _same(column)]
    if len(values[0]) < STAGE_MIN_ROWS or not varying or 2 * len(varying) > n:
        rows = list(zip(*values, strict=True))
        insert_values(execute, table, columns, rows, max_variables, most)
        return
    stage = f"exolab_stage_{len(varying)}"
    staged = [f"c{k}" for k in range(len(varying))]
    execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
        f"(stage_no INTEGER PRIMARY KEY, {', '.join(staged)})",
        (),
    )
    execute(f"DELETE FROM temp.{stage}", ())
    insert_values(
        execute,
        f"temp.{stage}",
        staged,
        list(zip(*(values[i] for i in varying), strict=True)),
        max_variables,
        STAGE_ROWS_PER_INSERT,
    )
    where = dict(zip(varying, staged, strict=True))
    picks = ", ".join(where.get(i, "?") for i in range(n))
    execute(
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {picks} FROM temp.{stage} ORDER BY stage_no",
        tuple(values[i][0] for i in range(n) if i not in where),
    )
    execute(f"DELETE FROM temp.{stage}", ())


def _same(values: Sequence[Any]) -> bool:
    """Every value equal to the first and of its type (only numbers can be equal across
    types: 1 == 1.0 == True)."""
    first = values[0]
    if values.count(first) != len(values):
        return False
    return type(first) not in _NUMBERS or len(set(map(type, values))) == 1


_NUMBERS = (int, float, bool)


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
