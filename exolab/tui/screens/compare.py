"""Compare isolation methods on split samples: a table of method pairs (agreement statistics
from services.queries.compare_methods) and a Bland-Altman plot of the pair under the cursor."""

from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Header, Label, Select, Static
from textual_plotext import PlotextPlot

from exolab.services.context import Tx
from exolab.services.picker_choices import AnalyteChoices, compare_choices
from exolab.services.queries import MethodPair, compare_methods
from exolab.tui.screens.analysis import ALL_STUDIES, AnalysisScreen, num
from exolab.tui.screens.base import focus_now
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.widgets.row_table import RowTable

PAIR_COLUMNS = [
    "Method A",
    "Method B",
    "Assay",
    "Unit",
    "Pairs",
    "Censored",
    "Mean B-A",
    "SD B-A",
    "LoA low",
    "LoA high",
    "Pearson r",
    "Spearman",
]
# Analytes tried, in order, when the screen opens without one (the first with pairs is shown).
FIRST_ANALYTES_TRIED = 12


def pair_cells(p: MethodPair) -> list[str]:
    return [
        p.method_a,
        p.method_b,
        p.assay,
        p.unit or "",
        str(p.n_pairs),
        str(p.n_censored_pairs),
        num(p.mean_difference),
        num(p.sd_difference),
        num(p.loa_lower),
        num(p.loa_upper),
        num(p.pearson_r, 3),
        num(p.spearman_rho, 3),
    ]


class Loaded:
    """What one database round trip brings back: the analyte shown and its method pairs."""

    def __init__(self, analyte: str | None, pairs: list[MethodPair]) -> None:
        self.analyte = analyte
        self.pairs = pairs


class CompareMethodsScreen(AnalysisScreen):
    TITLE = "Compare methods"
    BINDINGS = [
        Binding("a", "pick('analyte')", "Analyte", id="compare.analyte"),
        Binding("t", "pick('study')", "Study", id="compare.study"),
        Binding("ctrl+r", "refresh", "Refresh", id="compare.refresh"),
        Binding("escape", "back", "Back", id="compare.back"),
    ]

    def __init__(self, analyte: str | None = None, study: str | None = None) -> None:
        super().__init__(analyte, study)
        self.pairs: list[MethodPair] = []
        self.choices: AnalyteChoices | None = None
        # What the plot shows: title, x (mean of the two methods), y (difference b - a).
        self.plotted: tuple[str, list[float], list[float]] = ("", [], [])

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="compare"):
            with Horizontal(id="pickers"):
                yield Select[str]([], prompt="analyte", id="pick-analyte", allow_blank=True)
                yield Select[str](
                    [(ALL_STUDIES, ALL_STUDIES)],
                    prompt="study",
                    id="pick-study",
                    allow_blank=False,
                )
            yield Label(
                "Method pairs on split samples (same tube, or aliquots of one parent, isolated "
                "by both); ↑↓ picks the pair plotted",
                classes="panel-title",
            )
            yield RowTable(id="pairs")
            yield Static("loading…", id="pair-note")
            yield PlotextPlot(id="ba-plot")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#pairs", RowTable).set_rows(PAIR_COLUMNS, [])
        focus_now(self.query_one("#pairs", RowTable))
        self.db(compare_choices, self._choices, group="compare-choices")

    # -- loading -----------------------------------------------------------------------------

    def _choices(self, choices: AnalyteChoices) -> None:
        self.choices = choices
        analytes = self.offer(choices.analytes, choices.studies)
        if not analytes:
            self._show(Loaded(None, []))
            return
        self.load(first_with_pairs=None if self.analyte else analytes[:FIRST_ANALYTES_TRIED])

    def load(self, first_with_pairs: list[str] | None = None) -> None:
        """Read the method pairs of the chosen analyte (or, on opening without one, of the
        first of ``first_with_pairs`` that has any)."""
        study = self.study
        tried = first_with_pairs or ([self.analyte] if self.analyte else [])
        self.query_one("#pair-note", Static).update("loading…")

        def read(tx: Tx) -> Loaded:
            for analyte in tried:
                pairs = compare_methods(tx, analyte, study, with_pairs=True)
                if pairs or first_with_pairs is None:
                    return Loaded(analyte, pairs)
            return Loaded(tried[0] if tried else None, [])

        self.db(read, self._show, group="compare")

    def _show(self, loaded: Loaded) -> None:
        self.analyte = loaded.analyte
        self.pairs = loaded.pairs
        self.shown()
        table = self.query_one("#pairs", RowTable)
        table.move_cursor(row=0)
        table.set_rows(PAIR_COLUMNS, [(str(i), pair_cells(p)) for i, p in enumerate(self.pairs)])
        self._plot(0)

    # -- the plot ------------------------------------------------------------------------------

    def _plot(self, row: int) -> None:
        plot = self.query_one("#ba-plot", PlotextPlot)
        note = self.query_one("#pair-note", Static)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        where = f" in {self.study}" if self.study else ""
        if not self.pairs:
            name = self.analyte or "this analyte"
            note.update(
                f"no split samples measured for {escape(name)}{escape(where)} by two methods "
                "(a picks another analyte, t a study)"
            )
            self.plotted = ("Bland-Altman: nothing to plot", [], [])
            plt.title(self.plotted[0])
            plot.refresh()
            return
        p = self.pairs[max(0, min(row, len(self.pairs) - 1))]
        unit = f" [{p.unit}]" if p.unit else ""
        note.update(
            f"[b]{escape(p.analyte)}[/b]{escape(where)} · {escape(p.assay)} · "
            f"{p.method_b} − {p.method_a}: "
            f"{p.n_pairs} pairs ({p.n_censored_pairs} with a censored side left out) · "
            f"mean difference {num(p.mean_difference)}{escape(unit)}, limits of agreement "
            f"{num(p.loa_lower)} to {num(p.loa_upper)}"
        )
        means = [(v.a + v.b) / 2 for v in p.pairs]
        diffs = [v.b - v.a for v in p.pairs]
        if means:
            plt.scatter(means, diffs, marker="dot", label="split sample")
        for value, label in (
            (p.mean_difference, "mean difference"),
            (p.loa_lower, "limits of agreement (±1.96 SD)"),
            (p.loa_upper, None),
        ):
            if value is not None and means:
                lo, hi = min(means), max(means)
                span = [lo, hi] if hi > lo else [lo - 1, hi + 1]
                plt.plot(span, [value, value], marker="braille", label=label)
        title = f"Bland-Altman {p.analyte}: {p.method_b} − {p.method_a}{unit}"
        self.plotted = (title, means, diffs)
        plt.title(title)
        plt.xlabel(f"mean of {p.method_a} and {p.method_b}")
        plt.ylabel("difference")
        plot.refresh()

    @on(RowTable.Highlighted, "#pairs")
    def _highlighted(self, event: RowTable.Highlighted) -> None:
        self._plot(event.row)

    def action_refresh(self) -> None:
        self.db(compare_choices, self._choices, group="compare-choices")
