"""Isolation view (steps, readouts / characterisation) and the isolation form with ordered
method steps, each with the parameters its method needs."""

from __future__ import annotations

import contextlib
from datetime import date
from typing import Any

from pydantic import BaseModel
from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Header, Input, Label, Static

from exolab.domain import vocab
from exolab.domain.misev import MisevReport
from exolab.domain.schemas import STEP_PARAM_COLUMNS, IsolationIn, StepIn
from exolab.services.context import Tx
from exolab.services.isolations import IsolationOut, get_isolation, record_isolation
from exolab.services.readouts import ReadoutOut, readouts_of
from exolab.services.standards import misev_report
from exolab.tui.screens.base import BaseScreen, focus_now, plural, readout_cells
from exolab.tui.screens.forms import spec_for
from exolab.tui.text import PlainTable, esc
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.widgets.forms import FormMixin, model_errors

NUMERIC_PARAMS = {"g_force", "minutes", "k_factor", "temp_c", "mwco_kda"}
PARAM_HINTS = {
    "g_force": "g, e.g. 100000",
    "minutes": "min",
    "rotor": "e.g. SW41Ti",
    "k_factor": "k-factor",
    "temp_c": "°C",
    "column": "e.g. qEV original 70 nm",
    "fractions": "e.g. 7-9",
    "mwco_kda": "kDa, e.g. 100",
    "medium": "e.g. iodixanol",
    "capture": "antibody / beads",
}


class IsolationDetail(BaseModel):
    isolation: IsolationOut
    readouts: list[ReadoutOut]
    misev: MisevReport | None = None


def misev_text(report: MisevReport | None) -> str:
    """EV reporting completeness: the score and what is missing (Rich markup)."""
    if report is None:
        return ""
    applicable = [c for c in report.components if c.applicable]
    done = sum(1 for c in applicable if c.satisfied)
    missing = [c.name for c in applicable if not c.satisfied]
    text = (
        f"[b]EV-METRIC completeness {report.score:.0f}%[/b] ({done}/{len(applicable)} "
        f"components, rules {escape(report.rules_version)})"
    )
    if missing:
        text += "\nmissing: " + escape(", ".join(missing))
    open_items = [i.name for i in report.misev2018 if not i.satisfied]
    if open_items:
        text += "\nMISEV2018 open: " + escape(", ".join(open_items))
    return text


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    return f"{v:g}" if isinstance(v, float) else str(v)


