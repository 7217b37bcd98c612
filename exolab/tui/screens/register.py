"""Register sample: scan or type the id, vocabulary pickers, per-field validation by the domain
model, defaults from the previous entry (batch work) and a box grid to pick a free position."""

from __future__ import annotations

import contextlib
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Header, Input, Label, Static

from exolab.domain.schemas import SampleIn
from exolab.services.errors import ExolabError
from exolab.services.samples import HANDLING_FIELDS, SampleOut, register_sample
from exolab.services.storage import free_positions
from exolab.tui.screens.base import BaseScreen, focus_now
from exolab.tui.screens.forms import spec_for
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.widgets.forms import FieldSpec, FormMixin, model_errors
from exolab.tui.widgets.location import LocationPicker
from exolab.tui.workers import run_db

IDENTITY = [
    "sample_id",
    "biofluid",
    "collected_at",
    "study",
    "subject_id",
    "visit",
    "cell_source_id",
    "parent_sample_id",
    "volume_ml",
    "tube",
    "notes",
]
# The pre-analytical fields, in the service layer's order (tube sits with the basics above).
HANDLING = [f for f in HANDLING_FIELDS if f != "tube"] + ["sprec"]
REQUIRED = {"sample_id", "biofluid", "collected_at"}
HELP = {
    "sample_id": "scan the tube's barcode or type its id",
    "collected_at": "YYYY-MM-DD HH:MM",
    "study": "with subject_id and visit, unless conditioned medium",
    "cell_source_id": "for conditioned medium",
    "parent_sample_id": "for an aliquot/derivative: inherits subject, visit and handling",
    "sprec": "derived from the fields above; a given code must agree",
}
# Fields not carried over to the next entry of a batch.
NOT_CARRIED = {"sample_id", "notes", "parent_sample_id", "location"}


class RegisterSampleScreen(BaseScreen, FormMixin):
    TITLE = "Register sample"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="register.save"),
        Binding("ctrl+l", "location", "Location", id="register.location"),
        Binding("ctrl+r", "clear", "Reset form", id="register.clear"),
        Binding("escape", "back", "Back", id="register.back"),
    ]

    def __init__(self, defaults: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.defaults = defaults or {}
        self.registered: list[str] = []
        self.specs: list[FieldSpec] = []

    def initial(self) -> dict[str, Any]:
        base = {k: v for k, v in self.lab_app.last_sample.items() if k not in NOT_CARRIED}
        base.update(self.defaults)
        if "location" not in self.defaults and self.lab_app.last_sample.get("next_location"):
            base["location"] = self.lab_app.last_sample["next_location"]
        return base

    def compose(self) -> ComposeResult:
        start = self.initial()
        self.start_location = str(start.get("location") or "")
        identity = [spec_for(n, start.get(n), required=n in REQUIRED) for n in IDENTITY]
        handling = [spec_for(n, start.get(n)) for n in HANDLING]
        for spec in identity + handling:
            spec.help = HELP.get(spec.name, "")
        self.specs = identity + handling
        yield Header()
        with VerticalScroll(id="form-page"):
            yield Static(
                "Fields marked * are required. Values carry over to the next tube (batch work); "
                "ctrl+s saves and readies the next id; ctrl+l jumps to the location.",
                classes="field-help",
            )
            with Horizontal(classes="form-columns"):
                with Vertical(classes="form-column"):
                    yield from self.form_rows(identity, SampleIn)
                    yield Label("location", classes="field-label")
                    yield LocationPicker(
                        self.start_location, id="location-picker", input_id="field-location"
                    )
                    yield Static("", classes="field-error", id="error-location")
                with Vertical(classes="form-column"):
                    yield Label("Pre-analytics", classes="section-title")
                    yield from self.form_rows(handling, SampleIn)
            yield Static("", id="form-message", classes="field-error", markup=False)
            yield Static("", id="batch-info", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        focus_now(self.field("sample_id"))

    def form_values(self) -> dict[str, Any]:
        values = super().form_values()
        # Field validators run while the form is still being mounted (an Input with a start
        # value, e.g. the subject's study from the subject view, validates before the location
        # picker below it exists): a field not mounted yet has no value.
        found = self.query("#field-location").results(Input)
        location = next(found, None)
        values["location"] = (location.value.strip() or None) if location else None
        return values

    @on(Input.Changed)
    def _live(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("field-")
        if event.validation_result is None or name == "location":
            return
        msg = (
            ""
            if event.validation_result.is_valid
            else event.validation_result.failure_descriptions[0]
        )
        with contextlib.suppress(Exception):
            self.query_one(f"#error-{name}", Static).update(msg)

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        # A scanner ends the id with Enter: move on to the next field.
        if event.input.id == "field-sample_id":
            self.focus_next()

    def action_save(self) -> None:
        data = self.form_values()
        errors = model_errors(SampleIn, data)
        if errors:
            self.show_errors(errors)
            return
        self.show_errors({}, focus=False)
        self.db(
            lambda tx: register_sample(tx, data),
            lambda out: self._saved(out, data),
            write=True,
            on_error=self.show_service_error,
        )

    def _saved(self, out: SampleOut, data: dict[str, Any]) -> None:
        self.registered.append(out.sample_id)
        self.notify(
            f"sample {out.sample_id} registered{' at ' + out.location if out.location else ''}"
        )
        carried = {k: v for k, v in data.items() if k not in NOT_CARRIED and v is not None}
        self.lab_app.last_sample = carried
        self.query_one("#batch-info", Static).update(
            f"registered this session: {len(self.registered)} — last {out.sample_id} "
            f"(SPREC {out.sprec or '—'}, {out.location or 'not stored'})"
        )
        # Cleared for the next tube: that empty id is not a mistake, so no live "required"
        # under it (saving it empty still says so).
        with self.field("sample_id").prevent(Input.Changed):
            self.set_value("sample_id", "")
        self.query_one("#error-sample_id", Static).update("")
        self.set_value("notes", "")
        self.defaults = {}
        if out.location and out.location.count("/") == 3:
            box = out.location.rsplit("/", 1)[0]

            def advance(free: list[str]) -> None:
                nxt = f"{box}/{free[0]}" if free else ""
                self.lab_app.last_sample["next_location"] = nxt
                self.query_one("#field-location", Input).value = nxt
                picker = self.query_one("#location-picker", LocationPicker)
                picker.grid_data = None
                picker.load_box(nxt or box)

            run_db(self, lambda tx: free_positions(tx, box, limit=1), advance, group="next-free")
        else:
            self.query_one("#field-location", Input).value = ""
        focus_now(self.field("sample_id"))

    def show_service_error(self, exc: ExolabError) -> None:
        super().show_service_error(exc)
        msg = str(exc)
        if "position" in msg or "location" in msg or "box" in msg:
            self.query_one("#error-location", Static).update(msg)

    def show_errors(self, errors: dict[str, str], *, focus: bool = True) -> None:
        loc = errors.pop("location", "")
        super().show_errors(errors, focus=focus)
        self.query_one("#error-location", Static).update(loc)

    def action_location(self) -> None:
        focus_now(self.query_one("#field-location", Input))

    def action_clear(self) -> None:
        for spec in self.specs:
            self.set_value(spec.name, None)
        self.query_one("#field-location", Input).value = ""
        self.lab_app.last_sample = {}
        focus_now(self.field("sample_id"))
