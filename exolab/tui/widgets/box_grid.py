"""A freezer box drawn as its grid of positions, coloured by occupancy, with a cursor."""

from __future__ import annotations

import string

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from exolab.services.storage import BoxGrid as BoxGridData

CELL = 5
# Each state its own glyph, so the grid reads without colour (docs/ui.md).
STATUS_GLYPH = {"available": " ## ", "checked_out": " >> ", "missing": " !! "}
STATUS_STYLE = {
    "available": "black on green",
    "checked_out": "black on yellow",
    "missing": "white on red",
}


class BoxGrid(Widget, can_focus=True):
    """Arrow keys move, Enter selects a position (free or occupied)."""

    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False, id="grid.up"),
        Binding("down", "move(1, 0)", "Down", show=False, id="grid.down"),
        Binding("left", "move(0, -1)", "Left", show=False, id="grid.left"),
        Binding("right", "move(0, 1)", "Right", show=False, id="grid.right"),
        Binding("enter", "select", "Open / pick", id="grid.select"),
    ]

    cursor: reactive[tuple[int, int]] = reactive((0, 0))

    class Highlighted(Message):
        def __init__(self, grid: BoxGrid, position: str, sample_id: str | None) -> None:
            super().__init__()
            self.grid = grid
            self.position = position
            self.sample_id = sample_id

        @property
        def control(self) -> BoxGrid:
            return self.grid

    class Selected(Highlighted):
        pass

    def __init__(self, *, id: str | None = None, only_free: bool = False) -> None:
        super().__init__(id=id)
        self.data: BoxGridData | None = None
        self.only_free = only_free
        self.marked: set[str] = set()

    def show(self, data: BoxGridData, position: str | None = None) -> None:
        self.data = data
        if position and data.box.n_cols:
            row = string.ascii_uppercase.index(position[0].upper())
            col = int(position[1:]) - 1
            self.cursor = (row, col)
        else:
            self.cursor = (0, 0)
        self.refresh(layout=True)
        self._announce(self.Highlighted)

    def _occupant(self, row: int, col: int) -> tuple[str, str | None, str | None]:
        assert self.data is not None
        p = self.data.positions[row * self.data.box.n_cols + col]
        return p.position, p.sample_id, p.status

    def get_content_width(self, container: object, viewport: object) -> int:
        cols = self.data.box.n_cols if self.data else 9
        return 3 + cols * CELL

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        rows = self.data.box.n_rows if self.data else 1
        return rows + 2

    def render(self) -> Text:
        if self.data is None:
            return Text("no box selected")
        box = self.data.box
        if box.n_rows == 0:
            return Text(f"{box.path} is a bag: {len(self.data.loose)} tubes without positions")
        out = Text("   " + "".join(f"{c + 1:^{CELL}}" for c in range(box.n_cols)) + "\n")
        for r in range(box.n_rows):
            out.append(f" {string.ascii_uppercase[r]} ")
            for c in range(box.n_cols):
                pos, sample, status = self._occupant(r, c)
                if sample is None:
                    label, style = " ·  ", "dim"
                    if pos in self.marked:
                        label, style = " ++ ", "bold black on cyan"
                else:
                    label = STATUS_GLYPH.get(status or "", " ?? ")
                    style = STATUS_STYLE.get(status or "", "black on white")
                if (r, c) == self.cursor:
                    style = "bold reverse " + style if self.has_focus else "underline " + style
                out.append(label, style=style)
                out.append(" ")
            out.append("\n")
        used = sum(1 for p in self.data.positions if p.sample_id)
        out.append(f" {used} of {len(self.data.positions)} positions used", style="dim")
        return out

    def action_move(self, dr: int, dc: int) -> None:
        if self.data is None or self.data.box.n_rows == 0:
            return
        r, c = self.cursor
        self.cursor = (
            max(0, min(self.data.box.n_rows - 1, r + dr)),
            max(0, min(self.data.box.n_cols - 1, c + dc)),
        )
        self._announce(self.Highlighted)

    def _announce(self, kind: type[Highlighted]) -> None:
        if self.data is None or self.data.box.n_rows == 0:
            return
        pos, sample, _ = self._occupant(*self.cursor)
        self.post_message(kind(self, pos, sample))

    def action_select(self) -> None:
        self._announce(self.Selected)

    def watch_cursor(self) -> None:
        self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
