"""Sample view (pre-analytics, SPREC, location, aliquot tree, isolations, readouts, audit) and
the tube actions: aliquot, move, check out / return / consume / discard."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Header, Input, Label, Static, Tree

from exolab.domain.sprec import SprecElement, explain_sprec
from exolab.services.audit import AuditRow, record_events
from exolab.services.context import Tx
from exolab.services.errors import ExolabError
from exolab.services.isolations import IsolationOut, isolations_of_sample
from exolab.services.readouts import ReadoutOut, readouts_of
from exolab.services.samples import (
    HANDLING_FIELDS,
    SampleOut,
    aliquot,
    aliquot_tree,
    get_sample,
    move_sample,
    set_status,
)
from exolab.services.storage import free_positions
from exolab.tui.errors import GuardedPump
from exolab.tui.keys import focus_now
from exolab.tui.screens.base import BaseScreen, plural, readout_cells
from exolab.tui.text import esc, plain
from exolab.tui.widgets.box_grid import BoxGrid
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.widgets.location import LocationPicker
from exolab.tui.widgets.row_table import RowTable
from exolab.tui.workers import run_db


class SampleDetail(BaseModel):
    sample: SampleOut
    sprec: list[tuple[int, str, str, str]]
    sprec_error: str | None
    tree: list[tuple[int, str, str, str]]  # depth, id, status, location
    isolations: list[IsolationOut]
    readouts: list[ReadoutOut]
    events: list[AuditRow]


def load_sample(tx: Tx, code: str) -> SampleDetail:
    s = get_sample(tx, code)
    elements: list[SprecElement] = []
    err = None
    if s.sprec:
        try:
            elements = explain_sprec(s.sprec)
        except ValueError as exc:
            err = str(exc)
    return SampleDetail(
        sample=s,
        sprec=[(e.position, e.element, e.code, e.meaning) for e in elements],
        sprec_error=err,
        tree=[
            (depth, t.sample_id, t.status, t.location or "") for depth, t in aliquot_tree(tx, code)
        ],
        isolations=isolations_of_sample(tx, code),
        readouts=readouts_of(tx, sample=code, include_isolations=True),
        events=record_events(tx, "sample", code, limit=50),
    )


ISOLATION_COLUMNS = ["Isolation", "Date", "Method", "Input mL"]
READOUT_COLUMNS = ["Target", "Analyte", "Value", "Unit", "Censor", "Assay", "Run", "Rep", "QC"]
HISTORY_COLUMNS = ["When", "User", "Action", "Reason", "Change"]


def _change_text(ev: AuditRow) -> str:
    """An event's change for the history table; a tube's creation by an import batch (its
    ``import`` event, docs/bulk-imports.md) names the batch and the file."""
    new = ev.new_values or {}
    if ev.action == "import" and ev.entity == "import_batch":
        return f"batch {ev.entity_id} from {new.get('file_name', '?')}"
    return ", ".join(f"{k}={v}" for k, v in new.items())


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class SampleScreen(BaseScreen):
    BINDINGS = [
        Binding("a", "aliquot", "Aliquot", id="sample.aliquot"),
        Binding("m", "move", "Move", id="sample.move"),
        Binding("o", "status('checked_out')", "Check out", id="sample.checkout"),
        Binding("t", "status('available')", "Return", id="sample.return"),
        Binding("c", "status('consumed')", "Consume", id="sample.consume"),
        Binding("d", "status('discarded')", "Discard", id="sample.discard"),
        Binding("i", "isolate", "Isolate", id="sample.isolate"),
        Binding("e", "edit", "Edit", id="sample.edit"),
        Binding("l", "locate", "In box", id="sample.locate"),
        Binding("ctrl+r", "refresh", "Refresh", id="sample.refresh"),
        Binding("escape", "back", "Back", id="sample.back"),
    ]

    def __init__(self, code: str, detail: SampleDetail | None = None) -> None:
        super().__init__()
        self.code = code
        self.title = f"Sample {code}"
        self.detail: SampleDetail | None = None
        self.preloaded = detail
        self.rest_state = "none"

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="sample-view"):
            yield Static("loading…", id="sample-head", classes="panel")
            yield Vertical(id="sample-rest")
        yield KeyFooter()

    def compose_rest(self) -> ComposeResult:
        """Everything below the header: built after the header's first paint, so a scanned
        tube's id, status and location show at once."""
        with Horizontal(classes="record-grid"):
            yield Static("", id="preanalytics", classes="panel")
            with Vertical(classes="panel"):
                yield Label("SPREC", classes="panel-title")
                yield Static("", id="sprec", markup=False)
        with Horizontal(classes="record-grid"):
            with Vertical(classes="panel"):
                yield Label("Aliquot tree", classes="panel-title")
                tree: Tree[str] = Tree("", id="aliquots")
                tree.show_root = False
                yield tree
            with Vertical(classes="panel"):
                yield Label("Isolations (Enter opens)", classes="panel-title")
                yield RowTable(id="isolations", unfocused_cursor=False)
        yield Label("Readouts", classes="panel-title")
        yield RowTable(id="readouts", unfocused_cursor=False)
        yield Label("History", classes="panel-title")
        yield RowTable(id="history", unfocused_cursor=False)

    def on_mount(self) -> None:
        self.rest_state = "none"  # none -> mounting -> ready
        if self.preloaded is not None:
            self._show(self.preloaded)
            self.preloaded = None
        else:
            self.action_refresh()

    def _mount_rest(self) -> None:
        async def mount() -> None:
            await self.query_one("#sample-rest").mount_compose(self.compose_rest())
            self.rest_state = "ready"
            if self.detail is not None:
                self._show_rest(self.detail)

        self.run_worker(mount(), group="sample-rest")

    def on_screen_resume(self) -> None:
        if self.returned_to():
            self.action_refresh()

    def action_refresh(self) -> None:
        code = self.code
        self.db(lambda tx: load_sample(tx, code), self._show, group="sample", holds_keys=True)

    def _show(self, d: SampleDetail) -> None:
        self.detail = d
        s = d.sample
        owner = (
            f"{s.study}/{s.subject_id} visit {s.visit}"
            if s.subject_id
            else (f"cell source {s.cell_source_id}" if s.cell_source_id else "no subject")
        )
        parent = f" · aliquot of {s.parent_sample_id}" if s.parent_sample_id else ""
        limit = self.lab_app.settings.freeze_thaw_limit
        over = s.freeze_thaw_count > limit
        ft_style = "[b red]" if over else "[b]"
        self.query_one("#sample-head", Static).update(
            f"[b]{esc(s.sample_id)}[/b] · {esc(s.biofluid)} · {esc(owner)}{esc(parent)}\n"
            f"status [b]{esc(s.status)}[/b] · volume {_fmt(s.volume_ml)} mL · freeze-thaw "
            f"{ft_style}{s.freeze_thaw_count}{f' (over {limit})' if over else ''}[/] · collected {s.collected_at:%Y-%m-%d %H:%M}\n"
            f"location [b]{esc(s.location or 'not stored')}[/b] · SPREC [b]{esc(s.sprec or '—')}[/b] · "
            f"version {s.version}"
        )
        if self.rest_state == "ready":
            self._show_rest(d)
        elif self.rest_state == "none":
            self.rest_state = "mounting"
            self.call_after_refresh(self._mount_rest)

    def _show_rest(self, d: SampleDetail) -> None:
        s = d.sample
        lines = [f"[b]Pre-analytics[/b]  tube {esc(_fmt(s.tube))}"]
        pairs = [
            f"{f.replace('_', ' ')}: {_fmt(getattr(s, f))}"
            for f in HANDLING_FIELDS
            if f != "tube" and getattr(s, f) is not None
        ]
        lines += [esc(p) for p in pairs]  # one per line: never split, never cut
        if not pairs:
            lines.append("nothing recorded")
        if s.notes:
            lines.append(f"notes: {esc(s.notes)}")
        self.query_one("#preanalytics", Static).update("\n".join(lines))
        # SPREC: each element with its whole meaning (wrapped, never cut).
        sprec_lines = [
            f"{pos} {element.replace('_', ' ')}: {code} — {meaning}"
            for pos, element, code, meaning in d.sprec
        ]
        if d.sprec_error:
            sprec_lines.append(f"error: {d.sprec_error}")
        self.query_one("#sprec", Static).update("\n".join(sprec_lines) or "no SPREC code")
        tree: Tree[str] = self.query_one("#aliquots", Tree)
        tree.clear()
        nodes: list[Any] = [tree.root]
        for depth, ident, status, location in d.tree:
            mark = "▶ " if ident == s.sample_id else ""
            label = plain(f"{mark}{ident} [{status}] {location}")
            parent_node = nodes[min(depth, len(nodes) - 1)]
            node = parent_node.add(label, data=ident, expand=True)
            nodes = [*nodes[: depth + 1], node]
        tree.root.expand_all()
        self.query_one("#isolations", RowTable).set_rows(
            ISOLATION_COLUMNS,
            [
                (
                    iso.isolation_id,
                    [
                        iso.isolation_id,
                        iso.isolated_on.isoformat(),
                        iso.method,
                        _fmt(iso.input_volume_ml),
                    ],
                )
                for iso in d.isolations
            ],
        )
        self.query_one("#readouts", RowTable).set_rows(
            READOUT_COLUMNS,
            [
                (
                    str(i),
                    [r.isolation_id or r.sample_id, *readout_cells(r)],
                )
                for i, r in enumerate(d.readouts)
            ],
        )
        self.query_one("#history", RowTable).set_rows(
            HISTORY_COLUMNS,
            [
                (
                    str(ev.id),
                    [
                        ev.at[:16].replace("T", " "),
                        ev.user,
                        ev.action,
                        ev.reason or "",
                        _change_text(ev)[:60],
                    ],
                )
                for ev in d.events
            ],
        )

    @on(RowTable.RowSelected, "#isolations")
    def _open_isolation(self, event: RowTable.RowSelected) -> None:
        if event.row_key.value:
            self.lab_app.open_record("isolation", str(event.row_key.value))

    @on(Tree.NodeSelected, "#aliquots")
    def _open_aliquot(self, event: Tree.NodeSelected[str]) -> None:
        if event.node.data and event.node.data != self.code:
            self.lab_app.open_record("sample", event.node.data)

    # -- actions ---------------------------------------------------------------------------

    def _writable(self, what: str) -> SampleOut | None:
        if self.detail is None or not self.lab_app.require_writer(what):
            return None
        return self.detail.sample

    def action_aliquot(self) -> None:
        s = self._writable("aliquot samples")
        if s is not None:
            n_children = sum(1 for depth, *_ in self.detail.tree if depth > 0) if self.detail else 0
            self.app.push_screen(AliquotScreen(s, n_children), lambda _: self.action_refresh())

    def action_move(self) -> None:
        s = self._writable("move samples")
        if s is not None:
            self.app.push_screen(MoveScreen(s), lambda _: self.action_refresh())

    def action_status(self, status: str) -> None:
        s = self._writable("change sample status")
        if s is not None:
            self.app.push_screen(StatusScreen(s, status), lambda _: self.action_refresh())

    def action_isolate(self) -> None:
        self.lab_app.action_record_isolation(self.code)

    def action_edit(self) -> None:
        from exolab.tui.screens.forms import EditRecordScreen

        s = self._writable("edit samples")
        if s is not None:
            self.app.push_screen(EditRecordScreen("samples", s.sample_id, s.id))

    def action_locate(self) -> None:
        from exolab.tui.screens.storage import StorageScreen

        if self.detail and self.detail.sample.location:
            parts = self.detail.sample.location.split("/")
            self.app.push_screen(
                StorageScreen(
                    box="/".join(parts[:3]), position=parts[3] if len(parts) > 3 else None
                )
            )
        else:
            self.notify("this tube is not in a box")


