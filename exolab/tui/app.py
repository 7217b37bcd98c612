"""The exolab terminal UI: the app, navigation, the command palette and error reporting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from exolab.db.engine import Database
from exolab.services.context import Actor, Lab
from exolab.services.errors import ExolabError, ValidationFailed
from exolab.settings import Settings
from exolab.tui.list_kinds import LIST_KINDS


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
        exact, found = await asyncio.to_thread(app.lookup_ids, text)
        if exact is not None:
            yield Hit(
                1.0,
                f"Open {exact.label}",
                partial(app.open_record, exact.kind, exact.key),
                text=f"Open {exact.label}",
                help="the record with exactly this id",
            )
        for r in found:
            if exact is not None and (r.kind, r.key) == (exact.kind, exact.key):
                continue
            yield Hit(
                0.5,
                f"Open {r.label}",
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
        database: Database | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.db = database or Database(url)
        self.lab = Lab(self.db, user, check_schema=False)
        self.actor = Actor(user, "viewer")
        self.actor_loaded = False
        self.warmed_up = False
        # Values of the last registered sample, the defaults for the next one (batch work).
        self.last_sample: dict[str, Any] = {}
        url_obj = self.db.engine.url
        if url_obj.get_backend_name() == "sqlite":
            self.url_display = f"sqlite {Path(url_obj.database or ':memory:').name}"
        else:
            self.url_display = f"{url_obj.get_backend_name()} {url_obj.host}/{url_obj.database}"

    # -- start-up ----------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        from exolab.tui.screens.home import HomeScreen

        return HomeScreen()

    def on_mount(self) -> None:
        from exolab.tui.workers import run_db

        self.sub_title = f"{self.lab.user_name} · {self.url_display}"
        run_db(self, lambda tx: tx.actor, self._actor_loaded, group="actor")

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

    # -- permissions and errors --------------------------------------------------------------

    def require_writer(self, what: str) -> bool:
        """True when the user may write; otherwise say why the action is disabled."""
        if self.actor.can_write:
            return True
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
            from sqlalchemy.exc import OperationalError

            if isinstance(exc, OperationalError):
                text = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
                self.notify(f"database: {text}", title="Database", severity="error", timeout=8)
            else:
                self.notify(
                    f"unexpected {type(exc).__name__}: {exc}",
                    title="Error",
                    severity="error",
                    timeout=10,
                )

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
            from exolab.services.browse import ListQuery
            from exolab.tui.screens.lists import ListScreen

            screen = ListScreen("samples", ListQuery(search=None), title=f"Samples of {key}")
            self.notify(f"cell source {key}: its conditioned-medium samples are listed by id")
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
            ("Import file", "validate, preview and import a CSV", self.action_import),
            ("Export data", "write a CSV export", self.action_export),
            ("Undo an import batch", "remove what one import added", self.action_undo_import),
            ("Help", "keys of the current screen (f1 / ?)", self.action_help),
            ("Quit", "leave exolab (ctrl+q)", self.action_quit_app),
        ]
        return cmds

    def lookup_ids(self, text: str) -> tuple[Any, list[Any]]:
        """Runs in a thread (palette): the record with exactly this id, and id prefix matches."""
        from exolab.services.browse import resolve_id, search_ids

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

    def action_import(self) -> None:
        from exolab.tui.screens.transfer import ImportWizardScreen

        if self.require_writer("import files"):
            self.push_screen(ImportWizardScreen())

    def action_undo_import(self) -> None:
        from exolab.tui.screens.transfer import UndoImportScreen

        if self.require_writer("undo imports"):
            self.push_screen(UndoImportScreen())

    def action_export(self) -> None:
        from exolab.tui.screens.transfer import ExportScreen

        self.push_screen(ExportScreen())

    def on_unmount(self) -> None:
        self.db.dispose()


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
