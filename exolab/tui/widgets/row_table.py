"""A light table for one page of rows, drawn with the Line API (like Toolong's log view).

Each row is pre-formatted once into a fixed-width line, and ``render_line`` only slices the
visible lines, so a repaint costs a few microseconds per line instead of rendering every cell
(DataTable). It offers the small part of DataTable's interface the lists use.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

GAP = 2
MAX_WIDTH = 40


@dataclass
class RowKey:
    value: str


class RowTable(ScrollView, can_focus=True):
    """Rows of text under a header; arrows move the cursor, Enter selects."""

    DEFAULT_CSS = """
    RowTable { background: $surface; }
    RowTable > .row-table--header { text-style: bold; color: $text; background: $panel; }
    RowTable > .row-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
    RowTable > .row-table--odd { background: $surface-lighten-1; }
    """
    COMPONENT_CLASSES = {
        "row-table--header",
        "row-table--cursor",
        "row-table--odd",
    }
    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False, id="rows.up"),
        Binding("down", "cursor_down", "Down", show=False, id="rows.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="rows.pageup"),
        Binding("pagedown", "page_down", "Page down", show=False, id="rows.pagedown"),
        Binding("home", "first", "First", show=False, id="rows.home"),
        Binding("end", "last", "Last", show=False, id="rows.end"),
        Binding("enter", "select", "Open", id="rows.select"),
    ]

    cursor_row: reactive[int] = reactive(0)

    class RowSelected(Message):
        def __init__(self, table: RowTable, row_key: RowKey) -> None:
            super().__init__()
            self.table = table
            self.row_key = row_key

        @property
        def control(self) -> RowTable:
            return self.table

    class Highlighted(Message):
        """The cursor moved to another row (or the rows were replaced)."""

        def __init__(self, table: RowTable, row: int) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> RowTable:
            return self.table

    class Edge(Message):
        """The cursor tried to move past the first (``forward`` False) or last row."""

        def __init__(self, forward: bool) -> None:
            super().__init__()
            self.forward = forward

    def __init__(self, *, id: str | None = None, unfocused_cursor: bool = True) -> None:
        """``unfocused_cursor``: underline the cursor row while another widget has focus
        (a list); off for tables shown beside the field the user types in."""
        super().__init__(id=id)
        self.unfocused_cursor = unfocused_cursor
        self.labels: list[str] = []
        self.keys: list[str] = []
        self.cells: list[list[str]] = []
        self.widths: list[int] = []
        self.lines: list[str] = []
        self.header = ""

    # -- data ---------------------------------------------------------------------------

    def set_rows(self, labels: list[str], rows: list[tuple[str, list[str]]]) -> None:
        """Replace the page: column labels and (key, cells) rows."""
        self.labels = labels
        self.keys = [k for k, _ in rows]
        self.cells = [c for _, c in rows]
        widths = [len(label) for label in labels]
        for cells in self.cells:
            for i, cell in enumerate(cells):
                if len(cell) > widths[i]:
                    widths[i] = len(cell)
        self.widths = [min(w, MAX_WIDTH) for w in widths]

        def line(values: list[str]) -> str:
            parts = []
            for value, width in zip(values, self.widths, strict=False):
                text = value if len(value) <= width else value[: width - 1] + "…"
                parts.append(text.ljust(width))
            return " " + (" " * GAP).join(parts)

        self.header = line(labels)
        self.lines = [line(c) for c in self.cells]
        width = max([len(self.header), *(len(x) for x in self.lines)]) + 1
        self.virtual_size = Size(width, len(self.lines) + 1)
        self.cursor_row = min(self.cursor_row, max(0, len(self.lines) - 1))
        self.scroll_to(y=0, animate=False)
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self.lines)

    def row_key_at(self, row: int) -> str | None:
        return self.keys[row] if 0 <= row < len(self.keys) else None

    def get_row_at(self, row: int) -> list[str]:
        return self.cells[row]

    def move_cursor(self, *, row: int) -> None:
        self.cursor_row = max(0, min(row, len(self.lines) - 1))

    # -- drawing --------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0:
            style = self.get_component_rich_style("row-table--header")
            text = self.header
        else:
            index = scroll_y + y - 1
            if index >= len(self.lines):
                return Strip.blank(width, self.rich_style)
            text = self.lines[index]
            if index == self.cursor_row and self.has_focus:
                style = self.get_component_rich_style("row-table--cursor")
            elif index == self.cursor_row and self.unfocused_cursor:
                style = self.rich_style + Style(underline=True)
            elif index % 2:
                style = self.get_component_rich_style("row-table--odd")
            else:
                style = self.rich_style
        visible = text[scroll_x : scroll_x + width].ljust(width)
        return Strip([Segment(visible, style)], width)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.post_message(self.Highlighted(self, new))
        body = self.size.height - 1
        top = self.scroll_offset.y
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif body > 0 and new >= top + body:
            self.scroll_to(y=new - body + 1, animate=False)
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- keys -----------------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        if self.lines and self.cursor_row >= len(self.lines) - 1:
            self.post_message(self.Edge(True))
            return
        self.cursor_row += 1

    def action_cursor_up(self) -> None:
        if self.lines and self.cursor_row <= 0:
            self.post_message(self.Edge(False))
            return
        self.cursor_row -= 1

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + max(1, self.size.height - 2))

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self.lines) - 1)

    def action_select(self) -> None:
        key = self.row_key_at(self.cursor_row)
        if key is not None:
            self.post_message(self.RowSelected(self, RowKey(key)))

    def on_click(self, event: object) -> None:
        y = getattr(event, "y", None)
        if isinstance(y, int) and y >= 1:
            self.move_cursor(row=self.scroll_offset.y + y - 1)
