"""User data on screen is text, never markup.

Textual parses strings given to Static, Label, DataTable cells and headers, Tree labels,
Select options and notifications as console markup, so an analyte unit ``/mL`` shown as
``CD63 [/mL]`` or a note ``[bold]`` would be read as a tag (MarkupError: the screen exits).
Every screen puts user values through :func:`esc` (inside markup of our own) or
:func:`plain` (a whole value), and shows tables through :class:`PlainTable`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual.widgets import DataTable


def esc(value: Any) -> str:
    """A value to put inside a markup string of our own (``f"[b]{esc(x)}[/b]"``)."""
    return escape("" if value is None else str(value))


def plain(value: Any) -> Any:
    """A string as literal text (not parsed as markup); anything else unchanged."""
    return Text(value) if isinstance(value, str) else value


class PlainTable(DataTable[Any]):
    """A DataTable whose string cells and column labels are literal text."""

    def add_column(self, label: Any, *args: Any, **kwargs: Any) -> Any:
        return super().add_column(plain(label), *args, **kwargs)

    def add_row(self, *cells: Any, **kwargs: Any) -> Any:
        return super().add_row(*(plain(c) for c in cells), **kwargs)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, **kwargs: Any) -> None:
        super().update_cell(row_key, column_key, plain(value), **kwargs)

    def update_cell_at(self, coordinate: Any, value: Any, **kwargs: Any) -> None:
        super().update_cell_at(coordinate, plain(value), **kwargs)


def options(
    values: Iterable[str], meanings: Mapping[str, str] | None = None
) -> list[tuple[Text, str]]:
    """Select options for codes: the code and its meaning (``PED — potassium EDTA``) when the
    meaning says more than the code, as literal text."""
    out: list[tuple[Text, str]] = []
    for value in values:
        meaning = (meanings or {}).get(value)
        same = meaning is None or meaning.lower() == value.lower().replace("_", " ")
        out.append((Text(value if same else f"{value} — {meaning}"), value))
    return out
