"""Keystrokes sent in one burst (Pilot without pauses; a keyboard-wedge scanner typing
id + Tab or id + Enter) land in the right field, in order; bindings never clash with what a
text input does with a key; dialogs focus their first field."""

from __future__ import annotations

import inspect

from textual.binding import Binding
from textual.widgets import Input

from exolab.tui import app as app_module
from exolab.tui.app import ExolabApp
from exolab.tui.screens.register import RegisterSampleScreen
from exolab.tui.screens.sample import SampleScreen
from tests.tui.conftest import TESTER, run_async, settle

SIZE = (120, 40)


@run_async
async def test_typing_right_after_ctrl_n_goes_into_the_new_form(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # ctrl+n and the scanner's id + Tab + more text, without a pause
        await pilot.press("ctrl+n", *"S-2", "tab")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RegisterSampleScreen)
        assert screen.query_one("#field-sample_id", Input).value == "S-2"
        assert app.focused is screen.query_one("#field-biofluid")


@run_async
async def test_scan_burst_opens_the_tube_and_the_next_key_acts_there(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # home: ctrl+s focuses the scan field; the wedge types s-1 + Enter; then m (move)
        await pilot.press("ctrl+s", *"s-1", "enter", "m", *"F1/R1/B1/B2")
        await settle(pilot)
        assert isinstance(app.screen_stack[-2], SampleScreen)
        dialog = app.screen
        assert dialog.query_one("#location", Input).value.endswith("F1/R1/B1/B2")


@run_async
async def test_dialogs_focus_their_first_field(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_record("sample", "S-1")
        await settle(pilot)
        for key, first in [("a", "#count"), ("m", "#location"), ("d", "#reason"), ("o", "#reason")]:
            await pilot.press(key)
            await settle(pilot)
            assert app.focused is app.screen.query_one(first), (key, app.focused)
            await pilot.press("escape")
            await settle(pilot)


def _screen_classes() -> list[type]:
    import importlib

    from textual.screen import Screen

    found = []
    for name in app_module.SCREEN_MODULES:
        if ".screens." not in name:
            continue
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Screen) and obj.__module__ == module.__name__:
                found.append(obj)
    return found


def test_no_binding_is_a_key_text_inputs_use() -> None:
    taken = {
        key.strip() for b in Input.BINDINGS if isinstance(b, Binding) for key in b.key.split(",")
    }
    clashes = [
        (cls.__name__, b.key)
        for cls in [*_screen_classes(), ExolabApp]
        for b in getattr(cls, "BINDINGS", [])
        if isinstance(b, Binding) and not b.priority
        for key in b.key.split(",")
        if key.strip() in taken
    ]
    assert clashes == []


def _footer_keys(app: ExolabApp) -> list[tuple[str, int, int]]:
    """The keys the footer shows: its FooterKey widgets, found by their CSS type name (Textual
    does not export the class), with where each sits on the screen."""
    return [
        (str(k.description), k.region.x, k.region.right)
        for k in app.screen.query("FooterKey")
        if "-command-palette" not in k.classes
    ]


@run_async
async def test_viewer_sees_no_write_keys_and_marked_palette_commands(small_url: str) -> None:
    app = ExolabApp(small_url, "visitor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_record("sample", "S-1")
        await settle(pilot)
        shown = [d for d, _, _ in _footer_keys(app)]
        assert "Back" in shown and "In box" in shown
        assert not {"Aliquot", "Move", "Discard", "Edit"} & set(shown)
        names = [name for name, _, _ in app.command_list()]
        assert "Register sample (read-only)" in names and "Register sample" not in names
        assert "List samples" in names
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_record("sample", "S-1")
        await settle(pilot)
        assert {"Aliquot", "Discard"} <= {d for d, _, _ in _footer_keys(app)}
        assert "Register sample" in [name for name, _, _ in app.command_list()]


@run_async
async def test_footer_keys_fit_whole_at_80_columns(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for kind, key in [("sample", "S-1"), ("subject", "EVS/P01")]:
            app.open_record(kind, key)
            await settle(pilot)
            keys = _footer_keys(app)
            assert "Back" in [d for d, _, _ in keys], keys
            assert all(right <= 80 - 12 for _, _, right in keys), keys
            await pilot.press("escape")
            await settle(pilot)


@run_async
async def test_ids_typed_in_lower_case_are_found_as_in_list_search(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s", *"s-1", "enter")
        await settle(pilot)
        assert isinstance(app.screen, SampleScreen) and app.screen.code == "S-1"
        for typed, key in [("s-1", "S-1"), ("p01", "EVS/P01"), ("f1/r1/b1", "F1/R1/B1")]:
            exact, _ = app.lookup_ids(typed)
            assert exact is not None and exact.key == key, typed
