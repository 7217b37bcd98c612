"""Id prefix matching: ``column`` starts with what the user typed, letters in any case.

Ids are ASCII (``A-Z a-z 0-9 _ . : -``, domain/schemas.py ``CODE_RE``): ``p001-bl`` and
``P001-BL`` both find ``P001-bl-A3``. The one rule for every search by id or id prefix (list
searches, the palette, the scan field, docs/ui.md).

It stays index-driven: each way of writing the text's first letters in upper or lower case
is an index range (``column >= v AND column < v || U+10FFFF`` on SQLite, ``LIKE 'v%'`` on
PostgreSQL over the id's ``text_pattern_ops`` index, migration 0012). Only the ranges that hold
an id are kept (probed letter by letter, each probe an index seek): a lab writes its ids in one
case, so the search is almost always the single range it was before letters of any case were
looked for, and a short prefix (``s`` among a million ``S…`` ids) does not make the database
merge two ranges of a million rows and sort them. Letters beyond the fifth are compared
ignoring case on the rows of those ranges.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    false,
    func,
    or_,
    select,
)

from exolab.services.context import Tx

# Text that sorts after every id (SQLite compares text bytewise; ids are short).
_TOP = "\U0010ffff"

# Letters whose case variants are index ranges (2**5 = 32 ranges at most); the rest of the text
# is compared ignoring case.
_CASED_LETTERS = 5

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = _UPPER.lower()
_TO_LOWER = str.maketrans(_UPPER, _LOWER)


def _is_letter(ch: str) -> bool:
    return ch in _UPPER or ch in _LOWER


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _range(tx: Tx, column: Any, prefix: str) -> ColumnElement[bool]:
    if tx.dialect == "sqlite":
        return and_(column >= prefix, column < prefix + _TOP)
    like: ColumnElement[bool] = column.like(_escape_like(prefix) + "%", escape="\\")
    return like


def cased_head(text: str, letters: int = _CASED_LETTERS) -> str:
    """``text`` up to its ``letters``-th ASCII letter: the part whose case variants are index
    ranges (``P01-baseline-PL`` -> ``P01-base``)."""
    seen = 0
    for i, ch in enumerate(text):
        if _is_letter(ch):
            seen += 1
            if seen == letters:
                return text[: i + 1]
    return text


def _held_variants(tx: Tx, column: Any, head: str) -> list[str]:
    """The case variants of ``head`` that start an id: letter by letter, each step one
    statement of ``EXISTS`` probes (an index seek each) for both cases of the next letter
    after the variants still held, so an id nothing starts with costs one probe of two ranges
    and a lab's ids in one case two probes a letter."""
    held = [""]
    start = 0
    for i, ch in enumerate(head):
        if not _is_letter(ch):
            continue
        step = head[start:i]
        tried = [h + step + c for h in held for c in (ch.upper(), ch.lower())]
        probes = [exists().where(_range(tx, column, v)) for v in tried]
        found = tx.session.execute(select(*probes)).one()
        held = [v for v, hit in zip(tried, found, strict=True) if hit]
        if not held:
            return []
        start = i + 1
    return [h + head[start:] for h in held]


def starts_with(tx: Tx, column: Any, text: str) -> ColumnElement[bool]:
    """``column`` starts with ``text``, ASCII letters in any case: the index ranges of the
    variants of its first letters that hold an id (probed now, in ``tx``), and for a longer
    text the rest compared ignoring case. False when no id starts so."""
    head = cased_head(text)
    variants = _held_variants(tx, column, head)
    if not variants:
        return false()
    where = or_(*(_range(tx, column, v) for v in variants))
    if head == text:
        return where
    pattern = _escape_like(text.translate(_TO_LOWER)) + "%"
    if tx.dialect == "sqlite":  # (SQLite's LIKE ignores the case of ASCII letters)
        return and_(where, column.like(pattern, escape="\\"))
    return and_(where, func.translate(column, _UPPER, _LOWER).like(pattern, escape="\\"))


def equals_any_case(tx: Tx, column: Any, text: str) -> ColumnElement[bool]:
    """``column`` is ``text``, ASCII letters in any case (:func:`starts_with` and as long)."""
    return and_(starts_with(tx, column, text), func.length(column) == len(text))