class IsolationScreen(BaseScreen):
    BINDINGS = [
        Binding("r", "readouts", "Enter readouts", id="isolation.readouts"),
        Binding("e", "edit", "Edit", id="isolation.edit"),
        Binding("s", "sample", "Sample", id="isolation.sample"),
        Binding("i", "instrument_runs", "Instrument runs", id="isolation.instrument_runs"),
        Binding("ctrl+r", "refresh", "Refresh", id="isolation.refresh"),
        Binding("escape", "back", "Back", id="isolation.back"),
    ]

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code
        self.title = f"Isolation {code}"
        self.detail: IsolationDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="iso-view"):
            yield Static("loading…", id="iso-head", classes="panel")
            yield Label("Method steps (in order)", classes="panel-title")
            yield PlainTable(id="steps", cursor_type="row", show_cursor=False)
            yield Static("", id="iso-misev", classes="panel")
            yield Label("Readouts and characterisation", classes="panel-title")
            yield PlainTable(id="readouts", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#steps", DataTable).add_columns("Step", "Method", "Parameters")
        self.query_one("#readouts", DataTable).add_columns(
            "Analyte", "Value", "Unit", "Censor", "Assay", "Run", "Rep", "QC", "Antibody"
        )
        self.action_refresh()

    def on_screen_resume(self) -> None:
        if self.returned_to():
            self.action_refresh()

    def action_refresh(self) -> None:
        code = self.code

        def load(tx: Tx) -> IsolationDetail:
            return IsolationDetail(
                isolation=get_isolation(tx, code),
                readouts=readouts_of(tx, isolation=code),
                misev=misev_report(tx, code),
            )

        self.db(load, self._show, group="isolation", holds_keys=True)

    def _show(self, d: IsolationDetail) -> None:
        self.detail = d
        i = d.isolation
        self.query_one("#iso-head", Static).update(
            f"[b]{esc(i.isolation_id)}[/b] from sample [b]{esc(i.sample_id)}[/b] on "
            f"{i.isolated_on} · method [b]{esc(i.method)}[/b]\ninput {_fmt(i.input_volume_ml)} mL"
            f" · final {_fmt(i.final_volume_ul)} µL in {esc(_fmt(i.resuspension_buffer))} · kit "
            f"{esc(_fmt(i.kit))} lot {esc(_fmt(i.kit_lot))} · operator {esc(_fmt(i.operator))} · "
            f"version {i.version}" + (f"\nnotes: {esc(i.notes)}" if i.notes else "")
        )
        self.query_one("#iso-misev", Static).update(misev_text(d.misev))
        steps = self.query_one("#steps", DataTable)
        steps.clear()
        for n, step in enumerate(i.steps, start=1):
            params = ", ".join(f"{k}={_fmt(v)}" for k, v in step.params.items()) or "—"
            label = vocab.METHOD.codes.get(step.method, step.method)
            steps.add_row(str(n), f"{step.method} ({label})", params)
        ro = self.query_one("#readouts", DataTable)
        ro.clear()
        for r in d.readouts:
            ro.add_row(*readout_cells(r), r.antibody or "")
        if not d.readouts:
            ro.add_row("no readouts yet — press r to enter them", "", "", "", "", "", "", "", "")

    def action_readouts(self) -> None:
        self.lab_app.action_readout_grid([self.code])

    def action_instrument_runs(self) -> None:
        from exolab.tui.screens.instrument_run import InstrumentRunsScreen

        self.app.push_screen(InstrumentRunsScreen(self.code))

    def action_sample(self) -> None:
        if self.detail:
            self.lab_app.open_record("sample", self.detail.isolation.sample_id)

    def action_edit(self) -> None:
        from exolab.tui.screens.forms import EditRecordScreen

        if self.detail and self.lab_app.require_writer("edit isolations"):
            self.app.push_screen(
                EditRecordScreen("isolations", self.code, self.detail.isolation.id)
            )


# -- form --------------------------------------------------------------------------------------

TOP = [
    "isolation_id",
    "sample_id",
    "isolated_on",
    "input_volume_ml",
    "kit",
    "kit_lot",
    "final_volume_ul",
    "resuspension_buffer",
    "operator",
    "notes",
]
TOP_REQUIRED = {"isolation_id", "sample_id", "isolated_on", "input_volume_ml"}


def parse_chain(text: str) -> list[str]:
    return vocab.parse_method_chain(text) if text.strip() else []


class IsolationFormScreen(BaseScreen, FormMixin):
    """Record an isolation. The chain (``uf+sec``) orders the steps; each step gets the
    parameter fields of its method; the same method may appear twice with its own values."""

    TITLE = "Record isolation"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="isoform.save"),
        Binding("ctrl+t", "steps", "Method steps", id="isoform.steps"),
        Binding("escape", "back", "Back", id="isoform.back"),
    ]

    def __init__(self, sample_id: str | None = None) -> None:
        super().__init__()
        self.sample_id = sample_id
        self.methods: list[str] = []

    def compose(self) -> ComposeResult:
        values = {
            "sample_id": self.sample_id or "",
            "isolated_on": date.today().isoformat(),
            "operator": self.lab_app.lab.user_name,
        }
        self.specs = [spec_for(n, values.get(n), required=n in TOP_REQUIRED) for n in TOP]
        yield Header()
        with VerticalScroll(id="form-page"):
            with Horizontal(classes="form-columns"):
                with Vertical(classes="form-column"):
                    yield from self.form_rows(self.specs, IsolationIn)
                with Vertical(classes="form-column"):
                    yield Label(
                        "method chain * (steps in order, e.g. uf+sec or duc+duc)",
                        classes="field-label",
                    )
                    yield Input(
                        "",
                        id="chain",
                        placeholder="duc, dg, sec, precipitation, iac, uf, tff, af4, ...",
                    )
                    yield Static("", classes="field-error", id="error-method", markup=False)
                    yield Vertical(id="steps")
            yield Static("", id="form-message", classes="field-error", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        first = "isolation_id"
        focus_now(self.field(first))

    def form_values(self) -> dict[str, Any]:
        values = super().form_values()
        values["method"] = "+".join(self.methods) or None
        return values

    @on(Input.Changed, "#chain")
    async def _chain_changed(self, event: Input.Changed) -> None:
        try:
            methods = parse_chain(event.value)
        except ValueError as exc:
            self.query_one("#error-method", Static).update(str(exc))
            return
        self.query_one("#error-method", Static).update("")
        if methods == self.methods:
            return
        old = self.step_values()
        self.methods = methods
        box = self.query_one("#steps", Vertical)
        await box.remove_children()
        widgets: list[Any] = []
        for n, method in enumerate(methods, start=1):
            label = vocab.METHOD.codes.get(method, method)
            widgets.append(Label(f"step {n}: {method} — {label}", classes="section-title"))
            params = STEP_PARAM_COLUMNS.get(method, {})
            if not params:
                widgets.append(
                    Static(
                        "no parameters for this method (kit and lot are above)",
                        classes="field-help",
                    )
                )
            for param in params:
                widgets.append(Label(param.replace("_", " "), classes="field-label"))
                widgets.append(
                    Input(
                        old.get((n, method, param), ""),
                        placeholder=PARAM_HINTS.get(param, ""),
                        id=f"step-{n}-{param}",
                        classes="step-param",
                    )
                )
            widgets.append(Static("", classes="field-error", id=f"error-step-{n}", markup=False))
        await box.mount_all(widgets)

    def step_values(self) -> dict[tuple[int, str, str], str]:
        out: dict[tuple[int, str, str], str] = {}
        for n, method in enumerate(self.methods, start=1):
            for param in STEP_PARAM_COLUMNS.get(method, {}):
                with contextlib.suppress(Exception):
                    out[(n, method, param)] = self.query_one(f"#step-{n}-{param}", Input).value
        return out

    def steps(self) -> tuple[list[StepIn], dict[str, str]]:
        """The ordered steps with typed parameters, and errors per step."""
        steps: list[StepIn] = []
        errors: dict[str, str] = {}
        values = self.step_values()
        for n, method in enumerate(self.methods, start=1):
            params: dict[str, Any] = {}
            for param in STEP_PARAM_COLUMNS.get(method, {}):
                text = values.get((n, method, param), "").strip()
                if not text:
                    continue
                if param in NUMERIC_PARAMS:
                    try:
                        number = float(text)
                    except ValueError:
                        errors[f"step-{n}"] = f"{param}: {text!r} is not a number"
                        continue
                    if number < 0 or (param == "g_force" and number == 0):
                        errors[f"step-{n}"] = f"{param}: must be more than 0"
                        continue
                    params[param] = number
                else:
                    params[param] = text
            steps.append(StepIn(method=method, params=params))
        return steps, errors

    def action_save(self) -> None:
        data = self.form_values()
        errors = model_errors(IsolationIn, data)
        if not self.methods:
            errors["method"] = "give at least one method step"
        steps, step_errors = self.steps()
        for n in range(1, len(self.methods) + 1):
            self.query_one(f"#error-step-{n}", Static).update(step_errors.get(f"step-{n}", ""))
        self.query_one("#error-method", Static).update(errors.pop("method", ""))
        self.show_errors(errors)
        if errors or step_errors or not self.methods:
            return

        def done(out: IsolationOut) -> None:
            self.notify(
                f"isolation {out.isolation_id} recorded ({out.method}, {plural(len(out.steps), 'step')})"
            )
            self.app.pop_screen()
            self.lab_app.open_record("isolation", out.isolation_id)

        self.db(
            lambda tx: record_isolation(tx, data, steps=steps),
            done,
            write=True,
            on_error=self.show_service_error,
        )

    def action_steps(self) -> None:
        focus_now(self.query_one("#chain", Input))
