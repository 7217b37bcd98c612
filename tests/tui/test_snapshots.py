"""SVG snapshots of the main screens at 120x40 on the demo cohort (audit clock frozen)."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from exolab.tui.app import ExolabApp
from tests.tui.conftest import TESTER, settle

SIZE = (120, 40)


def still(*steps: Any) -> Any:
    """A run_before that performs ``steps`` (callables taking the app, or key names), waits
    for the database workers and stops every cursor blinking."""

    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for step in steps:
            if callable(step):
                step(pilot.app)
            else:
                await pilot.press(step)
            await settle(pilot)
        for widget in pilot.app.screen.query(Input):
            widget.cursor_blink = False
        # DataTable sizes its header columns when idle: let it, then redraw everything.
        await pilot.pause(0.5)
        for table in pilot.app.screen.query(DataTable):
            table.refresh(layout=True)
        await settle(pilot)
        await pilot.pause(0.3)

    return run


def test_home(snap_compare: Any, demo_url: str) -> None:
    assert snap_compare(ExolabApp(demo_url, TESTER), terminal_size=SIZE, run_before=still())


def test_samples_list(snap_compare: Any, demo_url: str) -> None:
    assert snap_compare(ExolabApp(demo_url, TESTER), terminal_size=SIZE, run_before=still("f4"))


def test_sample_view(snap_compare: Any, demo_url: str) -> None:
    open_it = still(lambda app: app.open_record("sample", "P001-M3-PL"))
    assert snap_compare(ExolabApp(demo_url, TESTER), terminal_size=SIZE, run_before=open_it)


def test_subject_view(snap_compare: Any, demo_url: str) -> None:
    open_it = still(lambda app: app.open_record("subject", "PDAC-EV/P001"))
    assert snap_compare(ExolabApp(demo_url, TESTER), terminal_size=SIZE, run_before=open_it)


def test_isolation_view(snap_compare: Any, demo_url: str) -> None:
    open_it = still(lambda app: app.open_record("isolation", "ISO-0003"))
    assert snap_compare(ExolabApp(demo_url, TESTER), terminal_size=SIZE, run_before=open_it)


def test_storage_box(snap_compare: Any, demo_url: str) -> None:
    open_it = still(lambda app: app.open_record("box", "F-80-1/R1/B02"))
    assert snap_compare(ExolabApp(demo_url, TESTER), terminal_size=SIZE, run_before=open_it)


def test_register_form(snap_compare: Any, demo_url: str) -> None:
    assert snap_compare(ExolabApp(demo_url, TESTER), terminal_size=SIZE, run_before=still("ctrl+n"))


def test_help(snap_compare: Any, demo_url: str) -> None:
    assert snap_compare(
        ExolabApp(demo_url, TESTER), terminal_size=SIZE, run_before=still("f4", "f1")
    )