# -- modals ------------------------------------------------------------------------------------


class _ActionModal(GuardedPump, ModalScreen[Any]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="modal.save"),
        Binding("escape", "cancel", "Cancel", id="modal.cancel"),
        Binding("f1", "app.help", "Help", id="modal.help"),  # no app keys in a modal screen
    ]

    def buttons(self) -> ComposeResult:
        yield Static("", id="form-message", classes="field-error", markup=False)
        with Horizontal(classes="buttons"):
            yield Button("Save (ctrl+s)", variant="primary", id="save")
            yield Button("Cancel (esc)", id="cancel")

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def fail(self, exc: ExolabError) -> None:
        self.query_one("#form-message", Static).update(str(exc))
        self.app.bell()

    def message(self, text: str) -> None:
        self.query_one("#form-message", Static).update(text)


class AliquotScreen(_ActionModal):
    """N children into chosen free positions; the parent's freeze-thaw count goes up by one."""

    def __init__(self, parent: SampleOut, existing_children: int = 0) -> None:
        super().__init__()
        self.parent_sample = parent
        self.start = existing_children + 1
        self.box_default = "/".join(parent.location.split("/")[:3]) if parent.location else ""

    def compose(self) -> ComposeResult:
        p = self.parent_sample
        with Vertical(classes="dialog form-dialog"):
            yield Label(
                f"Aliquot {p.sample_id} ({_fmt(p.volume_ml)} mL, freeze-thaw {p.freeze_thaw_count} → "
                f"{p.freeze_thaw_count + 1})",
                classes="dialog-title",
                markup=False,
            )
            with VerticalScroll():
                yield Label("number of aliquots")
                yield Input("2", id="count", type="integer")
                yield Label("volume of each (mL)")
                yield Input("", id="volume", placeholder="e.g. 0.5")
                yield Label("id of the first aliquot (the rest count up)")
                yield Input(f"{p.sample_id}-A{self.start}", id="first-id")
                yield Label("positions (space separated; Enter on free grid positions marks them)")
                yield Input("", id="positions", placeholder="A1 A2 … or empty to leave unstored")
                yield LocationPicker(self.box_default, multi=True, id="aliquot-box", input_id="box")
                yield Label("reason")
                yield Input("aliquoted", id="reason")
            yield from self.buttons()

    def on_mount(self) -> None:
        focus_now(self.query_one("#count", Input))
        self._suggest()

    @on(Input.Changed, "#count")
    def _count_changed(self) -> None:
        self._suggest()

    def _suggest(self) -> None:
        """Propose the first free positions of the box for the aliquots."""
        box = self.query_one("#box", Input).value.strip()
        try:
            n = int(self.query_one("#count", Input).value or "0")
        except ValueError:
            return
        if not box or n <= 0 or box.count("/") != 2:
            return
        run_db(
            self,
            lambda tx: free_positions(tx, box, limit=n),
            lambda free: self._set_positions(free),
            group="aliquot-free",
            on_error=lambda _: None,
        )

    def _set_positions(self, free: list[str]) -> None:
        self.query_one("#positions", Input).value = " ".join(free)
        grid = self.query_one("#picker-grid", BoxGrid)
        grid.marked = set(free)
        grid.refresh()

    @on(LocationPicker.Picked, "#aliquot-box")
    def _marked(self) -> None:
        grid = self.query_one("#picker-grid", BoxGrid)
        order = [p.position for p in grid.data.positions] if grid.data else []
        chosen = [p for p in order if p in grid.marked]
        self.query_one("#positions", Input).value = " ".join(chosen)
        self.query_one("#count", Input).value = str(len(chosen))

    def aliquot_children(self) -> list[tuple[str, str | None, float | None]]:
        n = int(self.query_one("#count", Input).value or "0")
        if n < 1:
            raise ValueError("give at least one aliquot")
        vol_text = self.query_one("#volume", Input).value.strip()
        volume = float(vol_text) if vol_text else None
        first = self.query_one("#first-id", Input).value.strip()
        head = first.rstrip("0123456789")
        start = int(first[len(head) :] or "1")
        width = len(first) - len(head)
        box = self.query_one("#box", Input).value.strip().rstrip("/")
        positions = self.query_one("#positions", Input).value.split()
        if positions and len(positions) != n:
            raise ValueError(f"{plural(n, 'aliquot')} but {plural(len(positions), 'position')}")
        out = []
        for i in range(n):
            code = f"{head}{str(start + i).zfill(width)}"
            loc = f"{box}/{positions[i]}" if positions and box else (box or None)
            out.append((code, loc, volume))
        return out

    def action_save(self) -> None:
        try:
            children = self.aliquot_children()
        except ValueError as exc:
            self.message(str(exc))
            return
        reason = self.query_one("#reason", Input).value.strip() or "aliquoted"
        parent, version = self.parent_sample.sample_id, self.parent_sample.version

        def done(out: list[SampleOut]) -> None:
            self.app.notify(
                f"{plural(len(out), 'aliquot')} of {parent}: {', '.join(s.sample_id for s in out)}"
            )
            self.dismiss(out)

        run_db(
            self,
            lambda tx: aliquot(tx, parent, children, reason=reason, expected_version=version),
            done,
            group="aliquot",
            write=True,
            on_error=self.fail,
        )


