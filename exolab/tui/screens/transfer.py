"""Import wizard (file, kind, preview with the bad cells highlighted, confirm, batch id),
undo of an import batch, and the export dialog — all calling exolab.io."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Checkbox, DataTable, Header, Input, Label, Select, Static

from exolab.io.progress import Throttled
from exolab.services.errors import ExolabError
from exolab.services.recent_batches import BatchOut, import_batches
from exolab.tui.screens.base import BaseScreen, focus_now
from exolab.tui.text import PlainTable, esc
from exolab.tui.widgets.footer import KeyFooter
from exolab.tui.widgets.forms import MarkBox
from exolab.tui.workers import run_task

if TYPE_CHECKING:
    from exolab.io.import_kinds import OnDuplicate

IMPORT_KINDS = ["subjects", "cell_sources", "samples", "isolations", "readouts"]
PREVIEW_ROWS = 200


class Preview:
    """The check result: counts, problems and the first rows of the file."""

    def __init__(self) -> None:
        self.ok = False
        self.counts: dict[str, int] = {}
        self.lines: list[str] = []
        self.bad: dict[tuple[int, str], str] = {}
        self.header: list[str] = []
        self.rows: list[tuple[int, list[str]]] = []
        self.message = ""


def check_file(
    lab: Any,
    kind: str,
    path: str,
    on_duplicate: str,
    progress: Callable[[int, int, int], None] | None = None,
) -> Preview:
    """Dry-run the import and read the first rows for the preview (runs in a thread;
    ``progress``: as ``run_import``'s)."""
    from exolab.io.importer import ImportFailed, run_import
    from exolab.io.reading import open_csv

    preview = Preview()
    errors = io.StringIO()
    try:
        report = run_import(
            lab,
            kind,
            path,
            dry_run=True,
            on_duplicate=cast("OnDuplicate", on_duplicate),
            errors_out=errors,
            progress=progress,
        )
    except ImportFailed as exc:
        report = exc.report
    preview.counts = report.counts()
    preview.ok = report.ok and not report.no_rows
    if report.no_rows:
        preview.message = f"nothing to import: {path} has no data rows after the header"
    preview.lines = report.problems.lines() if report.problems else []
    errors.seek(0)
    for rec in csv.DictReader(errors):
        try:
            preview.bad.setdefault((int(rec["row"]), rec["column"]), rec["message"])
        except (KeyError, ValueError):
            continue
    with open_csv(path) as src:
        preview.header = list(src.raw_header)
        for n, fields in src.rows():
            preview.rows.append((n, fields))
            if len(preview.rows) >= PREVIEW_ROWS:
                break
    return preview


class ImportWizardScreen(BaseScreen):
    TITLE = "Import"
    BINDINGS = [
        Binding("ctrl+t", "check", "Check file", id="import.check"),
        Binding("ctrl+s", "apply", "Import", id="import.apply"),
        Binding("escape", "back", "Back", id="import.back"),
    ]

    def __init__(self, path: str = "", kind: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.kind = kind
        self.preview: Preview | None = None
        self.checked_for: tuple[str, str, str] | None = None
        self.progress_run = 0  # the check or import whose progress the status line shows

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static(
                "1 file and kind → 2 check (ctrl+t: nothing is written) → 3 preview with bad cells "
                "in red → 4 import (ctrl+s, all or nothing; the batch can be undone)",
                classes="field-help",
            )
            with Horizontal(classes="grid-head-fields"):
                with Vertical(classes="form-column"):
                    yield Label("CSV file", classes="field-label")
                    yield Input(self.path, id="path", placeholder="path to a .csv file")
                with Vertical(classes="form-column"):
                    yield Label("kind", classes="field-label")
                    yield Select[str](
                        [(k, k) for k in IMPORT_KINDS],
                        id="kind",
                        value=self.kind if self.kind in IMPORT_KINDS else Select.NULL,
                        prompt="what the file holds",
                    )
                with Vertical(classes="form-column"):
                    yield Label("rows that already exist", classes="field-label")
                    yield Select[str](
                        [("error", "error"), ("skip", "skip"), ("update", "update")],
                        id="dup",
                        value="error",
                        allow_blank=False,
                    )
            yield Static("", id="import-status", classes="panel")
            yield PlainTable(id="preview", zebra_stripes=True)
            yield Static("", id="cell-problem", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        focus_now(self.query_one("#path", Input))

    def choice(self) -> tuple[str, str, str] | None:
        path = self.query_one("#path", Input).value.strip()
        kind = self.query_one("#kind", Select).value
        dup = str(self.query_one("#dup", Select).value)
        status = self.query_one("#import-status", Static)
        if not path:
            status.update("[b red]give the path of a CSV file[/]")
            focus_now(self.query_one("#path", Input))
            return None
        if kind is Select.NULL:
            status.update("[b red]choose the kind of records in the file[/]")
            focus_now(self.query_one("#kind", Select))
            return None
        return str(Path(path).expanduser()), str(kind), dup

    @on(Input.Submitted, "#path")
    def _path_done(self) -> None:
        if self.query_one("#kind", Select).value is Select.NULL:
            focus_now(self.query_one("#kind", Select))
        else:
            self.action_check()

    @on(Select.Changed, "#kind")
    def _kind_changed(self) -> None:
        self.checked_for = None

    def action_check(self) -> None:
        choice = self.choice()
        if choice is None:
            return
        path, kind, dup = choice
        lab = self.lab_app.lab
        self.query_one("#import-status", Static).update(esc(f"checking {path} as {kind}…"))
        progress = self._progress(f"checking {path} as {kind}")
        run_task(
            self,
            lambda: check_file(lab, kind, path, dup, progress),
            lambda p: self._show(p, choice),
            group="import-check",
            on_error=self._failed,
        )

    def _progress(self, doing: str) -> Throttled:
        """The import's progress (docs/bulk-imports.md, "Progress") in the status line, from
        the thread that reads the file; nothing once the screen is closed or a newer check
        or import has begun (an older one's thread may still be reading)."""
        self.progress_run += 1
        run = self.progress_run

        def show(text: str) -> None:
            with contextlib.suppress(RuntimeError):  # (the app is closing)
                self.app.call_from_thread(self._show_progress, f"{doing}: {text}", run)

        return Throttled(show)

    def _show_progress(self, text: str, run: int) -> None:
        if self.is_mounted and run == self.progress_run:
            self.query_one("#import-status", Static).update(esc(text))

    def _failed(self, exc: ExolabError) -> None:
        self.preview = None
        self.checked_for = None
        stop = f"[b red]{esc(exc)}[/]"
        earlier = getattr(exc, "earlier", [])  # (rows' problems found before reading stopped)
        if earlier:
            shown = esc("\n".join(earlier[:7]))
            stop = f"[b red]refused: the file has problems; nothing can be imported until they are fixed[/]\n{shown}\n{stop}"
        self.query_one("#import-status", Static).update(stop)
        self.app.bell()

    def _show(self, p: Preview, choice: tuple[str, str, str]) -> None:
        self.preview = p
        self.checked_for = choice if p.ok else None
        counts = ", ".join(f"{v} {k}" for k, v in p.counts.items() if v)
        if p.message:
            text = f"[b]{esc(p.message)}[/]"
        elif p.ok:
            text = f"[b green]ready to import[/]: would make {esc(counts or 'no changes')} — press ctrl+s to import"
        else:
            problems = esc("\n".join(p.lines[:8]))
            text = f"[b red]refused: the file has problems; nothing can be imported until they are fixed[/]\n{problems}"
        self.query_one("#import-status", Static).update(text)
        table = self.query_one("#preview", DataTable)
        table.clear(columns=True)
        table.add_column("row", key="row")
        for name in p.header:
            table.add_column(name, key=name)
        norm = [h.strip().lower() for h in p.header]
        for n, fields in p.rows:
            cells: list[Any] = [str(n)]
            for i, _ in enumerate(p.header):
                value = fields[i] if i < len(fields) else ""
                bad = p.bad.get((n, norm[i])) or p.bad.get((n, p.header[i]))
                cells.append(Text(value or "·", style="bold white on red") if bad else value)
            table.add_row(*cells, key=str(n))
        row_only = [msg for (r, col), msg in p.bad.items() if not col]
        if row_only:
            self.query_one("#cell-problem", Static).update("; ".join(row_only[:3]))

    @on(DataTable.CellHighlighted, "#preview")
    def _cell(self, event: DataTable.CellHighlighted) -> None:
        if self.preview is None:
            return
        row = int(str(event.cell_key.row_key.value))
        col = str(event.cell_key.column_key.value).strip().lower()
        msg = self.preview.bad.get((row, col), "")
        self.query_one("#cell-problem", Static).update(f"row {row}, {col}: {msg}" if msg else "")

    def action_apply(self) -> None:
        choice = self.choice()
        if choice is None:
            return
        if self.checked_for != choice:
            self.query_one("#import-status", Static).update(
                "[b]check the file first (ctrl+t)[/]: it is imported only after a clean check"
            )
            return
        path, kind, dup = choice
        lab = self.lab_app.lab
        from exolab.io.importer import run_import

        def done(report: Any) -> None:
            counts = ", ".join(f"{v} {k}" for k, v in report.counts().items() if v)
            self.query_one("#import-status", Static).update(
                f"[b green]imported[/] {esc(path)} as batch [b]{report.batch_id}[/]: {esc(counts)} "
                "(undo it from the palette: 'Undo an import batch')"
            )
            self.notify(f"import batch {report.batch_id}: {counts}")
            self.checked_for = None

        progress = self._progress(f"importing {path}")
        run_task(
            self,
            lambda: run_import(
                lab, kind, path, on_duplicate=cast("OnDuplicate", dup), progress=progress
            ),
            done,
            group="import-apply",
            on_error=self._failed,
        )


class UndoImportScreen(BaseScreen):
    TITLE = "Import batches"
    BINDINGS = [
        Binding("u", "undo", "Undo batch", id="undo.undo"),
        Binding("escape", "back", "Back", id="undo.back"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield PlainTable(id="batches", cursor_type="row", zebra_stripes=True)
        yield Static("select a batch and press u to remove exactly what it added", id="list-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        t = self.query_one("#batches", DataTable)
        t.add_columns("Batch", "Kind", "File", "User", "When", "Counts", "Status")
        focus_now(t)
        self.load()

    def load(self) -> None:
        self.db(import_batches, self._show, group="batches")

    def _show(self, batches: list[BatchOut]) -> None:
        t = self.query_one("#batches", DataTable)
        t.clear()
        for b in batches:
            counts = ", ".join(f"{v} {k}" for k, v in b.counts.items() if v)
            t.add_row(
                str(b.id),
                b.kind,
                Path(b.file_name).name,
                b.user,
                f"{b.started_at:%Y-%m-%d %H:%M}",
                counts,
                b.status,
                key=str(b.id),
            )

    def action_undo(self) -> None:
        from exolab.services.undo import undo_batch
        from exolab.tui.widgets.forms import ConfirmScreen

        t = self.query_one("#batches", DataTable)
        if not t.row_count:
            return
        batch_id = int(str(t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value))
        lab = self.lab_app.lab

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return

            def done(report: Any) -> None:
                removed = ", ".join(f"{v} {k}" for k, v in report.removed.items() if v)
                self.notify(f"batch {batch_id} undone: removed {removed or 'nothing'}")
                self.load()

            run_task(self, lambda: undo_batch(lab, batch_id), done, group="undo")

        self.app.push_screen(ConfirmScreen(f"Undo import batch {batch_id}?"), confirmed)


class ExportScreen(BaseScreen):
    TITLE = "Export"
    BINDINGS = [
        Binding("ctrl+s", "export", "Export", id="export.run"),
        Binding("escape", "back", "Back", id="export.back"),
    ]

    def compose(self) -> ComposeResult:
        from exolab.io.export import EXPORT_KINDS

        yield Header()
        with VerticalScroll():
            yield Static(
                "Record kinds write the import columns (they re-import without loss); "
                "longitudinal writes one row per readout with baselines (filters, wide and "
                "de-identify apply to it); storage writes the freezers, racks and boxes with "
                "their sizes (exolab storage add --from FILE creates them in another database). "
                "A manifest FILE.manifest.json is written beside the file.",
                classes="field-help",
            )
            with Horizontal(classes="grid-head-fields"):
                with Vertical(classes="form-column"):
                    yield Label("kind", classes="field-label")
                    yield Select[str](
                        [(k, k) for k in EXPORT_KINDS],
                        id="kind",
                        value="longitudinal",
                        allow_blank=False,
                    )
                with Vertical(classes="form-column"):
                    yield Label("file to write", classes="field-label")
                    yield Input(self.default_path("longitudinal"), id="out")
            with Horizontal(classes="grid-head-fields"):
                for name, hint in (
                    ("study", "study"),
                    ("subjects", "subjects (comma separated)"),
                    ("analytes", "analytes (comma separated)"),
                ):
                    with Vertical(classes="form-column"):
                        yield Label(name, classes="field-label")
                        yield Input("", id=f"x-{name}", placeholder=hint)
            with Horizontal(classes="grid-head-fields"):
                for name, hint in (
                    ("biofluid", "biofluid"),
                    ("method", "method"),
                    ("since", "YYYY-MM-DD"),
                    ("until", "YYYY-MM-DD"),
                ):
                    with Vertical(classes="form-column"):
                        yield Label(name, classes="field-label")
                        yield Input("", id=f"x-{name}", placeholder=hint)
            with Horizontal(classes="grid-head-fields"):
                yield MarkBox("wide (one column per analyte)", id="wide")
                yield MarkBox("de-identify", id="deid")
                yield Input("", id="x-salt", placeholder="salt (for stable hashes)")
            yield Static("", id="export-status", classes="panel")
        yield KeyFooter()

    @staticmethod
    def default_path(kind: str) -> str:
        return str(Path.cwd() / f"exolab-{kind}-{date.today().isoformat()}.csv")

    def on_mount(self) -> None:
        focus_now(self.query_one("#kind", Select))

    @on(Select.Changed, "#kind")
    def _kind(self, event: Select.Changed) -> None:
        out = self.query_one("#out", Input)
        if "exolab-" in out.value:
            out.value = self.default_path(str(event.value))

    def action_export(self) -> None:
        from exolab.io.export import Filters, run_export
        from exolab.services.errors import FieldError, ValidationFailed

        def value(name: str) -> str | None:
            return self.query_one(f"#x-{name}", Input).value.strip() or None

        def words(name: str) -> list[str]:
            return [w.strip() for w in (value(name) or "").split(",") if w.strip()]

        status = self.query_one("#export-status", Static)
        try:
            since = date.fromisoformat(v) if (v := value("since")) else None
            until = date.fromisoformat(v) if (v := value("until")) else None
        except ValueError:
            status.update("[b red]since/until: write dates as YYYY-MM-DD[/]")
            return
        kind = str(self.query_one("#kind", Select).value)
        out = self.query_one("#out", Input).value.strip()
        if not out:
            status.update("[b red]give the file to write[/]")
            return
        filters = Filters(
            study=value("study"),
            subjects=words("subjects"),
            analytes=words("analytes"),
            biofluid=value("biofluid"),
            method=value("method"),
            since=since,
            until=until,
        )
        wide = self.query_one("#wide", Checkbox).value
        deid = self.query_one("#deid", Checkbox).value
        salt = value("salt")
        lab = self.lab_app.lab
        path = str(Path(out).expanduser())
        if not Path(path).parent.exists():
            self._failed(ValidationFailed([FieldError("file", f"no folder {Path(path).parent}")]))
            return

        def done(result: Any) -> None:
            status.update(
                f"[b green]wrote {result.rows:,} rows[/] to {esc(result.path)}\n"
                f"manifest {esc(result.manifest)}"
            )
            self.notify(f"export written: {result.rows:,} rows")

        def start() -> None:
            status.update(esc(f"writing {path}…"))
            run_task(
                self,
                lambda: run_export(
                    lab, kind, path, filters=filters, wide=wide, deidentify=deid, salt=salt
                ),
                done,
                group="export",
                on_error=self._failed,
            )

        try:
            exists = Path(path).exists()
        except OSError:  # a name the system refuses: the export says why
            exists = False
        if not exists:
            start()
            return

        from exolab.tui.widgets.forms import ConfirmScreen

        def confirmed(replace: bool | None) -> None:  # an existing file is replaced only if asked
            if replace:
                start()
            else:
                status.update(esc(f"not written: {path} exists; give another file name"))

        self.app.push_screen(
            ConfirmScreen(f"{path} exists. Replace it with the export?"), confirmed
        )

    def _failed(self, exc: ExolabError) -> None:
        self.query_one("#export-status", Static).update(f"[b red]{esc(exc)}[/]")
        self.app.bell()
