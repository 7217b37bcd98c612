"""The readout grid: replicates as rows, run details typed once, saved through the same
service as before (services.readouts.record_readouts)."""

from __future__ import annotations

from sqlalchemy import select
from textual.widgets import Input, Static

from exolab.db.models import Readout
from exolab.tui.app import ExolabApp
from exolab.tui.screens.readout_grid import ReadoutGridScreen
from tests.tui.conftest import TESTER, choose, fill, lab_for, run_async, settle, type_text

SIZE = (120, 40)


def _isolations(url: str, *codes: str) -> None:
    from exolab.services.isolations import record_isolation

    with lab_for(url).write() as tx:
        for code in codes:
            record_isolation(
                tx,
                {
                    "isolation_id": code,
                    "sample_id": "S-1",
                    "isolated_on": "2024-04-01",
                    "method": "sec",
                    "input_volume_ml": "0.5",
                },
            )


async def _head(pilot, **fields: str) -> None:  # type: ignore[no-untyped-def]
    """Fill head fields by focusing each (ids as keys), each value in one step: the keys that
    matter here (Enter down the column, the value burst) are pressed one by one."""
    screen = pilot.app.screen
    for ident, text in fields.items():
        screen.query_one(f"#{ident}", Input).focus()
        await settle(pilot, 1)
        await fill(pilot, text)


def _rows(url: str) -> list[tuple[object, ...]]:
    with lab_for(url).read() as tx:
        return [
            tuple(r)
            for r in tx.session.execute(
                select(
                    Readout.replicate,
                    Readout.value_text,
                    Readout.unit,
                    Readout.run_code,
                    Readout.instrument,
                    Readout.antibody,
                    Readout.antibody_dilution,
                    Readout.lysis_buffer,
                    Readout.lod,
                    Readout.qc,
                ).order_by(Readout.id)
            ).all()
        ]


@run_async
async def test_nta_triplicates_down_the_column_with_run_details(small_url: str) -> None:
    _isolations(small_url, "ISO-1", "ISO-2")
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_readout_grid(["ISO-1", "ISO-2"])
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReadoutGridScreen)
        assert app.focused is screen.query_one("#run")  # the first field
        await type_text(pilot, "NTA-7")
        await pilot.press("tab")
        await choose(pilot, "nta")
        await _head(
            pilot,
            instrument="NS300",
            lysis_buffer="RIPA",
            analytes="particles",
            units="particles/mL",
            lod="1e6",
            antibody="none",
        )
        screen.query_one("#replicates", Input).focus()
        await settle(pilot, 1)
        await pilot.press("ctrl+u")
        await type_text(pilot, "3")
        # one burst: Enter builds the 6 rows, then the six values go down the column
        await pilot.press("enter", *"1.1e10", "enter", *"1.2e10", "enter", *"1.3e10", "enter")
        await pilot.press(*"2.1e10", "enter", *"2.2e10", "enter", "<", "L", "O", "D")
        await settle(pilot)
        labels = [str(w.render()) for w in screen.query(".row-label")]
        assert labels == [f"ISO-{i} r{r}" for i in (1, 2) for r in (1, 2, 3)]
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "particles/mL" in str(screen.query_one("#grid-head", Static).render())
    rows = _rows(small_url)
    assert [(r[0], r[1]) for r in rows] == [
        (1, "1.1e10"),
        (2, "1.2e10"),
        (3, "1.3e10"),
        (1, "2.1e10"),
        (2, "2.2e10"),
        (3, "<LOD"),
    ]
    assert {r[2:] for r in rows} == {
        ("/mL", "NTA-7", "NS300", "none", None, "RIPA", 1e6, None)  # unit normalised
    }


@run_async
async def test_per_analyte_details_and_their_count_checked(small_url: str) -> None:
    _isolations(small_url, "ISO-1")
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_readout_grid(["ISO-1"])
        await settle(pilot)
        screen = app.screen
        await type_text(pilot, "WB-1")
        await pilot.press("tab")
        await choose(pilot, "western")
        await _head(
            pilot,
            analytes="CD63, TSG101, ALB",
            antibody="ab1, ab2",  # three analytes, two antibodies
            antibody_dilution="1:1000, 1:500",  # and two dilutions
        )
        await pilot.press("ctrl+s")
        await settle(pilot)
        message = str(screen.query_one("#form-message", Static).render())
        assert "antibody: give one value for all analytes or one per analyte" in message
        assert app.focused is screen.query_one("#antibody")
        await pilot.press("end")  # the field's text is selected on focus
        await type_text(pilot, ", ab3")
        await pilot.press("ctrl+s")
        await settle(pilot)
        message = str(screen.query_one("#form-message", Static).render())
        assert "Ab dilution: give one value for all analytes or one per analyte" in message
        assert app.focused is screen.query_one("#antibody_dilution")
        await type_text(pilot, "1:1000")  # selected on focus: replaced
        screen.query_one("#analytes", Input).focus()
        await settle(pilot, 1)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press(*"detected", "tab", *"detected", "tab", *"not detected", "ctrl+s")
        await settle(pilot)
    with lab_for(small_url).read() as tx:
        got = tx.session.execute(
            select(Readout.value_text, Readout.antibody, Readout.antibody_dilution).order_by(
                Readout.id
            )
        ).all()
    assert [tuple(r) for r in got] == [
        ("detected", "ab1", "1:1000"),
        ("detected", "ab2", "1:1000"),
        ("not detected", "ab3", "1:1000"),
    ]
