"""The cohort view, driven by keyboard on a generated cohort: what it shows must be what
services.queries.cohort_summary computes."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from exolab.services.queries import CohortRow, cohort_summary
from exolab.tui.app import ExolabApp
from exolab.tui.screens.cohort import CohortScreen, row_cells
from exolab.tui.widgets.row_table import RowTable
from tests.queries import data
from tests.tui.conftest import TESTER, lab_for, run_async, settle, type_text
from tests.tui.test_compare import cohort_url, pick

SIZE = (120, 40)


def expected(
    url: str, analyte: str, study: str | None = None, by: str = "visit", change: bool = False
) -> list[CohortRow]:
    lab = lab_for(url)
    try:
        with lab.read() as tx:
            return cohort_summary(tx, analyte, study, by, change)
    finally:
        lab.db.dispose()


def shown(app: Any) -> tuple[list[str], list[list[str]], str]:
    screen = app.screen
    assert isinstance(screen, CohortScreen)
    table = screen.query_one("#cohort-rows", RowTable)
    note = str(screen.query_one("#cohort-note", Static).render())
    return table.labels, table.cells, note


@run_async
async def test_cohort_summary_by_keyboard(sqlite_url: str) -> None:
    url = cohort_url(sqlite_url)
    app = ExolabApp(url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await type_text(pilot, "Cohort summary")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CohortScreen)
        # Opened without an analyte: the most measured one, by visit.
        first = app.screen.analyte
        assert first is not None and app.screen.choices is not None
        assert first == app.screen.choices.analytes[0]
        columns, cells, _ = shown(app)
        assert columns[0] == "Visit" and cells == [row_cells(r) for r in expected(url, first)]

        await pick(pilot, "a", "GPC1")
        want = expected(url, "GPC1")
        assert want and sum(r.n for r in want) > 10, "the generated cohort has GPC1 results"
        columns, cells, note = shown(app)
        assert app.screen.analyte == "GPC1"
        assert cells == [row_cells(r) for r in want]
        assert f"{sum(r.n for r in want)} results" in note and "value by visit" in note
        # The plot draws one box per row of the first unit, from the same statistics.
        title, boxes = app.screen.plotted
        assert title.startswith("GPC1 value by visit") and f"[{want[0].unit}]" in title
        first_unit = [r for r in want if r.unit == want[0].unit and r.median is not None]
        assert [b[0] for b in boxes] == [r.value or "(none)" for r in first_unit]
        assert [b[1:] for b in boxes] == [(r.min, r.q1, r.median, r.q3, r.max) for r in first_unit]

        # c: change from baseline; g: by subject group; t: one study.
        await pilot.press("c")
        await settle(pilot)
        _, cells, note = shown(app)
        assert cells == [row_cells(r) for r in expected(url, "GPC1", change=True)]
        assert "change from baseline by visit" in note

        await pick(pilot, "g", "group")
        columns, cells, _ = shown(app)
        assert app.screen.by == "group" and columns[0] == "Group"
        assert cells == [row_cells(r) for r in expected(url, "GPC1", by="group", change=True)]

        await pick(pilot, "t", data.STUDY)
        _, cells, note = shown(app)
        assert app.screen.study == data.STUDY and f"in {data.STUDY}" in note
        assert cells == [
            row_cells(r) for r in expected(url, "GPC1", data.STUDY, by="group", change=True)
        ]

        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, CohortScreen)


@run_async
async def test_cohort_opens_from_the_subject_view(sqlite_url: str) -> None:
    from exolab.tui.screens.subject import SubjectScreen

    url = cohort_url(sqlite_url)
    app = ExolabApp(url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_record("subject", f"{data.STUDY}/S02")
        await settle(pilot)
        assert isinstance(app.screen, SubjectScreen)
        analyte = str(app.screen.query_one("#pick-analyte").value)  # type: ignore[attr-defined]
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, CohortScreen)
        assert (app.screen.analyte, app.screen.study) == (analyte, data.STUDY)
        _, cells, _ = shown(app)
        assert cells == [row_cells(r) for r in expected(url, analyte, data.STUDY)]
