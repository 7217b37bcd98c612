"""What the command modules share: usage errors, database/user selection and opening the
lab. The command modules import this, never :mod:`exolab.cli` (which imports them)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["UsageError", "ensure_sqlite_dir", "open_lab", "settings_from"]


class UsageError(Exception):
    """Wrong use of a command (exit 2)."""


def settings_from(args: argparse.Namespace) -> tuple[str, str]:
    """(database URL, user name) from --db/--user, the environment, or the defaults."""
    from exolab.settings import Settings

    s = Settings()
    return s.resolved_url(getattr(args, "db", None)), s.resolved_user(getattr(args, "user", None))


def open_lab(args: argparse.Namespace, *, check_schema: bool = True) -> Any:
    from exolab.db.engine import Database
    from exolab.services.context import Lab

    url, user = settings_from(args)
    if url.startswith("sqlite:///"):  # (`exolab init` and `exolab demo` create databases)
        from pathlib import Path

        from exolab.services.errors import SchemaOutdated

        path = Path(url[len("sqlite:///") :])
        if not path.exists():  # say so rather than leave an empty file behind
            raise SchemaOutdated(
                f"no database at {path}; run `exolab init` to create it "
                "(or `exolab demo` for a demo database)"
            )
    ensure_sqlite_dir(url)
    return Lab(Database(url), user, check_schema=check_schema)


def ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        from pathlib import Path

        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
