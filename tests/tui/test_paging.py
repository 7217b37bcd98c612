"""Paging at the edges of a list (end of a page, last page, empty list), a scan of an unknown
id, and the list queries past the first page: a keyset condition, never OFFSET (docs/ui.md)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, event
from textual.widgets import Input, Static

from exolab.services import samples, subjects
from exolab.services.context import Lab
from exolab.services.lists import KINDS, ListQuery, list_page
from exolab.tui.app import ExolabApp
from exolab.tui.screens.home import HomeScreen
from exolab.tui.screens.lists import ListScreen
from tests.tui.conftest import TESTER, lab_for, run_async, settle

SIZE = (120, 40)
PAGE = 5


def _register(lab: Lab, n: int) -> list[str]:
    codes = [f"T-{i:03d}" for i in range(n)]
    with lab.write() as tx:
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P01"})
        for code in codes:
            samples.register_sample(
                tx,
                {
                    "sample_id": code,
                    "biofluid": "urine",
                    "collected_at": "2024-01-01 08:00",
                    "study": "EVS",
                    "subject_id": "P01",
                    "visit": "baseline",
                },
            )
    return codes


class CapturedSql:
    """Every statement any engine of this process sends while the block runs, and the rows
    it skips with OFFSET (SQLite's compiler writes ``LIMIT ? OFFSET ?`` with 0 for every
    LIMIT; PostgreSQL's writes OFFSET only when asked)."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.skipped: list[Any] = []

    def _seen(self, conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        self.statements.append(statement)
        if re.search(r"\bOFFSET\b", statement, re.I):
            if isinstance(parameters, (tuple, list)) and statement.rstrip().endswith("?"):
                self.skipped.append(parameters[-1])  # the last placeholder is the offset
            else:
                self.skipped.append(statement)  # an OFFSET the dialect would not write itself

    def __enter__(self) -> CapturedSql:
        event.listen(Engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._seen)

    def lists(self, table: str) -> list[str]:
        """The paged SELECTs of ``table`` (they carry ``LIMIT``)."""
        return [
            s
            for s in self.statements
            if s.lstrip().upper().startswith("SELECT")
            and re.search(rf"\bFROM {table}\b", s)
            and "LIMIT" in s.upper()
        ]


def _status(screen: ListScreen) -> str:
    return str(screen.query_one("#list-status", Static).render())


def test_pages_past_the_first_use_a_keyset_condition_not_offset(lab: Lab) -> None:
    codes = _register(lab, 12)
    seen: list[str] = []
    after = None
    with CapturedSql() as captured, lab.read() as tx:
        while True:
            page = list_page(tx, "samples", ListQuery(limit=PAGE), after)
            seen += [r.key for r in page.rows]
            if page.next_cursor is None:
                break
            after = page.next_cursor
        for kind in KINDS:  # every list, every sort order it offers, one page further
            for sort in ("sample_id", "registered", "biofluid", "collected_at"):
                try:
                    first = list_page(tx, kind, ListQuery(limit=1, sort=sort))
                except Exception:  # that kind has no such sort
                    continue
                if first.next_cursor is not None:
                    list_page(tx, kind, ListQuery(limit=1, sort=sort), first.next_cursor)
    assert captured.skipped == [0] * len(captured.skipped)  # no rows skipped, on any page
    assert seen == codes
    pages = captured.lists("samples")
    assert len(pages) >= 3
    # the second and third pages restart after the cursor: sample_code > the last one seen
    assert all(re.search(r"samples\.sample_code >", s) for s in pages[1:3])


def test_a_sort_by_a_shared_value_pages_through_each_value_and_past_it(lab: Lab) -> None:
    """Pages sorted by biofluid (many tubes per value) end inside a value and go on from
    there: every tube once, in (biofluid, registration) order, both directions."""
    with lab.write() as tx:
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P01"})
        for i in range(13):
            samples.register_sample(
                tx,
                {
                    "sample_id": f"B-{i:02d}",
                    "biofluid": ("urine", "plasma", "serum")[i % 3],
                    "collected_at": "2024-01-01 08:00",
                    "study": "EVS",
                    "subject_id": "P01",
                    "visit": "baseline",
                },
            )
    expected = sorted(
        (f"B-{i:02d}" for i in range(13)),
        key=lambda c: (("urine", "plasma", "serum")[int(c[2:]) % 3], c),
    )
    for descending, want in ((False, expected), (True, expected[::-1])):
        seen: list[str] = []
        after = None
        with lab.read() as tx:
            for _ in range(10):
                q = ListQuery(limit=PAGE, sort="biofluid", descending=descending)
                page = list_page(tx, "samples", q, after)
                seen += [r.key for r in page.rows]
                after = page.next_cursor
                if after is None:
                    break
        assert seen == want


@run_async
async def test_moving_past_the_last_row_of_a_page_shows_the_next_page(sqlite_url: str) -> None:
    codes = _register(lab_for(sqlite_url), 2 * PAGE + 2)
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = ListScreen("samples", ListQuery(limit=PAGE))
        app.push_screen(screen)
        await settle(pilot)
        assert [r.key for r in screen.page.rows] == codes[:PAGE]  # type: ignore[union-attr]
        await pilot.press(*["down"] * (PAGE - 1))  # to the last row of the page
        await settle(pilot)
        await pilot.press("down")  # past it
        await settle(pilot)
        assert [r.key for r in screen.page.rows] == codes[PAGE : 2 * PAGE]  # type: ignore[union-attr]
        assert "page 2 · rows 6–10 · more ]" in _status(screen)
        await pilot.press("right_square_bracket")  # the last page, 2 rows
        await settle(pilot)
        assert [r.key for r in screen.page.rows] == codes[2 * PAGE :]  # type: ignore[union-attr]
        assert "page 3 · rows 11–12 · end" in _status(screen)
        await pilot.press("right_square_bracket")  # nothing after the last page
        await settle(pilot)
        assert [r.key for r in screen.page.rows] == codes[2 * PAGE :]  # type: ignore[union-attr]
        assert any("last page" in n.message for n in app._notifications)
        await pilot.press("end", "down")  # past the last row of the last page: stays
        await settle(pilot)
        assert "page 3 · rows 11–12 · end" in _status(screen)
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert [r.key for r in screen.page.rows] == codes[PAGE : 2 * PAGE]  # type: ignore[union-attr]


@run_async
async def test_a_page_exactly_full_is_the_last_page(sqlite_url: str) -> None:
    codes = _register(lab_for(sqlite_url), PAGE)
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = ListScreen("samples", ListQuery(limit=PAGE))
        app.push_screen(screen)
        await settle(pilot)
        assert [r.key for r in screen.page.rows] == codes  # type: ignore[union-attr]
        assert screen.page.next_cursor is None  # type: ignore[union-attr]
        assert "rows 1–5 · end" in _status(screen)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert [r.key for r in screen.page.rows] == codes  # type: ignore[union-attr]


@run_async
async def test_an_empty_list_says_so_and_paging_keys_do_nothing(sqlite_url: str) -> None:
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4")  # samples: none registered
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ListScreen) and screen.kind == "samples"
        assert screen.page is not None and screen.page.rows == []
        assert "no rows · end" in _status(screen)
        await pilot.press("right_square_bracket", "down", "up", "left_square_bracket", "enter")
        await settle(pilot)
        assert app.screen is screen and screen.page.rows == []
        assert "page 1 · no rows · end" in _status(screen)


@run_async
async def test_a_search_that_matches_nothing_is_an_empty_page(sqlite_url: str) -> None:
    _register(lab_for(sqlite_url), 3)
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ListScreen)
        await pilot.press("slash")
        screen.query_one("#search", Input).value = "NOPE"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen and screen.page is not None and screen.page.rows == []
        assert "no rows · end · sorted by sample_id ↑ · search=NOPE" in _status(screen)


