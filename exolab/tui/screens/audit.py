"""Audit viewer: every change, newest first, filterable by record and user, paged."""

from __future__ import annotations

import json

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Input, Static

from exolab.services.audit import AuditRow, list_events
from exolab.tui.screens.base import BaseScreen, focus_now, plural
from exolab.tui.text import PlainTable
from exolab.tui.widgets.footer import KeyFooter

PAGE = 100


class AuditScreen(BaseScreen):
    TITLE = "Audit trail"
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="audit.filter"),
        Binding("right_square_bracket", "older", "Older", id="audit.older"),
        Binding("left_square_bracket", "newer", "Newer", id="audit.newer"),
        Binding("ctrl+r", "refresh", "Refresh", id="audit.refresh"),
        Binding("escape", "back", "Back", id="audit.back"),
    ]

    def __init__(self, entity: str | None = None, entity_id: str | None = None) -> None:
        super().__init__()
        self.entity = entity
        self.entity_id = entity_id
        self.user: str | None = None
        self.pages: list[int | None] = [None]
        self.events: dict[str, AuditRow] = {}
        self.last_id: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            with Horizontal(id="filters"):
                yield Input(
                    self.entity or "", placeholder="entity (sample, subject, ...)", id="a-entity"
                )
                yield Input(self.entity_id or "", placeholder="record id", id="a-id")
                yield Input("", placeholder="user", id="a-user")
            yield PlainTable(id="table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="audit-detail", classes="panel", markup=False)
            yield Static("", id="list-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        t = self.query_one("#table", DataTable)
        t.add_columns("#", "When (UTC)", "User", "Action", "Entity", "Record", "Reason", "Batch")
        focus_now(t)
        self.load()

    def load(self) -> None:
        entity, ident, user, before = self.entity, self.entity_id, self.user, self.pages[-1]
        self.db(
            lambda tx: list_events(
                tx, entity=entity, entity_id=ident, user=user, limit=PAGE, before_id=before
            ),
            self._show,
            group="audit",
        )

    def _show(self, events: list[AuditRow]) -> None:
        t = self.query_one("#table", DataTable)
        t.clear()
        self.events = {}
        for ev in events:
            self.events[str(ev.id)] = ev
            t.add_row(
                str(ev.id),
                ev.at[:19].replace("T", " "),
                ev.user,
                ev.action,
                ev.entity,
                ev.entity_id,
                ev.reason or "",
                str(ev.batch_id or ""),
                key=str(ev.id),
            )
        self.last_id = events[-1].id if len(events) == PAGE else None
        self.query_one("#list-status", Static).update(
            f"page {len(self.pages)} · {plural(len(events), 'event')}"
            + (" · more ]" if self.last_id else " · oldest reached")
            + "   (/ filter · [ ] pages · Enter opens the record)"
        )

    @on(DataTable.RowHighlighted, "#table")
    def _detail(self, event: DataTable.RowHighlighted) -> None:
        ev = self.events.get(str(event.row_key.value))
        if ev is None:
            return
        parts = []
        if ev.old_values:
            parts.append("old: " + json.dumps(ev.old_values, default=str)[:400])
        if ev.new_values:
            parts.append("new: " + json.dumps(ev.new_values, default=str)[:400])
        self.query_one("#audit-detail", Static).update("\n".join(parts) or "(no values)")

    @on(DataTable.RowSelected, "#table")
    def _open(self, event: DataTable.RowSelected) -> None:
        ev = self.events.get(str(event.row_key.value))
        if ev and ev.entity in ("sample", "isolation", "subject", "box"):
            self.lab_app.open_record(ev.entity, ev.entity_id)

    def action_filter(self) -> None:
        focus_now(self.query_one("#a-entity", Input))

    @on(Input.Submitted)
    def _apply(self) -> None:
        self.entity = self.query_one("#a-entity", Input).value.strip() or None
        self.entity_id = self.query_one("#a-id", Input).value.strip() or None
        self.user = self.query_one("#a-user", Input).value.strip() or None
        self.pages = [None]
        self.load()
        focus_now(self.query_one("#table"))

    def action_older(self) -> None:
        if self.last_id is not None:
            self.pages.append(self.last_id)
            self.load()

    def action_newer(self) -> None:
        if len(self.pages) > 1:
            self.pages.pop()
            self.load()

    def action_refresh(self) -> None:
        self.load()

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            focus_now(self.query_one("#table"))
        elif len(self.app.screen_stack) > 1:
            self.app.pop_screen()
