"""The exolab terminal UI: the app, navigation, the command palette and error reporting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from exolab.services.context import Actor, Lab
from exolab.services.errors import ExolabError, ValidationFailed
from exolab.settings import Settings
from exolab.tui.list_kinds import LIST_KINDS

NARROW = 100  # columns below which forms stack their columns (app.tcss .narrow)

# Palette commands that change data (marked for a user who may not write).
WRITE_COMMANDS = frozenset(
    {
        "Register sample",
        "Register subject",
        "Record isolation",
        "Enter readouts for a run",
        "Import file",
        "Undo an import batch",
    }
)


class ExolabCommands(Provider):
    """Command palette: every action by name, and any id (sample, isolation, subject, box...)."""

    async def discover(self) -> Hits:
        app: ExolabApp = self.app  # type: ignore[assignment]
        for name, help_text, callback in app.command_list():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        app: ExolabApp = self.app  # type: ignore[assignment]
        matcher = self.matcher(query)
        for name, help_text, callback in app.command_list():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)
        text = query.strip()
        if len(text) < 2:
            return
        try:
            exact, found = await asyncio.to_thread(app.lookup_ids, text)
        except Exception as exc:  # Textual would log it and show "No matches found"
            from exolab.services.errors import unreachable_database_text

            why = unreachable_database_text(exc)
            if why is None:
                app.report_unexpected(exc, "command palette id lookup")
                return
            yield Hit(
                1.0,
                Content(f"Ids not searched: database: {why}"[:200]),  # literal, not markup
                partial(app.report_error, exc),
                text="database unreachable",
                help="Enter shows the whole message",
            )
            return
        if exact is not None:
            yield Hit(
                1.0,
                Content(f"Open {exact.label}"),  # literal: a box path may hold [brackets]
                partial(app.open_record, exact.kind, exact.key),
                text=f"Open {exact.label}",
                help="the record with exactly this id",
            )
        for r in found:
            if exact is not None and (r.kind, r.key) == (exact.kind, exact.key):
                continue
            yield Hit(
                0.5,
                Content(f"Open {r.label}"),
                partial(app.open_record, r.kind, r.key),
                text=f"Open {r.label}",
            )


class ExolabApp(App[int]):
    """Keyboard-first lab UI on the service layer."""

    CSS_PATH = "app.tcss"
    TITLE = "exolab"
    COMMANDS = App.COMMANDS | {ExolabCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit_app", "Quit", id="app.quit", priority=True),
        Binding("f1", "help", "Help", id="app.help"),
        Binding("question_mark", "help", "Help", show=False, id="app.help_question"),
        Binding("f2", "go('home')", "Home", id="go.home"),
        Binding("f3", "go('subjects')", "Subjects", show=False, id="go.subjects"),
        Binding("f4", "go('samples')", "Samples", show=False, id="go.samples"),
        Binding("f5", "go('isolations')", "Isolations", show=False, id="go.isolations"),
        Binding("f6", "go('readouts')", "Readouts", show=False, id="go.readouts"),
        Binding("f7", "go('storage')", "Storage", show=False, id="go.storage"),
        Binding("f8", "go('audit')", "Audit", show=False, id="go.audit"),
    ]

    def __init__(
        self,
        url: str,
        user: str,
        *,
        settings: Settings | None = None,
        log_path: Path | None = None,
    ) -> None:
        from exolab.services.setup import open_lab_at

        super().__init__()
        self.settings = settings or Settings()
        self.lab: Lab = open_lab_at(url, user, check_schema=False)
        self.actor = Actor(user, "viewer")
        self.actor_loaded = False
        self.warmed_up = False
        # Values of the last registered sample, the defaults for the next one (batch work).
        self.last_sample: dict[str, Any] = {}
        from exolab.tui.errors import ui_log_path

        self.log_path = log_path or ui_log_path()
        from exolab.tui.keys import KeyGate

        self.key_gate = KeyGate(self)
        self.unexpected: list[BaseException] = []  # reported bugs, newest last (tests read it)
        from exolab.services.setup import database_label

        self.url_display = database_label(self.lab)

    # -- start-up ----------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        from exolab.tui.screens.home import HomeScreen

        return HomeScreen()

    def on_mount(self) -> None:
        from exolab.tui.workers import run_db

        self.sub_title = f"{self.lab.user_name} · {self.url_display}"
        # keys typed meanwhile wait for the user's role (a write key must not be refused
        # to an admin as if a viewer because the role had not been read yet)
        run_db(self, lambda tx: tx.actor, self._actor_loaded, group="actor", holds_keys=True)

    def on_resize(self, event: events.Resize) -> None:
        # app.tcss: forms stack their columns on narrow terminals (80x24)
        self.set_class(event.size.width < NARROW, "narrow")

    def warm_up(self) -> None:
        """Import the other screens in the background, once, after the first screen has its
        data (imports hold the interpreter lock: done earlier they slow the first page)."""
        if not self.warmed_up:
            self.warmed_up = True
            self.run_worker(_warm_up, thread=True, group="warm-up", exit_on_error=False)

    def _actor_loaded(self, actor: Actor) -> None:
        self.actor = actor
        self.actor_loaded = True
        mode = "" if actor.can_write else " · read-only"
        self.sub_title = f"{actor.name} ({actor.role}{mode}) · {self.url_display}"
        self.screen.refresh_bindings()  # footers show write keys only to writers

    # -- permissions and errors --------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications quote user data (ids, units, notes, error messages): always literal
        text (widgets' notify passes markup=True on their own; see exolab.tui.text)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def require_writer(self, what: str) -> bool:
        """True when the user may write; otherwise say why the action is disabled."""
        if self.actor.can_write:
            return True
        if not self.actor_loaded:  # the database has not told the user's role (yet)
            self.notify(
                f"cannot {what} yet: the role of user '{self.actor.name}' is still being read "
                "from the database; try again in a moment",
                title="Not yet",
                severity="warning",
            )
            return False
        self.notify(
            f"user '{self.actor.name}' has role {self.actor.role} and cannot {what}; "
            "ask an admin for a technician account (exolab user add NAME --role technician)",
            title="Read-only",
            severity="warning",
        )
        return False

    def report_error(self, exc: BaseException) -> None:
        """One place that turns an error into a plain message (never a traceback)."""
        if isinstance(exc, ValidationFailed):
            message = "\n".join(
                f"{e.field}: {e.message}" if e.field else e.message for e in exc.errors[:5]
            )
            self.notify(message, title="Not saved", severity="error", timeout=8)
        elif isinstance(exc, ExolabError):
            self.notify(str(exc), title="Not done", severity="error", timeout=8)
        else:
            from exolab.services.errors import unreachable_database_text

            text = unreachable_database_text(exc)
            if text is not None:
                self.notify(f"database: {text}", title="Database", severity="error", timeout=8)
            elif (file := _file_problem(exc)) is not None:
                self.notify(f"file: {file}", title="File", severity="error", timeout=8)
            else:
                self.report_unexpected(exc, "worker")

    def report_unexpected(self, exc: BaseException, where: str) -> None:
        """A bug, not a user error: details to the log file, a notification naming it; the
        app stays up (see docs/ui.md)."""
        from exolab.tui.errors import write_error

        self.unexpected.append(exc)
        written = write_error(self.log_path, exc, where, self.lab.user_name)
        details = f"details in {written}" if written else f"could not write {self.log_path}"
        self.notify(
            f"unexpected {type(exc).__name__}: {str(exc)[:200]}\n{details}",
            title="Error (the app carries on)",
            severity="error",
            timeout=15,
        )

    async def on_event(self, event: events.Event) -> None:
        # Keys in order, each once the UI has finished reacting to the one before (a
        # scanner's burst must not reach a field that is about to lose focus): exolab.tui.keys
        if (
            isinstance(event, events.Key)
            and not event.is_forwarded
            and self.screen_stack
            and not self.key_gate.admit(event)
        ):
            return
        await super().on_event(event)

    async def deliver_key(self, event: events.Key) -> None:
        """A key the gate held, delivered now."""
        await super().on_event(event)

    async def _dispatch_message(self, message: Any) -> None:
        # Key bindings and actions run here: an error in one must not stop the app's message
        # loop (Textual ends a loop at its first unhandled error).
        try:
            await super()._dispatch_message(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self.screen_stack:
                raise
            if (file := _file_problem(exc)) is not None:  # a file name typed in a screen
                self.notify(f"file: {file}", title="File", severity="error", timeout=8)
                return
            self.report_unexpected(exc, f"{type(message).__name__} on {type(self.screen).__name__}")

    def _handle_exception(self, error: Exception) -> None:
        """Textual's last resort (errors while composing, mounting, rendering or in a widget's
        own handler) exits the app; here the error is reported and the screen it happened on
        is closed instead (its widgets may be half built), unless it is the first screen."""
        from textual._context import active_message_pump

        if not self.is_running or len(self.screen_stack) < 1 or self._exit_renderables:
            super()._handle_exception(error)
            return
        pump = active_message_pump.get(None)
        screen: Screen[Any] | None = None
        if isinstance(pump, Screen):
            screen = pump
        elif pump is not None and pump is not self:
            try:
                screen = pump.screen  # type: ignore[attr-defined]
            except Exception:
                screen = None
        where = type(screen or self.screen).__name__
        self.report_unexpected(error, f"{type(pump).__name__} on {where}")
        if screen is not None and screen in self.screen_stack[1:]:

            def close() -> None:
                while screen in self.screen_stack[1:]:
                    self.pop_screen()

            self.call_later(close)

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.report_error(event.worker.error)

    # -- navigation --------------------------------------------------------------------------

    def open_record(self, kind: str, key: str, preloaded: Any = None) -> None:
        """Open the view of a record by its kind and id (``preloaded``: its data, when the
        caller already fetched it in the same database round trip)."""
        from exolab.tui.screens.isolation import IsolationScreen
        from exolab.tui.screens.readout_grid import ReadoutGridScreen
        from exolab.tui.screens.sample import SampleScreen
        from exolab.tui.screens.storage import StorageScreen
        from exolab.tui.screens.subject import SubjectScreen

        screen: Screen[Any]
        if kind == "sample":
            screen = SampleScreen(key, preloaded)
        elif kind == "isolation":
            screen = IsolationScreen(key)
        elif kind == "subject":
            screen = SubjectScreen(key)
        elif kind == "box":
            screen = StorageScreen(box=key)
        elif kind == "run":
            screen = ReadoutGridScreen(run=key)
        elif kind == "cell_source":
            from exolab.services.lists import ListQuery
            from exolab.tui.screens.lists import ListScreen

            screen = ListScreen("samples", ListQuery(cell_source=key), title=f"Samples of {key}")
        else:
            self.notify(f"nothing to open for {kind} {key}", severity="warning")
            return
        self.push_screen(screen)

    def action_go(self, where: str) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if where == "home":
            return
        self.push_screen(self.make_screen(where))

    def make_screen(self, where: str) -> Screen[Any]:
        from exolab.tui.screens.audit import AuditScreen
        from exolab.tui.screens.lists import ListScreen
        from exolab.tui.screens.storage import StorageScreen

        if where == "storage":
            return StorageScreen()
        if where == "audit":
            return AuditScreen()
        return ListScreen(where)

    def action_quit_app(self) -> None:
        self.exit(0)

    def action_help(self) -> None:
        from exolab.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.screen))

    # -- actions by name (palette) -----------------------------------------------------------

    def command_list(self) -> list[tuple[str, str, Callable[[], Any]]]:
        cmds: list[tuple[str, str, Callable[[], Any]]] = [
            ("Home", "counts, work queues, recent activity (f2)", partial(self.action_go, "home")),
        ]
        for kind, title in LIST_KINDS.items():
            cmds.append(
                (f"List {title.lower()}", f"browse {title.lower()}", partial(self.action_go, kind))
            )
        cmds += [
            (
                "Storage browser",
                "freezers, racks and box grids (f7)",
                partial(self.action_go, "storage"),
            ),
            (
                "Audit trail",
                "who changed what, when and why (f8)",
                partial(self.action_go, "audit"),
            ),
            ("Register sample", "scan or type a new tube's id", self.action_register_sample),
            ("Register subject", "a new study participant", self.action_register_subject),
            (
                "Record isolation",
                "an EV preparation with ordered method steps",
                self.action_record_isolation,
            ),
            ("Enter readouts for a run", "isolations x analytes grid", self.action_readout_grid),
            (
                "Compare isolation methods",
                "method pairs on split samples: agreement and a Bland-Altman plot",
                self.action_compare_methods,
            ),
            (
                "Cohort summary",
                "one analyte across subjects by visit, group, method or biofluid",
                self.action_cohort,
            ),
            (
                "Pick mode",
                "load a pick list, scan tubes to tick them off (wrong tubes refused)",
                self.action_pick_mode,
            ),
            (
                "Receive shipment",
                "load a manifest, scan the tubes as they are unpacked, receive them",
                self.action_receive_shipment,
            ),
            (
                "Print labels",
                "labels with a 2D code for tubes, isolations or a box (PDF or ZPL)",
                self.action_print_labels,
            ),
            ("Import file", "validate, preview and import a CSV", self.action_import),
            (
                "Import instrument file",
                "NTA, qPCR, dPCR or plate-reader export: map, check, import",
                self.action_import_instrument,
            ),
            ("Export data", "write a CSV export", self.action_export),
            ("Undo an import batch", "remove what one import added", self.action_undo_import),
            ("Help", "keys of the current screen (f1 / ?)", self.action_help),
            ("Quit", "leave exolab (ctrl+q)", self.action_quit_app),
        ]
        if not self.actor.can_write:  # marked, not hidden: choosing one says why it is refused
            cmds = [
                (
                    f"{name} (read-only)",
                    f"needs a technician or admin; you are {self.actor.role}",
                    cb,
                )
                if name in WRITE_COMMANDS
                else (name, help_text, cb)
                for name, help_text, cb in cmds
            ]
        return cmds

    def lookup_ids(self, text: str) -> tuple[Any, list[Any]]:
        """Runs in a thread (palette): the record with exactly this id, and id prefix matches."""
        from exolab.services.lookup import resolve_id, search_ids

        with self.lab.read() as tx:
            return resolve_id(tx, text), search_ids(tx, text, limit=5)

    def action_register_sample(self, defaults: dict[str, Any] | None = None) -> None:
        from exolab.tui.screens.register import RegisterSampleScreen

        if self.require_writer("register samples"):
            self.push_screen(RegisterSampleScreen(defaults))

    def action_register_subject(self) -> None:
        from exolab.tui.screens.forms import SubjectFormScreen

        if self.require_writer("register subjects"):
            self.push_screen(SubjectFormScreen())

    def action_record_isolation(self, sample_id: str | None = None) -> None:
        from exolab.tui.screens.isolation import IsolationFormScreen

        if self.require_writer("record isolations"):
            self.push_screen(IsolationFormScreen(sample_id))

    def action_readout_grid(self, isolations: Iterable[str] = ()) -> None:
        from exolab.tui.screens.readout_grid import ReadoutGridScreen

        if self.require_writer("record readouts"):
            self.push_screen(ReadoutGridScreen(isolations=list(isolations)))

    def action_compare_methods(self, analyte: str | None = None, study: str | None = None) -> None:
        from exolab.tui.screens.compare import CompareMethodsScreen

        self.push_screen(CompareMethodsScreen(analyte, study))

    def action_cohort(self, analyte: str | None = None, study: str | None = None) -> None:
        from exolab.tui.screens.cohort import CohortScreen

        self.push_screen(CohortScreen(analyte, study))

    def action_pick_mode(self, source: str | None = None) -> None:
        from exolab.tui.screens.pick import PickScreen

        self.push_screen(PickScreen(source))

    def action_receive_shipment(self, manifest: str | None = None) -> None:
        from exolab.tui.screens.receive import ReceiveScreen

        if self.require_writer("receive shipments"):
            self.push_screen(ReceiveScreen(manifest))

    def action_print_labels(self, ids: str | None = None) -> None:
        from exolab.tui.screens.print_labels import PrintLabelsScreen

        self.push_screen(PrintLabelsScreen(ids))

    def action_import(self) -> None:
        from exolab.tui.screens.transfer import ImportWizardScreen

        if self.require_writer("import files"):
            self.push_screen(ImportWizardScreen())

    def action_import_instrument(self, path: str = "") -> None:
        from exolab.tui.screens.instrument_import import InstrumentImportScreen

        if self.require_writer("import files"):
            self.push_screen(InstrumentImportScreen(path))

    def action_undo_import(self) -> None:
        from exolab.tui.screens.transfer import UndoImportScreen

        if self.require_writer("undo imports"):
            self.push_screen(UndoImportScreen())

    def action_export(self) -> None:
        from exolab.tui.screens.transfer import ExportScreen

        self.push_screen(ExportScreen())

    def on_unmount(self) -> None:
        from exolab.services.setup import close_lab

        close_lab(self.lab)


def _warm_up() -> None:
    """Import the screens in the background so the first Enter on a record opens at once."""
    import importlib

    for name in SCREEN_MODULES:
        importlib.import_module(name)


SCREEN_MODULES = (
    "exolab.tui.screens.lists",
    "exolab.tui.screens.sample",
    "exolab.tui.screens.subject",
    "exolab.tui.screens.isolation",
    "exolab.tui.screens.storage",
    "exolab.tui.screens.audit",
    "exolab.tui.screens.register",
    "exolab.tui.screens.readout_grid",
    "exolab.tui.screens.forms",
    "exolab.tui.screens.transfer",
    "exolab.tui.screens.help",
    "exolab.tui.screens.compare",
    "exolab.tui.screens.cohort",
    "exolab.io.importer",
    "exolab.io.export",
)


def run_app(url: str, user: str) -> int:
    """Run the UI on a database as a user; returns the exit status (0 after ctrl+q)."""
    app = ExolabApp(url, user)
    result = app.run()
    return int(result or 0) if app.return_code in (None, 0) else int(app.return_code)


def _file_problem(exc: BaseException) -> str | None:
    """What is wrong with a file the user named, when ``exc`` says so: the system refused it
    (a name too long, a read-only place) or the name holds a NUL character (pasted), which
    no file name may; None for any other error."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f": {exc.filename}" if exc.filename else "")
    if isinstance(exc, ValueError) and "null byte" in str(exc):
        return "a file name cannot contain a NUL character"
    return None
