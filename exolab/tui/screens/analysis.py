"""What the analysis views (method comparison, cohort summary) share: an analyte picker and a
study picker whose changes reload the view, keys that open them, and how statistics show."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.widgets import Select

from exolab.tui.screens.base import BaseScreen, focus_now
from exolab.tui.text import options

ALL_STUDIES = "all studies"


def num(value: float | None, digits: int = 4) -> str:
    """A statistic as the tables show it: 4 significant digits, '—' when undefined."""
    return "—" if value is None else f"{value:.{digits}g}"


class AnalysisScreen(BaseScreen):
    """A view of one analyte (``#pick-analyte``), optionally in one study (``#pick-study``);
    a subclass composes both pickers and implements :meth:`load`."""

    def __init__(self, analyte: str | None = None, study: str | None = None) -> None:
        super().__init__()
        self.analyte = analyte
        self.study = study
        self.settling = True  # pickers being filled: their Changed events are not the user's

    def load(self) -> None:
        raise NotImplementedError

    def offer(self, analytes: list[str], studies: list[str]) -> list[str]:
        """Fill the pickers (the analyte asked for first if it is not among ``analytes``) and
        select the current analyte and study; returns the analytes offered."""
        offered = list(analytes)
        if self.analyte and self.analyte not in offered:
            offered.insert(0, self.analyte)
        self.query_one("#pick-analyte", Select).set_options(options(offered))
        self.query_one("#pick-study", Select).set_options(options([ALL_STUDIES, *studies]))
        self.query_one("#pick-study", Select).value = self.study or ALL_STUDIES
        if self.analyte:
            self.query_one("#pick-analyte", Select).value = self.analyte
        return offered

    def shown(self) -> None:
        """After new data is on screen: picker events are the user's again once it settles."""
        self.settling = True
        if self.analyte:
            self.query_one("#pick-analyte", Select).value = self.analyte
        self.call_after_refresh(self._settled)

    def _settled(self) -> None:
        self.settling = False

    @on(Select.Changed, "#pick-analyte")
    def _analyte(self, event: Select.Changed) -> None:
        if self.settling or event.value is Select.NULL or event.value == self.analyte:
            return
        self.analyte = str(event.value)
        self.load()

    @on(Select.Changed, "#pick-study")
    def _study(self, event: Select.Changed) -> None:
        value: Any = event.value
        study = None if value in (ALL_STUDIES, Select.NULL) else str(value)
        if self.settling or study == self.study:
            return
        self.study = study
        if self.analyte:
            self.load()

    def action_pick(self, which: str) -> None:
        select = self.query_one(f"#pick-{which}", Select)
        focus_now(select)
        select.expanded = True
