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
