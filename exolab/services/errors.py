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
    """A natural key already exists, a position is taken, or a record changed meanwhile."""


class StaleRecord(Conflict):
    """The record was changed by someone else since it was opened."""


class PermissionDenied(ExolabError):
    exit_code = 3


class SchemaOutdated(ExolabError):
    pass


class Busy(ExolabError):
    """The database is busy with another writer; try again."""
