"""An isolation's instrument runs: the run header, its settings, controls and what the import
left out, and for NTA the size distribution of each video as a plot (docs/instruments.md)."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Label, Static
from textual_plotext import PlotextPlot

from exolab.services.context import Tx
from exolab.services.instrument_runs import RunOut, runs_of_isolation
from exolab.tui.screens.base import BaseScreen
from exolab.tui.widgets.footer import KeyFooter


def run_header(r: RunOut) -> str:
    """The run panel (Rich markup)."""
    dil = "not recorded" if r.dilution_factor is None else f"{r.dilution_factor:g}"
    corrected = {True: " (values already corrected)", False: " (applied once)", None: ""}[
        r.values_corrected
    ]
    lines = [
        f"[b]{escape(r.run_id)}[/b] · {escape(r.assay)} · {r.readouts} readouts · file "
        f"{escape(r.file_name or '—')} ({r.file_size or 0:,} bytes, sha256 {(r.sha256 or '')[:12]})",
        f"instrument {escape(r.instrument_model or '—')} serial {escape(r.instrument_serial or '—')}"
        f" · software {escape(r.software_version or '—')} · operator {escape(r.operator or '—')}",
        f"run date {escape(r.run_at or 'not stated')} · dilution {dil}{corrected} · parser "
        f"{escape(r.parser or '—')}",
    ]
    if r.standard_curve:
        lines.append("standard curve: " + escape(json.dumps(r.standard_curve)[:300]))
    if r.left_out:
        reasons: dict[str, int] = {}
        for x in r.left_out:
            reasons[x["reason"]] = reasons.get(x["reason"], 0) + 1
        lines.append("left out: " + escape(", ".join(f"{n} {why}" for why, n in reasons.items())))
    for w in r.warnings:
        lines.append(f"[yellow]warning:[/yellow] {escape(str(w))}")
    return "\n".join(lines)


def setting_rows(settings: dict[str, Any]) -> list[tuple[str, str]]:
    """(setting, values) rows; per-video lists shown as their distinct values."""
    rows = []
    for key, value in settings.items():
        if key in ("size_distribution", "header", "wells"):
            continue
        if isinstance(value, list):
            distinct = list(dict.fromkeys(str(v) for v in value))
            text = ", ".join(distinct[:6]) + (" …" if len(distinct) > 6 else "")
        elif isinstance(value, dict):
            text = ", ".join(f"{k}={v}" for k, v in value.items() if v)
        else:
            text = str(value)
        rows.append((key, text))
    return rows


class InstrumentRunsScreen(BaseScreen):
    BINDINGS = [
        Binding("n", "next", "Next run", id="runs.next"),
        Binding("p", "previous", "Previous run", id="runs.previous"),
        Binding("escape", "back", "Back", id="runs.back"),
    ]

    def __init__(self, isolation: str) -> None:
        super().__init__()
        self.isolation = isolation
        self.title = f"Instrument runs of {isolation}"
        self.runs: list[RunOut] = []
        self.index = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="runs-view"):
            yield Static("loading…", id="run-head", classes="panel")
            yield Label("Settings", classes="panel-title")
            yield DataTable(id="run-settings", cursor_type="row", zebra_stripes=True)
            yield Label("Size distribution", classes="panel-title", id="run-plot-title")
            yield PlotextPlot(id="run-plot")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#run-settings", DataTable).add_columns("Setting", "Value(s)")
        code = self.isolation

        def load(tx: Tx) -> list[RunOut]:
            return runs_of_isolation(tx, code)

        self.db(load, self._loaded, group="runs")

    def _loaded(self, runs: list[RunOut]) -> None:
        self.runs = runs
        self.index = 0
        self._show()

    def _show(self) -> None:
        head = self.query_one("#run-head", Static)
        table = self.query_one("#run-settings", DataTable)
        table.clear()
        plot = self.query_one("#run-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        if not self.runs:
            head.update(f"{escape(self.isolation)} has no readouts from an instrument file")
            plot.refresh()
            return
        r = self.runs[self.index]
        head.update(f"run {self.index + 1} of {len(self.runs)} (n/p)\n" + run_header(r))
        for key, text in setting_rows(r.settings):
            table.add_row(key, text)
        dist = r.settings.get("size_distribution")
        if dist:
            xs = dist["bin_centre_nm"]
            for name, ys in dist["videos"].items():
                plt.plot(xs, ys, label=str(name)[:20], marker="braille")
            plt.xlabel("size (nm)")
            plt.ylabel(str(dist.get("unit", "")))
            plt.title(f"{len(dist['videos'])} videos")
        plot.refresh()

    def action_next(self) -> None:
        if self.runs:
            self.index = (self.index + 1) % len(self.runs)
            self._show()

    def action_previous(self) -> None:
        if self.runs:
            self.index = (self.index - 1) % len(self.runs)
            self._show()
