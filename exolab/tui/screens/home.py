"""Home: counts, work queues, recent activity and the scan field."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from exolab.services.audit import AuditRow, list_events
from exolab.services.browse import (
    HomeCounts,
    Resolved,
    WorkQueues,
    home_counts,
    resolve_id,
    work_queues,
)
from exolab.services.context import Tx
from exolab.tui.screens.base import BaseScreen

QUEUE_TITLES = {  # over the latest records (services.browse.QUEUE_WINDOW_*)
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
                    yield DataTable(id="activity", cursor_type="row", zebra_stripes=True)
            yield Label("Work queues", classes="section-title")
            yield DataTable(id="queues", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        act = self.query_one("#activity", DataTable)
        act.add_columns("When (UTC)", "User", "Action", "Record", "Reason")
        q = self.query_one("#queues", DataTable)
        q.add_columns("Queue", "Id", "Detail")
        self.query_one("#scan", Input).focus()
        self.action_refresh()

    def on_screen_resume(self) -> None:
        if self.returned_to():
            self.action_refresh()

    def action_refresh(self) -> None:
        """Queues and activity, and (separately: a count of 10M rows takes longer) counts."""
        settings = self.lab_app.settings

        def lists(tx: Tx) -> tuple[WorkQueues, list[AuditRow]]:
            queues = work_queues(
                tx,
                freeze_thaw_limit=settings.freeze_thaw_limit,
                low_volume_ml=settings.low_volume_ml,
                limit=8,
            )
            return queues, list_events(tx, limit=12)

        self.db(lists, self._show, group="home")
        self.db(home_counts, self._show_counts, group="home-counts")

    def _show_counts(self, counts: HomeCounts) -> None:
        self.query_one("#counts", Static).update(
            "\n".join(
                [
                    f"[b]{counts.subjects:>10,}[/b] subjects",
                    f"[b]{counts.samples:>10,}[/b] samples",
                    f"[b]{counts.isolations:>10,}[/b] isolations",
                    f"[b]{counts.readouts:>10,}[/b] readouts",
                    f"[b]{counts.runs:>10,}[/b] assay runs",
                    f"[b]{counts.boxes:>10,}[/b] boxes",
                    "",
                    "f3 subjects  f4 samples",
                    "f5 isolations f6 readouts",
                    "f7 storage   f8 audit",
                    "ctrl+p palette  f1 help",
                ]
            )
        )

    def _show(self, data: tuple[WorkQueues, list[AuditRow]]) -> None:
        queues, events = data
        act = self.query_one("#activity", DataTable)
        act.clear()
        for ev in events:
            act.add_row(
                ev.at[:16].replace("T", " "),
                ev.user,
                ev.action,
                f"{ev.entity} {ev.entity_id}",
                ev.reason or "",
                key=str(ev.id),
            )
        table = self.query_one("#queues", DataTable)
        table.clear()
        for name, title in QUEUE_TITLES.items():
            items = getattr(queues, name)
            if not items:
                table.add_row(title, "—", "nothing waiting", key=f"{name}:")
                continue
            for i, item in enumerate(items[: queues.limit]):
                table.add_row(
                    title if i == 0 else "",
                    item.key,
                    item.detail,
                    key=f"{name}|{item.kind}:{item.key}",
                )
            if len(items) > queues.limit:
                table.add_row("", "…", "more", key=f"{name}:more")

    @on(Input.Submitted, "#scan")
    def _scanned(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return

        def look_up(tx: Tx) -> tuple[Resolved | None, Any]:
            """The record, and for a tube its whole view, in one database round trip."""
            from exolab.tui.screens.sample import load_sample

            found = resolve_id(tx, text)
            detail = load_sample(tx, found.key) if found and found.kind == "sample" else None
            return found, detail

        def opened(result: tuple[Resolved | None, Any]) -> None:
            found, detail = result
            scan = self.query_one("#scan", Input)
            scan.value = ""
            if found is None:
                self.notify(
                    f"no sample, isolation, subject or box with id {text!r}", severity="warning"
                )
                return
            self.lab_app.open_record(found.kind, found.key, detail)

        self.db(look_up, opened, group="scan")

    @on(DataTable.RowSelected, "#queues")
    def _queue_row(self, event: DataTable.RowSelected) -> None:
        key = str(event.row_key.value or "").partition("|")[2] or str(event.row_key.value)
        kind, _, ident = key.partition(":")
        if kind in ("sample", "isolation") and ident:
            self.lab_app.open_record(kind, ident)
        elif ident == "more":
            from exolab.services.browse import ListQuery
            from exolab.tui.screens.lists import ListScreen

            target = "isolations" if kind == "no_characterisation" else "samples"
            self.app.push_screen(ListScreen(target, ListQuery()))

    @on(DataTable.RowSelected, "#activity")
    def _activity_row(self, event: DataTable.RowSelected) -> None:
        table = self.query_one("#activity", DataTable)
        row: list[Any] = table.get_row(event.row_key)
        entity, _, ident = str(row[3]).partition(" ")
        if entity in ("sample", "isolation", "subject", "box"):
            self.lab_app.open_record(entity, ident)

    def action_register(self) -> None:
        self.lab_app.action_register_sample()

    def action_focus_scan(self) -> None:
        self.query_one("#scan", Input).focus()
