"""Id prefix matching: ``column`` starts with what the user typed.

An index range scan on SQLite (``column >= text AND column < text || U+10FFFF``), ``LIKE``
with escaped wildcards elsewhere; the text is tried as typed and upper-cased.
"""

from __future__ import annotations

from itertools import product
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


# Letters of the typed text whose case variants are tried as index ranges (2**5 ranges at most).
_CASED_LETTERS = 5


def starts_like_any_case(tx: Tx, column: Any, text: str) -> ColumnElement[bool]:
    """``column`` starts with ``text``'s first letters in any case: index ranges (one per case
    variant of the text up to its fifth letter), to narrow a case-insensitive comparison
    down from a scan of every id to a few index probes."""
    cut, letters = len(text), 0
    for i, ch in enumerate(text):
        if ch.lower() != ch.upper():
            letters += 1
            if letters == _CASED_LETTERS:
                cut = i + 1
                break
    head = text[:cut]
    variants = {
        "".join(chars)
        for chars in product(
            *({c.lower(), c.upper()} if c.lower() != c.upper() else {c} for c in head)
        )
    }
    if tx.dialect == "sqlite":
        return or_(*(and_(column >= v, column < v + _TOP) for v in variants))
    escaped = {v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for v in variants}
    return or_(*(column.like(v + "%", escape="\\") for v in escaped))
