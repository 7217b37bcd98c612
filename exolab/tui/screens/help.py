"""Help: the keys of the screen underneath, read from its live bindings."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Label, Static

KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "enter": "enter",
    "right_square_bracket": "]",
    "left_square_bracket": "[",
    "pagedown": "pgdn",
    "pageup": "pgup",
    "delete": "del",
}


def key_label(key: str) -> str:
    return KEY_NAMES.get(key, key)


class HelpScreen(ModalScreen[None]):
    """Lists every key active on the screen it was opened from."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("f1", "close", "Close", show=False, id="help.close_f1"),
        Binding("question_mark", "close", "Close", show=False, id="help.close_q"),
    ]

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__()
        self.target = screen

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label(
                f"Keys: {self.target.title or type(self.target).__name__}", classes="dialog-title"
            )
            yield DataTable(id="keys", cursor_type="row", zebra_stripes=True)
            yield Static(
                "ctrl+p: command palette — type an id (sample, isolation, subject, box) "
                "or an action name. A barcode scanner types an id + Enter into any scan or "
                "search field and opens that tube.",
                classes="help-note",
            )

    def on_mount(self) -> None:
        table = self.query_one("#keys", DataTable)
        table.add_columns("Key", "Action", "")
        seen: set[tuple[str, str]] = set()
        for key, active in self.target.active_bindings.items():
            binding = active.binding
            desc = binding.description or binding.action
            if (key, desc) in seen:
                continue
            seen.add((key, desc))
            state = "" if active.enabled else "(disabled)"
            table.add_row(key_label(key), desc, state)
        actor = getattr(self.app, "actor", None)  # the ExolabApp's user (not imported: no cycle)
        if actor is not None and not actor.can_write:
            table.add_row("", "write actions are read-only for your role", actor.role)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
