"""exolab.db.raw: plain SQL on the driver, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from exolab.db import raw
from exolab.db.migrate import script_head
from exolab.services.context import Lab


def test_named_placeholders_on_both_databases(lab: Lab) -> None:
    """``:name`` placeholders work on both drivers (psycopg takes another style), and a
    PostgreSQL ``::type`` cast is not mistaken for one."""
    with lab.read() as tx:
        reader = raw.reader_for(tx)
        params = {"a": 2, "b_2": "CD63"}
        sql = "SELECT :a, code FROM analytes WHERE code = :b_2"
        assert tuple(reader.first(sql, params)) == (2, "CD63")
        if reader.dialect == "postgresql":
            cast = "SELECT :a + '40'::int, code::text FROM analytes WHERE code = :b_2"
            assert tuple(reader.first(cast, params)) == (42, "CD63")
        like = "SELECT count(*) FROM analytes WHERE code LIKE 'CD%' AND code = :b_2"
        assert tuple(reader.first(like, params)) == (1,)  # a literal % beside a placeholder


def test_in_list() -> None:
    params: dict[str, object] = {"other": 1}
    assert raw.in_list("s", [5, 7], params) == "(:s_0, :s_1)"
    assert params == {"other": 1, "s_0": 5, "s_1": 7}
    assert raw.in_list("e", [], params) == "(NULL)"


def test_reader_on_a_service_transaction(lab: Lab) -> None:
    with lab.read() as tx:
        reader = raw.reader_for(tx)
        assert reader.dialect == tx.dialect
        params: dict[str, object] = {}
        sql = f"SELECT code FROM analytes WHERE code IN {raw.in_list('c', ['CD63', 'CD9'], params)}"
        assert sorted(c for (c,) in reader.all(sql + " ORDER BY code", params)) == ["CD63", "CD9"]
        assert reader.first("SELECT count(*) FROM analytes WHERE code = :c", {"c": "CD81"}) == (1,)
        streamed = list(reader.stream("SELECT id FROM analytes ORDER BY id", batch=3))
        assert len(streamed) == reader.first("SELECT count(*) FROM analytes")[0] > 3
        assert raw.schema_revision(reader) == raw.SCHEMA_HEAD == script_head()


def test_connect(db_url: str, tmp_path: Path) -> None:
    reader = raw.connect(db_url)
    assert reader is not None
    try:
        assert raw.schema_revision(reader) == raw.SCHEMA_HEAD
        assert reader.first("SELECT count(*) FROM analytes")[0] > 0
    finally:
        reader.close()
    assert raw.connect(f"sqlite:///{tmp_path / 'missing.db'}") is None  # not created
    assert not (tmp_path / "missing.db").exists()
    assert raw.connect("mysql://x@y/z") is None


def test_schema_revision_of_a_database_without_one(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "plain.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    reader = raw.connect(f"sqlite:///{path}")
    assert reader is not None and raw.schema_revision(reader) is None
    reader.close()


def test_database_file(lab: Lab, db_url: str) -> None:
    """A second connection is offered for a SQLite file in a read transaction only."""
    import sqlite3

    with lab.read() as tx:
        reader = raw.reader_for(tx)
        assert not reader.writing
        if reader.sqlite:
            found = raw.database_file(reader)
            assert found is not None and found.samefile(db_url[len("sqlite:///") :])
            other = raw.open_sqlite(found)
            try:
                assert other.first("SELECT count(*) FROM analytes")[0] > 0
                with pytest.raises(sqlite3.OperationalError, match="readonly"):
                    other.all("DELETE FROM analytes")
            finally:
                other.close()
        else:
            assert raw.database_file(reader) is None
    with lab.write() as tx:
        reader = raw.reader_for(tx)
        assert reader.writing and raw.database_file(reader) is None
    memory = raw.DriverReader(sqlite3.connect(":memory:"), "sqlite")
    assert raw.database_file(memory) is None
