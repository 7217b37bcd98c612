"""Each workflow driven by keyboard only through the real app, asserting on the database."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select
from textual.widgets import Input, Static

from exolab.db.models import (
    AuditEvent,
    ImportBatch,
    Isolation,
    IsolationStep,
    Readout,
    Sample,
    Subject,
)
from exolab.services import samples, subjects
from exolab.tui.app import ExolabApp
from exolab.tui.screens.forms import EditRecordScreen
from exolab.tui.screens.help import HelpScreen
from exolab.tui.screens.isolation import IsolationFormScreen, IsolationScreen
from exolab.tui.screens.lists import ListScreen
from exolab.tui.screens.readout_grid import ReadoutGridScreen
from exolab.tui.screens.register import RegisterSampleScreen
from exolab.tui.screens.sample import SampleScreen
from exolab.tui.screens.transfer import ExportScreen, ImportWizardScreen
from tests.tui.conftest import (
    TESTER,
    Notices,
    choose,
    clear_and_type,
    fill,
    lab_for,
    palette,
    run_async,
    settle,
    type_text,
)

SIZE = (120, 40)


async def scan(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    """What a barcode scanner does on the home screen: the id, then Enter."""
    await pilot.press("ctrl+s")  # home: focus the scan field
    await type_text(pilot, text)
    await pilot.press("enter")
    await settle(pilot)


async def fill_serum_tube(pilot, sample_id: str) -> None:  # type: ignore[no-untyped-def]
    """Type a serum tube of EVS/P01 visit M3 into the register form, field by field."""
    await type_text(pilot, sample_id)
    await pilot.press("enter")  # a scanner's Enter moves on to the biofluid picker
    await choose(pilot, "serum")
    await pilot.press("tab")
    await type_text(pilot, "2024-05-01 09:00")
    await pilot.press("tab")
    await type_text(pilot, "EVS")
    await pilot.press("tab")
    await type_text(pilot, "P01")
    await pilot.press("tab")
    await type_text(pilot, "M3")


@run_async
async def test_register_sample_is_saved_and_audited(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, RegisterSampleScreen)
        await fill_serum_tube(pilot, "S-2")
        await pilot.press("ctrl+l")
        await clear_and_type(pilot, "F1/R1/B1/A2")
        await pilot.press("ctrl+s")
        await settle(pilot)
        # ready for the next tube of the batch: id cleared, location moved on
        assert app.screen.query_one("#field-sample_id", Input).value == ""
        assert app.screen.query_one("#field-location", Input).value == "F1/R1/B1/A3"
        assert app.screen.query_one("#field-study", Input).value == "EVS"
    lab = lab_for(small_url)
    with lab.read() as tx:
        s = samples.get_sample(tx, "S-2")
        events = tx.session.execute(
            select(AuditEvent.action, AuditEvent.user_name).where(
                AuditEvent.entity == "sample", AuditEvent.entity_id == "S-2"
            )
        ).all()
    assert (s.biofluid, s.subject_id, s.visit, s.location) == ("serum", "P01", "M3", "F1/R1/B1/A2")
    assert [tuple(e) for e in events] == [("create", TESTER)]


@run_async
async def test_register_form_ready_for_the_next_tube_shows_no_error(small_url: str) -> None:
    """Once a tube is saved the form clears the id for the next one: the empty id field is
    the next tube's, not a mistake, so no "required" stands under it before anything is
    typed (it did); saving it empty still says so."""
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await fill_serum_tube(pilot, "S-4")
        await pilot.press("ctrl+s")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RegisterSampleScreen)
        assert screen.query_one("#field-sample_id", Input).value == ""
        assert str(screen.query_one("#error-sample_id", Static).render()) == ""
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "required" in str(screen.query_one("#error-sample_id", Static).render())
    with lab_for(small_url).read() as tx:
        assert samples.get_sample(tx, "S-4").visit == "M3"
        assert tx.session.scalar(select(func.count()).select_from(Sample)) == 2


@run_async
async def test_register_form_shows_field_errors_and_writes_nothing(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await type_text(pilot, "S-3")
        await pilot.press("tab", "tab")
        await type_text(pilot, "yesterday")
        await pilot.press("ctrl+s")
        await settle(pilot)
        screen = app.screen
        assert "required" in str(screen.query_one("#error-biofluid", Static).render())
        assert str(screen.query_one("#error-collected_at", Static).render())
    with lab_for(small_url).read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(Sample)) == 1


@run_async
async def test_aliquot_places_children_and_thaws_parent(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await scan(pilot, "S-1")
        assert isinstance(app.screen, SampleScreen)
        await pilot.press("a")
        await settle(pilot)
        await clear_and_type(pilot, "3")
        await pilot.press("tab")
        await type_text(pilot, "0.5")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SampleScreen)
    with lab_for(small_url).read() as tx:
        parent = samples.get_sample(tx, "S-1")
        kids = [samples.get_sample(tx, f"S-1-A{i}") for i in (1, 2, 3)]
    assert parent.freeze_thaw_count == 1
    assert parent.volume_ml == 2.5
    assert [k.location for k in kids] == ["F1/R1/B1/A2", "F1/R1/B1/A3", "F1/R1/B1/A4"]
    assert all(k.parent_sample_id == "S-1" and k.freeze_thaw_count == 1 for k in kids)


@run_async
async def test_move_and_discard_with_reason(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await scan(pilot, "S-1")
        await pilot.press("m")
        await settle(pilot)
        await clear_and_type(pilot, "F2/R1/B9/C3")
        await pilot.press("tab", "tab")
        await type_text(pilot, "freezer defrost")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        await type_text(pilot, "hemolysed")
        await pilot.press("enter")
        await settle(pilot)
    with lab_for(small_url).read() as tx:
        s = samples.get_sample(tx, "S-1")
        reasons = tx.session.scalars(
            select(AuditEvent.reason).where(AuditEvent.entity_id == "S-1").order_by(AuditEvent.id)
        ).all()
    assert s.status == "discarded" and s.location is None
    assert reasons[-2:] == ["freezer defrost", "hemolysed"]


@run_async
async def test_isolation_with_ordered_steps(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await scan(pilot, "S-1")
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, IsolationFormScreen)
        await type_text(pilot, "ISO-9")
        await pilot.press("tab", "tab", "tab")  # sample id and date are filled in
        await type_text(pilot, "1.5")
        await pilot.press("ctrl+t")
        await type_text(pilot, "duc+sec")
        await settle(pilot)
        await pilot.press("tab")
        await type_text(pilot, "100000")  # step 1 duc: g-force
        await pilot.press("tab")
        await type_text(pilot, "70")  # minutes
        await pilot.press("tab", "tab", "tab", "tab")  # rotor, k-factor, temperature -> sec column
        await type_text(pilot, "qEV 70")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, IsolationScreen)
    with lab_for(small_url).read() as tx:
        iso = tx.session.scalar(select(Isolation).where(Isolation.isolation_code == "ISO-9"))
        assert iso is not None
        steps = [
            (s.method, s.params)
            for s in tx.session.scalars(
                select(IsolationStep)
                .where(IsolationStep.isolation_id == iso.id)
                .order_by(IsolationStep.step_no)
            )
        ]
        assert iso.method == "duc+sec" and iso.input_volume_ml == 1.5
    assert steps == [
        ("duc", {"g_force": 100000.0, "minutes": 70.0}),
        ("sec", {"column": "qEV 70"}),
    ]


@run_async
async def test_readout_grid_accepts_censored_values(small_url: str) -> None:
    from exolab.services.isolations import record_isolation

    lab = lab_for(small_url)
    with lab.write() as tx:
        record_isolation(
            tx,
            {
                "isolation_id": "ISO-1",
                "sample_id": "S-1",
                "isolated_on": "2024-04-01",
                "method": "sec",
                "input_volume_ml": "1",
            },
        )
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await scan(pilot, "ISO-1")
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ReadoutGridScreen)
        await type_text(pilot, "ELISA-7")
        await pilot.press("tab")
        await choose(pilot, "elisa")
        await pilot.press("tab", "tab", "tab", "tab", "tab")  # date, instrument, buffer, QC
        assert app.focused is app.screen.query_one("#analytes")
        await type_text(pilot, "CD63, ALB")
        await pilot.press("tab")
        await type_text(pilot, "pg/mL, ug/mL")
        await pilot.press("enter")
        await settle(pilot)
        await type_text(pilot, "12.5")
        await pilot.press("enter")
        await type_text(pilot, "<LOD")
        await pilot.press("ctrl+s")
        await settle(pilot)
    with lab.read() as tx:
        rows = tx.session.execute(
            select(
                Readout.value_text, Readout.value, Readout.censor, Readout.unit, Readout.run_code
            ).order_by(Readout.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("12.5", 12.5, "none", "pg/mL", "ELISA-7"),
        ("<LOD", None, "lt_lod", "ug/mL", "ELISA-7"),
    ]


def write_csv(path: Path, rows: list[dict[str, str]]) -> str:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return str(path)


async def run_import(pilot, path: str) -> str:  # type: ignore[no-untyped-def]
    await palette(pilot, "Import file")
    assert isinstance(pilot.app.screen, ImportWizardScreen)
    await fill(pilot, path)  # the path in one step, as pasted (typed key by key: export test)
    await pilot.press("tab")
    await choose(pilot, "subjects")
    await pilot.press("ctrl+t")
    await settle(pilot, 8)
    return str(pilot.app.screen.query_one("#import-status", Static).render())


@run_async
async def test_import_wizard_refuses_bad_file_and_imports_good_one(
    small_url: str, tmp_path: Path
) -> None:
    bad = write_csv(
        tmp_path / "bad.csv",
        [
            {"study": "EVS", "subject_id": "P10", "sex": "F"},
            {"study": "EVS", "subject_id": "P11", "sex": "robot"},
        ],
    )
    good = write_csv(
        tmp_path / "good.csv",
        [
            {"study": "EVS", "subject_id": "P10", "sex": "F"},
            {"study": "EVS", "subject_id": "P11", "sex": "M"},
        ],
    )
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = await run_import(pilot, bad)
        assert "refused" in status and ":3:sex:" in status
        await pilot.press("ctrl+s")  # refused: nothing is imported
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        status = await run_import(pilot, good)
        assert "ready to import" in status
        await pilot.press("ctrl+s")
        await settle(pilot, 8)
        assert "imported" in str(app.screen.query_one("#import-status", Static).render())
    with lab_for(small_url).read() as tx:
        codes = tx.session.scalars(
            select(Subject.subject_code).order_by(Subject.subject_code)
        ).all()
        batches = tx.session.scalars(select(ImportBatch.file_name)).all()
    assert codes == ["P01", "P10", "P11"]
    assert batches == [good]


@run_async
async def test_import_wizard_shows_the_rows_problems_before_reading_stopped(
    small_url: str, tmp_path: Path
) -> None:
    """A file whose reading stops (a quote never closed on row 3) showed only the stop; the
    problem of row 2 before it is shown too, above it."""
    bad = tmp_path / "stops.csv"
    bad.write_text('study,subject_id,sex\nEVS,P10,robot\nEVS,P11,"F\n', encoding="utf-8")
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = await run_import(pilot, str(bad))
    assert "refused" in status and ":2:sex:" in status, status
    assert ":3:sex: a quote opens this value" in status
    assert status.index(":2:sex:") < status.index(":3:sex:")


@run_async
async def test_import_wizard_says_a_header_only_file_has_nothing_to_import(
    small_url: str, tmp_path: Path
) -> None:
    """A header and no data row was "ready to import: would make no changes", and importing
    it recorded an empty batch. The check says there is nothing to import, and does not
    offer it."""
    empty = tmp_path / "empty.csv"
    empty.write_text("study,subject_id,sex\n", encoding="utf-8")
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = await run_import(pilot, str(empty))
        assert "nothing to import" in status and "no data rows after the header" in status
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "check the file first" in str(
            app.screen.query_one("#import-status", Static).render()
        )
    with lab_for(small_url).read() as tx:
        assert tx.session.scalars(select(ImportBatch.file_name)).all() == []


@run_async
async def test_export_is_written_with_manifest(
    small_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the path is typed relative to the working directory
    out = tmp_path / "samples.csv"
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await palette(pilot, "Export data")
        assert isinstance(app.screen, ExportScreen)
        await choose(pilot, "samples")
        await pilot.press("tab")
        await clear_and_type(pilot, "samples.csv")  # a path typed key by key (relative: cwd)
        await pilot.press("ctrl+s")
        await settle(pilot, 8)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["sample_id"] for r in rows] == ["S-1"]
    assert rows[0]["location"] == "F1/R1/B1/A1"
    assert (tmp_path / "samples.csv.manifest.json").exists()


@run_async
async def test_edit_refuses_to_overwrite_a_change_made_meanwhile(small_url: str) -> None:
    lab = lab_for(small_url)
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        assert isinstance(app.screen, ListScreen)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, EditRecordScreen)
        with lab.write() as tx:  # someone else edits the tube meanwhile
            samples.update_sample(tx, "S-1", {"notes": "relabelled"}, reason="other user")
        await pilot.press("tab", "tab", "tab")  # biofluid, collected at, tube -> volume
        await clear_and_type(pilot, "3")
        await pilot.press("ctrl+o")  # the reason field
        await type_text(pilot, "measured again")
        await pilot.press("ctrl+s")
        await settle(pilot)
        message = str(app.screen.query_one("#form-message", Static).render())
        assert "changed by someone else" in message
        await pilot.press("ctrl+r")  # reload, then the edit goes through
        await settle(pilot)
        await pilot.press("tab", "tab", "tab")  # biofluid, collected at, tube -> volume
        await clear_and_type(pilot, "3")
        await pilot.press("ctrl+o")  # the reason field
        await type_text(pilot, "measured again")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ListScreen)
    with lab.read() as tx:
        s = samples.get_sample(tx, "S-1")
    assert (s.volume_ml, s.notes, s.version) == (3.0, "relabelled", 3)


@run_async
async def test_list_search_scan_opens_the_tube(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("slash")
        await type_text(pilot, "S-1")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SampleScreen) and app.screen.code == "S-1"


@run_async
async def test_viewer_cannot_write_and_is_told_why(small_url: str) -> None:
    notices = Notices()
    app = ExolabApp(small_url, "visitor")
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot)
        assert app.actor.role == "viewer"
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert not isinstance(app.screen, RegisterSampleScreen)
        assert any("cannot register samples" in n for n in notices.messages()), notices.shown
        await scan(pilot, "S-1")
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, SampleScreen)
    with lab_for(small_url).read() as tx:
        assert samples.get_sample(tx, "S-1").status == "available"


@run_async
async def test_help_lists_screen_keys_and_ctrl_q_quits_with_0(small_url: str) -> None:
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        from textual.widgets import DataTable

        table = app.screen.query_one("#keys", DataTable)
        keys = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert {"/", "n", "e", "esc", "ctrl+q"} <= keys
        await pilot.press("escape")
        await pilot.press("ctrl+q")
    assert app.return_code == 0


@run_async
async def test_paging_through_a_list_by_keyboard(sqlite_url: str) -> None:
    lab = lab_for(sqlite_url)
    with lab.write() as tx:
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P01"})
        for i in range(150):
            samples.register_sample(
                tx,
                {
                    "sample_id": f"T-{i:03d}",
                    "biofluid": "urine",
                    "collected_at": "2024-01-01 08:00",
                    "study": "EVS",
                    "subject_id": "P01",
                    "visit": "baseline",
                },
            )
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ListScreen)
        assert [r.key for r in screen.page.rows][:2] == ["T-000", "T-001"]  # type: ignore[union-attr]
        await pilot.press("right_square_bracket")  # read ahead: shown from memory
        await settle(pilot)
        assert [r.key for r in screen.page.rows] == [f"T-{i:03d}" for i in range(100, 150)]  # type: ignore[union-attr]
        assert "rows 101–150 · end" in str(screen.query_one("#list-status", Static).render())
        await pilot.press("up")  # moving above the first row goes back a page
        await settle(pilot)
        assert screen.page.rows[0].key == "T-000"  # type: ignore[union-attr]
        await pilot.press("s")  # sort by the next column: biofluid, then back by id order
        await settle(pilot)
        assert screen.page.sort == "biofluid"  # type: ignore[union-attr]


@run_async
async def test_import_wizard_shows_how_far_the_file_is_read(
    small_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exolab.io import progress as progress_mod
    from exolab.io.reading import PROGRESS_ROWS

    monkeypatch.setattr(progress_mod, "SHOW_AFTER", 0.0)
    monkeypatch.setattr(progress_mod, "SHOW_EVERY", 0.0)
    n = PROGRESS_ROWS + 10
    rows = [{"study": "EVS", "subject_id": f"Q{i:05d}", "sex": "F"} for i in range(n)]
    path = write_csv(tmp_path / "many.csv", rows)
    shown: list[str] = []
    show = ImportWizardScreen._show_progress

    def keep(self: ImportWizardScreen, text: str, run: int) -> None:
        if run == self.progress_run:
            shown.append(text)
        show(self, text, run)

    monkeypatch.setattr(ImportWizardScreen, "_show_progress", keep)
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = await run_import(pilot, path)
        assert "ready to import" in status
        assert f"checking {path} as subjects: " in shown[0] and "% read (" in shown[0]
        assert shown[-1] == f"checking {path} as subjects: read all {n:,} rows; finishing"
        shown.clear()
        await pilot.press("ctrl+s")
        await settle(pilot, 8)
        assert shown[-1] == f"importing {path}: read all {n:,} rows; finishing"
        assert "imported" in str(app.screen.query_one("#import-status", Static).render())
    with lab_for(small_url).read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(Subject)) == n + 1
