"""Schema migrations through Alembic, with the scripts shipped inside the package.

Alembic is imported only by the functions that migrate; the schema check every command makes
(:func:`current_revision` against :data:`SCHEMA_HEAD`) reads ``alembic_version`` with plain SQL
so that commands start fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from exolab.db.raw import SCHEMA_HEAD as SCHEMA_HEAD

if TYPE_CHECKING:
    from alembic.config import Config


def migrations_dir() -> Path:
    return Path(str(files("exolab.migrations")))


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("path_separator", "os")
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def head_revision() -> str:
    return SCHEMA_HEAD


def script_head() -> str | None:
    """The head revision as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection to migrate through (the caller begins the transaction).

    SQLite: table rebuilds (batch mode) drop and recreate tables that other tables refer to,
    so foreign keys are switched off for the migration. ``PRAGMA foreign_keys`` is a no-op
    inside a transaction, so it is set here, before BEGIN, and switched back on afterwards
    (the connection returns to the pool)."""
    with engine.connect() as conn:
        driver = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        if driver is not None:
            driver.execute("PRAGMA foreign_keys = OFF")
        try:
            yield conn
        finally:
            if driver is not None:
                with suppress(Exception):
                    driver.execute("PRAGMA foreign_keys = ON")


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    with migration_connection(engine) as conn, conn.begin():
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    with migration_connection(engine) as conn, conn.begin():
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    try:
        return script.get_revision(revision) is not None
    except Exception:
        return False