@run_async
async def test_scanning_an_unknown_id_says_so_and_stays_home(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        scan = app.screen.query_one("#scan", Input)
        scan.value = "S-404"
        scan.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert any(
            "no sample, isolation, subject or box with id 'S-404'" in n.message
            for n in app._notifications
        )
        assert scan.value == ""  # ready for the next scan
        scan.value = "S-1"  # a known id still opens after the miss
        await pilot.press("enter")
        await settle(pilot)
        assert type(app.screen).__name__ == "SampleScreen"


def test_the_volume_sort_pages_with_tubes_without_a_volume_first(lab: Lab) -> None:
    volumes = ["2", None, "0.5", "2", None, "1", "0.5"]
    with lab.write() as tx:
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P01"})
        for i, volume in enumerate(volumes):
            row = {
                "sample_id": f"V-{i}",
                "biofluid": "plasma",
                "collected_at": "2024-01-01 08:00",
                "study": "EVS",
                "subject_id": "P01",
                "visit": "baseline",
            }
            if volume is not None:
                row["volume_ml"] = volume
            samples.register_sample(tx, row)
    seen: list[str] = []
    after = None
    with lab.read() as tx:
        for _ in range(10):
            page = list_page(tx, "samples", ListQuery(limit=2, sort="volume_ml"), after)
            seen += [r.key for r in page.rows]
            after = page.next_cursor
            if after is None:
                break
    assert seen == ["V-1", "V-4", "V-2", "V-6", "V-5", "V-0", "V-3"]
