"""Crashes found by a new user, reproduced with the exact keys, and how the app behaves when
something unexpected goes wrong (an error notification and a log file, never an exit)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from exolab.services.context import Tx
from exolab.tui.app import ExolabApp
from exolab.tui.screens.base import BaseScreen
from exolab.tui.screens.lists import ListScreen
from exolab.tui.screens.readout_grid import ReadoutGridScreen
from exolab.tui.screens.register import RegisterSampleScreen
from exolab.tui.screens.subject import SubjectScreen
from tests.tui.conftest import TESTER, Notices, lab_for, run_async, settle, type_text

SIZE = (120, 40)


@run_async
async def test_new_sample_from_a_subject_view_opens_the_form(small_url: str) -> None:
    """Crash 1: `n` in a subject's view exited with NoMatches '#field-location'."""
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3")  # subjects list
        await settle(pilot)
        await pilot.press("enter")  # P01
        await settle(pilot)
        assert isinstance(app.screen, SubjectScreen)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, RegisterSampleScreen)
        screen = app.screen
        assert screen.query_one("#field-study", Input).value == "EVS"
        assert screen.query_one("#field-subject_id", Input).value == "P01"
        assert app.focused is screen.query_one("#field-sample_id", Input)
        assert app.return_code is None


@run_async
async def test_new_sample_from_a_new_subjects_view_opens_the_form(small_url: str) -> None:
    """Crash 1 also hit a subject registered a moment before in the UI."""
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        await pilot.press("n")  # new subject form
        await settle(pilot)
        await type_text(pilot, "EVS")
        await pilot.press("tab")
        await type_text(pilot, "P77")
        await pilot.press("ctrl+s")
        await settle(pilot)
        app.open_record("subject", "EVS/P77")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, RegisterSampleScreen)
        assert app.screen.query_one("#field-subject_id", Input).value == "P77"
        assert app.return_code is None


def _iso(url: str, iso: str = "ISO-1", notes: str | None = None) -> None:
    from exolab.services.isolations import record_isolation

    with lab_for(url).write() as tx:
        record_isolation(
            tx,
            {
                "isolation_id": iso,
                "sample_id": "S-1",
                "isolated_on": "2024-04-01",
                "method": "sec",
                "input_volume_ml": "1",
                "notes": notes,
            },
        )


