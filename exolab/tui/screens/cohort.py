"""One analyte across subjects: the cohort summary (services.queries.cohort_summary) by
visit, subject group, isolation method or biofluid, values or change from baseline, as a
table and a box plot drawn from the same rows."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, Label, Select, Static
from textual_plotext import PlotextPlot

from exolab.services.context import Tx
from exolab.services.picker_choices import AnalyteChoices, cohort_choices
from exolab.services.queries import CohortRow, cohort_summary
from exolab.tui.screens.analysis import ALL_STUDIES, AnalysisScreen, num
from exolab.tui.screens.base import focus_now
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.widgets.row_table import RowTable

BY = ("visit", "group", "method", "biofluid")
STAT_COLUMNS = ["n", "Subjects", "Censored", "Mean", "SD", "Median", "Q1", "Q3", "Min", "Max"]


def row_cells(r: CohortRow) -> list[str]:
    return [
        "(none)" if r.value is None else r.value,
        str(r.n),
        str(r.n_subjects),
        str(r.n_censored),
        num(r.mean),
        num(r.sd),
        num(r.median),
        num(r.q1),
        num(r.q3),
        num(r.min),
        num(r.max),
        r.unit or "",
    ]


class CohortScreen(AnalysisScreen):
    TITLE = "Cohort summary"
    BINDINGS = [
        Binding("a", "pick('analyte')", "Analyte", id="cohort.analyte"),
        Binding("t", "pick('study')", "Study", id="cohort.study"),
        Binding("g", "pick('by')", "Group by", id="cohort.by"),
        Binding("c", "toggle_change", "Change from baseline", id="cohort.change"),
        Binding("ctrl+r", "refresh", "Refresh", id="cohort.refresh"),
        Binding("escape", "back", "Back", id="cohort.back"),
    ]

    def __init__(
        self, analyte: str | None = None, study: str | None = None, by: str = "visit"
    ) -> None:
        super().__init__(analyte, study)
        self.by = by if by in BY else "visit"
        self.change = False
        self.rows: list[CohortRow] = []
        self.choices: AnalyteChoices | None = None
        # What the plot shows: title, then per box (label, min, q1, median, q3, max).
        self.plotted: tuple[str, list[tuple[str, float, float, float, float, float]]] = ("", [])

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="cohort"):
            with Horizontal(id="pickers"):
                yield Select[str]([], prompt="analyte", id="pick-analyte", allow_blank=True)
                yield Select[str](
                    [(ALL_STUDIES, ALL_STUDIES)], prompt="study", id="pick-study", allow_blank=False
                )
                yield Select[str](
                    [(f"by {b}", b) for b in BY], id="pick-by", value=self.by, allow_blank=False
                )
            yield Label(
                "One result per replicate set (censored results counted, not averaged); "
                "c switches to change from baseline",
                classes="panel-title",
            )
            yield RowTable(id="cohort-rows")
            yield Static("loading…", id="cohort-note")
            yield PlotextPlot(id="cohort-plot")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#cohort-rows", RowTable).set_rows(self._columns(), [])
        focus_now(self.query_one("#cohort-rows", RowTable))
        self.db(cohort_choices, self._choices, group="cohort-choices")

    def _columns(self) -> list[str]:
        return [self.by.capitalize(), *STAT_COLUMNS, "Unit"]

    # -- loading -----------------------------------------------------------------------------

    def _choices(self, choices: AnalyteChoices) -> None:
        self.choices = choices
        analytes = self.offer(choices.analytes, choices.studies)
        if not self.analyte and analytes:
            self.analyte = analytes[0]  # the most measured
        self.load()

    def load(self) -> None:
        """Read the summary of the chosen analyte, study, grouping and measure."""
        analyte, study, by, change = self.analyte, self.study, self.by, self.change
        self.query_one("#cohort-note", Static).update("loading…")

        def read(tx: Tx) -> list[CohortRow]:
            return [] if analyte is None else cohort_summary(tx, analyte, study, by, change)

        self.db(read, self._show, group="cohort")

    def _show(self, rows: list[CohortRow]) -> None:
        self.rows = rows
        self.shown()
        table = self.query_one("#cohort-rows", RowTable)
        table.move_cursor(row=0)
        table.set_rows(self._columns(), [(str(i), row_cells(r)) for i, r in enumerate(rows)])
        note = self.query_one("#cohort-note", Static)
        where = f" in {self.study}" if self.study else ""
        measure = "change from baseline" if self.change else "value"
        if not rows:
            name = self.analyte or "no analyte"
            note.update(
                f"no results of {escape(name)}{escape(where)} on subjects' samples "
                "(a picks another analyte, t a study)"
            )
        else:
            subjects = max(r.n_subjects for r in rows)
            note.update(
                f"[b]{escape(rows[0].analyte)}[/b]{escape(where)} · {measure} by {self.by} · "
                f"{sum(r.n for r in rows)} results, {sum(r.n_censored for r in rows)} censored "
                f"· up to {subjects} subjects per {self.by}"
            )
        self._plot()

    # -- the plot ------------------------------------------------------------------------------

    def _plot(self) -> None:
        """A box per row of the first unit: whiskers min-max, box q1-q3, median marked."""
        plot = self.query_one("#cohort-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        boxes: list[tuple[str, float, float, float, float, float]] = []
        unit = self.rows[0].unit if self.rows else None
        for r in self.rows:
            if r.unit != unit:
                continue
            if r.min is None or r.q1 is None or r.median is None or r.q3 is None:
                continue
            if r.max is None:
                continue
            label = "(none)" if r.value is None else r.value
            boxes.append((label, r.min, r.q1, r.median, r.q3, r.max))
        measure = "change from baseline" if self.change else "value"
        analyte = self.rows[0].analyte if self.rows else (self.analyte or "")
        title = f"{analyte} {measure} by {self.by}" + (f" [{unit}]" if unit else "")
        self.plotted = (title, boxes)
        plt.title(title if boxes else f"{title}: nothing to plot")
        for i, (_label, lo, q1, med, q3, hi) in enumerate(boxes, start=1):
            color = "blue"
            plt.plot([i, i], [lo, q1], marker="braille", color=color)
            plt.plot([i, i], [q3, hi], marker="braille", color=color)
            for x0, x1, y in ((i - 0.3, i + 0.3, q1), (i - 0.3, i + 0.3, q3)):
                plt.plot([x0, x1], [y, y], marker="braille", color=color)
            plt.plot([i - 0.3, i - 0.3], [q1, q3], marker="braille", color=color)
            plt.plot([i + 0.3, i + 0.3], [q1, q3], marker="braille", color=color)
            plt.plot([i - 0.3, i + 0.3], [med, med], marker="hd", color="orange")
        if boxes:
            plt.xticks(list(range(1, len(boxes) + 1)), [b[0] for b in boxes])
            plt.xlim(0.4, len(boxes) + 0.6)
            low, high = min(b[1] for b in boxes), max(b[5] for b in boxes)
            ticks = [low + (high - low) * k / 4 for k in range(5)] if high > low else [low]
            plt.yticks(ticks, [num(t) for t in ticks])  # 4 digits, not 114600000000.0
            plt.ylabel(measure)
        plot.refresh()

    # -- pickers -------------------------------------------------------------------------------

    @on(Select.Changed, "#pick-by")
    def _by(self, event: Select.Changed) -> None:
        value: Any = event.value
        if self.settling or value is Select.NULL or value == self.by:
            return
        self.by = str(value)
        self.load()

    def action_toggle_change(self) -> None:
        self.change = not self.change
        self.load()

    def action_refresh(self) -> None:
        self.db(cohort_choices, self._choices, group="cohort-choices")
