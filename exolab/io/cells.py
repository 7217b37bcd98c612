"""CSV cells that spreadsheets would run as formulas, written so they don't - and read back.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula (or
DDE command) to Excel, LibreOffice and Google Sheets. Such a cell is written with a single
quote in front - unless it is a plain number such as ``-0.5`` or that one character alone
(the comparator ``=``, a ``-`` result), which run nothing - and the importer removes exactly
that quote, so a re-import restores the text exactly (docs/security.md).
"""

from __future__ import annotations

FORMULA_STARTS = frozenset("=+-@\t\r")
GUARD_FIRSTS = FORMULA_STARTS | {"'"}  # a first character that needs a closer look
#: Cells of one formula character alone: nothing to run, so written as they are.
LONE = frozenset("=+-@")


def _plain_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text[:1] in "+-" and (text[1:2].isdigit() or text[1:2] == ".")


def _guardable(text: str) -> bool:
    """Whether ``text`` starts like a formula (or a guarded one, ``'=...``): the cells whose
    leading quote the importer removes (a lone ``=`` included, as older exports wrote ``'=``)."""
    if not text:
        return False
    first = text[0]
    if first == "'":
        return _guardable(text[1:])
    return first in FORMULA_STARTS and not _plain_number(text)


def needs_guard(text: str) -> bool:
    """Whether a spreadsheet would run ``text`` (or it looks guarded already: ``'=...``)."""
    return text not in LONE and _guardable(text)


def spreadsheet_safe(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet shows but does not run."""
    return "'" + text if needs_guard(text) else text


def from_spreadsheet(text: str) -> str:
    """The inverse of :func:`spreadsheet_safe`, for the importer."""
    if text[:1] == "'" and _guardable(text[1:]):
        return text[1:]
    return text


def import_cell(raw: str) -> str:
    """A cell as imported: surrounding whitespace removed, except in a cell exolab's export
    guarded (``'=...``, ``'<tab>...``), which comes back exactly as it was before export."""
    if raw.lstrip(" ")[:1] == "'":
        return from_spreadsheet(raw.strip(" "))
    return raw.strip()
