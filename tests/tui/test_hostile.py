"""A lab user and a hostile tester at the keyboard: ids typed in another case, a database
file removed under the UI, the palette on a database that went away (docs/ui.md)."""

from __future__ import annotations

from typing import Any

from textual.command import CommandPalette

from exolab.services import samples
from exolab.tui.app import ExolabApp
from exolab.tui.screens.lists import ListScreen
from exolab.tui.screens.sample import SampleScreen
from tests.tui.conftest import TESTER, lab_for, run_async, settle, type_text

SIZE = (120, 40)
MIXED = "P01-baseline-PL"  # ids as labs write them: upper and lower case mixed


def _add_mixed_case_tube(url: str) -> None:
    lab = lab_for(url)
    with lab.write() as tx:
        samples.register_sample(
            tx,
            {
                "sample_id": MIXED,
                "biofluid": "plasma",
                "collected_at": "2024-03-01 09:00",
                "study": "EVS",
                "subject_id": "P01",
                "visit": "baseline",
                "volume_ml": "1",
            },
        )
    lab.db.dispose()


def _opened(app: ExolabApp[Any] | ExolabApp) -> str | None:
    screen = app.screen
    return screen.code if isinstance(screen, SampleScreen) else None


@run_async
async def test_a_mixed_case_id_is_found_typed_in_any_case(small_db_url: str) -> None:
    """docs/ui.md: ids are found whatever the case they are typed in: in the palette, the
    home scan field and a list's search (P01-baseline-PL typed as p01-baseline-pl)."""
    _add_mixed_case_tube(small_db_url)
    app = ExolabApp(small_db_url, TESTER)
    for typed in (MIXED.lower(), MIXED.upper(), f"  {MIXED.lower()} "):
        exact, _ = app.lookup_ids(typed)
        assert exact is not None and exact.key == MIXED, typed
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # the palette, typed key by key, then Enter
        await pilot.press("ctrl+p")
        await settle(pilot, 1)
        assert isinstance(app.screen, CommandPalette)
        await type_text(pilot, MIXED.lower())
        await settle(pilot)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert _opened(app) == MIXED
        # the home scan field: a scanner typing upper case
        await pilot.press("f2", "ctrl+s", *MIXED.upper(), "enter")
        await settle(pilot)
        assert _opened(app) == MIXED
        # a list's search
        await pilot.press("f4", "slash", *MIXED.lower(), "enter")
        await settle(pilot)
        assert _opened(app) == MIXED
        assert isinstance(app.screen_stack[-2], ListScreen)
