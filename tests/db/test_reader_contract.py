"""The contract of exolab.db.raw.Reader (docs/data-model.md, "Reading with plain SQL"): the
driver reader (``raw.connect``: its own connection, as ``exolab patient``/``cohort`` use it)
and the session reader (``raw.reader_for(tx)``: a service transaction's connection) run the
same SQL text with ``:name`` parameters and return the same rows, with the same Python types,
on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from exolab.db import raw
from exolab.db.raw import Reader
from exolab.services.context import Lab
from exolab.services.history import as_datetime

STUDY = "RC"
# (sample, collected_at, [(value as typed, replicate)]) on one isolation per sample
SAMPLES = [
    ("RC-1", "2024-03-01T09:30", [("226.3", 1), ("226.4", 2), ("<40", 3)]),
    ("RC-2", "2024-04-15T14:05", [("0.1", 1)]),
]

# Queries run on every reader: (name, sql, params). Results must be equal across readers.
QUERIES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "rows",
        "SELECT s.sample_code, r.value, r.replicate, r.censor, r.qualitative, s.collected_at "
        "FROM readouts r JOIN samples s ON s.id = r.sample_id "
        "WHERE s.sample_code LIKE :prefix ORDER BY s.sample_code, r.replicate",
        {"prefix": "RC-%"},
    ),
    (
        "parameter used twice",
        "SELECT count(*) FROM samples WHERE sample_code = :code OR parent_id IS NULL "
        "AND sample_code = :code",
        {"code": "RC-1"},
    ),
    (
        "aggregates",
        "SELECT sum(r.value), min(r.value), max(r.replicate), count(r.qualitative) "
        "FROM readouts r JOIN samples s ON s.id = r.sample_id "
        "WHERE s.sample_code = :code AND r.censor = 'none'",
        {"code": "RC-1"},
    ),
    ("literal percent", "SELECT count(*) FROM samples WHERE sample_code LIKE 'RC-%'", {}),
    ("empty", "SELECT id FROM samples WHERE sample_code = :code", {"code": "nobody"}),
    ("null row", "SELECT max(value) FROM readouts WHERE id < 0", {}),
]


def _load(lab: Lab) -> None:
    from exolab.services.isolations import record_isolation
    from exolab.services.readouts import record_readout
    from exolab.services.samples import register_sample
    from exolab.services.subjects import create_subject

    with lab.write() as tx:
        create_subject(tx, {"study": STUDY, "subject_id": "P1"})
        for code, at, values in SAMPLES:
            register_sample(
                tx,
                {
                    "sample_id": code,
                    "biofluid": "plasma",
                    "collected_at": at,
                    "study": STUDY,
                    "subject_id": "P1",
                    "visit": f"V{code[-1]}",
                },
            )
            iso = f"ISO-{code}"
            record_isolation(
                tx, {"isolation_id": iso, "sample_id": code, "isolated_on": "2024-05-01",
                     "method": "sec", "input_volume_ml": "0.5"},
            )  # fmt: skip
            for value, rep in values:
                record_readout(
                    tx,
                    {
                        "isolation_id": iso,
                        "analyte": "GPC1",
                        "value": value,
                        "unit": "pg/mL",
                        "assay": "elisa",
                        "replicate": rep,
                        "lod": "40",
                    },
                )


@pytest.fixture
def loaded(lab: Lab) -> Lab:
    _load(lab)
    return lab


@pytest.fixture(params=["driver", "session"])
def reader(request: pytest.FixtureRequest, loaded: Lab, db_url: str) -> Iterator[Reader]:
    """Each implementation of the protocol on the loaded database."""
    if request.param == "driver":
        found = raw.connect(db_url)
        assert found is not None
        try:
            yield found
        finally:
            found.close()
    else:
        with loaded.read() as tx:
            yield raw.reader_for(tx)


def _typed(rows: list[raw.Row]) -> list[list[tuple[str, Any]]]:
    return [[(type(v).__name__, v) for v in row] for row in rows]


def test_both_readers_return_the_same_typed_rows(loaded: Lab, db_url: str) -> None:
    driver = raw.connect(db_url)
    assert driver is not None
    try:
        with loaded.read() as tx:
            session = raw.reader_for(tx)
            assert (driver.dialect, driver.sqlite) == (session.dialect, session.sqlite)
            for name, sql, params in QUERIES:
                assert _typed(driver.all(sql, params)) == _typed(session.all(sql, params)), name
                assert driver.first(sql, params) == session.first(sql, params), name
                assert list(driver.stream(sql, params, batch=2)) == list(
                    session.stream(sql, params, batch=2)
                ), name
    finally:
        driver.close()


def test_rows_parameters_nulls_and_dates(reader: Reader) -> None:
    sql, params = QUERIES[0][1], QUERIES[0][2]
    rows = reader.all(sql, params)
    assert all(type(row) is tuple for row in rows)
    assert [r[:5] for r in rows] == [
        ("RC-1", 226.3, 1, "none", None),  # NULL is None; floats read back as typed
        ("RC-1", 226.4, 2, "none", None),
        ("RC-1", 40.0, 3, "lt_lod", None),
        ("RC-2", 0.1, 1, "none", None),
    ]
    assert all(type(r[1]) is float and type(r[2]) is int for r in rows)
    # a stored date-time: a datetime on PostgreSQL, the stored ISO text on SQLite
    at = rows[0][5]
    assert isinstance(at, str) if reader.sqlite else isinstance(at, datetime)
    assert as_datetime(at) == datetime(2024, 3, 1, 9, 30)
    assert as_datetime(rows[3][5]) == datetime(2024, 4, 15, 14, 5)
    assert reader.first(QUERIES[1][1], QUERIES[1][2]) == (1,)
    assert reader.first("SELECT :a, :b", {"a": "text with :colon", "b": None}) == (
        "text with :colon",
        None,
    )


def test_empty_results(reader: Reader) -> None:
    sql = "SELECT id FROM samples WHERE sample_code = :code"
    assert reader.all(sql, {"code": "nobody"}) == []
    assert reader.first(sql, {"code": "nobody"}) is None
    assert list(reader.stream(sql, {"code": "nobody"})) == []
    assert reader.first("SELECT max(value) FROM readouts WHERE id < 0") == (None,)


def test_decimals_and_floats(reader: Reader) -> None:
    total, low, high, n_qual = reader.first(QUERIES[2][1], QUERIES[2][2]) or ()
    assert type(total) is float and total == pytest.approx(452.7)
    assert (low, high, n_qual) == (226.3, 2, 0)
    # a numeric result (avg of integers) is a Decimal on PostgreSQL, a float on SQLite
    (avg,) = reader.first("SELECT avg(replicate) FROM readouts") or (None,)
    assert type(avg) is (float if reader.sqlite else Decimal)
    assert float(avg) == pytest.approx(7 / 4)


def test_in_lists(reader: Reader) -> None:
    params: dict[str, Any] = {}
    sql = (
        "SELECT sample_code FROM samples "
        f"WHERE sample_code IN {raw.in_list('code', ['RC-2', 'RC-1', 'none'], params)} "
        "ORDER BY sample_code"
    )
    assert reader.all(sql, params) == [("RC-1",), ("RC-2",)]
    empty: dict[str, Any] = {}
    sql = f"SELECT sample_code FROM samples WHERE sample_code IN {raw.in_list('c', [], empty)}"
    assert reader.all(sql, empty) == []


def test_stream_in_batches(reader: Reader) -> None:
    sql = "SELECT replicate FROM readouts ORDER BY id"
    assert [r for (r,) in reader.stream(sql, batch=1)] == [1, 2, 3, 1]
    assert list(reader.stream(sql, batch=3)) == reader.all(sql)


def test_a_second_reader_sees_committed_data(reader: Reader) -> None:
    opener = reader.opener()
    assert not reader.writing
    assert opener is not None  # a file or a server: another connection can be opened
    other = opener()
    try:
        assert other.first("SELECT count(*) FROM samples WHERE sample_code LIKE 'RC-%'") == (2,)
    finally:
        other.close()
    reader.close()  # a session reader leaves its connection to the transaction
    if not isinstance(reader, raw.DriverReader):
        assert reader.first("SELECT 1") == (1,)


def test_a_session_reader_in_a_write_transaction(loaded: Lab) -> None:
    """Inside a write transaction the reader sees its changes and offers no second
    connection (which would not see them)."""
    from sqlalchemy import text

    with loaded.write() as tx:
        tx.session.execute(text("UPDATE samples SET biofluid = 'serum' WHERE sample_code = 'RC-2'"))
        reader = raw.reader_for(tx)
        assert reader.writing and reader.opener() is None
        assert reader.first("SELECT biofluid FROM samples WHERE sample_code = 'RC-2'") == ("serum",)
        tx.session.execute(
            text("UPDATE samples SET biofluid = 'plasma' WHERE sample_code = 'RC-2'")
        )
