"""The SQL statements a piece of code sends (tests that a path's statements do not grow with
the number of records: misev reports, db check, undo, record exports)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from exolab.services.context import Lab


@contextmanager
def counting(lab: Lab) -> Iterator[list[str]]:
    """The statements sent through ``lab``'s engine while the block runs."""
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(lab.db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(lab.db.engine, "before_cursor_execute", before)
