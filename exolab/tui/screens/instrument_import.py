"""Import wizard for instrument files: the file's detected format and run panel, a plate map
coloured by well role, the mapping of its sample names to isolation/sample ids (filled where a
name already is one), a check (dry run) with the readouts, what is left out and the problems,
then the import — the same exolab.io.instrument_import the CLI uses (docs/instruments.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Header, Input, Label, Static

from exolab.services.errors import ExolabError
from exolab.tui.keys import focus_now
from exolab.tui.screens.base import BaseScreen
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.workers import run_task

ROLE_STYLE = {
    "sample": ("S", "bold black on green"),
    "standard": ("T", "bold black on cyan"),
    "ntc": ("N", "bold white on magenta"),
    "blank": ("B", "bold black on white"),
    "control": ("C", "bold black on yellow"),
    "missed": ("M", "bold white on red"),
}
_WELL = re.compile(r"^(?:(?P<plate>[^:]+):)?(?P<row>[A-P])(?P<col>\d{1,2})$")


@dataclass
class Scan:
    """The parsed file: what the wizard shows before any check."""

    format: str
    header: str
    names: list[str]
    prefilled: dict[str, str]
    roles: dict[str, str]  # well -> role
    rows: list[tuple[str, str, str, str, str]]  # position, name, role, target, value
    left_out: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def scan_file(lab: Any, path: str) -> Scan:
    """Parse the file and look up which names already are ids (runs in a thread)."""
    from exolab.io import instruments
    from exolab.io.instruments import DESCRIPTIONS
    from exolab.services.instrument_runs import targets

    run = instruments.parse(path)
    names = run.sample_names()
    with lab.read() as tx:
        known = targets(tx, set(names))
    h = run.header
    header = (
        f"[b]{escape(Path(path).name)}[/b]: {run.format} ({DESCRIPTIONS[run.format]})\n"
        f"instrument {escape(h.instrument_model or '—')} serial {escape(h.instrument_serial or '—')}"
        f" · software {escape(h.software_version or '—')} · operator {escape(h.operator or '—')}"
        f" · run date {escape(h.run_at_text or 'not stated')}"
    )
    if h.dilution_factor is not None or h.values_corrected is not None:
        dil = "not recorded" if h.dilution_factor is None else f"{h.dilution_factor:g}"
        done = "already corrected" if h.values_corrected else "corrected once on import"
        header += f"\ndilution {dil} ({done})"
    roles: dict[str, str] = {}
    rows = []
    for m in run.measurements:
        roles.setdefault(m.position, m.role)
        rows.append((m.position, m.name, m.role, m.target, m.value))
    for c in run.controls:
        roles.setdefault(str(c.get("position", "")), str(c.get("role", "control")))
    return Scan(
        format=run.format,
        header=header,
        names=names,
        prefilled={n: n for n in names if n in known},
        roles=roles,
        rows=rows,
        left_out=[(x.position, x.reason) for x in run.left_out],
        warnings=list(run.warnings),
    )


def plate_cells(roles: dict[str, str]) -> tuple[list[str], list[list[Text]]]:
    """A plate map (rows A.., columns 1..) of the wells' roles; empty when positions are not
    wells (NTA videos)."""
    wells: dict[tuple[str, str, int], str] = {}
    for pos, role in roles.items():
        m = _WELL.match(pos)
        if m:
            wells[(m.group("plate") or "", m.group("row"), int(m.group("col")))] = role
    if not wells:
        return [], []
    n_cols = 24 if max(c for _, _, c in wells) > 12 else 12
    n_rows = 16 if max(r for _, r, _ in wells) > "H" else 8
    plates = sorted({p for p, _, _ in wells})
    columns = ["row", *[str(c) for c in range(1, n_cols + 1)]]
    out: list[list[Text]] = []
    for plate in plates:
        for r in "ABCDEFGHIJKLMNOP"[:n_rows]:
            label = f"{plate}:{r}" if plate else r
            cells = [Text(label)]
            for c in range(1, n_cols + 1):
                here = wells.get((plate, r, c))
                letter, style = ROLE_STYLE.get(here or "", ("·", "dim"))
                cells.append(Text(letter, style=style))
            out.append(cells)
    return columns, out


class InstrumentImportScreen(BaseScreen):
    TITLE = "Import instrument file"
    BINDINGS = [
        Binding("ctrl+o", "scan", "Read file", id="instrument.scan"),
        # priority: a focused Input would take ctrl+k (delete to the end of the line)
        Binding("ctrl+k", "check", "Check", id="instrument.check", priority=True),
        Binding("ctrl+s", "apply", "Import", id="instrument.apply", priority=True),
        Binding("escape", "back", "Back", id="instrument.back"),
    ]

    def __init__(self, path: str = "") -> None:
        super().__init__()
        self.path = path
        self.scan: Scan | None = None
        self.checked_for: tuple[str, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(
                "1 file (Enter or ctrl+o: its format is detected) → 2 map its sample names to "
                "isolation/sample ids → 3 check (ctrl+k, nothing written) → 4 import (ctrl+s)",
                classes="field-help",
            )
            yield Label("instrument file", classes="field-label")
            yield Input(self.path, id="ipath", placeholder="path to the instrument export")
            yield Static("", id="run-panel", classes="panel")
            yield Label(
                "plate map (S sample, T standard, N NTC, B blank, C control)", classes="panel-title"
            )
            yield DataTable(id="plate", show_cursor=False)
            with Horizontal(classes="grid-head-fields"):
                with Vertical(classes="form-column"):
                    yield Label("map NAME=ID,… (or one --target id)", classes="field-label")
                    yield Input(id="imap", placeholder="5K=ISO-0001,10K=ISO-0002")
                with Vertical(classes="form-column"):
                    yield Label("analytes NAME=CODE,…", classes="field-label")
                    yield Input(id="ianalyte", placeholder="concentration=total_protein")
                with Vertical(classes="form-column"):
                    yield Label("unit (if the file has none)", classes="field-label")
                    yield Input(id="iunit", placeholder="ug/mL")
            yield Static("", id="istatus", classes="panel")
            yield Label("results (censored values marked)", classes="panel-title")
            yield DataTable(id="ipreview", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#ipreview", DataTable).add_columns(
            "position", "name", "role", "target", "value"
        )
        focus_now(self.query_one("#ipath", Input))
        if self.path:
            self.action_scan()

    @on(Input.Submitted, "#ipath")
    def _path_done(self) -> None:
        self.action_scan()

    def _status(self, text: str) -> None:
        self.query_one("#istatus", Static).update(text)

    def _failed(self, exc: ExolabError) -> None:
        self.checked_for = None
        self._status(f"[b red]{escape(str(exc))}[/]")
        self.app.bell()

    def action_scan(self) -> None:
        path = str(Path(self.query_one("#ipath", Input).value.strip()).expanduser())
        if not path or path == ".":
            self._status("[b red]give the path of the instrument file[/]")
            return
        lab = self.lab_app.lab
        self._status(f"reading {escape(path)}…")
        run_task(
            self,
            lambda: scan_file(lab, path),
            self._scanned,
            group="instrument-scan",
            on_error=self._failed,
        )

    def _scanned(self, scan: Scan) -> None:
        self.scan = scan
        self.checked_for = None
        self.query_one("#run-panel", Static).update(
            scan.header + "".join(f"\n[yellow]warning:[/yellow] {escape(w)}" for w in scan.warnings)
        )
        plate = self.query_one("#plate", DataTable)
        plate.clear(columns=True)
        columns, rows = plate_cells(scan.roles)
        if columns:
            plate.add_columns(*columns)
            for cells in rows:
                plate.add_row(*cells)
        mapping = self.query_one("#imap", Input)
        if not mapping.value:
            mapping.value = ",".join(f"{n}={t}" for n, t in scan.prefilled.items())
        table = self.query_one("#ipreview", DataTable)
        table.clear()
        for pos, name, role, target, value in scan.rows:
            censored = not re.fullmatch(r"[+-]?[\d.]+(?:[eE][+-]?\d+)?", value)
            table.add_row(
                pos,
                name,
                role,
                target,
                Text(value, style="bold black on yellow") if censored else value,
            )
        for pos, reason in scan.left_out:
            table.add_row(
                Text(pos, style="dim"),
                "",
                Text("left out", style="dim"),
                "",
                Text(reason, style="dim"),
            )
        unmapped = [n for n in scan.names if n not in scan.prefilled]
        self._status(
            f"{len(scan.rows)} results, {len(scan.left_out)} left out; "
            + (f"map: {escape(', '.join(unmapped[:12]))}" if unmapped else "every name is an id")
            + " — then ctrl+k to check"
        )
        focus_now(self.query_one("#imap", Input))

    def _options(self) -> tuple[str, dict[str, Any]] | None:
        from exolab.io.instrument_import import parse_map, parse_pairs

        path = str(Path(self.query_one("#ipath", Input).value.strip()).expanduser())
        raw_map = self.query_one("#imap", Input).value.strip()
        analytes = self.query_one("#ianalyte", Input).value.strip()
        unit = self.query_one("#iunit", Input).value.strip() or None
        try:
            if raw_map and "=" not in raw_map:
                opts: dict[str, Any] = {"target": raw_map}
            else:
                opts = {"mapping": parse_map([raw_map] if raw_map else [])}
            opts["analytes"] = parse_pairs(
                [a for a in analytes.split(",") if a.strip()], "analytes"
            )
        except ExolabError as exc:
            self._failed(exc)
            return None
        opts["unit"] = unit
        return path, opts

    def _key(self) -> tuple[str, ...]:
        return tuple(
            self.query_one(f"#{i}", Input).value for i in ("ipath", "imap", "ianalyte", "iunit")
        )

    def action_check(self) -> None:
        got = self._options()
        if got is None:
            return
        path, opts = got
        lab = self.lab_app.lab
        key = self._key()
        from exolab.io.instrument_import import import_instrument

        def done(rep: Any) -> None:
            problems = rep.report.problems
            if problems:
                self.checked_for = None
                lines = "\n".join(escape(x) for x in problems.lines()[:8])
                self._status(f"[b red]refused: nothing can be imported until fixed[/]\n{lines}")
                return
            self.checked_for = key
            per = ", ".join(f"{t} {a}: {n}" for (t, a), n in sorted(rep.per_target.items()))
            counts = ", ".join(f"{v} {k}" for k, v in rep.report.counts().items() if v)
            self._status(
                f"[b green]ready to import[/]: run {escape(rep.run_code)} ({rep.run_status}); "
                f"{escape(counts or 'no readouts')}\n{escape(per)} — press ctrl+s to import"
            )

        self._status("checking…")
        run_task(
            self,
            lambda: import_instrument(lab, path, dry_run=True, **opts),
            done,
            group="instrument-check",
            on_error=self._failed,
        )

    def action_apply(self) -> None:
        if self.checked_for != self._key():
            self._status(
                "[b]check the file first (ctrl+k)[/]: it is imported only after a clean check"
            )
            return
        got = self._options()
        if got is None:
            return
        path, opts = got
        lab = self.lab_app.lab
        from exolab.io.instrument_import import import_instrument

        def done(rep: Any) -> None:
            counts = ", ".join(f"{v} {k}" for k, v in rep.report.counts().items() if v)
            self._status(
                f"[b green]imported[/] as batch [b]{rep.batch_id}[/]: {escape(counts)}; run "
                f"{escape(rep.run_code)} {rep.run_status} (undo: 'Undo an import batch')"
            )
            self.notify(f"import batch {rep.batch_id}: {counts}")
            self.checked_for = None

        run_task(
            self,
            lambda: import_instrument(lab, path, **opts),
            done,
            group="instrument-apply",
            on_error=self._failed,
        )
