"""The help screen tells a viewer that write actions are read-only (it reads the user from the
app without importing the app module: no import cycle)."""

from __future__ import annotations

from textual.widgets import DataTable

from exolab.services.users import add_user
from exolab.tui.app import ExolabApp
from exolab.tui.screens.help import HelpScreen
from tests.tui.conftest import TESTER, lab_for, run_async, settle


async def _help_rows(url: str, user: str) -> list[list[str]]:
    app = ExolabApp(url, user)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#keys", DataTable)
        return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


@run_async
async def test_viewer_is_told_writes_are_read_only(sqlite_url: str) -> None:
    lab = lab_for(sqlite_url)
    with lab.write() as tx:
        add_user(tx, "vera", "viewer")
    lab.db.dispose()
    viewer = await _help_rows(sqlite_url, "vera")
    assert ["", "write actions are read-only for your role", "viewer"] in viewer
    admin = await _help_rows(sqlite_url, TESTER)
    assert all("read-only" not in row[1] for row in admin)
