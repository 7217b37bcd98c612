"""The subject view marks a change against a censored baseline as a bound (">+500.0"), as
`exolab patient` does (docs/longitudinal.md, "Change from baseline")."""

from __future__ import annotations

from textual.widgets import DataTable

from exolab.services.readouts import record_readout
from exolab.services.samples import register_sample
from exolab.services.subjects import create_subject
from exolab.tui.app import ExolabApp
from exolab.tui.screens.subject import SubjectScreen
from tests.tui.conftest import TESTER, lab_for, run_async, settle


@run_async
async def test_change_against_a_censored_baseline_shows_as_a_bound(sqlite_url: str) -> None:
    lab = lab_for(sqlite_url)
    with lab.write() as tx:
        create_subject(tx, {"study": "PDAC", "subject_id": "P1"})
        for visit, at, value in (
            ("baseline", "2024-01-10T09:00", "<LOD"),
            ("M3", "2024-04-10T09:00", "300"),
        ):
            sample = f"P1-{visit}"
            register_sample(
                tx,
                {
                    "sample_id": sample,
                    "biofluid": "plasma",
                    "collected_at": at,
                    "study": "PDAC",
                    "subject_id": "P1",
                    "visit": visit,
                },
            )
            record_readout(
                tx,
                {
                    "sample_id": sample,
                    "analyte": "GPC1",
                    "value": value,
                    "unit": "pg/mL",
                    "assay": "elisa",
                    "lod": "50",
                },
            )
    lab.db.dispose()
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.open_record("subject", "PDAC/P1")
        await settle(pilot, rounds=8)
        assert isinstance(app.screen, SubjectScreen)
        table = app.screen.query_one("#points", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
    by_visit = {row[0]: row for row in rows}
    assert by_visit["baseline"][7] == "baseline" and by_visit["baseline"][6] == "lt_lod"
    assert by_visit["M3"][8] == ">+500.0"


@run_async
async def test_a_censored_set_without_a_bound_gives_no_bound_in_the_view(sqlite_url: str) -> None:
    """A baseline set of two <LOD, one with lod 50 and one without, has no bound
    (docs/longitudinal.md, "Replicate sets"): the view gives M3 no change (not ">+300.0") and
    its chart draws the set nowhere, not at 50; with both limits known it is drawn at 50."""
    from exolab.services.queries import trajectory_for_subject
    from exolab.tui.screens.subject import censored_at

    lab = lab_for(sqlite_url)
    with lab.write() as tx:
        create_subject(tx, {"study": "PDAC", "subject_id": "P1"})
        for visit, at in (("baseline", "2024-01-10T09:00"), ("M3", "2024-04-10T09:00")):
            register_sample(
                tx,
                {
                    "sample_id": f"P1-{visit}",
                    "biofluid": "plasma",
                    "collected_at": at,
                    "study": "PDAC",
                    "subject_id": "P1",
                    "visit": visit,
                },
            )
        for sample, value, lod, replicate in (
            ("P1-baseline", "<LOD", "50", 1),
            ("P1-baseline", "<LOD", "", 2),
            ("P1-M3", "200", "50", 1),
        ):
            record_readout(
                tx,
                {
                    "sample_id": sample,
                    "analyte": "GPC1",
                    "value": value,
                    "unit": "pg/mL",
                    "assay": "elisa",
                    "lod": lod,
                    "replicate": replicate,
                },
            )
    with lab.read() as tx:
        points = trajectory_for_subject(tx, "PDAC", "P1", ["GPC1"])
    baseline = [p for p in points if p.visit == "baseline"]
    assert [p.replicate for p in baseline] == [1, 2]
    assert censored_at(baseline) is None
    assert censored_at(baseline[:1]) == 50.0
    lab.db.dispose()
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.open_record("subject", "PDAC/P1")
        await settle(pilot, rounds=8)
        assert isinstance(app.screen, SubjectScreen)
        table = app.screen.query_one("#points", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
    (m3,) = [row for row in rows if row[0] == "M3"]
    assert m3[8] == ""
