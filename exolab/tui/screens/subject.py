"""Subject view: visits in time order with their samples and isolations, and biomarker
trajectories (baseline marked, censored results shown as such) with analyte, biofluid and
method pickers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Header, Label, Select, Static
from textual_plotext import PlotextPlot

from exolab.domain.replicates import censor_direction, set_limit
from exolab.services.context import Tx
from exolab.services.queries import TrajectoryPoint, trajectory_for_subject
from exolab.services.subject_view import VisitRow, subject_filters, subject_visits
from exolab.services.subjects import SubjectOut, get_subject
from exolab.tui.screens.base import BaseScreen, focus_now, plural
from exolab.tui.text import PlainTable, esc, options
from exolab.tui.widgets.footer import KeyFooter

ALL = "(all)"


class SubjectDetail(BaseModel):
    subject: SubjectOut
    visits: list[VisitRow]
    analytes: list[str]
    biofluids: list[str]
    methods: list[str]


def load_subject(tx: Tx, study: str, code: str) -> SubjectDetail:
    analytes, biofluids, methods = subject_filters(tx, study, code)
    return SubjectDetail(
        subject=get_subject(tx, study, code),
        visits=subject_visits(tx, study, code),
        analytes=analytes,
        biofluids=biofluids,
        methods=methods,
    )


def point_value(p: TrajectoryPoint) -> float | None:
    if p.replicate_mean is not None:
        return p.replicate_mean
    if p.std_value is not None:
        return p.std_value
    return p.numeric_value


def censored_at(members: list[TrajectoryPoint]) -> float | None:
    """Where the chart draws a censored replicate set (one without a mean): at its bound
    (docs/longitudinal.md, "Replicate sets"), None (not drawn) when it has none."""
    return set_limit(
        (censor_direction(m.censor, m.comparator), m.std_value)
        for m in members
        if m.censor != "none"
    )[1]


class SubjectScreen(BaseScreen):
    BINDINGS = [
        Binding("a", "pick('analyte')", "Analyte", id="subject.analyte"),
        Binding("b", "pick('biofluid')", "Biofluid", id="subject.biofluid"),
        Binding("m", "pick('method')", "Method", id="subject.method"),
        Binding("e", "edit", "Edit", id="subject.edit"),
        Binding("n", "new_sample", "New sample", id="subject.new_sample"),
        Binding("c", "compare", "Compare methods", id="subject.compare"),
        Binding("o", "cohort", "Cohort", id="subject.cohort"),
        Binding("ctrl+r", "refresh", "Refresh", id="subject.refresh"),
        Binding("escape", "back", "Back", id="subject.back"),
    ]

    def __init__(self, key: str) -> None:
        super().__init__()
        self.study, _, self.code = key.partition("/")
        self.key = key
        self.title = f"Subject {key}"
        self.detail: SubjectDetail | None = None
        self.points: list[TrajectoryPoint] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static("loading…", id="subject-head", classes="panel")
            yield Label("Visits (Enter opens the first sample of a visit)", classes="panel-title")
            yield PlainTable(id="visits", cursor_type="row", zebra_stripes=True)
            yield Label("Biomarker trajectory", classes="panel-title")
            with Horizontal(id="pickers"):
                yield Select[str]([], prompt="analyte", id="pick-analyte", allow_blank=True)
                yield Select[str](
                    [(ALL, ALL)], prompt="biofluid", id="pick-biofluid", allow_blank=False
                )
                yield Select[str](
                    [(ALL, ALL)], prompt="method", id="pick-method", allow_blank=False
                )
            yield PlotextPlot(id="plot")
            yield PlainTable(id="points", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#visits", DataTable).add_columns(
            "Visit", "Date", "Day", "Samples", "Isolations"
        )
        self.query_one("#points", DataTable).add_columns(
            "Visit", "Day", "Biofluid", "Method", "Value", "Unit", "Censor", "Baseline", "Change %"
        )
        self.action_refresh()

    def action_refresh(self) -> None:
        study, code = self.study, self.code
        self.db(
            lambda tx: load_subject(tx, study, code), self._show, group="subject", holds_keys=True
        )

    def _show(self, d: SubjectDetail) -> None:
        self.detail = d
        s = d.subject
        self.query_one("#subject-head", Static).update(
            f"[b]{esc(s.study)}/{esc(s.subject_id)}[/b] · sex {esc(s.sex or '—')} · "
            f"born {s.birth_year or '—'} · group {esc(s.group or '—')} · {esc(s.diagnosis or '')}\n"
            f"enrolled {s.enrolled_on or '—'} · consent {esc(s.consent or '—')} · "
            f"{plural(len(d.visits), 'visit')} · "
            f"version {s.version}"
        )
        visits = self.query_one("#visits", DataTable)
        visits.clear()
        for v in d.visits:
            first_sample = v.samples[0].split(" ")[0] if v.samples else ""
            visits.add_row(
                v.label,
                v.visit_date.isoformat() if v.visit_date else "",
                "" if v.visit_day is None else str(v.visit_day),
                ", ".join(v.samples)[:60],
                ", ".join(v.isolations)[:40],
                key=first_sample or v.label,
            )
        analyte = self.query_one("#pick-analyte", Select)
        analyte.set_options(options(d.analytes))
        self.query_one("#pick-biofluid", Select).set_options(options([ALL, *d.biofluids]))
        self.query_one("#pick-method", Select).set_options(options([ALL, *d.methods]))
        self.query_one("#pick-biofluid", Select).value = ALL
        self.query_one("#pick-method", Select).value = ALL
        if d.analytes:
            analyte.value = d.analytes[0]
        else:
            self._plot([])

    @on(Select.Changed, "#pick-analyte")
    def _analyte(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        study, code, name = self.study, self.code, str(event.value)
        self.db(
            lambda tx: trajectory_for_subject(tx, study, code, analytes=[name]),
            self._points,
            group="trajectory",
        )

    @on(Select.Changed, "#pick-biofluid")
    @on(Select.Changed, "#pick-method")
    def _filter(self) -> None:
        self._plot(self.points)

    def _points(self, points: list[TrajectoryPoint]) -> None:
        self.points = points
        self._plot(points)

    def selected_points(self, points: list[TrajectoryPoint]) -> list[TrajectoryPoint]:
        bio = self.query_one("#pick-biofluid", Select).value
        met = self.query_one("#pick-method", Select).value
        out = []
        for p in points:
            if bio not in (ALL, Select.NULL) and p.biofluid != bio:
                continue
            if met not in (ALL, Select.NULL) and (p.method or "none") != met:
                continue
            out.append(p)
        return out

    def _plot(self, points: list[TrajectoryPoint]) -> None:
        chosen = self.selected_points(points)
        plot = self.query_one("#plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        table = self.query_one("#points", DataTable)
        table.clear()
        series: dict[tuple[str, str], list[TrajectoryPoint]] = {}
        for p in chosen:
            series.setdefault((p.biofluid, p.method or "none"), []).append(p)
        unit = ""
        baseline_labelled = False
        for (bio, met), pts in series.items():
            seen: set[tuple[Any, ...]] = set()
            xs: list[float] = []
            ys: list[float] = []
            cx: list[float] = []
            cy: list[float] = []
            bx: list[float] = []
            by: list[float] = []
            members: dict[tuple[Any, ...], list[TrajectoryPoint]] = {}
            for p in pts:
                members.setdefault((p.sample_id, p.isolation_id, p.assay, p.run_id), []).append(p)
            for p in pts:
                key = (p.sample_id, p.isolation_id, p.assay, p.run_id)
                if key in seen or p.visit_day is None:
                    continue
                seen.add(key)
                value = point_value(p)
                unit = p.std_unit or p.unit or unit
                if p.replicate_mean is None and p.censor != "none":  # a censored set
                    if (at := censored_at(members[key])) is not None:
                        cx.append(p.visit_day)
                        cy.append(at)
                    continue
                if value is None:
                    continue
                xs.append(p.visit_day)
                ys.append(value)
                if p.baseline_flag == "Y":
                    bx.append(p.visit_day)
                    by.append(value)
            label = f"{bio}/{met}"
            if xs:
                plt.plot(xs, ys, marker="braille", label=label)
                plt.scatter(xs, ys, marker="dot")
            if cx:
                plt.scatter(cx, cy, marker="v", label=f"{label} censored (at limit)")
            if bx:
                plt.scatter(bx, by, marker="B", label=None if baseline_labelled else "baseline")
                baseline_labelled = True
        analyte = self.query_one("#pick-analyte", Select).value
        name = str(analyte) if analyte is not Select.NULL else "no analyte"
        if not any(p.censor == "none" and point_value(p) is not None for p in chosen):
            name += " (no numeric results to plot; see the table)"
        plt.title(f"{name} [{unit}]" if unit else name)
        plt.xlabel("visit day")
        plot.refresh()
        for p in chosen:
            change = (  # against a censored baseline a bound: ">+500.0" (docs/longitudinal.md)
                ""
                if p.pct_change_from_baseline is None
                else f"{p.change_censor or ''}{p.pct_change_from_baseline:+.1f}"
            )
            table.add_row(
                p.visit or "",
                "" if p.visit_day is None else str(p.visit_day),
                p.biofluid,
                p.method or "",
                p.value,
                p.unit or "",
                "" if p.censor == "none" else p.censor,
                "baseline" if p.baseline_flag == "Y" else "",
                change,
            )

    def action_pick(self, which: str) -> None:
        select = self.query_one(f"#pick-{which}", Select)
        focus_now(select)
        select.expanded = True

    @on(DataTable.RowSelected, "#visits")
    def _open_visit(self, event: DataTable.RowSelected) -> None:
        key = str(event.row_key.value or "")
        if key and self.detail and any(key in " ".join(v.samples) for v in self.detail.visits):
            self.lab_app.open_record("sample", key)

    def action_edit(self) -> None:
        from exolab.tui.screens.forms import EditRecordScreen

        if self.detail and self.lab_app.require_writer("edit subjects"):
            self.app.push_screen(
                EditRecordScreen("subjects", self.key, self.detail.subject.id),
                lambda _: self.action_refresh(),
            )

    def action_compare(self) -> None:
        """Method agreement for the analyte shown, across the subject's study."""
        analyte = self.query_one("#pick-analyte", Select).value
        chosen = None if analyte is Select.NULL else str(analyte)
        self.lab_app.action_compare_methods(chosen, self.study)

    def action_cohort(self) -> None:
        """The analyte shown across the subjects of the subject's study."""
        analyte = self.query_one("#pick-analyte", Select).value
        chosen = None if analyte is Select.NULL else str(analyte)
        self.lab_app.action_cohort(chosen, self.study)

    def action_new_sample(self) -> None:
        self.lab_app.action_register_sample({"study": self.study, "subject_id": self.code})
