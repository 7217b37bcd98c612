"""Id prefix matching: ``column`` starts with what the user typed.

An index range scan on SQLite (``column >= text AND column < text || U+10FFFF``), ``LIKE``
with escaped wildcards elsewhere; the text is tried as typed and upper-cased.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    or_,
)

from exolab.services.context import Tx

# Text that sorts after every id (SQLite compares text bytewise; ids are short).
_TOP = "\U0010ffff"


def starts_with(tx: Tx, column: Any, text: str) -> ColumnElement[bool]:
    """``column`` starts with ``text``: an index range scan on SQLite, LIKE elsewhere."""
    variants = {text, text.upper()}
    if tx.dialect == "sqlite":
        return or_(*(and_(column >= v, column < v + _TOP) for v in variants))
    escaped = {v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for v in variants}
    return or_(*(column.like(v + "%", escape="\\") for v in escaped))
