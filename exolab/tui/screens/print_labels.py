"""Print labels from the UI: ids (tubes, isolations, a box's tubes), a layout and a code kind,
written to a PDF or ZPL file like ``exolab label`` (docs/labels.md)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Header, Input, Label, Select, Static

from exolab.io.labels import LAYOUTS
from exolab.services.context import Tx
from exolab.services.errors import ExolabError, FieldError, ValidationFailed
from exolab.tui.keys import focus_now
from exolab.tui.screens.base import BaseScreen
from exolab.tui.screens.pick import problem_text
from exolab.tui.widgets.footer import KeyFooter


def print_labels(tx: Tx, ids: list[str], layout: str, code: str, out: Path) -> int:
    """Write the labels of ``ids`` to ``out`` (.pdf or .zpl); nothing is left on failure."""
    from exolab.io import labels as label_io
    from exolab.services.labels import labels_for

    suffix = out.suffix.lower()
    if suffix not in (".pdf", ".zpl"):
        raise ValidationFailed([FieldError("file", "must end in .pdf or .zpl", str(out))])
    labels = labels_for(tx, ids)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        if suffix == ".pdf":
            label_io.write_labels_pdf(labels, Path(tmp), label_io.get_layout(layout), kind=code)
        else:
            label_io.write_labels_zpl(labels, Path(tmp), label_io.get_layout(layout), kind=code)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(labels)


class PrintLabelsScreen(BaseScreen):
    TITLE = "Print labels"
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "back", "Back", id="labels.back"),
    ]
    DEFAULT_CSS = """
    PrintLabelsScreen .label-row { height: 3; }
    PrintLabelsScreen .label-row Label { width: 10; padding: 1 1 0 1; }
    PrintLabelsScreen #labels-result { height: auto; padding: 1; }
    PrintLabelsScreen #labels-result.-wrong { background: $error; color: $text; }
    """

    def __init__(self, ids: str | None = None) -> None:
        super().__init__()
        self.ids = ids or ""

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            with Horizontal(classes="label-row"):
                yield Label("Ids:")
                yield Input(
                    value=self.ids,
                    placeholder="sample, isolation or box (F/R/B) ids, separated by spaces",
                    id="labels-ids",
                )
            with Horizontal(classes="label-row"):
                yield Label("Layout:")
                yield Select(
                    [(f"{name}: {lay.description}", name) for name, lay in LAYOUTS.items()],
                    value="cryo-letter",
                    allow_blank=False,
                    id="labels-layout",
                )
            with Horizontal(classes="label-row"):
                yield Label("Code:")
                yield Select(
                    [("Data Matrix", "datamatrix"), ("QR", "qr")],
                    value="datamatrix",
                    allow_blank=False,
                    id="labels-code",
                )
            with Horizontal(classes="label-row"):
                yield Label("File:")
                yield Input(value=str(Path.cwd() / "labels.pdf"), id="labels-out")
            yield Button("Print", id="labels-print", variant="primary")
            yield Static(
                "Enter (or the button) writes the file; print a PDF at 100 %, send a .zpl file "
                "to a Zebra printer as raw data.",
                id="labels-result",
            )
        yield KeyFooter()

    def on_mount(self) -> None:
        focus_now(self.query_one("#labels-ids", Input))

    @on(Button.Pressed, "#labels-print")
    def _pressed(self) -> None:
        self.action_print()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_print()

    def action_print(self) -> None:
        ids = self.query_one("#labels-ids", Input).value.replace(",", " ").split()
        layout = str(self.query_one("#labels-layout", Select).value)
        code = str(self.query_one("#labels-code", Select).value)
        out = Path(self.query_one("#labels-out", Input).value.strip()).expanduser()

        def start(replace: bool | None = True) -> None:
            from exolab.tui.text import esc

            if not replace:
                self.query_one("#labels-result", Static).update(
                    esc(f"Nothing printed: {out} exists; give another file name")
                )
                return
            self.db(
                lambda tx: print_labels(tx, ids, layout, code, out),
                lambda n: self._done(n, out),
                on_error=self._failed,
            )

        try:
            exists = out.is_file()
        except OSError:  # a name the system refuses: writing says why
            exists = False
        if exists:  # an existing file is replaced only when the user says so
            from exolab.tui.widgets.forms import ConfirmScreen

            self.app.push_screen(ConfirmScreen(f"{out} exists. Replace it with the labels?"), start)
            return
        start()

    def _done(self, n: int, out: Path) -> None:
        result = self.query_one("#labels-result", Static)
        result.remove_class("-wrong")
        result.update(f"{n} label(s) written to {out}")
        self.notify(f"{n} label(s) -> {out}")

    def _failed(self, exc: ExolabError) -> None:
        result = self.query_one("#labels-result", Static)
        result.add_class("-wrong")
        result.update(f"Nothing printed: {problem_text(exc)}")
