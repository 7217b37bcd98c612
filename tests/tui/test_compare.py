"""The compare-methods view, driven by keyboard on generated split samples: what it shows must
be what services.queries.compare_methods computes."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from exolab.services.queries import MethodPair, compare_methods
from exolab.tui.app import ExolabApp
from exolab.tui.screens.compare import CompareMethodsScreen, num, pair_cells
from exolab.tui.screens.subject import SubjectScreen
from exolab.tui.widgets.row_table import RowTable
from tests.queries import data
from tests.tui.conftest import TESTER, lab_for, palette, run_async, settle, type_text

SIZE = (120, 40)


def expected(url: str, analyte: str, study: str | None = None) -> list[MethodPair]:
    lab = lab_for(url)
    try:
        with lab.read() as tx:
            return compare_methods(tx, analyte, study, with_pairs=True)
    finally:
        lab.db.dispose()


LONE = "ZZLONE"  # an analyte measured on one isolation by one method: no pairs


def cohort_url(sqlite_url: str) -> str:
    from exolab.services.readouts import record_readout

    lab = lab_for(sqlite_url)
    cohort = data.generate()
    data.load(lab, cohort)
    one = next(r for r in cohort.readouts if r.get("isolation_id"))
    with lab.write() as tx:
        record_readout(tx, {**one, "analyte": LONE, "value": "12.5", "run_id": "LONE-1"})
    lab.db.dispose()
    return sqlite_url


def shown(app: Any) -> tuple[list[list[str]], str]:
    screen = app.screen
    assert isinstance(screen, CompareMethodsScreen)
    table = screen.query_one("#pairs", RowTable)
    note = str(screen.query_one("#pair-note", Static).render())
    return table.cells, note


async def pick(pilot: Any, key: str, text: str) -> None:
    """Open a picker by its key, type to the option and take it."""
    await pilot.press(key)
    await settle(pilot)
    await type_text(pilot, text)
    await pilot.press("enter")
    await settle(pilot)


@run_async
async def test_compare_methods_by_keyboard(sqlite_url: str) -> None:
    url = cohort_url(sqlite_url)
    gpc1 = expected(url, "GPC1")
    assert gpc1 and any(p.n_pairs >= 3 for p in gpc1), "the generated cohort has split samples"
    app = ExolabApp(url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await palette(pilot, "Compare isolation methods")
        assert isinstance(app.screen, CompareMethodsScreen)
        # Opened without an analyte: the first (most measured) one with method pairs.
        first = app.screen.analyte
        assert first is not None and expected(url, first)

        await pick(pilot, "a", "GPC1")
        cells, note = shown(app)
        assert app.screen.analyte == "GPC1"
        assert cells == [pair_cells(p) for p in gpc1]
        top = gpc1[0]
        assert f"{top.n_pairs} pairs ({top.n_censored_pairs} with a censored side" in note
        assert f"limits of agreement {num(top.loa_lower)} to {num(top.loa_upper)}" in note
        assert f"[{top.unit}]" in note  # a unit in brackets is text, not markup ([/mL])
        assert cells[0][4] == str(top.n_pairs) and cells[0][6] == num(top.mean_difference)
        # The plot is the Bland-Altman of the highlighted pair: its title names the pair.
        title, xs, ys = app.screen.plotted
        assert f"{top.method_b} − {top.method_a}" in title
        assert xs == [(v.a + v.b) / 2 for v in top.pairs] and len(xs) == top.n_pairs
        assert ys == [v.b - v.a for v in top.pairs]

        if len(gpc1) > 1:  # ↓ plots the next pair
            await pilot.press("down")
            await settle(pilot)
            _, note = shown(app)
            second = gpc1[1]
            assert f"{second.method_b} − {second.method_a}" in note
            assert f"{second.n_pairs} pairs" in note
            assert app.screen.plotted[2] == [v.b - v.a for v in second.pairs]

        # A study filter reads the pairs of that study only.
        await pick(pilot, "t", data.STUDY)
        cells, _ = shown(app)
        assert app.screen.study == data.STUDY
        assert cells == [pair_cells(p) for p in expected(url, "GPC1", data.STUDY)]

        # An analyte without split samples says so instead of an empty table.
        assert LONE in app.screen.choices.analytes  # type: ignore[union-attr]
        assert expected(url, LONE, data.STUDY) == []
        await pick(pilot, "a", LONE)
        cells, note = shown(app)
        assert cells == [] and f"no split samples measured for {LONE}" in note
        assert app.screen.plotted[1:] == ([], [])


@run_async
async def test_compare_opens_from_the_subject_view(sqlite_url: str) -> None:
    url = cohort_url(sqlite_url)
    app = ExolabApp(url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_record("subject", f"{data.STUDY}/S02")
        await settle(pilot)
        assert isinstance(app.screen, SubjectScreen)
        analyte = str(app.screen.query_one("#pick-analyte").value)  # type: ignore[attr-defined]
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CompareMethodsScreen)
        assert (app.screen.analyte, app.screen.study) == (analyte, data.STUDY)
        cells, _ = shown(app)
        assert cells == [pair_cells(p) for p in expected(url, analyte, data.STUDY)]
