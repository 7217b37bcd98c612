"""Runtime settings, read from the environment (``EXOLAB_*``).

A plain dataclass rather than pydantic-settings: importing pydantic-settings (and pydantic with
it) costs ~0.27 s on a small VM, more than the whole budget of a query command such as
``exolab patient``, and four environment variables need no more than this.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from exolab.services.errors import ExolabError

ENV_PREFIX = "EXOLAB_"
_N = TypeVar("_N", int, float)


class SettingsError(ExolabError):
    """An EXOLAB_* environment variable has a value that cannot be used."""


def default_data_dir() -> Path:
    """The per-user data directory (platformdirs), e.g. ~/.local/share/exolab."""
    from platformdirs import user_data_path

    return user_data_path("exolab", appauthor=False)


def login_name() -> str:
    """The operating-system account of this process, from its effective user id.

    Not ``getpass.getuser()``: that believes ``$USER``/``$LOGNAME``, which anyone can set
    (docs/security.md)."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # Windows; or a uid without a passwd entry (containers)
        try:
            return getpass.getuser() if os.name == "nt" else f"uid-{os.geteuid()}"
        except Exception:
            return "unknown"


def _env(name: str) -> str | None:
    value = os.environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else None


def _env_number(name: str, kind: Callable[[str], _N], default: _N, what: str) -> _N:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name}: must be {what} (got '{raw}')") from None
    if value < 0:
        raise SettingsError(f"{ENV_PREFIX}{name}: must not be negative (got '{raw}')")
    return value


@dataclass
class Settings:
    """Where the database is, who is working, and the thresholds of the UI's work queues.

    Each field not given is read from ``EXOLAB_<FIELD>`` (EXOLAB_DATABASE_URL, EXOLAB_USER,
    EXOLAB_FREEZE_THAW_LIMIT, EXOLAB_LOW_VOLUME_ML); an empty variable counts as unset.
    """

    database_url: str | None = field(default_factory=lambda: _env("DATABASE_URL"))
    user: str | None = field(default_factory=lambda: _env("USER"))
    freeze_thaw_limit: int = field(
        default_factory=lambda: _env_number("FREEZE_THAW_LIMIT", int, 3, "a whole number")
    )
    low_volume_ml: float = field(
        default_factory=lambda: _env_number("LOW_VOLUME_ML", float, 0.1, "a number (mL)")
    )

    def resolved_url(self, override: str | None = None) -> str:
        return to_database_url(
            override or self.database_url or str(default_data_dir() / "exolab.db")
        )

    def resolved_user(self, override: str | None = None) -> str:
        return override or self.user or login_name()

    def requested_user(self, override: str | None = None) -> str | None:
        """The name asked for with --user / EXOLAB_USER (None: work as the login)."""
        return override or self.user or None


#: URL schemes exolab can open (SQLAlchemy dialect+driver; docs/cli.md)
SUPPORTED_SCHEMES = frozenset({"sqlite", "sqlite+pysqlite", "postgresql+psycopg"})


def to_database_url(value: str) -> str:
    """Accept a SQLAlchemy URL or a plain file path (meaning SQLite at that path)."""
    if "://" in value:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        scheme = value.split("://", 1)[0]
        if scheme.lower() not in SUPPORTED_SCHEMES:  # (never echo the rest: it may hold a password)
            raise SettingsError(
                f"--db / {ENV_PREFIX}DATABASE_URL: '{scheme}://...' is not a database exolab "
                "works with; give a SQLite file path (or sqlite:///PATH) or a PostgreSQL URL "
                "(postgresql://USER:PASSWORD@HOST/DBNAME)"
            )
        return value
    if value == ":memory:":
        return "sqlite://"
    return "sqlite:///" + str(Path(value).expanduser().absolute())


def demo_database_url() -> str:
    """The demo database lives beside, not inside, the user's own database."""
    return to_database_url(str(default_data_dir() / "demo.db"))
