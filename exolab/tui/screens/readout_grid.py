"""Readout entry for an assay run: a grid of isolations (or samples) x analytes with units.

Values are typed as the instrument reports them; censored values (``<LOD``, ``<0.5``,
``>ULOQ``, ``Undetermined``) and qualitative calls are accepted and kept as typed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widgets import Header, Input, Label, Select, Static

from exolab.domain import vocab
from exolab.domain.schemas import ReadoutIn
from exolab.services.browse import Resolved, RunCell, RunOut, get_run, resolve_id, run_readouts
from exolab.services.context import Tx
from exolab.services.readouts import ReadoutOut, record_readouts
from exolab.tui.screens.base import BaseScreen
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.widgets.forms import model_errors


class RunData(BaseModel):
    run: RunOut | None
    cells: list[RunCell]


class CellValidator(Validator):
    """A cell is valid when the domain parses it as a result (number, censored, qualitative)."""

    def __init__(self, screen: ReadoutGridScreen, col: int) -> None:
        super().__init__()
        self.screen = screen
        self.col = col

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.success()
        data = self.screen.cell_data("X", None, self.col, value)
        errors = model_errors(ReadoutIn, data)
        msg = errors.get("value") or errors.get("unit")
        return self.failure(msg) if msg else self.success()


class ReadoutGridScreen(BaseScreen):
    TITLE = "Readout entry"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="grid.save"),
        Binding("ctrl+g", "rebuild", "Rebuild grid", id="grid.rebuild"),
        Binding("ctrl+a", "add_target", "Add isolation", id="grid.add"),
        Binding("escape", "back", "Back", id="grid.back"),
    ]

    def __init__(self, run: str | None = None, isolations: list[str] | None = None) -> None:
        super().__init__()
        self.run_code = run
        self.targets: list[tuple[str, str]] = [("isolation", i) for i in isolations or []]
        self.analytes: list[str] = []
        self.units: list[str | None] = []
        self.existing: dict[tuple[str, str], str] = {}
        self.generation = 0

    def compose(self) -> ComposeResult:
        today = date.today().isoformat()
        yield Header()
        with Vertical():
            with Horizontal(classes="grid-head-fields"):
                with Vertical(classes="form-column"):
                    yield Label("run id", classes="field-label")
                    yield Input(self.run_code or "", id="run", placeholder="e.g. ELISA-2025-06-11")
                with Vertical(classes="form-column"):
                    yield Label("assay *", classes="field-label")
                    yield Select[str](
                        [(a, a) for a in vocab.ASSAY.choices()],
                        id="assay",
                        prompt="assay",
                        type_to_search=True,
                    )
                with Vertical(classes="form-column"):
                    yield Label("measured on", classes="field-label")
                    yield Input(today, id="measured_on")
            with Horizontal(classes="grid-head-fields"):
                with Vertical(classes="form-column"):
                    yield Label("analytes (comma separated) *", classes="field-label")
                    yield Input("", id="analytes", placeholder="e.g. CD63, ALB, miR-21")
                with Vertical(classes="form-column"):
                    yield Label("units (same order)", classes="field-label")
                    yield Input("", id="units", placeholder="e.g. pg/mL, ug/mL, Ct")
                with Vertical(classes="form-column"):
                    yield Label(
                        "scan / type an isolation or sample id + Enter", classes="field-label"
                    )
                    yield Input("", id="add-target", placeholder="adds a row")
            yield Static(
                "Cells accept numbers, <LOD, <0.5, >ULOQ, ND, Undetermined, detected/not detected. "
                "Enter moves to the next cell; ctrl+s saves the whole grid.",
                classes="field-help",
            )
            yield VerticalScroll(id="grid-scroll")
            yield Static("", id="form-message", classes="field-error", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        if self.run_code:
            code = self.run_code

            def load(tx: Tx) -> RunData:
                return RunData(run=get_run(tx, code), cells=run_readouts(tx, code))

            self.db(load, self._loaded, group="run")
            self.query_one("#analytes", Input).focus()
        else:
            self.query_one("#run", Input).focus()
            self.call_after_refresh(self.rebuild)

    def _loaded(self, data: RunData) -> None:
        if data.run is not None:
            self.query_one("#assay", Select).value = data.run.assay
            if data.run.measured_on:
                self.query_one("#measured_on", Input).value = data.run.measured_on.isoformat()
        analytes: list[str] = []
        units: dict[str, str] = {}
        for c in data.cells:
            kind, ident = (
                ("isolation", c.isolation_id) if c.isolation_id else ("sample", c.sample_id)
            )
            if (kind, ident) not in self.targets:
                self.targets.append((kind, ident))
            if c.analyte not in analytes:
                analytes.append(c.analyte)
            units.setdefault(c.analyte, c.unit or "")
            self.existing[(ident, c.analyte)] = c.value
        self.query_one("#analytes", Input).value = ", ".join(analytes)
        self.query_one("#units", Input).value = ", ".join(units.get(a, "") for a in analytes)
        self.action_rebuild()

    # -- grid ---------------------------------------------------------------------------

    def read_header(self) -> None:
        self.analytes = [
            a.strip() for a in self.query_one("#analytes", Input).value.split(",") if a.strip()
        ]
        units = [u.strip() for u in self.query_one("#units", Input).value.split(",")]
        self.units = [
            (units[i] if i < len(units) and units[i] else None) for i in range(len(self.analytes))
        ]

    @on(Input.Submitted, "#analytes")
    @on(Input.Submitted, "#units")
    def _header_done(self) -> None:
        self.rebuild(focus=True)

    def action_rebuild(self) -> None:
        self.rebuild()

    def rebuild(self, *, focus: bool = False) -> None:
        self.run_worker(self._rebuild(focus), group="rebuild", exclusive=True)

    async def _rebuild(self, focus: bool) -> None:
        values = self.cell_values()
        self.read_header()
        self.generation += 1
        g = self.generation
        scroll = self.query_one("#grid-scroll", VerticalScroll)
        await scroll.remove_children()
        rows: list[Any] = []
        head = Horizontal(classes="grid-row grid-head")
        rows.append(head)
        await scroll.mount_all(rows)
        await head.mount_all(
            [Label("target")]
            + [
                Label(f"{a} [{u or '-'}]"[:15], markup=False)
                for a, u in zip(self.analytes, self.units, strict=True)
            ]
        )
        for r, (kind, ident) in enumerate(self.targets):
            row = Horizontal(classes="grid-row")
            await scroll.mount(row)
            cells: list[Any] = [
                Label(f"{ident}" if kind == "isolation" else f"{ident} (sample)", markup=False)
            ]
            for c, analyte in enumerate(self.analytes):
                old = self.existing.get((ident, analyte))
                cell = Input(
                    old if old is not None else values.get((ident, analyte), ""),
                    id=f"cell-{g}-{r}-{c}",
                    classes="cell",
                    validators=[CellValidator(self, c)],
                    validate_on=["changed", "submitted"],
                    disabled=old is not None,
                    tooltip="already recorded in this run" if old is not None else None,
                )
                cells.append(cell)
            await row.mount_all(cells)
        if not self.targets:
            await scroll.mount(
                Static(
                    "no rows yet: scan or type isolation ids into the field above",
                    classes="field-help",
                )
            )
        if focus:
            self.call_after_refresh(self.focus_first_cell)

    def cell_values(self) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        for r, (_, ident) in enumerate(self.targets):
            for c, analyte in enumerate(self.analytes):
                try:
                    cell = self.query_one(f"#cell-{self.generation}-{r}-{c}", Input)
                except Exception:
                    continue
                if not cell.disabled:
                    out[(ident, analyte)] = cell.value
        return out

    def focus_first_cell(self) -> None:
        for cell in self.query(".cell").results(Input):
            if not cell.disabled:
                cell.focus()
                return

    @on(Input.Submitted, "#add-target")
    def _scan_target(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return

        def found(hit: Resolved | None) -> None:
            field = self.query_one("#add-target", Input)
            field.value = ""
            if hit is None or hit.kind not in ("isolation", "sample"):
                self.notify(f"no isolation or sample {text!r}", severity="warning")
                return
            if (hit.kind, hit.key) not in self.targets:
                self.targets.append((hit.kind, hit.key))
                self.rebuild()

        self.db(lambda tx: resolve_id(tx, text), found, group="scan")

    @on(Input.Submitted, ".cell")
    def _next_cell(self) -> None:
        self.focus_next()

    def action_add_target(self) -> None:
        self.query_one("#add-target", Input).focus()

    # -- save ---------------------------------------------------------------------------

    def cell_data(self, ident: str, kind: str | None, col: int, value: str) -> dict[str, Any]:
        assay = self.query_one("#assay", Select).value
        data: dict[str, Any] = {
            "analyte": self.analytes[col] if col < len(self.analytes) else "x",
            "value": value.strip(),
            "unit": self.units[col] if col < len(self.units) else None,
            "assay": None if assay is Select.NULL else assay,
            "run_id": self.query_one("#run", Input).value.strip() or None,
            "measured_on": self.query_one("#measured_on", Input).value.strip() or None,
        }
        data["sample_id" if kind == "sample" else "isolation_id"] = ident
        return data

    def action_save(self) -> None:
        self.read_header()
        message = self.query_one("#form-message", Static)
        if self.query_one("#assay", Select).value is Select.NULL:
            message.update("assay: choose the assay of this run")
            self.query_one("#assay", Select).focus()
            return
        rows: list[dict[str, Any]] = []
        problems: list[str] = []
        for r, (kind, ident) in enumerate(self.targets):
            for c, analyte in enumerate(self.analytes):
                try:
                    cell = self.query_one(f"#cell-{self.generation}-{r}-{c}", Input)
                except Exception:
                    continue
                if cell.disabled or not cell.value.strip():
                    continue
                data = self.cell_data(ident, kind, c, cell.value)
                errors = model_errors(ReadoutIn, data)
                if errors:
                    field, msg = next(iter(errors.items()))
                    problems.append(f"{ident} × {analyte}: {field}: {msg}")
                    continue
                rows.append(data)
        if problems:
            message.update("\n".join(problems[:6]))
            return
        if not rows:
            message.update("nothing to save: type values into the grid")
            return
        message.update("")

        def done(out: list[ReadoutOut]) -> None:
            censored = sum(1 for r in out if r.censor != "none")
            self.notify(f"{len(out)} readouts saved ({censored} censored)")
            for data in rows:
                ident = data.get("isolation_id") or data.get("sample_id")
                self.existing[(str(ident), str(data["analyte"]))] = str(data["value"])
            self.rebuild()

        def failed(exc: Any) -> None:
            message.update(str(exc))
            self.app.bell()

        self.db(
            lambda tx: record_readouts(tx, rows), done, write=True, group="save", on_error=failed
        )

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
