"""Test databases: every ``db_url``/``lab`` test runs on SQLite and on PostgreSQL.

PostgreSQL is used when ``EXOLAB_TEST_POSTGRES_URL`` names a server (a role that may create
databases). When it is set, PostgreSQL tests fail, never skip, if the server is unreachable.
When it is not set, the PostgreSQL variants are skipped with a note saying how to enable them.

Each test gets a fresh database copied from a migrated, initialised template (SQLite: a file
copy; PostgreSQL: ``CREATE DATABASE ... TEMPLATE``), so tests are independent and fast. On
PostgreSQL the copies are made one test ahead and dropped after the test, both on a thread of
their own (:class:`_PgCopies`), so a test does not wait for the server's copying or dropping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from exolab.db.engine import Database
from exolab.services.context import Lab

PG_ENV = "EXOLAB_TEST_POSTGRES_URL"
TEST_ADMIN = "tester"
BACKENDS = ["sqlite", "postgresql"]

# The product's own settings, as a user's shell may hold them (EXOLAB_USER=alice,
# EXOLAB_DATABASE_URL=... after a day's work): the tests start without them, so that a test
# sees only what it sets itself (docs/cli.md lists them).
for _name in [n for n in os.environ if n.startswith("EXOLAB_") and n != PG_ENV]:
    del os.environ[_name]


def pg_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _admin_engine(url: str):  # type: ignore[no-untyped-def]
    return create_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT", pool_size=1
    )


class _PgCopies:
    """Fresh PostgreSQL databases copied from the session's template, made and dropped on one
    background thread of the test process.

    Why this is safe: the template is finished (migrated and initialised) before the first
    copy and nothing connects to it afterwards, so every copy is the same database a copy made
    at the test's start would be; each test still gets its own copy, never shared and never
    reused; the copy made ahead belongs to no test until one takes it; a dropped database is
    one whose test has ended (``WITH (FORCE)`` ends connections the test left behind, as
    before). One thread does the creates and drops in order, on its own connection to the
    ``postgres`` database. What it could not do (a failed drop) is reported when the session
    ends; a failed create is raised in the test that asks for the copy."""

    def __init__(self, base: str, template: str) -> None:
        self.base = base
        self.template = template
        self.admin = _admin_engine(base)
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-copies")
        self.ahead: Future[str] | None = None
        self.dropping: list[Future[None]] = []

    def _create(self) -> str:
        name = f"exolab_t_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    def _drop(self, name: str) -> None:
        with self.admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def take(self) -> str:
        """The name of a fresh copy for one test (and the next one started)."""
        ahead, self.ahead = self.ahead, None
        name = ahead.result() if ahead is not None else self.thread.submit(self._create).result()
        self.ahead = self.thread.submit(self._create)
        return name

    def give_back(self, name: str) -> None:
        self.dropping.append(self.thread.submit(self._drop, name))

    def close(self) -> None:
        if self.ahead is not None:
            # a create that failed made nothing to drop (and no test was given it)
            with contextlib.suppress(Exception):
                self.give_back(self.ahead.result())
        self.thread.shutdown(wait=True)
        self.admin.dispose()
        errors = [f.exception() for f in self.dropping if f.exception() is not None]
        assert not errors, f"test databases left behind: {errors}"


_pg_copies: _PgCopies | None = None


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    from exolab.services.setup import initialise

    global _pg_copies
    made: dict[str, str] = {}
    sqlite_path = tmp_path_factory.mktemp("tmpl") / "template.db"
    initialise(f"sqlite:///{sqlite_path}", TEST_ADMIN)
    made["sqlite"] = str(sqlite_path)
    base = pg_url()
    pg_name = None
    if base:
        pg_name = f"exolab_tmpl_{uuid.uuid4().hex[:8]}"
        eng = _admin_engine(base)
        with eng.connect() as c:
            c.execute(text(f'CREATE DATABASE "{pg_name}"'))
        eng.dispose()
        url = make_url(base).set(database=pg_name).render_as_string(hide_password=False)
        initialise(url, TEST_ADMIN)
        made["postgresql"] = pg_name
        _pg_copies = _PgCopies(base, pg_name)
    yield made
    if _pg_copies is not None:
        copies, _pg_copies = _pg_copies, None
        copies.close()
    if base and pg_name:
        eng = _admin_engine(base)
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        eng.dispose()


def _fresh_pg(templates: dict[str, str]) -> Iterator[str]:
    base = pg_url()
    assert base
    assert _pg_copies is not None and _pg_copies.template == templates["postgresql"]
    copies = _pg_copies
    name = copies.take()
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        copies.give_back(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not pg_url():
        pytest.skip(f"PostgreSQL tests need {PG_ENV}=postgresql+psycopg://user:pw@host/db")
    return str(request.param)


def _copy_template(template: str, target: Path) -> None:
    """A fresh SQLite database from the template, private as exolab creates one (a plain copy
    takes the umask: under the common 022 every command would warn that the file can be read
    by every account, and tests reading stderr would see that line)."""
    shutil.copyfile(template, target)
    target.chmod(0o600)


@pytest.fixture
def two_fresh_labs(
    backend: str, _templates: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Lab, Lab]]:
    """Two fresh, initialised databases of the same backend, as the admin: for tests that put
    the same file through two paths and compare the results."""
    dbs: list[Database] = []
    gens: list[Iterator[str]] = []
    for name in ("first", "second"):
        if backend == "sqlite":
            target = tmp_path / f"{name}.db"
            _copy_template(_templates["sqlite"], target)
            url = f"sqlite:///{target}"
        else:
            gen = _fresh_pg(_templates)
            gens.append(gen)
            url = next(gen)
        dbs.append(Database(url))
    yield Lab(dbs[0], TEST_ADMIN), Lab(dbs[1], TEST_ADMIN)
    for db in dbs:
        db.dispose()
    for gen in gens:
        next(gen, None)


@pytest.fixture
def db_url(backend: str, _templates: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, initialised database (user ``tester`` is admin)."""
    if backend == "sqlite":
        target = tmp_path / "lab.db"
        _copy_template(_templates["sqlite"], target)
        yield f"sqlite:///{target}"
    else:
        yield from _fresh_pg(_templates)


@pytest.fixture
def sqlite_url(_templates: dict[str, str], tmp_path: Path) -> str:
    target = tmp_path / "lab.db"
    _copy_template(_templates["sqlite"], target)
    return f"sqlite:///{target}"


@pytest.fixture
def lab(db_url: str) -> Iterator[Lab]:
    db = Database(db_url)
    yield Lab(db, TEST_ADMIN)
    db.dispose()


@pytest.fixture
def empty_db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all (for migration tests)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    base = pg_url()
    assert base
    name = f"exolab_e_{uuid.uuid4().hex[:10]}"
    eng = _admin_engine(base)
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()
