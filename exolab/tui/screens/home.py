"""Home: counts, work queues, recent activity and the scan field."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, Input, Label, Static

from exolab.services.audit import AuditRow, list_events
from exolab.services.context import Tx
from exolab.services.home import HomeCounts, WorkQueues, home_counts, work_queues
from exolab.services.lookup import Resolved, resolve_id, several_text
from exolab.tui.screens.base import BaseScreen, focus_now
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.widgets.row_table import RowTable

ACTIVITY_COLUMNS = ["When (UTC)", "User", "Action", "Record", "Reason"]
QUEUE_COLUMNS = ["Queue", "Id", "Detail"]
QUEUE_TITLES = {  # over the latest records (services.home.QUEUE_WINDOW_*)
    "no_isolation": "No isolation yet",
    "no_characterisation": "Isolation not characterised",
    "over_freeze_thaw": "Over freeze-thaw limit",
    "low_volume": "Low volume",
}


class ScanInput(Input):
    """An id field a barcode scanner types into (id + Enter)."""


class HomeScreen(BaseScreen):
    TITLE = "Home"
    BINDINGS = [
        Binding("ctrl+n", "register", "Register sample", id="home.register"),
        Binding("ctrl+r", "refresh", "Refresh", id="home.refresh"),
        Binding("ctrl+s", "focus_scan", "Scan", id="home.scan"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="home"):
            with Horizontal(id="scan-row"):
                yield Label("Scan / id:", id="scan-label")
                yield ScanInput(
                    placeholder="scan a tube or type a sample, isolation, subject or box id + Enter",
                    id="scan",
                )
            with Horizontal(id="home-top"):
                yield Static("Loading counts…", id="counts")
                with Vertical(id="activity-box"):
                    yield Label("Recent activity", classes="section-title")
                    yield RowTable(id="activity", unfocused_cursor=False)
            yield Label("Work queues", classes="section-title")
            yield RowTable(id="queues", unfocused_cursor=False)
        yield KeyFooter()

    def __init__(self) -> None:
        super().__init__()
        # Record of each activity row (by row key): what Enter on it opens.
        self.activity: dict[str, tuple[str, str]] = {}
        self.loaded = False

    def on_mount(self) -> None:
        self.query_one("#activity", RowTable).set_rows(ACTIVITY_COLUMNS, [])
        self.query_one("#queues", RowTable).set_rows(QUEUE_COLUMNS, [])
        focus_now(self.query_one("#scan", Input))
        # Load after the first paint, so the scan field is usable at once and a user who
        # goes straight to a list does not wait behind the home screen's queries.
        self.call_after_refresh(self._load_if_shown)

    def _load_if_shown(self) -> None:
        if self.app.screen is self:
            self.action_refresh()

    def on_screen_resume(self) -> None:
        if self.returned_to():
            self.action_refresh()

    def action_refresh(self) -> None:
        """Counts, work queues and recent activity (two workers: counts come first)."""
        settings = self.lab_app.settings

        def lists(tx: Tx) -> tuple[WorkQueues, list[AuditRow]]:
            queues = work_queues(
                tx,
                freeze_thaw_limit=settings.freeze_thaw_limit,
                low_volume_ml=settings.low_volume_ml,
                limit=8,
            )
            return queues, list_events(tx, limit=12)

        self.db(home_counts, self._show_counts, group="home-counts")
        self.db(lists, self._show, group="home")

    def _show_counts(self, counts: HomeCounts) -> None:
        def line(name: str, label: str) -> str:
            mark = "≈" if name in counts.estimated else " "
            return f"{mark}[b]{getattr(counts, name):>10,}[/b] {label}"

        self.query_one("#counts", Static).update(
            "\n".join(
                [
                    line("subjects", "subjects"),
                    line("samples", "samples"),
                    line("isolations", "isolations"),
                    line("readouts", "readouts"),
                    line("runs", "assay runs"),
                    line("boxes", "boxes"),
                    "≈ estimate (id range)" if counts.estimated else "",
                    "f3 subjects  f4 samples",
                    "f5 isolations f6 readouts",
                    "f7 storage   f8 audit",
                    "ctrl+p palette  f1 help",
                ]
            )
        )

    def _show(self, data: tuple[WorkQueues, list[AuditRow]]) -> None:
        queues, events = data
        self.loaded = True
        self.activity = {str(ev.id): (ev.entity, ev.entity_id) for ev in events}
        self.query_one("#activity", RowTable).set_rows(
            ACTIVITY_COLUMNS,
            [
                (
                    str(ev.id),
                    [
                        ev.at[:16].replace("T", " "),
                        ev.user,
                        ev.action,
                        f"{ev.entity} {ev.entity_id}",
                        ev.reason or "",
                    ],
                )
                for ev in events
            ],
        )
        rows: list[tuple[str, list[str]]] = []
        for name, title in QUEUE_TITLES.items():
            items = getattr(queues, name)
            if not items:
                rows.append((f"{name}:", [title, "—", "nothing waiting"]))
                continue
            for i, item in enumerate(items[: queues.limit]):
                rows.append(
                    (
                        f"{name}|{item.kind}:{item.key}",
                        [title if i == 0 else "", item.key, item.detail],
                    )
                )
            if len(items) > queues.limit:
                rows.append((f"{name}:more", ["", "…", "more"]))
        self.query_one("#queues", RowTable).set_rows(QUEUE_COLUMNS, rows)
        self.lab_app.warm_up()

    @on(Input.Submitted, "#scan")
    def _scanned(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return

        def look_up(tx: Tx) -> tuple[Resolved | None, Any]:
            """The record, and for a tube its whole view, in one database round trip (or why
            the id opens nothing: it names several records)."""
            from exolab.tui.screens.sample import load_sample

            found = resolve_id(tx, text)
            if found is None:
                return None, several_text(tx, text)
            detail = load_sample(tx, found.key) if found.kind == "sample" else None
            return found, detail

        def opened(result: tuple[Resolved | None, Any]) -> None:
            found, detail = result
            scan = self.query_one("#scan", Input)
            scan.value = ""
            if found is None:
                self.notify(
                    detail or f"no sample, isolation, subject or box with id {text!r}",
                    severity="warning",
                )
                return
            self.lab_app.open_record(found.kind, found.key, detail)

        self.db(look_up, opened, group="scan", holds_keys=True)

    @on(RowTable.RowSelected, "#queues")
    def _queue_row(self, event: RowTable.RowSelected) -> None:
        key = str(event.row_key.value or "").partition("|")[2] or str(event.row_key.value)
        kind, _, ident = key.partition(":")
        if kind in ("sample", "isolation") and ident:
            self.lab_app.open_record(kind, ident)
        elif ident == "more":
            from exolab.services.lists import ListQuery
            from exolab.tui.screens.lists import ListScreen

            target = "isolations" if kind == "no_characterisation" else "samples"
            self.app.push_screen(ListScreen(target, ListQuery()))

    @on(RowTable.RowSelected, "#activity")
    def _activity_row(self, event: RowTable.RowSelected) -> None:
        entity, ident = self.activity.get(str(event.row_key.value), ("", ""))
        if entity in ("sample", "isolation", "subject", "box"):
            self.lab_app.open_record(entity, ident)

    def action_register(self) -> None:
        self.lab_app.action_register_sample()

    def action_focus_scan(self) -> None:
        focus_now(self.query_one("#scan", Input))
