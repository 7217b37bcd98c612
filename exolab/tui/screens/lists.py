"""Lists of subjects, samples, isolations, readouts, runs and boxes, paged from SQL.

The table holds one page (100 rows); moving past its last row loads the next page with a
keyset query, so a list of a million samples opens and scrolls as fast as a list of ten.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, Input, Label, Static

from exolab.services.context import Tx
from exolab.services.lists import ListQuery, Page, RowOut, list_page
from exolab.services.lookup import Resolved, resolve_id
from exolab.tui.list_kinds import LIST_KINDS
from exolab.tui.screens.base import BaseScreen, focus_now
from exolab.tui.text import esc
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.widgets.row_table import RowTable

FILTERS: dict[str, tuple[str, ...]] = {
    "subjects": ("study", "since", "until"),
    "samples": ("study", "biofluid", "status", "method", "since", "until"),
    "isolations": ("study", "biofluid", "method", "since", "until"),
    "readouts": ("study", "biofluid", "method", "analyte", "assay", "since", "until"),
    "runs": ("assay", "since", "until"),
    "boxes": (),
}
FILTER_HINTS = {
    "study": "study",
    "biofluid": "biofluid",
    "status": "status",
    "method": "method",
    "analyte": "analyte",
    "assay": "assay",
    "since": "since YYYY-MM-DD",
    "until": "until YYYY-MM-DD",
}
# Which record kind an exact id typed into a list's search opens directly.
OPENS = {
    "samples": "sample",
    "isolations": "isolation",
    "subjects": "subject",
    "boxes": "box",
    "runs": "run",
}


# A page of rows drawn with the Line API (one pre-formatted line per row).
PagedTable = RowTable


class ListScreen(BaseScreen):
    BINDINGS = [
        Binding("slash", "search", "Search", id="list.search"),
        Binding("f", "filters", "Filters", id="list.filters"),
        Binding("s", "sort", "Sort", id="list.sort"),
        Binding("r", "reverse", "Reverse", id="list.reverse"),
        Binding("right_square_bracket", "next_page", "Next page", id="list.next"),
        Binding("left_square_bracket", "prev_page", "Prev page", id="list.prev"),
        Binding("n", "new", "New", id="list.new"),
        Binding("e", "edit", "Edit", id="list.edit"),
        Binding("ctrl+r", "refresh", "Refresh", id="list.refresh"),
        Binding("escape", "back", "Back", id="list.back"),
    ]

    def __init__(
        self, kind: str, query: ListQuery | None = None, *, title: str | None = None
    ) -> None:
        super().__init__()
        self.kind = kind
        self.query_spec = query or ListQuery()
        self.title = title or LIST_KINDS.get(kind, kind)
        self.cursors: list[list[Any] | None] = [None]
        self.page: Page | None = None
        self.rows: dict[str, RowOut] = {}
        self.loading_edge: bool | None = None
        self.ahead: tuple[list[Any], Page] | None = None  # the next page, read ahead
        self.ready = False  # widgets mounted
        self.arrived: Page | None = None  # first page, when it came before the widgets

    def compose(self) -> ComposeResult:
        # The first page is read while the widgets are built (shown by on_mount or on arrival).
        self.load()
        yield Header()
        with Vertical(id="list"):
            with Horizontal(id="search-row", classes="hidden"):
                yield Label("/", id="search-label")
                yield Input(
                    self.query_spec.search or "",
                    placeholder="id or prefix (a scanned id opens the record) + Enter",
                    id="search",
                )
            with Horizontal(id="filters", classes="hidden"):
                for name in FILTERS.get(self.kind, ()):
                    value = getattr(self.query_spec, name)
                    yield Input(
                        "" if value is None else str(value),
                        placeholder=FILTER_HINTS[name],
                        id=f"filter-{name}",
                        classes="filter",
                    )
            yield PagedTable(id="table")
            yield Static("", id="list-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        for name in FILTERS.get(self.kind, ()):
            self.query_one(f"#filter-{name}", Input).border_title = name
        if self.query_spec.search:
            self.query_one("#search-row").remove_class("hidden")
        focus_now(self.query_one("#table"))
        self.ready = True
        if self.arrived is not None:
            page, self.arrived = self.arrived, None
            self._show(page)
        elif self.page is None:
            self.query_one("#list-status", Static).update("loading…")

    # -- loading -------------------------------------------------------------------------

    def load(self, *, edge: bool | None = None) -> None:
        self.ahead = None
        query, after, kind = self.query_spec, self.cursors[-1], self.kind
        self.loading_edge = edge
        if self.ready:
            self.query_one("#list-status", Static).update("loading…")
        self.db(lambda tx: list_page(tx, kind, query, after), self._show, group="page")

    def _show(self, page: Page) -> None:
        if not self.ready:  # arrived before the widgets were mounted
            self.arrived = page
            return
        self.page = page
        table = self.query_one("#table", PagedTable)
        arrow = "↓" if page.descending else "↑"
        labels = [c.label + (f" {arrow}" if c.key == page.sort else "") for c in page.columns]
        self.rows = {str(row.pk): row for row in page.rows}
        table.move_cursor(row=0)
        table.set_rows(labels, [(str(row.pk), row.cells) for row in page.rows])
        if self.loading_edge is False and page.rows:
            table.move_cursor(row=len(page.rows) - 1)
        self.loading_edge = None
        n = len(self.cursors)
        first = (n - 1) * self.query_spec.limit + 1
        last = first + len(page.rows) - 1
        more = "more ]" if page.next_cursor else "end"
        shown = f"rows {first:,}–{last:,}" if page.rows else "no rows"
        active = [
            f"{k}={v}"
            for k in ("search", "cell_source", *FILTERS.get(self.kind, ()))
            if (v := getattr(self.query_spec, k)) not in (None, "")
        ]
        filters = f" · {', '.join(active)}" if active else ""
        self.query_one("#list-status", Static).update(
            esc(f"page {n} · {shown} · {more} · sorted by {page.sort} {arrow}{filters}")
        )
        self.prefetch(page)
        self.lab_app.warm_up()

    def prefetch(self, page: Page) -> None:
        """Read the next page ahead in the background, so ] (or moving past the last row)
        shows it without waiting for the database."""
        self.ahead = None
        if page.next_cursor is None:
            return
        query, after, kind = self.query_spec, page.next_cursor, self.kind

        def keep(next_page: Page) -> None:
            if self.query_spec is query and self.page is page:
                self.ahead = (after, next_page)

        self.db(lambda tx: list_page(tx, kind, query, after), keep, group="prefetch")

    def action_refresh(self) -> None:
        self.load()

    def on_screen_resume(self) -> None:
        if self.returned_to():
            self.load()

    @on(PagedTable.Edge)
    def _edge(self, event: PagedTable.Edge) -> None:
        if event.forward:
            self.action_next_page()
        elif len(self.cursors) > 1:
            self.cursors.pop()
            self.load(edge=False)

    def action_next_page(self) -> None:
        if self.page is None or self.page.next_cursor is None:
            self.notify("this is the last page", timeout=2)
            return
        cursor = self.page.next_cursor
        self.cursors.append(cursor)
        if self.ahead is not None and self.ahead[0] == cursor:
            ready = self.ahead[1]
            self.ahead = None
            self.loading_edge = True
            self._show(ready)
            return
        self.load(edge=True)

    def action_prev_page(self) -> None:
        if len(self.cursors) > 1:
            self.cursors.pop()
            self.load()

    def _restart(self, **changes: Any) -> None:
        self.query_spec = self.query_spec.model_copy(update=changes)
        self.cursors = [None]
        self.load()

    # -- search, filters, sort -------------------------------------------------------------

    def action_search(self) -> None:
        self.query_one("#search-row").remove_class("hidden")
        search = self.query_one("#search", Input)
        focus_now(search)

    @on(Input.Submitted, "#search")
    def _search(self, event: Input.Submitted) -> None:
        """One database round trip: a scanned/typed exact id opens its record, anything else
        filters the list by id prefix."""
        text = event.value.strip()
        opens = OPENS.get(self.kind)
        kind = self.kind
        query = self.query_spec.model_copy(update={"search": text or None})

        def search(tx: Tx) -> tuple[Resolved, Any] | Page:
            if text and opens:
                hit = resolve_id(tx, text)
                if hit is not None and hit.kind == opens and hit.key.lower() == text.lower():
                    if hit.kind != "sample":
                        return hit, None
                    from exolab.tui.screens.sample import load_sample

                    return hit, load_sample(tx, hit.key)  # the tube view in the same trip
            return list_page(tx, kind, query, None)

        def done(result: tuple[Resolved, Any] | Page) -> None:
            focus_now(self.query_one("#table"))
            if isinstance(result, tuple):
                hit, detail = result
                self.query_one("#search", Input).value = ""
                self.lab_app.open_record(hit.kind, hit.key, detail)
                return
            self.query_spec = query
            self.cursors = [None]
            self._show(result)

        self.db(search, done, group="page", holds_keys=True)

    def action_filters(self) -> None:
        bar = self.query_one("#filters")
        if not FILTERS.get(self.kind):
            self.notify("this list has no filters; use / to search")
            return
        bar.toggle_class("hidden")
        if not bar.has_class("hidden"):
            focus_now(bar.query(Input).first())
        else:
            focus_now(self.query_one("#table"))

    @on(Input.Submitted, ".filter")
    def _filter(self) -> None:
        changes: dict[str, Any] = {}
        for name in FILTERS.get(self.kind, ()):
            value = self.query_one(f"#filter-{name}", Input).value.strip() or None
            if name in ("since", "until") and value:
                try:
                    changes[name] = date.fromisoformat(value)
                except ValueError:
                    self.notify(
                        f"{name}: write a date as YYYY-MM-DD, not {value!r}", severity="error"
                    )
                    return
            else:
                changes[name] = value
        self._restart(**changes)
        focus_now(self.query_one("#table"))

    def action_sort(self) -> None:
        if self.page is None:
            return
        from exolab.services.lists import sort_keys

        def cycle(keys: list[str]) -> None:
            current = self.page.sort if self.page else keys[0]
            nxt = keys[(keys.index(current) + 1) % len(keys)] if current in keys else keys[0]
            self._restart(sort=nxt, descending=None)
            self.notify(f"sorted by {nxt}", timeout=2)

        kind = self.kind
        self.db(lambda tx: sort_keys(tx, kind), cycle, group="sort")

    def action_reverse(self) -> None:
        if self.page is not None:
            self._restart(sort=self.page.sort, descending=not self.page.descending)

    # -- open, new, edit, back -----------------------------------------------------------

    def selected(self) -> RowOut | None:
        table = self.query_one("#table", PagedTable)
        if not table.row_count:
            return None
        return self.rows.get(table.row_key_at(table.cursor_row) or "")

    @on(RowTable.RowSelected, "#table")
    def _open(self, event: RowTable.RowSelected) -> None:
        row = self.rows.get(str(event.row_key.value))
        if row is not None:
            self.lab_app.open_record(row.open_kind, row.open_key)

    def action_new(self) -> None:
        app = self.lab_app
        if self.kind == "samples":
            app.action_register_sample()
        elif self.kind == "subjects":
            app.action_register_subject()
        elif self.kind == "isolations":
            app.action_record_isolation()
        elif self.kind in ("readouts", "runs"):
            app.action_readout_grid()
        elif self.kind == "boxes":
            from exolab.tui.screens.forms import NewBoxScreen

            if app.require_writer("create boxes"):
                app.push_screen(NewBoxScreen())

    def action_edit(self) -> None:
        from exolab.tui.screens.forms import EDITABLE, EditRecordScreen

        row = self.selected()
        if row is None:
            return
        if self.kind not in EDITABLE:
            self.notify(f"{self.kind} are not edited here", severity="warning")
            return
        if self.lab_app.require_writer(f"edit {self.kind}"):
            self.app.push_screen(EditRecordScreen(self.kind, row.key, row.pk))

    def action_back(self) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            if focused.id == "search":
                self.query_one("#search-row").add_class("hidden")
            else:
                self.query_one("#filters").add_class("hidden")
            focus_now(self.query_one("#table"))
            return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
