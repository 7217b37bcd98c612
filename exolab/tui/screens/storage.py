"""Storage browser: freezer > rack > box tree, the box grid coloured by occupancy."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, Static, Tree
from textual.widgets.tree import TreeNode

from exolab.services.storage import BoxGrid as BoxGridData
from exolab.services.storage import BoxOut, box_grid, list_boxes
from exolab.tui.screens.base import BaseScreen, focus_now, plural
from exolab.tui.text import esc, plain
from exolab.tui.widgets.box_grid import BoxGrid
from exolab.tui.widgets.footer import KeyFooter


class StorageScreen(BaseScreen):
    TITLE = "Storage"
    BINDINGS = [
        Binding("escape", "back", "Back", id="storage.back"),
        Binding("g", "focus_grid", "Grid", id="storage.grid"),
        Binding("t", "focus_tree", "Tree", id="storage.tree"),
        Binding("n", "new_box", "New box", id="storage.new"),
        Binding("ctrl+r", "refresh", "Refresh", id="storage.refresh"),
    ]

    def __init__(self, box: str | None = None, position: str | None = None) -> None:
        super().__init__()
        self.box_path = box
        self.position = position

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield Tree("Freezers", id="storage-tree")
            with Vertical(id="storage-right"):
                yield Static(
                    "Move through the boxes on the left; Enter (or g) goes into the grid, t back to the tree.",
                    id="box-info",
                )
                yield BoxGrid(id="grid")
                yield Static("", id="position-info")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.db(list_boxes, self._show_tree, group="tree")
        if self.box_path:
            self.open_box(self.box_path, self.position)

    def _show_tree(self, boxes: list[BoxOut]) -> None:
        tree: Tree[str] = self.query_one("#storage-tree", Tree)
        tree.clear()
        tree.root.expand()
        freezers: dict[str, TreeNode[str]] = {}
        racks: dict[str, TreeNode[str]] = {}
        for b in boxes:
            f = freezers.get(b.freezer)
            if f is None:
                f = freezers[b.freezer] = tree.root.add(plain(b.freezer), expand=True)
            rk = f"{b.freezer}/{b.rack}"
            r = racks.get(rk)
            if r is None:
                r = racks[rk] = f.add(
                    plain(b.rack), expand=self.box_path is None or self.box_path.startswith(rk)
                )
            size = f"{b.n_rows}x{b.n_cols}" if b.n_rows else "bag"
            r.add_leaf(plain(f"{b.code} ({size})"), data=b.path)
        if not self.box_path:
            focus_now(tree)

    @on(Tree.NodeHighlighted, "#storage-tree")
    def _tree_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        if event.node.data and event.node.data != self.box_path:
            self.open_box(event.node.data, focus=False)

    @on(Tree.NodeSelected, "#storage-tree")
    def _tree_selected(self, event: Tree.NodeSelected[str]) -> None:
        if event.node.data:
            self.open_box(event.node.data)

    def open_box(self, path: str, position: str | None = None, *, focus: bool = True) -> None:
        self.box_path = path
        self.db(
            lambda tx: box_grid(tx, path),
            lambda g: self._show_box(g, position, focus),
            group="box",
        )

    def _show_box(self, grid: BoxGridData, position: str | None, focus: bool = True) -> None:
        used = sum(1 for p in grid.positions if p.sample_id)
        loose = f" · {plural(len(grid.loose), 'tube')} without position" if grid.loose else ""
        self.query_one("#box-info", Static).update(
            f"[b]{esc(grid.box.path)}[/b] · {grid.box.n_rows}x{grid.box.n_cols} · {used} used, "
            f"{len(grid.free)} free{loose}   [green]##[/] available [yellow]>>[/] checked out  · free"
        )
        g = self.query_one("#grid", BoxGrid)
        g.show(grid, position)
        if focus:
            focus_now(g)

    @on(BoxGrid.Highlighted, "#grid")
    def _highlighted(self, event: BoxGrid.Highlighted) -> None:
        if isinstance(event, BoxGrid.Selected):
            return
        text = (
            f"{event.position}: {event.sample_id}" if event.sample_id else f"{event.position}: free"
        )
        self.query_one("#position-info", Static).update(
            esc(text)
            + ("  (Enter opens the tube)" if event.sample_id else "  (Enter registers a tube here)")
        )

    @on(BoxGrid.Selected, "#grid")
    def _selected(self, event: BoxGrid.Selected) -> None:
        if event.sample_id:
            self.lab_app.open_record("sample", event.sample_id)
        elif self.box_path:
            self.lab_app.action_register_sample({"location": f"{self.box_path}/{event.position}"})

    def action_focus_grid(self) -> None:
        focus_now(self.query_one("#grid", BoxGrid))

    def action_focus_tree(self) -> None:
        focus_now(self.query_one("#storage-tree", Tree))

    def action_new_box(self) -> None:
        from exolab.tui.screens.forms import NewBoxScreen

        if self.lab_app.require_writer("create boxes"):
            self.app.push_screen(NewBoxScreen(), lambda _: self.action_refresh())
