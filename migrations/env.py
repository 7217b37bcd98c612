"""Alembic environment: batch mode and foreign keys off on SQLite, exolab's engine settings."""

from __future__ import annotations

import os
from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine

from exolab.db import pg_fk
from exolab.db.engine import make_engine
from exolab.db.models import Base
from exolab.settings import Settings

config = context.config
target_metadata = Base.metadata


# Expression indexes: not reflected on SQLite, so the models' copy (``info={"compare": False}``)
# and the database's are both left out of the comparison.
NOT_COMPARED = {"ix_samples_volume_sort"}


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Table rebuilds (batch mode) must not cascade or fail on foreign keys mid-migration.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
    # On PostgreSQL, the foreign keys of readouts, samples and isolations are enforced by
    # triggers (migrations 0011_pg_fk and 0014_pg_fk_records, exolab/db/pg_fk.py): the models
    # keep them (SQLite has them as constraints), and the comparison of models with the
    # database leaves out those the triggers really enforce.
    # Asked only when a comparison runs: a query here, before configure(), would open a
    # transaction that Alembic then takes for the caller's and never commits.
    by_triggers: list[set[str]] = []
    dialect = connection.dialect.name

    def include_object(obj: Any, name: Any, type_: str, reflected: bool, compare_to: Any) -> bool:
        """Foreign keys enforced by triggers are not compared (above). An index the models
        mark ``info={"only_on": DIALECT}`` exists on that database only (exolab/db/models.py,
        ``_prefix_index``); expression indexes are not compared."""
        if type_ == "foreign_key_constraint":
            if not by_triggers:
                by_triggers.append(pg_fk.enforced_by_triggers(connection))
            return name not in by_triggers[0]
        info = getattr(obj, "info", {})
        if type_ == "index" and (info.get("compare") is False or name in NOT_COMPARED):
            return False
        only_on = info.get("only_on")
        return only_on is None or only_on == dialect

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Engine):  # pytest-alembic hands over an engine
        with connection.begin() as conn:
            _run(conn)
        return
    if connection is not None:
        _run(connection)
        return
    url = (
        config.get_main_option("sqlalchemy.url")
        or os.environ.get("EXOLAB_DATABASE_URL")
        or Settings().resolved_url()
    )
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("exolab migrations run online only")
run_migrations_online()
