"""Fixtures of the PostgreSQL integrity tests (test_pg_integrity.py, test_pg_record_refs.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from exolab.services.context import Lab


@pytest.fixture
def pg(lab: Lab) -> Lab:
    """The test's database, on PostgreSQL: the tests asking for it are PG_ONLY."""
    assert lab.db.dialect == "postgresql"
    return lab


@pytest.fixture
def raw(pg: Lab) -> Iterator[Callable[[], Any]]:
    """Plain psycopg connections to the test database (not through exolab's write lock)."""
    import psycopg

    url = make_url(pg.db.url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    made: list[Any] = []

    def connect() -> Any:
        con = psycopg.connect(dsn)
        made.append(con)
        return con

    yield connect
    for con in made:
        con.close()
