"""Location picker: type or scan FREEZER/RACK/BOX[/POS]; the box grid shows free positions and
Enter on a free one picks it (or, in multi mode, marks it for aliquots)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from exolab.domain.schemas import parse_location
from exolab.services.storage import BoxGrid as BoxGridData
from exolab.services.storage import box_grid
from exolab.tui.widgets.box_grid import BoxGrid
from exolab.tui.workers import run_db


class LocationPicker(Vertical):
    DEFAULT_CSS = """
    LocationPicker { height: auto; }
    LocationPicker > #picker-info { color: $text-muted; height: auto; }
    """

    class Picked(Message):
        def __init__(self, picker: LocationPicker, location: str) -> None:
            super().__init__()
            self.picker = picker
            self.location = location

        @property
        def control(self) -> LocationPicker:
            return self.picker

    def __init__(
        self,
        value: str = "",
        *,
        multi: bool = False,
        id: str | None = None,
        input_id: str = "location",
    ) -> None:
        super().__init__(id=id)
        self.value = value
        self.multi = multi
        self.input_id = input_id
        self.grid_data: BoxGridData | None = None

    def compose(self) -> ComposeResult:
        yield Input(
            self.value,
            placeholder="FREEZER/RACK/BOX/POSITION, e.g. F-80-1/R2/B07/C5 (empty = not stored)",
            id=self.input_id,
        )
        yield Static("type a box path to see its free positions", id="picker-info", markup=False)
        yield BoxGrid(id="picker-grid")

    def on_mount(self) -> None:
        if self.value:
            self.load_box(self.value)

    @property
    def box_path(self) -> str | None:
        return self.grid_data.box.path if self.grid_data else None

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id == self.input_id:
            event.stop()
            self.load_box(event.value)

    def load_box(self, text: str) -> None:
        try:
            loc = parse_location(text) if text.count("/") >= 2 else None
        except ValueError:
            loc = None
        if loc is None:
            return
        path, pos = loc.box_path, loc.position
        if self.grid_data is not None and self.grid_data.box.path == path:
            return

        def shown(grid: BoxGridData) -> None:
            self.grid_data = grid
            self.query_one("#picker-grid", BoxGrid).show(grid, pos)
            self.query_one("#picker-info", Static).update(
                f"{grid.box.path}: {len(grid.free)} free position{'' if len(grid.free) == 1 else 's'}; tab to the grid, arrows + Enter "
                + ("marks positions" if self.multi else "picks one")
            )

        def missing(_: object) -> None:
            self.grid_data = None
            self.query_one("#picker-info", Static).update(
                f"no box {path} yet — it will be created when you save"
            )

        run_db(
            self, lambda tx: box_grid(tx, path), shown, group=f"picker-{self.id}", on_error=missing
        )

    @on(BoxGrid.Selected, "#picker-grid")
    def _picked(self, event: BoxGrid.Selected) -> None:
        event.stop()
        grid = self.query_one("#picker-grid", BoxGrid)
        if event.sample_id:
            self.app.notify(
                f"{event.position} holds {event.sample_id}; choose a free position",
                severity="warning",
            )
            return
        if self.box_path is None:
            return
        location = f"{self.box_path}/{event.position}"
        if self.multi:
            if event.position in grid.marked:
                grid.marked.discard(event.position)
            else:
                grid.marked.add(event.position)
            grid.refresh()
        else:
            self.query_one(f"#{self.input_id}", Input).value = location
        self.post_message(self.Picked(self, location))
