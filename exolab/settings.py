"""Runtime settings: one pydantic-settings class, read from the environment (EXOLAB_*)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """The per-user data directory (platformdirs), e.g. ~/.local/share/exolab."""
    from platformdirs import user_data_path

    return user_data_path("exolab", appauthor=False)


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return os.environ.get("USER") or "unknown"


class Settings(BaseSettings):
    """Where the database is and who is working."""

    model_config = SettingsConfigDict(env_prefix="EXOLAB_", extra="ignore")

    database_url: str | None = None
    user: str | None = None
    freeze_thaw_limit: int = 3
    low_volume_ml: float = 0.1

    def resolved_url(self, override: str | None = None) -> str:
        return to_database_url(
            override or self.database_url or str(default_data_dir() / "exolab.db")
        )

    def resolved_user(self, override: str | None = None) -> str:
        return override or self.user or login_name()


def to_database_url(value: str) -> str:
    """Accept a SQLAlchemy URL or a plain file path (meaning SQLite at that path)."""
    if "://" in value:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value
    if value == ":memory:":
        return "sqlite://"
    return "sqlite:///" + str(Path(value).expanduser().absolute())


def demo_database_url() -> str:
    """The demo database lives beside, not inside, the user's own database."""
    return to_database_url(str(default_data_dir() / "demo.db"))
