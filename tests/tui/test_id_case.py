"""Mixed-case ids at the keyboard: a prefix typed in lower case in a list's search and in the
palette finds them; a scan opens the id typed exactly, and says which ids it could be when it
matches several only ignoring case (docs/ui.md; SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from textual.command import CommandList, CommandPalette

from exolab.services import samples
from exolab.tui.app import ExolabApp
from exolab.tui.screens.lists import ListScreen
from exolab.tui.screens.sample import SampleScreen
from tests.tui.conftest import TESTER, Notices, lab_for, run_async, settle, type_text

SIZE = (120, 40)
IDS = ["P001-bl-A3", "P001-BL-B1", "ab-1", "AB-1"]


def _add_tubes(url: str) -> None:
    lab = lab_for(url)
    with lab.write() as tx:
        for code in IDS:
            samples.register_sample(
                tx,
                {
                    "sample_id": code,
                    "biofluid": "plasma",
                    "collected_at": "2024-03-01 09:00",
                    "study": "EVS",
                    "subject_id": "P01",
                    "visit": "baseline",
                    "volume_ml": "1",
                },
            )
    lab.db.dispose()


def _opened(app: Any) -> str | None:
    return app.screen.code if isinstance(app.screen, SampleScreen) else None


@run_async
async def test_a_lower_case_prefix_in_the_samples_search_lists_mixed_case_ids(
    small_db_url: str,
) -> None:
    _add_tubes(small_db_url)
    app = ExolabApp(small_db_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4", "slash")
        await settle(pilot)
        await type_text(pilot, "p001-bl")
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ListScreen)
        assert [r.key for r in screen.page.rows] == ["P001-BL-B1", "P001-bl-A3"]
        # upper case finds the same; a longer prefix narrows it
        await pilot.press("slash", "ctrl+u", *"P001-BL-A", "enter")
        await settle(pilot)
        assert [r.key for r in screen.page.rows] == ["P001-bl-A3"]
        # two ids differing only in case, typed in a third way: the list of both, none opened
        await pilot.press("slash", "ctrl+u", *"Ab-1", "enter")
        await settle(pilot)
        assert app.screen is screen
        assert [r.key for r in screen.page.rows] == ["AB-1", "ab-1"]
        # typed exactly: that tube opens
        await pilot.press("slash", "ctrl+u", *"ab-1", "enter")
        await settle(pilot)
        assert _opened(app) == "ab-1"


@run_async
async def test_a_lower_case_prefix_in_the_palette_suggests_mixed_case_ids(
    small_db_url: str,
) -> None:
    _add_tubes(small_db_url)
    app = ExolabApp(small_db_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot, 1)
        assert isinstance(app.screen, CommandPalette)
        await type_text(pilot, "p001-bl")
        await settle(pilot)
        await pilot.pause(0.5)
        hits = app.screen.query_one(CommandList)
        shown = [str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count)]
        assert any("sample P001-bl-A3" in s for s in shown), shown
        assert any("sample P001-BL-B1" in s for s in shown), shown
        await type_text(pilot, "-a3")  # the whole id, in lower case: Enter opens it
        await settle(pilot)
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        assert _opened(app) == "P001-bl-A3"


@run_async
async def test_a_scan_opens_the_exact_id_and_names_the_ids_it_could_be(
    small_db_url: str,
) -> None:
    _add_tubes(small_db_url)
    notices = Notices()
    app = ExolabApp(small_db_url, TESTER)
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot)
        for typed in ("AB-1", "ab-1"):
            await pilot.press("f2", "ctrl+s", *typed, "enter")
            await settle(pilot)
            assert _opened(app) == typed
        await pilot.press("f2", "ctrl+s", *"aB-1", "enter")
        await settle(pilot)
        assert _opened(app) is None
        warned = notices.messages("warning")
        assert warned == ["'aB-1' could be any of: sample AB-1 (plasma), sample ab-1 (plasma); "
                          "type it as written"], warned  # fmt: skip
        await pilot.press("ctrl+s", *"p001-bl-a3", "enter")  # one id ignoring case: opened
        await settle(pilot)
        assert _opened(app) == "P001-bl-A3"


@run_async
async def test_the_readout_grid_adds_a_row_by_an_id_in_any_case(small_db_url: str) -> None:
    _add_tubes(small_db_url)
    notices = Notices()
    app = ExolabApp(small_db_url, TESTER)
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot)
        app.action_readout_grid([])
        await settle(pilot)
        screen: Any = app.screen
        await pilot.press("ctrl+o", *"p001-bl-a3", "enter")
        await settle(pilot)
        await pilot.press("ctrl+o", *"Ab-1", "enter")
        await settle(pilot)
        assert screen.targets == [("sample", "P001-bl-A3")]
        assert any(m.startswith("'Ab-1' could be any of: sample AB-1") for m in
                   notices.messages("warning")), notices.messages()  # fmt: skip


@run_async
async def test_the_palette_shows_a_box_path_with_brackets_as_written(small_db_url: str) -> None:
    """A box path may hold any character but '/': `F[red]/R1/B[b]2` is suggested as written
    (not read as markup, which hid `[red]` and `[b]`) and opens its box."""
    from exolab.services import storage
    from exolab.tui.screens.storage import StorageScreen

    lab = lab_for(small_db_url)
    with lab.write() as tx:
        storage.add_location(tx, "F[red]/R1/B[b]2", n_rows=9, n_cols=9)
    lab.db.dispose()
    app = ExolabApp(small_db_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot, 1)
        assert isinstance(app.screen, CommandPalette)
        await type_text(pilot, "f[red]/r1")
        await settle(pilot)
        await pilot.pause(0.5)
        hits = app.screen.query_one(CommandList)
        shown = [str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count)]
        assert any("F[red]/R1/B[b]2" in s for s in shown), shown
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, StorageScreen)


@run_async
async def test_the_new_box_form_refuses_a_box_differing_only_in_case(small_db_url: str) -> None:
    """docs/ui.md: new storage differing from stored storage only in letter case is refused on
    every path; the New box form says so next to the path, naming the stored freezer, and
    creates nothing (the small lab has F1/R1/B1)."""
    from sqlalchemy import func, select
    from textual.widgets import Static

    from exolab.db.models import Box, Freezer
    from exolab.tui.screens.forms import NewBoxScreen

    def counts() -> tuple[int, int]:
        lab = lab_for(small_db_url)
        with lab.read() as tx:
            got = tuple(
                tx.session.scalar(select(func.count()).select_from(t)) or 0 for t in (Freezer, Box)
            )
        lab.db.dispose()
        return got[0], got[1]

    before = counts()
    app = ExolabApp(small_db_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f2", "f7")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, NewBoxScreen)
        await type_text(pilot, "f1/r1/b2")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, NewBoxScreen)  # still open, the path to correct
        shown = str(app.screen.query_one("#error-path", Static).render())
        assert shown == "storage F1 exists; did you mean F1/R1/b2?", shown
    assert counts() == before
