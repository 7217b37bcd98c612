"""pytest-alembic's built-in checks, on SQLite and PostgreSQL, plus the CLI's migration commands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from pytest_alembic.tests import (  # noqa: F401 - collected as tests
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import DateTime, Engine, bindparam, inspect, text

from exolab.db import migrate
from exolab.db.engine import make_engine


@pytest.fixture
def alembic_config() -> Any:
    from pytest_alembic.config import Config

    return Config(
        config_options={"script_location": str(migrate.migrations_dir()), "path_separator": "os"}
    )


@pytest.fixture
def alembic_engine(empty_db_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_db_url)
    yield engine
    engine.dispose()


def test_downgrade_to_base_and_upgrade_again(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert "samples" in inspect(engine).get_table_names()
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_schema_head_constant_matches_scripts() -> None:
    assert migrate.script_head() == migrate.SCHEMA_HEAD


def test_partial_and_prefix_indexes_match_the_models(empty_db_url: str) -> None:
    """The models give PostgreSQL-only index options (partial unique keys of readouts, the
    prefix indexes' operator class) to the indexes when a PostgreSQL engine is made
    (exolab/db/models.py, use_postgresql_options): each index the migrations create compiles
    from the models as the database has it."""
    from sqlalchemy.schema import CreateIndex

    from exolab.db.models import Base

    engine = make_engine(empty_db_url)
    migrate.upgrade(engine)
    wanted = {
        "uq_readouts_isolation_key": "WHERE isolation_id IS NOT NULL",
        "uq_readouts_sample_key": "WHERE isolation_id IS NULL",
    }
    if engine.dialect.name == "postgresql":
        wanted["ix_samples_sample_code_prefix"] = "sample_code text_pattern_ops"
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            stored = {
                n: d for n, d in conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes")
            }
        else:
            stored = {
                n: d
                for n, d in conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                )
            }
    indexes = {i.name: i for t in Base.metadata.tables.values() for i in t.indexes}
    for name, part in wanted.items():
        ddl = str(CreateIndex(indexes[name]).compile(dialect=engine.dialect))
        assert part in ddl, ddl
        assert part.replace("(", "").replace(")", "") in stored[name].replace("(", "").replace(
            ")", ""
        ), stored[name]
    engine.dispose()


def test_short_datetime_text_of_earlier_bulk_imports_is_made_long(empty_db_url: str) -> None:
    """0013_datetime_text: a whole-second time that an earlier bulk import stored in the
    driver's short form (``2024-03-01 00:00:00``) is rewritten in the long form exolab writes
    everywhere else, so comparisons with it (a list since a day) find it; other values stay."""
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, "0012_scale")
    now = "2026-01-02 03:04:05.123456"
    with engine.begin() as conn:
        for code, collected in (
            ("S-MIDNIGHT", "2024-03-01 00:00:00"),
            ("S-LONG", "2024-03-01 09:30:00.000000"),
            ("S-FRACTION", "2024-03-01 10:00:00.250000"),
        ):
            conn.exec_driver_sql(
                "INSERT INTO samples (sample_code, biofluid, collected_at, freeze_thaw_count, "
                "status, version, created_at, volume_taken_ml) "
                f"VALUES ('{code}', 'plasma', '{collected}', 0, 'available', 1, '{now}', 0)"
            )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        stored = {
            code: when
            for code, when in conn.exec_driver_sql(
                "SELECT sample_code, CAST(collected_at AS TEXT) FROM samples"
            )
        }
        since = conn.execute(  # bound as the application binds a time (its DateTime type)
            text("SELECT count(*) FROM samples WHERE collected_at >= :d").bindparams(
                bindparam("d", type_=DateTime)
            ),
            {"d": datetime(2024, 3, 1)},
        ).scalar()
    if engine.dialect.name == "sqlite":
        assert stored == {
            "S-MIDNIGHT": "2024-03-01 00:00:00.000000",
            "S-LONG": "2024-03-01 09:30:00.000000",
            "S-FRACTION": "2024-03-01 10:00:00.250000",
        }
    assert since == 3
    migrate.downgrade(engine, "0012_scale")  # leaves the long form: the earlier code reads it
    migrate.upgrade(engine)
    engine.dispose()