async def _open_grid_for(pilot, iso: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+s")  # home: the scan field
    await type_text(pilot, iso)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("r")
    await settle(pilot)


@run_async
async def test_grid_with_unit_per_ml_shows_its_header(small_url: str) -> None:
    """Crash 2: analyte CD63 with unit /mL made the header 'CD63 [/mL]' (MarkupError)."""
    _iso(small_url)
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await _open_grid_for(pilot, "ISO-1")
        assert isinstance(app.screen, ReadoutGridScreen)
        app.screen.query_one("#analytes", Input).focus()
        await type_text(pilot, "CD63")
        await pilot.press("tab")
        await type_text(pilot, "/mL")
        await pilot.press("enter")
        await settle(pilot)
        head = str(app.screen.query_one("#grid-head", Static).render())
        assert head.split("\n")[0].split() == ["target", "CD63"]
        assert "(/mL)" in head.split("\n")[1]
        assert app.return_code is None


@run_async
async def test_user_text_with_brackets_is_shown_as_typed(small_db_url: str) -> None:
    """Ids, notes, groups, locations, analytes and units with [tags] are data, not markup."""
    from exolab.services import samples, subjects

    with lab_for(small_db_url).write() as tx:
        subjects.create_subject(
            tx,
            {
                "study": "EVS",
                "subject_id": "P02",
                "group": "[/mL]",
                "diagnosis": "[bold]x",
                "notes": "[link=x]y",
            },
        )
        samples.register_sample(
            tx,
            {
                "sample_id": "S-9",
                "biofluid": "plasma",
                "collected_at": "2024-03-01 09:00",
                "study": "EVS",
                "subject_id": "P02",
                "visit": "baseline",
                "volume_ml": "1",
                "notes": "[/mL] [bold] [link=x]",
                "location": "F1/R1/B1/A2",
            },
        )
    _iso(small_db_url, "ISO-2", notes="[bold]iso[/mL]")
    app = ExolabApp(small_db_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for kind, key in [
            ("subject", "EVS/P02"),
            ("sample", "S-9"),
            ("box", "F1/R1/B1"),
            ("isolation", "ISO-2"),
        ]:
            app.open_record(kind, key)
            await settle(pilot)
            await pilot.pause(0.1)
            assert app.return_code is None, (kind, key)
        head = str(app.screen.query_one("#iso-head", Static).render())
        assert "[bold]iso[/mL]" in head
        app.action_go("home")
        await settle(pilot)
        app.action_readout_grid(["ISO-2"])
        await settle(pilot)
        app.screen.query_one("#analytes", Input).focus()
        await type_text(pilot, "[bold]CD63")
        await pilot.press("tab")
        await type_text(pilot, "[/mL]")
        await pilot.press("enter")
        await settle(pilot)
        await type_text(pilot, "[link=x]")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.return_code is None
        app.notify("note [/mL] [bold]")
        await settle(pilot)
        app.action_go("audit")
        await settle(pilot)
        assert app.return_code is None


class FailingLoad(BaseScreen):
    """A screen whose database work hits a bug: the service call it runs raises."""

    def compose(self) -> ComposeResult:
        yield Static("loading", id="failing-load")

    def on_mount(self) -> None:
        self.db(self.broken_service_call, group="failing")

    @staticmethod
    def broken_service_call(tx: Tx) -> None:
        raise ZeroDivisionError("injected failure")


class FailingAction(BaseScreen):
    """A screen with a key whose action raises."""

    BINDINGS = [Binding("e", "explode", "Explode")]

    def compose(self) -> ComposeResult:
        yield Static("ready", id="failing-action")

    def action_explode(self) -> None:
        raise RuntimeError("action failed")


class FailingCompose(BaseScreen):
    """A screen that cannot be built."""

    def compose(self) -> ComposeResult:
        raise KeyError("compose failed")


@run_async
async def test_a_failing_service_call_is_reported_and_logged(small_url: str, ui_log: Path) -> None:
    """A worker's unexpected error: notification naming the log file, the app stays up."""
    notices = Notices()
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot)
        await app.push_screen(FailingLoad())
        await settle(pilot, expect_errors=True)
        assert [type(e) for e in app.unexpected] == [ZeroDivisionError]
        notes = notices.messages("error")
        assert any("injected failure" in n and str(ui_log) in n for n in notes), notes
        assert "ZeroDivisionError: injected failure" in ui_log.read_text()
        assert "broken_service_call" in ui_log.read_text()
        app.unexpected.clear()
        await pilot.press("f4")  # the app still answers keys
        await settle(pilot)
        assert isinstance(app.screen, ListScreen)
        assert app.return_code is None


@run_async
async def test_a_failing_key_action_and_a_failing_screen_keep_the_app_up(
    small_url: str, ui_log: Path
) -> None:
    notices = Notices()
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot)
        failing = FailingAction()
        await app.push_screen(failing)
        await settle(pilot)
        await pilot.press("e")  # the binding's action raises
        await settle(pilot, expect_errors=True)
        assert app.screen is failing
        assert [str(e) for e in app.unexpected] == ["action failed"]
        await app.push_screen(FailingCompose())  # cannot be built: closed, reported
        await settle(pilot, expect_errors=True)
        assert app.screen is failing
        assert [type(e) for e in app.unexpected][:2] == [RuntimeError, KeyError]
        assert len(notices.messages("error")) >= 2
        log = ui_log.read_text()
        assert "RuntimeError: action failed" in log and "KeyError: 'compose failed'" in log
        app.unexpected.clear()
        await pilot.press("f4")  # the app still answers keys
        await settle(pilot)
        assert isinstance(app.screen, ListScreen)
        assert app.return_code is None
