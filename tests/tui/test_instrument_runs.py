"""The isolation view's instrument runs (key i): the run panel, its settings and the NTA size
distribution, as imported from the real NanoSight file."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, Static

from exolab.io.instrument_import import import_instrument
from exolab.tui.app import ExolabApp
from exolab.tui.screens.instrument_run import InstrumentRunsScreen
from tests.io.helpers import base_cohort
from tests.tui.conftest import TESTER, lab_for, run_async, settle

NTA = (
    Path(__file__).parents[1] / "io" / "instruments" / "data" / "beads_NTA3.2_ExperimentSummary.csv"
)


def _import(url: str, tmp: Path) -> str:
    lab = lab_for(url)
    try:
        base_cohort(lab, tmp)
        return import_instrument(lab, NTA, target="ISO-1").run_code
    finally:
        lab.db.dispose()


@run_async
async def test_isolation_view_shows_instrument_runs(sqlite_url: str, tmp_path: Path) -> None:
    run_code = _import(sqlite_url, tmp_path)
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=(140, 50)) as pilot:
        await settle(pilot)
        app.open_record("isolation", "ISO-1")
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InstrumentRunsScreen)
        head = str(screen.query_one("#run-head", Static).render())
        assert run_code in head and "84 readouts" in head
        assert "NTA 3.2 Dev Build 3.2.16" in head and "values already corrected" in head
        table = screen.query_one("#run-settings", DataTable)
        rows = {
            str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1]) for i in range(table.row_count)
        }
        assert rows["Camera Level"] == "15, 10"
        assert rows["Detection Threshold"] == "8"
        dist = screen.runs[0].settings["size_distribution"]
        assert len(dist["bin_centre_nm"]) == 1000 and len(dist["videos"]) == 12
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, InstrumentRunsScreen)


@run_async
async def test_isolation_without_instrument_runs(sqlite_url: str, tmp_path: Path) -> None:
    _import(sqlite_url, tmp_path)
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=(140, 50)) as pilot:
        await settle(pilot)
        app.open_record("isolation", "ISO-2")
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        head = str(app.screen.query_one("#run-head", Static).render())
        assert "ISO-2 has no readouts from an instrument file" in head


@run_async
async def test_instrument_import_wizard(sqlite_url: str, tmp_path: Path) -> None:
    from exolab.tui.screens.instrument_import import InstrumentImportScreen
    from tests.tui.conftest import type_text

    lab = lab_for(sqlite_url)
    base_cohort(lab, tmp_path)
    lab.db.dispose()
    qia = NTA.parent / "qiacuity_dpcr_example01.csv"
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=(140, 60)) as pilot:
        await settle(pilot)
        app.action_import_instrument(str(qia))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InstrumentImportScreen)
        panel = str(screen.query_one("#run-panel", Static).render())
        assert "qiacuity (QIAcuity dPCR CSV)" in panel and "D1: NTC amplified" in panel
        plate = screen.query_one("#plate", DataTable)
        row_a = [str(c) for c in plate.get_row_at(0)]
        assert row_a[:2] == ["A", "S"]
        row_d = [str(c) for c in plate.get_row_at(3)]
        assert row_d[:2] == ["D", "N"]
        status = str(screen.query_one("#istatus", Static).render())
        assert "3 results, 3 left out" in status and "map: 1, 5, 6" in status
        await pilot.press("ctrl+s")  # not checked yet: refused
        await settle(pilot)
        assert "check the file first" in str(screen.query_one("#istatus", Static).render())
        await type_text(pilot, "1=ISO-1,5=ISO-2")
        await pilot.press("ctrl+k")
        await settle(pilot)
        status = str(screen.query_one("#istatus", Static).render())
        assert "refused" in status and "F1:name: sample name '6'" in status
        await type_text(pilot, ",6=ISO-3")
        screen.query_one("#ianalyte", Input).value = "5p=miR-21-5p"
        await pilot.press("ctrl+k")
        await settle(pilot)
        status = str(screen.query_one("#istatus", Static).render())
        assert "ready to import" in status and "3 created" in status
        await pilot.press("ctrl+s")
        await settle(pilot)
        status = str(screen.query_one("#istatus", Static).render())
        assert "imported" in status and "as batch" in status
    lab = lab_for(sqlite_url)
    try:
        with lab.read() as tx:
            from sqlalchemy import func, select

            from exolab.db.models import Readout

            assert tx.session.scalar(select(func.count()).select_from(Readout)) == 3
    finally:
        lab.db.dispose()
