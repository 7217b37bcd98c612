"""Receive a shipment by scanning: load its manifest, scan each tube as it is unpacked (a tube
not on the manifest is flagged loudly and reported as unexpected), then receive: what
``exolab ship receive MANIFEST --scanned ...`` does (docs/labels.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Header, Input, Label, Static

from exolab.services.errors import ExolabError
from exolab.services.shipments import ReceiveResult, receive_shipment
from exolab.tui.keys import focus_now
from exolab.tui.screens.base import BaseScreen
from exolab.tui.screens.pick import TICK, problem_text
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.workers import run_task

COLUMNS = ("sample", "subject / visit", "biofluid", "left from", "arrived")


class ReceiveScreen(BaseScreen):
    TITLE = "Receive shipment"
    BINDINGS: ClassVar[list[Any]] = [
        Binding("escape", "back", "Back", id="receive.back"),
        Binding("ctrl+s", "focus_scan", "Scan", id="receive.scan"),
        Binding("ctrl+r", "receive", "Receive", id="receive.receive"),
    ]
    DEFAULT_CSS = """
    ReceiveScreen .receive-row { height: 3; }
    ReceiveScreen .receive-row Label { width: 10; padding: 1 1 0 1; }
    ReceiveScreen #receive-banner { height: 3; padding: 1 1 0 1; }
    ReceiveScreen #receive-banner.-wrong { background: $error; color: $text; text-style: bold; }
    ReceiveScreen #receive-banner.-ok { background: $success 40%; }
    ReceiveScreen #receive-table { height: 1fr; }
    """

    def __init__(self, manifest: str | None = None) -> None:
        super().__init__()
        self.manifest_path = manifest
        self.manifest: list[dict[str, str]] = []
        self.scanned: list[str] = []  # in scan order, manifest tubes and strays alike
        self.unexpected: list[str] = []
        self.result: ReceiveResult | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(classes="receive-row"):
            yield Label("Manifest:")
            yield Input(
                value=self.manifest_path or "",
                placeholder="the manifest CSV + Enter",
                id="receive-manifest",
            )
        with Horizontal(classes="receive-row"):
            yield Label("Into box:")
            yield Input(
                placeholder="F/R/B for the received tubes (blank: back where they came from)",
                id="receive-into",
            )
        yield Static(
            "Load the manifest, scan each tube, then ctrl+r receives.", id="receive-banner"
        )
        yield DataTable(id="receive-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="receive-row"):
            yield Label("Scan:")
            yield Input(placeholder="scan each tube as you unpack it + Enter", id="receive-scan")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#receive-table", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        if self.manifest_path:
            self.load(self.manifest_path)
        else:
            focus_now(self.query_one("#receive-manifest", Input))

    @on(Input.Submitted, "#receive-manifest")
    def _manifest_submitted(self, event: Input.Submitted) -> None:
        self.load(event.value)

    def load(self, path: str) -> None:
        """Read the manifest off the UI thread (a file on a slow share must not freeze the
        screen, docs/ui.md); what it holds, or why it cannot be read, lands in the screen."""
        from exolab.io.idlist import read_manifest

        where = Path(path.strip()).expanduser()

        def read() -> list[dict[str, str]] | str:
            try:
                rows = read_manifest(where)
            except (ExolabError, OSError) as exc:
                return problem_text(exc) if isinstance(exc, ExolabError) else str(exc)
            return rows or f"{where} lists no tubes"

        self._banner(f"Reading the manifest {where.name}…", "")
        run_task(self, read, self._loaded, group="receive-manifest")

    def _loaded(self, rows: list[dict[str, str]] | str) -> None:
        if isinstance(rows, str):
            self._banner(f"Cannot read the manifest: {rows}", "-wrong")
            return
        self.manifest = rows
        self.scanned, self.unexpected, self.result = [], [], None
        table = self.query_one("#receive-table", DataTable)
        table.clear()
        for r in rows:
            who = " ".join(x for x in (r.get("subject_id"), r.get("visit")) if x)
            table.add_row(
                r["sample_id"],
                who,
                r.get("biofluid", ""),
                r.get("from_location", ""),
                "",
                key=r["sample_id"],
            )
        self._banner(
            f"Shipment {rows[0]['shipment']}: {len(rows)} tube(s) listed. Scan each tube.", ""
        )
        focus_now(self.query_one("#receive-scan", Input))

    @on(Input.Submitted, "#receive-scan")
    def _scanned(self, event: Input.Submitted) -> None:
        event.input.value = ""
        self.scan(event.value)

    def scan(self, code: str) -> None:
        code = code.strip()
        if not code:
            return
        if not self.manifest:
            self._banner("Load the manifest first.", "-wrong")
            return
        if code in self.scanned:
            self._banner(f"{code} was already scanned.", "-ok")
            return
        self.scanned.append(code)
        listed = {r["sample_id"] for r in self.manifest}
        if code not in listed:
            self.unexpected.append(code)
            self.app.bell()
            self._banner(
                f"✘ NOT ON THE MANIFEST: {code}. Keep it aside; it will be reported unexpected.",
                "-wrong",
            )
            self.notify(f"{code} is not on the manifest", title="Unexpected tube", severity="error")
            return
        table = self.query_one("#receive-table", DataTable)
        table.update_cell(code, "arrived", TICK)
        done = len(self.scanned) - len(self.unexpected)
        self._banner(f"{TICK} {code} ({done} of {len(listed)}).", "-ok")

    def action_receive(self) -> None:
        if not self.manifest:
            self._banner("Load the manifest first.", "-wrong")
            return
        into = self.query_one("#receive-into", Input).value.strip() or None
        manifest, scanned = self.manifest, list(self.scanned)
        source = self.query_one("#receive-manifest", Input).value.strip()
        self.db(
            lambda tx: receive_shipment(tx, manifest, into=into, scanned=scanned, source=source),
            self._received,
            write=True,
            on_error=lambda exc: self._banner(f"Nothing received: {problem_text(exc)}", "-wrong"),
        )

    def _received(self, result: ReceiveResult) -> None:
        self.result = result
        text = (
            f"Received {result.shipment.code}: {len(result.returned)} back in stock, "
            f"{len(result.registered)} registered, {len(result.missing)} missing"
            + (f" ({', '.join(result.missing)})" if result.missing else "")
            + f", {len(result.unexpected)} unexpected"
            + (f" ({', '.join(result.unexpected)})" if result.unexpected else "")
        )
        self._banner(text, "-wrong" if result.missing or result.unexpected else "-ok")
        self.notify(text)

    def _banner(self, text: str, cls: str) -> None:
        self.show_banner(self.query_one("#receive-banner", Static), text, cls)

    def action_focus_scan(self) -> None:
        focus_now(self.query_one("#receive-scan", Input))
