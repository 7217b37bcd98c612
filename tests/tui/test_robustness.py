"""Crashes found by a new user, reproduced with the exact keys, and how the app behaves when
something unexpected goes wrong (an error notification and a log file, never an exit)."""

from __future__ import annotations

from textual.widgets import Input

from exolab.tui.app import ExolabApp
from exolab.tui.screens.register import RegisterSampleScreen
from exolab.tui.screens.subject import SubjectScreen
from tests.tui.conftest import TESTER, run_async, settle, type_text

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
