"""pytest-alembic's built-in checks, on SQLite and PostgreSQL, plus the CLI's migration commands."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_alembic.tests import (  # noqa: F401 - collected as tests
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import Engine, inspect

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
