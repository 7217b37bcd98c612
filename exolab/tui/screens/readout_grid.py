"""Readout entry for an assay run: a grid of isolations (or samples) x analytes, one row per
replicate, with the run's details (assay, instrument, antibody, dilution, lysis buffer, LOD,
QC) typed once above it. See docs/ui.md ("Readout grid").

Values are typed as the instrument reports them; censored values (``<LOD``, ``<0.5``,
``>ULOQ``, ``Undetermined``) and qualitative calls are accepted and kept as typed. Enter moves
down the column (replicates of one isolation, then the next isolation), Tab along the row.
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
from exolab.services.context import Tx
from exolab.services.lookup import Resolved, resolve_id, several_text
from exolab.services.readouts import ReadoutOut, record_readouts
from exolab.services.run_view import RunCell, RunOut, get_run, run_readouts
from exolab.tui.screens.base import BaseScreen, focus_now, plural
from exolab.tui.text import options
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.widgets.forms import model_errors

MAX_REPLICATES = 12
# Head fields: (id, label, placeholder). Those in PER_ANALYTE take one value for every analyte
# or a comma-separated list in the order of the analytes.
RUN_FIELDS = [
    ("run", "run id", "e.g. NTA-2025-06-11"),
    ("measured_on", "measured on", "YYYY-MM-DD"),
    ("instrument", "instrument", "e.g. NS300"),
    ("lysis_buffer", "lysis buffer", "e.g. RIPA"),
]
ANALYTE_FIELDS = [
    ("analytes", "analytes *", "e.g. CD63, ALB"),
    ("units", "units", "e.g. pg/mL, ug/mL"),
    ("replicates", "replicates", "rows per isolation"),
    ("lod", "LOD", "one, or one per analyte"),
    ("antibody", "antibody", "one, or one per analyte"),
    ("antibody_dilution", "Ab dilution", "e.g. 1:1000"),
]
PER_ANALYTE = ("units", "lod", "antibody", "antibody_dilution")
HEAD_FIELDS = {f for f, _, _ in RUN_FIELDS + ANALYTE_FIELDS} | {"assay", "qc"}


class RunData(BaseModel):
    run: RunOut | None
    cells: list[RunCell]


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")]


class CellValidator(Validator):
    """A cell is valid when the domain parses it as a result (number, censored, qualitative)."""

    def __init__(self, screen: ReadoutGridScreen, col: int) -> None:
        super().__init__()
        self.screen = screen
        self.col = col

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.success()
        data = self.screen.cell_data("X", None, self.col, 1, value)
        errors = model_errors(ReadoutIn, data)
        msg = errors.get("value") or errors.get("unit")
        return self.failure(msg) if msg else self.success()


class ReadoutGridScreen(BaseScreen):
    TITLE = "Readout entry"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="grid.save"),
        Binding("ctrl+g", "rebuild", "Rebuild grid", id="grid.rebuild"),
        Binding("ctrl+o", "add_target", "Add row", id="grid.add"),
        Binding("escape", "back", "Back", id="grid.back"),
    ]

    def __init__(self, run: str | None = None, isolations: list[str] | None = None) -> None:
        super().__init__()
        self.run_code = run
        self.targets: list[tuple[str, str]] = [("isolation", i) for i in isolations or []]
        self.analytes: list[str] = []
        self.per_analyte: dict[str, list[str | None]] = {}
        self.replicates = 1
        # (target id, analyte, replicate) -> value already recorded in this run
        self.existing: dict[tuple[str, str, int], str] = {}
        self.generation = 0
        self.cell_rows: list[tuple[str, str, int]] = []  # (kind, id, replicate) per grid row

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="grid-page"):
            with Horizontal(classes="grid-head-fields"):
                with Vertical(classes="form-column"):
                    yield from self._head_row(*RUN_FIELDS[0])
                    with Horizontal(classes="head-row"):
                        yield Label("assay *", classes="head-label")
                        yield Select[str](
                            options(vocab.ASSAY.choices(), vocab.ASSAY.codes),
                            id="assay",
                            prompt="(choose)",
                            type_to_search=True,
                            compact=True,
                        )
                    yield from self._head_row(*RUN_FIELDS[1], value=date.today().isoformat())
                    for spec in RUN_FIELDS[2:]:
                        yield from self._head_row(*spec)
                    with Horizontal(classes="head-row"):
                        yield Label("QC", classes="head-label")
                        yield Select[str](
                            options(vocab.QC.choices(), vocab.QC.codes),
                            id="qc",
                            prompt="(none)",
                            compact=True,
                        )
                with Vertical(classes="form-column"):
                    for spec in ANALYTE_FIELDS:
                        yield from self._head_row(
                            *spec, value="1" if spec[0] == "replicates" else ""
                        )
            with Horizontal(classes="head-row"):
                yield Label("add row", classes="head-label")
                yield Input(
                    "",
                    id="add-target",
                    placeholder="scan / type an isolation or sample id + Enter (ctrl+o)",
                    compact=True,
                )
            yield Static(
                "Cells: numbers, <LOD, <0.5, >ULOQ, ND, Undetermined, detected. Enter: next "
                "replicate down the column; tab: along the row; ctrl+s saves the grid.",
                classes="field-help",
            )
            yield Static("", id="grid-head", classes="grid-row grid-head", markup=False)
            yield VerticalScroll(id="grid-scroll")
            yield Static("", id="form-message", classes="field-error", markup=False)
        yield KeyFooter()

    def _head_row(self, ident: str, label: str, hint: str, value: str = "") -> ComposeResult:
        with Horizontal(classes="head-row"):
            yield Label(label, classes="head-label")
            yield Input(value, id=ident, placeholder=hint, compact=True, classes="head-input")

    def on_mount(self) -> None:
        focus_now(self.query_one("#run", Input))
        if self.run_code:
            code = self.run_code
            self.query_one("#run", Input).value = code

            def load(tx: Tx) -> RunData:
                return RunData(run=get_run(tx, code), cells=run_readouts(tx, code))

            self.db(load, self._loaded, group="run", holds_keys=True)
        else:
            self.call_after_refresh(self.rebuild)

    async def _loaded(self, data: RunData) -> None:
        if data.run is not None:
            self.query_one("#assay", Select).value = data.run.assay
            if data.run.measured_on:
                self.query_one("#measured_on", Input).value = data.run.measured_on.isoformat()
        analytes: list[str] = []
        units: dict[str, str] = {}
        replicates = 1
        for c in data.cells:
            kind, ident = (
                ("isolation", c.isolation_id) if c.isolation_id else ("sample", c.sample_id)
            )
            if (kind, ident) not in self.targets:
                self.targets.append((kind, ident))
            if c.analyte not in analytes:
                analytes.append(c.analyte)
            units.setdefault(c.analyte, c.unit or "")
            replicates = max(replicates, c.replicate)
            self.existing[(ident, c.analyte, c.replicate)] = c.value
        self.query_one("#analytes", Input).value = ", ".join(analytes)
        self.query_one("#units", Input).value = ", ".join(units.get(a, "") for a in analytes)
        self.query_one("#replicates", Input).value = str(replicates)
        await self._rebuild(focus=True)

    # -- head ---------------------------------------------------------------------------

    def head(self, ident: str) -> str:
        return self.query_one(f"#{ident}", Input).value.strip()

    def read_header(self) -> str | None:
        """Read analytes, per-analyte details and replicates; a problem as text, or None."""
        self.analytes = [a for a in split_list(self.head("analytes")) if a]
        problem = None
        for name in PER_ANALYTE:
            given = split_list(self.head(name))
            if len(given) == 1:
                given = given * len(self.analytes)
            elif len(given) != len(self.analytes):
                label = dict((f, lab) for f, lab, _ in ANALYTE_FIELDS)[name]
                problem = problem or (
                    f"{label}: give one value for all analytes or one per analyte "
                    f"({len(self.analytes)}; {len(given)} given)"
                )
                given = (given + [""] * len(self.analytes))[: len(self.analytes)]
            self.per_analyte[name] = [g or None for g in given]
        text = self.head("replicates") or "1"
        try:
            n = int(text)
        except ValueError:
            n = 0
        if not 1 <= n <= MAX_REPLICATES:
            problem = problem or f"replicates: a whole number from 1 to {MAX_REPLICATES}"
            n = max(1, min(n, MAX_REPLICATES))
        self.replicates = n
        return problem

    @on(Input.Submitted, ".head-input")
    async def _head_done(self, event: Input.Submitted) -> None:
        if event.input.id in ("analytes", "units", "replicates", "lod"):
            await self._rebuild(focus=True)
        else:
            self.focus_next()

    def action_rebuild(self) -> None:
        self.rebuild()

    def rebuild(self, *, focus: bool = False) -> None:
        self.run_worker(self._rebuild(focus), group="rebuild", exclusive=True)

    # -- grid ---------------------------------------------------------------------------

    async def _rebuild(self, focus: bool) -> None:
        values = self.cell_values()
        problem = self.read_header()
        self.query_one("#form-message", Static).update(problem or "")
        self.generation += 1
        g = self.generation
        units = [u or "" for u in self.per_analyte.get("units", [])]
        # Each column as wide as its analyte or unit (within limits); two header lines.
        widths = [
            min(MAX_CELL, max(MIN_CELL, len(a) + 1, len(u) + 3))
            for a, u in zip(self.analytes, units, strict=False)
        ]
        top = "target".ljust(LABEL_WIDTH) + "".join(
            _fit(a, w) for a, w in zip(self.analytes, widths, strict=False)
        )
        bottom = " " * LABEL_WIDTH + "".join(
            _fit(f"({u})" if u else "", w) for u, w in zip(units, widths, strict=False)
        )
        self.query_one("#grid-head", Static).update(f"{top}\n{bottom}".rstrip())
        self.cell_rows = [
            (kind, ident, rep)
            for kind, ident in self.targets
            for rep in range(1, self.replicates + 1)
        ]
        scroll = self.query_one("#grid-scroll", VerticalScroll)
        await scroll.remove_children()
        rows: list[Any] = []
        for r, (kind, ident, rep) in enumerate(self.cell_rows):
            name = ident if kind == "isolation" else f"{ident} (sample)"
            if self.replicates > 1:
                name = f"{name} r{rep}"
            cells: list[Any] = [Label(name, markup=False, classes="row-label")]
            for c, analyte in enumerate(self.analytes):
                old = self.existing.get((ident, analyte, rep))
                cells.append(
                    Input(
                        old if old is not None else values.get((ident, analyte, rep), ""),
                        id=f"cell-{g}-{r}-{c}",
                        classes="cell",
                        validators=[CellValidator(self, c)],
                        validate_on=["changed", "submitted"],
                        disabled=old is not None,
                        tooltip="already recorded in this run" if old is not None else None,
                        compact=True,
                    )
                )
                cells[-1].styles.width = widths[c] - 1
            rows.append(Horizontal(*cells, classes="grid-row"))
        if not self.targets:
            rows.append(
                Static(
                    "no rows yet: scan or type isolation ids into 'add row' above",
                    classes="field-help",
                )
            )
        await scroll.mount_all(rows)
        if focus:
            self.focus_first_cell()

    def cell(self, r: int, c: int) -> Input | None:
        found = self.query(f"#cell-{self.generation}-{r}-{c}").results(Input)
        return next(found, None)

    def cell_values(self) -> dict[tuple[str, str, int], str]:
        out: dict[tuple[str, str, int], str] = {}
        for r, (_, ident, rep) in enumerate(self.cell_rows):
            for c, analyte in enumerate(self.analytes):
                cell = self.cell(r, c)
                if cell is not None and not cell.disabled:
                    out[(ident, analyte, rep)] = cell.value
        return out

    def focus_first_cell(self) -> None:
        for cell in self.query(".cell").results(Input):
            if not cell.disabled:
                focus_now(cell)
                return

    @on(Input.Submitted, ".cell")
    def _next_cell(self, event: Input.Submitted) -> None:
        """Enter: the next replicate/row down the column, then the top of the next column."""
        parts = (event.input.id or "").split("-")
        r, c = int(parts[2]), int(parts[3])
        order = [(rr, c) for rr in range(r + 1, len(self.cell_rows))] + [
            (rr, cc) for cc in range(c + 1, len(self.analytes)) for rr in range(len(self.cell_rows))
        ]
        for rr, cc in order:
            cell = self.cell(rr, cc)
            if cell is not None and not cell.disabled:
                focus_now(cell)
                return

    @on(Input.Submitted, "#add-target")
    def _scan_target(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        event.input.value = ""

        def look_up(tx: Tx) -> tuple[Resolved | None, str | None]:
            hit = resolve_id(tx, text)
            return hit, (several_text(tx, text) if hit is None else None)

        async def found(result: tuple[Resolved | None, str | None]) -> None:
            hit, several = result
            if hit is None or hit.kind not in ("isolation", "sample"):
                self.notify(several or f"no isolation or sample {text!r}", severity="warning")
                return
            if (hit.kind, hit.key) not in self.targets:
                self.targets.append((hit.kind, hit.key))
                await self._rebuild(focus=False)

        self.db(look_up, found, group="scan", holds_keys=True)

    def action_add_target(self) -> None:
        focus_now(self.query_one("#add-target", Input))

    # -- save ---------------------------------------------------------------------------

    def cell_data(
        self, ident: str, kind: str | None, col: int, replicate: int, value: str
    ) -> dict[str, Any]:
        def per(name: str) -> str | None:
            given = self.per_analyte.get(name, [])
            return given[col] if col < len(given) else None

        assay = self.query_one("#assay", Select).value
        qc = self.query_one("#qc", Select).value
        data: dict[str, Any] = {
            "analyte": self.analytes[col] if col < len(self.analytes) else "x",
            "value": value.strip(),
            "unit": per("units"),
            "assay": None if assay is Select.NULL else assay,
            "run_id": self.head("run") or None,
            "measured_on": self.head("measured_on") or None,
            "replicate": replicate,
            "lod": per("lod"),
            "antibody": per("antibody"),
            "antibody_dilution": per("antibody_dilution"),
            "lysis_buffer": self.head("lysis_buffer") or None,
            "instrument": self.head("instrument") or None,
            "qc": None if qc is Select.NULL else qc,
        }
        data["sample_id" if kind == "sample" else "isolation_id"] = ident
        return data

    def action_save(self) -> None:
        message = self.query_one("#form-message", Static)
        problem = self.read_header()
        if problem:
            message.update(problem)
            label = problem.split(":")[0]
            ident = {lab: f for f, lab, _ in ANALYTE_FIELDS}.get(label, "replicates")
            focus_now(self.query_one(f"#{ident}", Input))
            return
        if self.query_one("#assay", Select).value is Select.NULL:
            message.update("assay: choose the assay of this run")
            focus_now(self.query_one("#assay", Select))
            return
        rows: list[dict[str, Any]] = []
        problems: list[str] = []
        head_error: str | None = None
        for r, (kind, ident, rep) in enumerate(self.cell_rows):
            for c, analyte in enumerate(self.analytes):
                cell = self.cell(r, c)
                if cell is None or cell.disabled or not cell.value.strip():
                    continue
                data = self.cell_data(ident, kind, c, rep, cell.value)
                errors = model_errors(ReadoutIn, data)
                if errors:
                    field, msg = next(iter(errors.items()))
                    where = f"{ident} r{rep}" if self.replicates > 1 else ident
                    problems.append(f"{where} × {analyte}: {field}: {msg}")
                    if field in HEAD_FIELDS or field in ("unit", "run_id", "measured_on"):
                        head_error = head_error or field
                    continue
                rows.append(data)
        if problems:
            message.update("\n".join(problems[:6]))
            target = {"unit": "units", "run_id": "run"}.get(head_error or "", head_error)
            if target:
                focus_now(self.query_one(f"#{target}"))
            return
        if not rows:
            message.update("nothing to save: type values into the grid")
            return
        message.update("")

        async def done(out: list[ReadoutOut]) -> None:
            censored = sum(1 for r in out if r.censor != "none")
            self.notify(f"{plural(len(out), 'readout')} saved ({censored} censored)")
            for data in rows:
                ident = data.get("isolation_id") or data.get("sample_id")
                key = (str(ident), str(data["analyte"]), int(data["replicate"]))
                self.existing[key] = str(data["value"])
            await self._rebuild(focus=False)

        def failed(exc: Any) -> None:
            message.update(str(exc))
            self.app.bell()

        self.db(
            lambda tx: record_readouts(tx, rows), done, write=True, group="save", on_error=failed
        )


LABEL_WIDTH = 20
MIN_CELL, MAX_CELL = 12, 28


def _fit(text: str, width: int) -> str:
    """``text`` in a column of ``width`` (one space apart), shortened with … when longer."""
    room = width - 1
    return (text if len(text) <= room else text[: room - 1] + "…").ljust(width)
