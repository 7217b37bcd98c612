"""SVG snapshots of the main screens at 120x40 on the demo cohort (audit clock frozen).

Each snapshot is taken once the screen has settled by concrete conditions (workers done,
the home screen filled, tables showing the same thing between checks), never after a fixed
sleep."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual import on
from textual.notifications import Notify
from textual.pilot import Pilot
from textual.widgets import DataTable, Input
from textual.worker import WorkerState

from exolab.tui import app as app_module
from exolab.tui.app import ExolabApp
from exolab.tui.screens.home import HomeScreen
from tests.tui.conftest import TESTER, Notices

SIZE = (120, 40)


class SnapApp(ExolabApp):
    """The app as users see it, keeping every notification it posted (Textual's public
    ``Notify`` message): a snapshot is only taken of a screen that reported nothing."""

    CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))  # not relative to this file

    def __init__(self, url: str, user: str) -> None:
        super().__init__(url, user)
        self.notices = Notices()

    @on(Notify)
    def record_notice(self, message: Notify) -> None:
        self.notices.hook(message)


def _tables_shown(app: Any) -> tuple[Any, ...]:
    """What each DataTable of the screen shows, and its scrollable size: a table measures its
    new rows and sizes its columns when idle, so this changes until it has."""
    return tuple(
        (t.virtual_size, tuple(line.text for line in t.render_lines(t.size.region)))
        for t in app.screen.query(DataTable)
    )


async def quiet(pilot: Pilot[Any], timeout: float = 30.0) -> None:
    """Wait for concrete conditions, not for a while: no worker running or pending, the home
    screen (when shown) filled, and every DataTable showing the same thing three checks in a
    row; then redraw everything once."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    calm = 0
    shown: Any = None
    while calm < 3:  # three checks in a row with nothing left to do
        assert time.monotonic() < deadline, "the screen did not settle"
        await pilot.pause(0.05)
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers) or (
            isinstance(app.screen, HomeScreen) and not app.screen.loaded
        )
        before, shown = shown, None if busy else _tables_shown(app)
        calm = 0 if busy or shown != before else calm + 1
    for table in app.screen.query(DataTable):
        table.refresh(layout=True)
    await pilot.pause(0.05)


def still(*steps: Any) -> Any:
    """A run_before that performs ``steps`` (callables taking the app, or key names), waits
    until the screen has settled and stops every cursor blinking."""

    async def run(pilot: Pilot[Any]) -> None:
        await quiet(pilot)
        for step in steps:
            if callable(step):
                step(pilot.app)
            else:
                await pilot.press(step)
            await quiet(pilot)
        for widget in pilot.app.screen.query(Input):
            widget.cursor_blink = False
        await quiet(pilot)
        assert not pilot.app.notices.shown, pilot.app.notices.messages()

    return run


def test_home(snap_compare: Any, demo_url: str) -> None:
    assert snap_compare(SnapApp(demo_url, TESTER), terminal_size=SIZE, run_before=still())


def test_samples_list(snap_compare: Any, demo_url: str) -> None:
    assert snap_compare(SnapApp(demo_url, TESTER), terminal_size=SIZE, run_before=still("f4"))


def test_sample_view(snap_compare: Any, demo_url: str) -> None:
    open_it = still(lambda app: app.open_record("sample", "P001-M3-PL"))
    assert snap_compare(SnapApp(demo_url, TESTER), terminal_size=SIZE, run_before=open_it)


def test_subject_view(snap_compare: Any, demo_url: str) -> None:
    open_it = still(lambda app: app.open_record("subject", "PDAC-EV/P001"))
    assert snap_compare(SnapApp(demo_url, TESTER), terminal_size=SIZE, run_before=open_it)


def test_isolation_view(snap_compare: Any, demo_url: str) -> None:
    open_it = still(lambda app: app.open_record("isolation", "ISO-0003"))
    assert snap_compare(SnapApp(demo_url, TESTER), terminal_size=SIZE, run_before=open_it)


def test_storage_box(snap_compare: Any, demo_url: str) -> None:
    open_it = still(lambda app: app.open_record("box", "F-80-1/R1/B02"))
    assert snap_compare(SnapApp(demo_url, TESTER), terminal_size=SIZE, run_before=open_it)


def test_register_form(snap_compare: Any, demo_url: str) -> None:
    assert snap_compare(SnapApp(demo_url, TESTER), terminal_size=SIZE, run_before=still("ctrl+n"))


def test_help(snap_compare: Any, demo_url: str) -> None:
    assert snap_compare(SnapApp(demo_url, TESTER), terminal_size=SIZE, run_before=still("f4", "f1"))


def test_compare_methods(snap_compare: Any, demo_url: str) -> None:
    open_it = still(lambda app: app.action_compare_methods("GPC1"))
    assert snap_compare(SnapApp(demo_url, TESTER), terminal_size=SIZE, run_before=open_it)


def test_cohort_summary(snap_compare: Any, demo_url: str) -> None:
    open_it = still(lambda app: app.action_cohort("GPC1"))
    assert snap_compare(SnapApp(demo_url, TESTER), terminal_size=SIZE, run_before=open_it)
