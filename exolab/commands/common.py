"""What the command modules share: usage errors, database/user selection and opening the
lab. The command modules import this, never :mod:`exolab.cli` (which imports them)."""

from __future__ import annotations

import argparse
import contextlib
import gc
from typing import Any

__all__ = [
    "UsageError",
    "biofluid_option",
    "check_not_overwriting",
    "ensure_sqlite_dir",
    "loading_modules",
    "method_option",
    "modules_loaded",
    "open_lab",
    "requested_user",
    "settings_from",
    "warn_if_exposed",
]


class UsageError(Exception):
    """Wrong use of a command (exit 2)."""


def biofluid_option(text: str) -> str:
    """An argparse ``type`` for a ``--biofluid`` filter: the biofluid code of a code, synonym
    or SPREC sample type, matched as imports match it (docs/import-formats.md); an unknown
    one is a usage error rather than a filter that silently matches nothing."""
    from exolab.domain.vocab import BIOFLUID, VocabularyError

    try:
        return BIOFLUID.normalize(text)
    except VocabularyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def method_option(text: str) -> str:
    """An argparse ``type`` for a ``--method`` filter: a method chain (``UF + SEC``) as the
    stored codes joined by ``+`` (``uf+sec``), like the isolations import reads it."""
    from exolab.domain.vocab import VocabularyError, parse_method_chain

    try:
        return "+".join(parse_method_chain(text))
    except VocabularyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: The garbage collector's thresholds from before :func:`loading_modules`.
_BEFORE_LOADING: list[tuple[int, int, int]] = []


def loading_modules() -> None:
    """A command run as a program starts by loading SQLAlchemy, pydantic and exolab's models:
    ~120,000 new objects, which Python's collector walked again and again as they came in
    (~40 ms of CPU per start). Until :func:`modules_loaded` it waits for 1,000,000 new
    objects instead of 700 (docs/cli.md)."""
    threshold = gc.get_threshold()
    _BEFORE_LOADING.append(threshold)
    gc.set_threshold(1_000_000, threshold[1], threshold[2])


def modules_loaded() -> None:
    """The command has loaded what it works with (:func:`open_lab` calls this): the
    collector's thresholds as they were, and what was loaded frozen (never walked again:
    modules, classes and functions live until the process ends)."""
    if _BEFORE_LOADING:
        gc.set_threshold(*_BEFORE_LOADING.pop())
        gc.freeze()


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
        refuse_non_sqlite_file(path)
    ensure_sqlite_dir(url)
    warn_if_exposed(url)
    lab = open_authenticated(url, requested_user(args), check_schema=check_schema)
    lab.on_wait = _tell_waiting  # a writer behind a long import is told why it waits
    modules_loaded()
    return lab


def refuse_non_sqlite_file(path: Any) -> None:
    """A --db path that is a directory or a file of another kind, said in plain words
    (SQLite itself only says 'file is not a database' when a query runs)."""
    import sqlite3

    from exolab.services.errors import ExolabError

    if path.is_dir():
        raise ExolabError(f"{path} is a directory, not a database file")
    # Asked through SQLite itself, never by opening the file: closing a second descriptor of
    # a database file drops the POSIX locks this process's open connections hold on it (lost
    # writes; SQLite shares its descriptors per file within a process to avoid exactly that)
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            con.execute("PRAGMA schema_version").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise ExolabError(f"{path} is not an SQLite database (nor an exolab one)") from None


def _tell_waiting(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def check_not_overwriting(
    args: argparse.Namespace, option: str, target: str | None, inputs: list[str]
) -> None:
    """Refuse an output file (``--errors OUT.csv``, ``--out FILE``) that names one of the
    files being read or the SQLite database: a usage error, before anything is opened, as
    writing it would empty them."""
    if not target:
        return
    import os
    from pathlib import Path

    url, _user = settings_from(args)
    guarded = [*inputs, url[len("sqlite:///") :]] if url.startswith("sqlite:///") else inputs
    for path in guarded:
        with contextlib.suppress(OSError):  # (a name that does not exist is no clash)
            if os.path.samefile(target, path):
                what = "the database" if path not in inputs else "the file being imported"
                raise UsageError(
                    f"{option} {target} is {what} ({Path(path)}); write to another file"
                )


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
