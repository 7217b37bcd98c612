"""What the command modules share: usage errors, database/user selection and opening the
lab. The command modules import this, never :mod:`exolab.cli` (which imports them)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = [
    "UsageError",
    "ensure_sqlite_dir",
    "open_lab",
    "requested_user",
    "settings_from",
    "warn_if_exposed",
]


class UsageError(Exception):
    """Wrong use of a command (exit 2)."""


def settings_from(args: argparse.Namespace) -> tuple[str, str]:
    """(database URL, user name) from --db/--user, the environment, or the defaults."""
    from exolab.settings import Settings

    s = Settings()
    return s.resolved_url(getattr(args, "db", None)), s.resolved_user(getattr(args, "user", None))


def requested_user(args: argparse.Namespace) -> str | None:
    """The name given with --user or EXOLAB_USER, None when neither is set."""
    from exolab.settings import Settings

    return Settings().requested_user(getattr(args, "user", None))


def open_lab(args: argparse.Namespace, *, check_schema: bool = True) -> Any:
    """The database and the authenticated user (docs/security.md: who may use --user)."""
    from exolab.services.setup import open_authenticated

    url, _user = settings_from(args)
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
    warn_if_exposed(url)
    lab = open_authenticated(url, requested_user(args), check_schema=check_schema)
    lab.on_wait = _tell_waiting  # a writer behind a long import is told why it waits
    return lab


def _tell_waiting(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        from pathlib import Path

        from exolab.db.files import ensure_private_dir

        ensure_private_dir(Path(url[len("sqlite:///") :]).parent)


def warn_if_exposed(url: str) -> None:
    """Say so when a SQLite database file can be read by other accounts."""
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        import sys
        from pathlib import Path

        from exolab.db.files import exposure

        why = exposure(Path(url[len("sqlite:///") :]))
        if why:
            print(f"warning: {why}; it holds patient data (chmod 600)", file=sys.stderr)
