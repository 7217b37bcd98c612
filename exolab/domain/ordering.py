"""Freezer order: the order a person walks a freezer in (docs/labels.md).

Codes compare by their text and number parts, so ``A2`` comes before ``A10`` and ``R9`` before
``R10``; a box position is a row letter and a column number (``A1`` .. ``I9``), read row by row.
"""

from __future__ import annotations

import re

_PARTS = re.compile(r"(\d+)")


def natural_key(text: str | None) -> tuple[tuple[int, int | str], ...]:
    """A sort key in which digit runs compare as numbers (``A2`` < ``A10``)."""
    if not text:
        return ()
    return tuple(
        (1, int(part)) if part.isdigit() else (0, part.casefold())
        for part in _PARTS.split(text)
        if part
    )


def location_key(
    freezer: str | None, rack: str | None, box: str | None, position: str | None
) -> tuple[object, ...]:
    """Freezer -> rack -> box -> position; tubes without a place sort last."""
    missing = freezer is None
    return (
        missing,
        natural_key(freezer),
        natural_key(rack),
        natural_key(box),
        position is None,
        natural_key(position),
    )
