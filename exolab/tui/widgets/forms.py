"""Form building blocks: labelled fields with the first error shown beside them, validators
backed by the domain's pydantic input models (one set of rules), and a confirm dialog."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from exolab.domain.schemas import field_errors
from exolab.services.errors import ExolabError, ValidationFailed
from exolab.tui.errors import GuardedPump
from exolab.tui.keys import focus_now
from exolab.tui.text import options


@dataclass
class FieldSpec:
    """One form field: its import-column name, label and (for vocabularies) the choices."""

    name: str
    label: str
    choices: list[str] | None = None
    placeholder: str = ""
    value: str = ""
    help: str = ""
    required: bool = False
    meanings: dict[str, str] | None = None  # code -> meaning, shown beside codes in pickers
    extra: dict[str, Any] = field(default_factory=dict)


def model_errors(model: type[BaseModel], data: dict[str, Any]) -> dict[str, str]:
    """First error per field (``""`` for errors of the whole record) of validating ``data``."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        out: dict[str, str] = {}
        for name, msg in field_errors(exc):
            out.setdefault(name, msg)
        return out
    except ValueError as exc:
        return {"": str(exc)}
    return {}


class ModelFieldValidator(Validator):
    """Validates one field by validating the whole form with the domain model."""

    def __init__(
        self, model: type[BaseModel], name: str, values: Callable[[], dict[str, Any]]
    ) -> None:
        super().__init__()
        self.model = model
        self.name = name
        self.values = values

    def validate(self, value: str) -> ValidationResult:
        data = self.values() | {self.name: value.strip() or None}
        message = model_errors(self.model, data).get(self.name)
        return self.failure(message) if message else self.success()


def field_widget_id(name: str) -> str:
    return f"field-{name}"


class ErrorLine(Static):
    """A field's first error (literal text: messages quote what was typed); takes no room
    while there is none."""

    def __init__(self, content: Any = "", **kwargs: Any) -> None:
        super().__init__(content, markup=False, **kwargs)

    def update(self, content: Any = "", **kwargs: Any) -> None:
        super().update(content, **kwargs)
        self.set_class(not str(content), "empty")


class FieldRow(Vertical):
    """Label, input (or picker) and the field's first error."""

    DEFAULT_CSS = """
    FieldRow { height: auto; margin: 0 1 0 0; }
    FieldRow > Horizontal { height: 1; }
    FieldRow Label.field-label { color: $text-muted; width: 29; }
    FieldRow Input, FieldRow Select { width: 1fr; }
    FieldRow > .field-error { color: $error; height: auto; padding-left: 29; }
    FieldRow > .field-help { color: $text-muted; height: auto; padding-left: 29; }
    FieldRow > .empty { display: none; }
    """

    def __init__(self, spec: FieldSpec, model: type[BaseModel] | None, form: FormMixin) -> None:
        super().__init__(id=f"row-{spec.name}", classes="field-row")
        self.spec = spec
        self.model = model
        self.form = form

    def compose(self) -> ComposeResult:
        spec = self.spec
        star = " *" if spec.required else ""
        with Horizontal():
            yield Label(f"{spec.label}{star}", classes="field-label")
            if spec.choices is not None:
                yield Select(
                    options(spec.choices, spec.meanings),
                    id=field_widget_id(spec.name),
                    allow_blank=True,
                    value=spec.value if spec.value in spec.choices else Select.NULL,
                    prompt=spec.placeholder or "(choose)",
                    type_to_search=True,
                    compact=True,
                )
            else:
                validators = (
                    [ModelFieldValidator(self.model, spec.name, self.form.form_values)]
                    if self.model is not None
                    else []
                )
                yield Input(
                    spec.value,
                    placeholder=spec.placeholder or spec.help,
                    id=field_widget_id(spec.name),
                    validators=validators,
                    validate_on=["changed", "blur"],
                    compact=True,
                )
        yield ErrorLine("", classes="field-error empty", id=f"error-{spec.name}")


class FormMixin:
    """Shared form logic for screens that hold FieldRows (values, errors, focus)."""

    specs: list[FieldSpec]

    def form_rows(
        self, specs: Iterable[FieldSpec], model: type[BaseModel] | None
    ) -> Iterable[FieldRow]:
        for spec in specs:
            yield FieldRow(spec, model, self)

    def field(self, name: str) -> Input | Select[str]:
        return self.query_one(f"#{field_widget_id(name)}")  # type: ignore[attr-defined,no-any-return]

    def form_values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self.specs:
            try:
                w = self.field(spec.name)
            except Exception:
                continue
            if isinstance(w, Select):
                out[spec.name] = None if w.value is Select.NULL else w.value
            else:
                out[spec.name] = w.value.strip() or None
        return out

    def set_value(self, name: str, value: Any) -> None:
        w = self.field(name)
        if isinstance(w, Select):
            w.value = value if value not in (None, "") else Select.NULL
        else:
            w.value = "" if value is None else str(value)

    def show_errors(self, errors: dict[str, str], *, focus: bool = True) -> None:
        """Show each field's first error next to it; record-level ones in #form-message."""
        first: str | None = None
        for spec in self.specs:
            msg = errors.get(spec.name, "")
            try:
                box = self.query_one(f"#error-{spec.name}", Static)  # type: ignore[attr-defined]
            except Exception:
                continue
            box.update(msg)
            if msg and first is None:
                first = spec.name
        known = {s.name for s in self.specs}
        loose = [f"{k}: {v}" if k else v for k, v in errors.items() if k not in known]
        try:
            message = self.query_one("#form-message", Static)  # type: ignore[attr-defined]
            message.update("\n".join(loose))
        except Exception:
            pass
        if focus and first is not None:
            focus_now(self.field(first))

    def show_service_error(self, exc: ExolabError) -> None:
        if isinstance(exc, ValidationFailed):
            errors: dict[str, str] = {}
            for e in exc.errors:
                name = e.field.split(" ")[-1] if e.field else ""
                errors.setdefault(name, e.message)
            self.show_errors(errors)
        else:
            self.show_errors({"": str(exc)}, focus=False)
        self.app.bell()  # type: ignore[attr-defined]


class ConfirmScreen(GuardedPump, ModalScreen[bool]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
        Binding("y", "yes", "Yes", id="confirm.yes"),
        Binding("n", "cancel", "No", id="confirm.no"),
        Binding("f1", "app.help", "Help", id="confirm.help"),  # no app keys in a modal screen
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", variant="primary", id="yes")
                yield Button("No (n)", id="no")

    @on(Button.Pressed, "#yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(False)


class MarkBox(Checkbox):
    """A checkbox whose state shows without colour: ``[x]`` ticked, ``[ ]`` not (Textual's
    draws the same glyph for both and changes only its colour)."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "x" if self.value else " "
        return super()._button