class MoveScreen(_ActionModal):
    def __init__(self, sample: SampleOut) -> None:
        super().__init__()
        self.sample = sample

    def compose(self) -> ComposeResult:
        s = self.sample
        with Vertical(classes="dialog form-dialog"):
            yield Label(
                f"Move {s.sample_id} (now {s.location or 'not stored'})",
                classes="dialog-title",
                markup=False,
            )
            with VerticalScroll():
                yield LocationPicker(s.location or "", id="move-to", input_id="location")
                yield Label("reason")
                yield Input("", id="reason", placeholder="why it moved (required)")
            yield from self.buttons()

    def on_mount(self) -> None:
        focus_now(self.query_one("#location", Input))

    def action_save(self) -> None:
        location = self.query_one("#location", Input).value.strip() or None
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.message("reason: a reason is required to move a tube")
            focus_now(self.query_one("#reason", Input))
            return
        code, version = self.sample.sample_id, self.sample.version

        def done(out: SampleOut) -> None:
            self.app.notify(f"{code} is now at {out.location or 'no location'}")
            self.dismiss(out)

        run_db(
            self,
            lambda tx: move_sample(tx, code, location, reason=reason, expected_version=version),
            done,
            group="move",
            write=True,
            on_error=self.fail,
        )


class StatusScreen(_ActionModal):
    WORDS = {
        "checked_out": "Check out",
        "available": "Return (available)",
        "consumed": "Consume",
        "discarded": "Discard",
    }

    def __init__(self, sample: SampleOut, status: str) -> None:
        super().__init__()
        self.sample = sample
        self.status = status

    def compose(self) -> ComposeResult:
        s = self.sample
        with Vertical(classes="dialog"):
            yield Label(
                f"{self.WORDS.get(self.status, self.status)}: {s.sample_id} (now {s.status}, "
                f"{_fmt(s.volume_ml)} mL)",
                classes="dialog-title",
                markup=False,
            )
            if self.status in ("consumed", "discarded"):
                yield Static("the tube's position is freed", classes="field-help")
            yield Label("reason")
            yield Input("", id="reason", placeholder="required")
            yield Label("volume used (mL, optional)")
            yield Input("", id="used", placeholder="e.g. 0.2")
            yield from self.buttons()

    def on_mount(self) -> None:
        focus_now(self.query_one("#reason", Input))

    @on(Input.Submitted, "#reason")
    @on(Input.Submitted, "#used")
    def _submit(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        used_text = self.query_one("#used", Input).value.strip()
        try:
            used = float(used_text) if used_text else None
        except ValueError:
            self.message(f"volume used: {used_text!r} is not a number")
            focus_now(self.query_one("#used", Input))
            return
        if not reason:
            self.message("reason: a reason is required")
            focus_now(self.query_one("#reason", Input))
            return
        code, version, status = self.sample.sample_id, self.sample.version, self.status

        def done(out: SampleOut) -> None:
            self.app.notify(f"{code} is {out.status}")
            self.dismiss(out)

        run_db(
            self,
            lambda tx: set_status(
                tx, code, status, reason=reason, expected_version=version, volume_used_ml=used
            ),
            done,
            group="status",
            write=True,
            on_error=self.fail,
        )
