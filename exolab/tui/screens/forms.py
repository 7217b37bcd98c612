"""Record forms: new subject, new box, and the edit form every list's ``e`` opens.

Edits carry the version the form was opened with; a record changed by someone else in the
meantime is reported (services raise StaleRecord), never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from exolab.domain import vocab
from exolab.domain.schemas import IsolationIn, ReadoutIn, SampleIn, SubjectIn
from exolab.services.context import Tx
from exolab.services.errors import ExolabError, StaleRecord
from exolab.tui.errors import GuardedPump
from exolab.tui.screens.base import focus_now
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.widgets.forms import FieldSpec, FormMixin, model_errors
from exolab.tui.workers import run_db

VOCAB_FIELDS: dict[str, vocab.Vocabulary] = {
    "biofluid": vocab.BIOFLUID,
    "tube": vocab.TUBE,
    "pre_centrifugation_temp": vocab.TEMP_CATEGORY,
    "post_centrifugation_temp": vocab.TEMP_CATEGORY,
    "spin1_brake": vocab.BRAKE,
    "spin2_brake": vocab.BRAKE,
    "storage_container": vocab.STORAGE_CONTAINER,
    "fasting": vocab.YES_NO,
    "hemolysis": vocab.HEMOLYSIS,
    "urine_void": vocab.URINE_VOID,
    "protease_inhibitor": vocab.YES_NO,
    "status": vocab.SAMPLE_STATUS,
    "sex": vocab.SEX,
    "consent": vocab.CONSENT,
    "qc": vocab.QC,
    "assay": vocab.ASSAY,
}


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def label_of(name: str) -> str:
    words = name.removesuffix("_c").removesuffix("_ml").replace("_", " ")
    if name.endswith("_c"):
        return f"{words} (°C)"
    if name.endswith("_ml"):
        return f"{words} (mL)"
    return words


def spec_for(name: str, value: Any = None, *, required: bool = False) -> FieldSpec:
    voc = VOCAB_FIELDS.get(name)
    return FieldSpec(
        name=name,
        label=label_of(name),
        choices=voc.choices() if voc else None,
        meanings=dict(voc.codes) if voc else None,
        value=as_text(value),
        required=required,
    )


class RecordForm(GuardedPump, ModalScreen[Any], FormMixin):
    """A modal form of FieldRows over a domain model; ctrl+s saves, escape cancels."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="form.save"),
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        # a modal screen gets no app keys: f1 lists this form's (docs/ui.md)
        Binding("f1", "app.help", "Help", id="form.help"),
    ]
    model: type[BaseModel] | None = None
    heading = ""

    def __init__(self) -> None:
        super().__init__()
        self.specs: list[FieldSpec] = []

    def compose_body(self) -> ComposeResult:
        yield from self.form_rows(self.specs, self.model)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form-dialog"):
            yield Label(self.heading, classes="dialog-title", id="form-title", markup=False)
            with VerticalScroll(id="form-body"):
                yield from self.compose_body()
            yield Static("", id="form-message", classes="field-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="save")
                yield Button("Cancel (esc)", id="cancel")
        yield KeyFooter()

    def on_mount(self) -> None:
        # The first field takes what is typed at once (docs/ui.md), not the scrolling body.
        if self.specs:
            focus_now(self.field(self.specs[0].name))

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        raise NotImplementedError

    def check_form(self, data: dict[str, Any]) -> bool:
        if self.model is None:
            return True
        errors = model_errors(self.model, data)
        self.show_errors(errors)
        return not errors

    def db(
        self,
        fn: Callable[[Tx], Any],
        done: Callable[[Any], Any] | None = None,
        *,
        write: bool = False,
        group: str = "form",
        holds_keys: bool | None = None,
    ) -> None:
        run_db(
            self,
            fn,
            done,
            group=group,
            write=write,
            on_error=self.show_service_error,
            holds_keys=holds_keys,
        )


class SubjectFormScreen(RecordForm):
    model = SubjectIn
    heading = "Register subject"

    def __init__(self) -> None:
        super().__init__()
        self.specs = [
            spec_for("study", required=True),
            spec_for("subject_id", required=True),
            spec_for("sex"),
            spec_for("birth_year"),
            spec_for("group"),
            spec_for("diagnosis"),
            spec_for("enrolled_on"),
            spec_for("consent"),
            spec_for("notes"),
        ]
        self.specs[0].help = "pseudonymous code, never a name"

    def action_save(self) -> None:
        data = self.form_values()
        if not self.check_form(data):
            return
        from exolab.services.subjects import create_subject

        def done(out: Any) -> None:
            self.app.notify(f"subject {out.study}/{out.subject_id} registered")
            self.dismiss(out)

        self.db(lambda tx: create_subject(tx, data), done, write=True)


class NewBoxScreen(RecordForm):
    heading = "New box"

    def __init__(self) -> None:
        super().__init__()
        self.specs = [
            FieldSpec("path", "FREEZER/RACK/BOX", placeholder="e.g. F-80-1/R2/B07", required=True),
            FieldSpec("n_rows", "rows (0 = bag)", value="9"),
            FieldSpec("n_cols", "columns (0 = bag)", value="9"),
        ]

    def action_save(self) -> None:
        data = self.form_values()
        try:
            rows, cols = int(data.get("n_rows") or 9), int(data.get("n_cols") or 9)
        except ValueError:
            self.show_errors({"n_rows": "rows and columns are whole numbers"})
            return
        path = data.get("path") or ""
        if not path:
            self.show_errors({"path": "required"})
            return
        from exolab.services.storage import create_box

        def done(out: Any) -> None:
            self.app.notify(f"box {out.path} created")
            self.dismiss(out)

        self.db(lambda tx: create_box(tx, path, rows, cols), done, write=True)

    def show_errors(self, errors: dict[str, str], *, focus: bool = True) -> None:
        # the service names the path "location" (a storage twin: "storage F-80-1 exists;
        # did you mean ...?") and the size "geometry": shown next to their fields
        for theirs, ours in (("location", "path"), ("geometry", "n_rows")):
            if theirs in errors:
                errors.setdefault(ours, errors.pop(theirs))
        super().show_errors(errors, focus=focus)


# -- edit ------------------------------------------------------------------------------------

LOCKED = {
    "samples": {
        "sample_id",
        "study",
        "subject_id",
        "visit",
        "parent_sample_id",
        "cell_source_id",
        "location",
        "status",
        "freeze_thaw_count",
    },
    "subjects": {"study", "subject_id"},
    "isolations": {"isolation_id", "sample_id"},
    "readouts": {"isolation_id", "sample_id", "analyte", "assay", "run_id", "replicate"},
}
MODELS: dict[str, type[BaseModel]] = {
    "samples": SampleIn,
    "subjects": SubjectIn,
    "isolations": IsolationIn,
    "readouts": ReadoutIn,
}
EDITABLE = tuple(LOCKED)


def load_for_edit(tx: Tx, kind: str, key: str, pk: int) -> tuple[dict[str, Any], int]:
    """The record's import-column values and its version."""
    if kind == "samples":
        from exolab.services.samples import get_sample

        s = get_sample(tx, key)
        return s.as_input(), s.version
    if kind == "subjects":
        from exolab.services.subjects import get_subject, subject_as_input

        study, _, code = key.partition("/")
        subj = get_subject(tx, study, code)
        return subject_as_input(subj), subj.version
    if kind == "isolations":
        from exolab.services.isolations import get_isolation

        iso = get_isolation(tx, key)
        return iso.as_input(), iso.version
    from exolab.services.readouts import get_readout

    ro = get_readout(tx, pk)
    return ro.as_input(), ro.version


def save_edit(
    tx: Tx, kind: str, key: str, pk: int, changes: dict[str, Any], reason: str, version: int
) -> Any:
    if kind == "samples":
        from exolab.services.samples import update_sample

        return update_sample(tx, key, changes, reason=reason, expected_version=version)
    if kind == "subjects":
        from exolab.services.subjects import update_subject

        study, _, code = key.partition("/")
        return update_subject(tx, study, code, changes, reason=reason, expected_version=version)
    if kind == "isolations":
        from exolab.services.isolations import update_isolation

        return update_isolation(tx, key, changes, reason=reason, expected_version=version)
    from exolab.services.readouts import update_readout

    return update_readout(tx, pk, changes, reason=reason, expected_version=version)


class EditRecordScreen(RecordForm):
    """Edit one record's fields with a reason; refuses to overwrite someone else's change."""

    BINDINGS = [
        *RecordForm.BINDINGS,
        Binding("ctrl+r", "reload", "Reload", id="form.reload"),
        Binding("ctrl+o", "focus_reason", "Reason", id="form.reason"),
    ]

    def __init__(self, kind: str, key: str, pk: int) -> None:
        super().__init__()
        self.kind = kind
        self.key = key
        self.pk = pk
        self.model = MODELS[kind]
        self.heading = f"Edit {kind[:-1]} {key}"
        self.base: dict[str, Any] = {}
        self.version: int | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("loading…", id="edit-loading")

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        kind, key, pk = self.kind, self.key, self.pk
        self.db(
            lambda tx: load_for_edit(tx, kind, key, pk),
            self._loaded,
            group="edit-load",
            holds_keys=True,
        )

    async def _loaded(self, loaded: tuple[dict[str, Any], int]) -> None:
        self.base, self.version = loaded
        locked = LOCKED[self.kind]
        self.specs = [spec_for(k, v) for k, v in self.base.items() if k not in locked]
        self.specs.append(FieldSpec("reason", "reason for the change", required=True))
        body = self.query_one("#form-body", VerticalScroll)
        await body.remove_children()
        await body.mount_all(list(self.form_rows(self.specs, None)))
        self.query_one("#form-title", Label).update(f"{self.heading} (version {self.version})")
        self.query_one("#form-message", Static).update("")
        if self.specs:
            focus_now(self.field(self.specs[0].name))

    def action_focus_reason(self) -> None:
        focus_now(self.field("reason"))

    def form_values(self) -> dict[str, Any]:
        values = super().form_values()
        values.pop("reason", None)
        return values

    def action_save(self) -> None:
        if self.version is None:
            return
        values = self.form_values()
        changes = {k: v for k, v in values.items() if (v or "") != as_text(self.base.get(k))}
        reason = (self.query_one("#field-reason", Input).value or "").strip()
        if not changes:
            self.show_errors({"": "nothing changed"}, focus=False)
            return
        merged = {k: as_text(v) or None for k, v in self.base.items()} | changes
        errors = model_errors(self.model, merged) if self.model else {}
        if not reason:
            errors["reason"] = "a reason is required for an edit"
        if errors:
            self.show_errors(errors)
            return
        kind, key, pk, version = self.kind, self.key, self.pk, self.version

        def done(_: Any) -> None:
            self.app.notify(f"{kind[:-1]} {key} saved")
            self.dismiss(True)

        self.db(lambda tx: save_edit(tx, kind, key, pk, changes, reason, version), done, write=True)

    def show_service_error(self, exc: ExolabError) -> None:
        if isinstance(exc, StaleRecord):
            self.show_errors(
                {"": f"{exc} — press ctrl+r to reload the current values"}, focus=False
            )
            self.app.bell()
            return
        super().show_service_error(exc)
