"""Errors the service layer raises; the CLI and UI turn them into plain messages."""

from __future__ import annotations

from dataclasses import dataclass


class ExolabError(Exception):
    """Base class: a problem the user can act on (never a bug)."""

    exit_code = 1


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    value: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ValidationFailed(ExolabError):
    """Input did not pass validation; ``errors`` names each field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class NotFound(ExolabError):
    pass


class Conflict(ExolabError):
    """A natural key already exists, a position is taken, or a record changed meanwhile.

    ``field`` names the input field at fault when it is not the record's key (a taken storage
    position is the ``location``'s fault), so an import reports the right column."""

    def __init__(self, *args: object, field: str | None = None) -> None:
        super().__init__(*args)
        self.field = field


class StaleRecord(Conflict):
    """The record was changed by someone else since it was opened."""


class PermissionDenied(ExolabError):
    exit_code = 3


class SchemaOutdated(ExolabError):
    pass


class Busy(ExolabError):
    """The database is busy with another writer; try again."""


def database_error_text(exc: BaseException) -> str | None:
    """A plain sentence for an error the database driver raised (through SQLAlchemy or not):
    the error class and the first line of the driver's own message, never the SQL statement
    or the values bound to it (docs/reliability.md). None for other exceptions."""
    root = type(exc).__module__.split(".")[0]
    if root not in ("sqlalchemy", "sqlite3", "psycopg", "psycopg2"):
        return None
    orig = getattr(exc, "orig", None) or exc
    if orig is exc and root == "sqlalchemy":
        return f"the database refused the change ({type(exc).__name__})"
    lines = str(orig).strip().splitlines()
    first = lines[0] if lines else ""
    # a driver message never needs more than its first line; cut anything that quotes SQL
    for marker in ("[SQL:", "LINE ", "INSERT ", "UPDATE ", "DELETE ", "SELECT "):
        cut = first.find(marker)
        if cut != -1:
            first = first[:cut].rstrip(" :")
    kind = type(orig).__name__
    return (
        f"the database refused the change ({kind}: {first})"
        if first
        else (f"the database refused the change ({kind})")
    )


def unreachable_database_text(exc: BaseException) -> str | None:
    """The first line of the driver's message when the database cannot be used at all (server
    gone, file locked or unreadable: SQLAlchemy's ``OperationalError``); None otherwise."""
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return None
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
