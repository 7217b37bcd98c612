"""The bulk paths' SQLite inserts (services/sqlite_bulk.py): a staged insert stores exactly
what a direct one does, and a refused one leaves nothing behind for the next."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from exolab.services.sqlite_bulk import STAGE_MIN_ROWS, insert_staged, insert_values

COLUMNS = ["id", "code", "kind", "amount", "label", "note"]
SCHEMA = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, kind TEXT, "
    "amount REAL, label TEXT, note)"
)


class _Db:
    """An in-memory table in an open transaction, and the statements run on it."""

    def __init__(self) -> None:
        self.con = sqlite3.connect(":memory:", isolation_level=None)
        self.con.execute(SCHEMA)
        self.con.execute("BEGIN")
        self.seen: list[tuple[str, tuple[Any, ...]]] = []

    def __call__(self, sql: str, params: Any) -> Any:
        self.seen.append((sql, tuple(params)))
        return self.con.execute(sql, params)


def _stored(db: _Db) -> list[tuple[Any, ...]]:
    return db.con.execute(
        "SELECT id, code, kind, amount, typeof(amount), label, typeof(label), note, "
        "typeof(note) FROM t ORDER BY id"
    ).fetchall()


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as insert_staged takes them: column by column."""
    return [list(column) for column in zip(*rows, strict=True)]


def _rows(n: int, label: Any = "x", note: Any = None) -> list[tuple[Any, ...]]:
    return [(k + 1, f"C{k:05d}", "plasma", 4, label, note) for k in range(n)]


@pytest.mark.parametrize(
    ("label", "note"),
    [
        ("x", None),  # text and NULL the same on every row
        (1, 2.5),  # numbers into a text and an untyped column
        (b"\x00\x01", "n"),  # bytes
    ],
)
def test_staged_insert_stores_what_a_direct_insert_stores(label: Any, note: Any) -> None:
    rows = _rows(300, label, note)
    direct, staged = _Db(), _Db()
    insert_values(direct, "t", COLUMNS, rows, 999, 100)
    insert_staged(staged, "t", COLUMNS, _columns(rows), 999, 100)
    assert _stored(staged) == _stored(direct)
    # the repeated values were bound once, in the INSERT ... SELECT
    moved = [p for s, p in staged.seen if s.startswith("INSERT INTO t ")]
    assert moved == [("plasma", 4, label, note)]


def test_equal_values_of_another_type_are_not_shared() -> None:
    """1 and 1.0 are equal in Python but stored as '1' and '1.0' in a text column."""
    rows = [(k + 1, f"C{k:05d}", "plasma", 4, 1 if k % 2 else 1.0, None) for k in range(200)]
    direct, staged = _Db(), _Db()
    insert_values(direct, "t", COLUMNS, rows, 999, 100)
    insert_staged(staged, "t", COLUMNS, _columns(rows), 999, 100)
    assert _stored(staged) == _stored(direct)
    assert {r[5] for r in _stored(staged)} == {"1", "1.0"}


def test_few_rows_or_many_varying_columns_are_inserted_directly() -> None:
    db = _Db()
    insert_staged(db, "t", COLUMNS, _columns(_rows(STAGE_MIN_ROWS - 1)), 999, 100)
    varying = [(k + 1, f"C{k}", f"k{k}", k, f"l{k}", None) for k in range(STAGE_MIN_ROWS, 200)]
    insert_staged(db, "t", COLUMNS, _columns(varying), 999, 100)
    assert not any("exolab_stage" in s for s, _ in db.seen)
    assert db.con.execute("SELECT count(*) FROM t").fetchone() == (199,)


def test_a_refused_insert_leaves_nothing_for_the_next() -> None:
    """A duplicate key refuses the statement; the caller goes on in the same transaction
    (no savepoint): the next insert stores its own rows, not the refused ones as well."""
    db = _Db()
    insert_staged(db, "t", COLUMNS, _columns(_rows(100)), 999, 100)
    clash = [(1000 + k, f"C{k:05d}", "serum", 2, "y", None) for k in range(100)]  # same codes
    with pytest.raises(sqlite3.IntegrityError):
        insert_staged(db, "t", COLUMNS, _columns(clash), 999, 100)
    fresh = [(2000 + k, f"D{k:05d}", "serum", 2, "y", None) for k in range(100)]
    insert_staged(db, "t", COLUMNS, _columns(fresh), 999, 100)
    assert db.con.execute("SELECT count(*) FROM t").fetchone() == (200,)
    assert db.con.execute("SELECT count(*) FROM t WHERE code LIKE 'D%'").fetchone() == (100,)
