"""Pick mode: load a pick list, then scan each tube as it comes out of the freezer. A tube on
the list is ticked off; a tube that is not on it is refused loudly (bell, red banner, error
notification) so it goes back before it is used (docs/labels.md)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Header, Input, Label, Static

from exolab.services.context import Tx
from exolab.services.errors import ExolabError, FieldError, ValidationFailed
from exolab.services.picklist import PickList, PickRequest, pick_list, select_tubes
from exolab.tui.keys import focus_now
from exolab.tui.screens.base import BaseScreen
from exolab.tui.widgets.footer import KeyFooter

PICK_COLUMNS = ("#", "location", "sample", "subject / visit", "take mL", "done")
TICK = "✔"


def problem_text(exc: ExolabError) -> str:
    """An error in words, naming each bad value (``NOPE: no such sample``)."""
    if isinstance(exc, ValidationFailed):
        return "; ".join(
            f"{e.value}: {e.message}" if e.value else f"{e.field}: {e.message}" for e in exc.errors
        )
    return str(exc)


def parse_source(text: str) -> tuple[str, dict[str, str] | list[str] | Path]:
    """What the tubes field names: ``study S [visit V] [biofluid B]``, a list file, or ids."""
    text = text.strip()
    words = shlex.split(text) if text else []
    if words and words[0].lower() == "study":
        if len(words) % 2:
            raise ValidationFailed(
                [FieldError("tubes", "write: study S [visit V] [biofluid B]", text)]
            )
        pairs = dict(zip(words[::2], words[1::2], strict=True))
        unknown = set(pairs) - {"study", "visit", "biofluid"}
        if unknown:
            raise ValidationFailed(
                [FieldError("tubes", f"unknown filter {sorted(unknown)[0]}", text)]
            )
        return "study", pairs
    if len(words) == 1 and Path(words[0]).is_file():
        return "file", Path(words[0])
    return "ids", [w.strip(",;") for w in words if w.strip(",;")]


def load_picks(tx: Tx, text: str) -> PickList:
    kind, value = parse_source(text)
    if kind == "study":
        assert isinstance(value, dict)
        ids = select_tubes(
            tx, study=value["study"], visit=value.get("visit"), biofluid=value.get("biofluid")
        )
        requests = [PickRequest(i) for i in ids]
    elif kind == "file":
        from exolab.io.idlist import read_pick_requests

        assert isinstance(value, Path)
        requests = read_pick_requests(value)
    else:
        assert isinstance(value, list)
        requests = [PickRequest(i) for i in value]
    return pick_list(tx, requests)


class PickScreen(BaseScreen):
    TITLE = "Pick mode"
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "back", "Back", id="pick.back"),
        Binding("ctrl+l", "focus_source", "Load list", id="pick.load"),
        Binding("ctrl+s", "focus_scan", "Scan", id="pick.scan"),
        Binding("ctrl+o", "print_labels", "Labels", id="pick.labels"),
    ]
    DEFAULT_CSS = """
    PickScreen #pick-source-row, PickScreen #pick-scan-row { height: 3; }
    PickScreen #pick-source-row Label, PickScreen #pick-scan-row Label {
        width: 10; padding: 1 1 0 1;
    }
    PickScreen #pick-banner { height: 3; padding: 1 1 0 1; }
    PickScreen #pick-banner.-wrong { background: $error; color: $text; text-style: bold; }
    PickScreen #pick-banner.-ok { background: $success 40%; }
    PickScreen #pick-banner.-done { background: $success; text-style: bold; }
    PickScreen #pick-table { height: 1fr; }
    """

    def __init__(self, source: str | None = None) -> None:
        super().__init__()
        self.source = source
        self.picks: PickList | None = None
        self.row_of: dict[str, int] = {}  # sample id -> row index
        self.ticked: set[str] = set()
        self.refused: list[str] = []  # wrong tubes scanned (for the record on screen)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="pick-source-row"):
            yield Label("Tubes:")
            yield Input(
                value=self.source or "",
                placeholder="ids, a list file, or: study S [visit V] [biofluid B]  + Enter",
                id="pick-source",
            )
        yield Static("Load a pick list, then scan each tube.", id="pick-banner")
        yield DataTable(id="pick-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="pick-scan-row"):
            yield Label("Scan:")
            yield Input(placeholder="scan each tube as you take it out + Enter", id="pick-scan")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#pick-table", DataTable)
        for column in PICK_COLUMNS:
            table.add_column(column, key=column)
        if self.source:
            self.load(self.source)
        else:
            focus_now(self.query_one("#pick-source", Input))

    # -- loading -----------------------------------------------------------------------------

    @on(Input.Submitted, "#pick-source")
    def _source_submitted(self, event: Input.Submitted) -> None:
        self.load(event.value)

    def load(self, text: str) -> None:
        self.db(lambda tx: load_picks(tx, text), self._loaded, on_error=self._load_failed)

    def _load_failed(self, exc: ExolabError) -> None:
        self._banner(f"Cannot load the pick list: {problem_text(exc)}", "-wrong")
        focus_now(self.query_one("#pick-source", Input))

    def _loaded(self, picks: PickList) -> None:
        self.picks = picks
        self.ticked.clear()
        self.refused.clear()
        table = self.query_one("#pick-table", DataTable)
        table.clear()
        self.row_of = {}
        for i, r in enumerate(picks.rows):
            who = " ".join(x for x in (r.subject_id, r.visit) if x)
            take = "" if r.take_ml is None else f"{r.take_ml:g}"
            table.add_row(
                str(r.order), r.location or "", r.sample_id, who, take, "", key=r.sample_id
            )
            self.row_of[r.sample_id] = i
        away = ", ".join(f"{r.sample_id} ({r.status})" for r in picks.not_in_storage)
        text = f"{len(picks.rows)} tube(s) to pick, in freezer order."
        if away:
            text += f" Not in storage: {away}."
        self._banner(text + " Scan each tube.", "")
        focus_now(self.query_one("#pick-scan", Input))

    # -- scanning ----------------------------------------------------------------------------

    @on(Input.Submitted, "#pick-scan")
    def _scanned(self, event: Input.Submitted) -> None:
        event.input.value = ""
        self.scan(event.value)

    def scan(self, code: str) -> None:
        code = code.strip()
        if not code:
            return
        if self.picks is None:
            self._banner("Load a pick list first (ctrl+l).", "-wrong")
            return
        if code not in self.row_of:
            self.refused.append(code)
            self.app.bell()
            self._banner(f"✘ WRONG TUBE: {code} is not on this pick list. Put it back.", "-wrong")
            self.notify(f"{code} is not on this pick list", title="Wrong tube", severity="error")
            return
        table = self.query_one("#pick-table", DataTable)
        row = self.row_of[code]
        if code in self.ticked:
            self._banner(f"{code} was already ticked off.", "-ok")
            table.move_cursor(row=row)
            return
        self.ticked.add(code)
        table.update_cell(code, "done", TICK)
        table.move_cursor(row=row)
        total = len(self.row_of)
        if len(self.ticked) == total:
            self._banner(f"{TICK} All {total} tube(s) picked.", "-done")
            return
        following = self._next_unticked()
        nxt = f" Next: {following}." if following else ""
        self._banner(f"{TICK} {code} ({len(self.ticked)} of {total}).{nxt}", "-ok")

    def _next_unticked(self) -> str | None:
        assert self.picks is not None
        for r in self.picks.rows:
            if r.sample_id not in self.ticked:
                return f"{r.sample_id} at {r.location}"
        return None

    def _banner(self, text: str, cls: str) -> None:
        self.show_banner(self.query_one("#pick-banner", Static), text, cls)

    # -- keys --------------------------------------------------------------------------------

    def action_focus_source(self) -> None:
        focus_now(self.query_one("#pick-source", Input))

    def action_focus_scan(self) -> None:
        focus_now(self.query_one("#pick-scan", Input))

    def action_print_labels(self) -> None:
        ids = " ".join(self.row_of) if self.picks else None
        self.lab_app.action_print_labels(ids)
