"""A lab user and a hostile tester at the keyboard: ids typed in another case, a database
file removed under the UI, the palette on a database that went away (docs/ui.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from textual.command import CommandPalette

from exolab.services import samples
from exolab.tui.app import ExolabApp
from exolab.tui.screens.forms import EditRecordScreen
from exolab.tui.screens.lists import ListScreen
from exolab.tui.screens.sample import SampleScreen
from tests.tui.conftest import (
    TESTER,
    Notices,
    clear_and_type,
    lab_for,
    run_async,
    settle,
    type_text,
)

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


@run_async
async def test_a_database_file_removed_under_the_ui_is_reported_not_written(
    small_url: str, tmp_path: Path
) -> None:
    """SQLite keeps writing to a file deleted while it is open: a save then said "saved" and
    vanished with the file. The UI reports the file gone and saves nothing (docs/ui.md)."""
    notices = Notices()
    path = Path(small_url.removeprefix("sqlite:///"))
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, EditRecordScreen)
        for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
            (path.parent / name).unlink(missing_ok=True)  # an rm under the running UI
        await pilot.press("tab", "tab", "tab")  # biofluid, collected at, tube -> volume
        await clear_and_type(pilot, "3")
        await pilot.press("ctrl+o")
        await type_text(pilot, "measured again")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, EditRecordScreen)  # not saved, still open
        errors = notices.messages("error")
        assert any("removed or replaced" in m and path.name in m for m in errors), (
            notices.messages()
        )
        assert not any("saved" in m for m in notices.messages()), notices.messages()
        # reading says so too (the tube view would show what is no longer there)
        await pilot.press("escape", "ctrl+r")
        await settle(pilot)
        assert len([m for m in notices.messages("error") if "removed or replaced" in m]) >= 2
    assert not path.exists()


def test_the_ui_without_a_terminal_says_so_instead_of_spinning(small_url: str) -> None:
    """`exolab tui` (or `exolab demo`) with no terminal (a script, a pipe, cron) ran Textual
    with nothing to read keys from: it never ended, using a core. Now it says why and ends."""
    env = {**os.environ, "EXOLAB_USER": TESTER}
    tui = subprocess.run(
        [sys.executable, "-m", "exolab", "--db", small_url, "tui"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert tui.returncode == 2, tui
    assert "needs a terminal" in tui.stderr and "Traceback" not in tui.stderr, tui.stderr
    demo_db = Path(small_url.removeprefix("sqlite:///")).with_name("demo.db")
    demo = subprocess.run(
        [sys.executable, "-m", "exolab", "demo", "--db", f"sqlite:///{demo_db}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    # the demo database is made (its part of the job); the UI is not opened
    assert demo.returncode == 0, demo
    assert "needs a terminal" in demo.stderr and "--no-tui" in demo.stderr, demo.stderr
    assert "36 subjects" in demo.stderr


def _make_unreachable(url: str) -> None:
    """SQLite: the file removed (rm); PostgreSQL: the database dropped with its sessions."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
            (path.parent / name).unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


@run_async
async def test_the_palette_says_the_database_is_unreachable(small_db_url: str) -> None:
    """Ids typed into the palette on a database that went away showed "No matches found"
    (Textual logs a provider's error and shows nothing): now the palette says why."""
    from textual.command import CommandList

    notices = Notices()
    app = ExolabApp(small_db_url, TESTER)
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot)
        _make_unreachable(small_db_url)
        await pilot.press("ctrl+p")
        await settle(pilot, 1)
        await type_text(pilot, "S-1")
        await settle(pilot)
        await pilot.pause(0.5)
        hits = app.screen.query_one(CommandList)
        shown = [str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count)]
        assert any("database" in s.lower() for s in shown), shown
        await pilot.press("enter")  # choosing it reports the error in full, the app stays up
        await settle(pilot)
        assert any(m.startswith("database:") for m in notices.messages("error")), notices.shown
        assert app.is_running


@run_async
async def test_new_box_and_new_subject_forms_take_typing_at_once(small_url: str) -> None:
    """docs/ui.md: the first field has focus when a dialog opens. The New box and Register
    subject forms focused their scrolling body: what was typed right after `n` was lost."""
    from textual.widgets import Input

    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for go, typed, first in [("f7", "F9/R1/B1", "path"), ("f3", "EVS", "study")]:
            await pilot.press("f2", go)
            await settle(pilot)
            await pilot.press("n", *typed, "tab")  # without a pause, as a scanner types
            await settle(pilot)
            field = app.screen.query_one(f"#field-{first}", Input)
            assert field.value == typed, (go, field.value, app.focused)
            await pilot.press("escape")
            await settle(pilot)


@run_async
async def test_f1_lists_the_keys_of_a_form_or_dialog(small_url: str) -> None:
    """docs/ui.md: f1 lists the keys of the current screen. In a form
    (`?` types itself into a field) f1 did nothing: Textual gives a modal screen no app keys."""
    from textual.widgets import DataTable

    from exolab.tui.screens.help import HelpScreen

    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for keys in (
            ("f3", "n"),
            ("f7", "n"),
            ("f4", "e"),
            ("f4", "enter", "m"),
            ("f4", "enter", "d"),
        ):
            await pilot.press("f2", *keys)
            await settle(pilot)
            form = app.screen
            await pilot.press("f1")
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen), (keys, form)
            table = app.screen.query_one("#keys", DataTable)
            listed = " ".join(str(c) for i in range(table.row_count) for c in table.get_row_at(i))
            assert "Save" in listed or "Yes" in listed, (keys, listed)
            await pilot.press("escape")  # closes the help: back in the form, as it was
            await settle(pilot)
            assert app.screen is form, keys
            await pilot.press("escape")
            await settle(pilot)


@run_async
async def test_opening_a_cell_source_lists_its_samples_only(small_db_url: str) -> None:
    """The palette's "Open cell source HEK-1" listed every sample of the lab under the title
    "Samples of HEK-1"; it lists that cell line's conditioned-medium samples."""
    from exolab.services import cell_sources

    lab = lab_for(small_db_url)
    with lab.write() as tx:
        cell_sources.create_cell_source(tx, {"cell_source_id": "HEK-1", "cell_type": "HEK293T"})
        samples.register_sample(
            tx,
            {
                "sample_id": "CM-1",
                "biofluid": "conditioned_medium",
                "collected_at": "2024-03-01 09:00",
                "cell_source_id": "HEK-1",
                "volume_ml": "40",
            },
        )
    lab.db.dispose()
    app = ExolabApp(small_db_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        exact, _ = app.lookup_ids("hek-1")
        assert exact is not None and (exact.kind, exact.key) == ("cell_source", "HEK-1")
        app.open_record(exact.kind, exact.key)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ListScreen) and screen.title == "Samples of HEK-1"
        assert [r.key for r in screen.rows.values()] == ["CM-1"]  # not S-1 of subject P01


@run_async
async def test_a_save_that_ends_after_its_form_was_closed_is_reported(
    small_url: str, monkeypatch: Any
) -> None:
    """A save waiting for the database (another program writing) and escape pressed meanwhile:
    the form closed without a word and the change went in later, unseen. Now the outcome
    is reported when it comes, whether saved or refused."""
    import threading

    from exolab.tui import keys
    from exolab.tui.screens import forms

    monkeypatch.setattr(keys, "MAX_WAIT", 0.2)  # keys wait that long for a write, then go on
    release = threading.Event()
    real = forms.save_edit

    def slow_save(*args: Any) -> Any:
        release.wait(10)  # the database busy with another writer
        return real(*args)

    monkeypatch.setattr(forms, "save_edit", slow_save)
    notices = Notices()
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("tab", "tab", "tab")  # biofluid, collected at, tube -> volume
        await clear_and_type(pilot, "3")
        await pilot.press("ctrl+o")
        await type_text(pilot, "measured again")
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        await pilot.press("escape")
        await pilot.pause(0.5)
        assert isinstance(app.screen, ListScreen)  # the form is closed; the save still waits
        release.set()
        await settle(pilot)
        assert any("saved" in m for m in notices.messages()), notices.messages()
    with lab_for(small_url).read() as tx:
        assert samples.get_sample(tx, "S-1").volume_ml == 3.0


@run_async
async def test_a_key_pressed_as_the_ui_starts_waits_for_the_users_role(small_db_url: str) -> None:
    """ctrl+n typed the moment the UI opened was refused to an admin as "has role viewer":
    the role had not been read yet. Keys now wait for it."""
    from exolab.tui.screens.register import RegisterSampleScreen

    notices = Notices()
    app = ExolabApp(small_db_url, TESTER)
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await pilot.press("ctrl+n")  # no pause: before the role has come back
        await settle(pilot)
        assert isinstance(app.screen, RegisterSampleScreen), notices.messages()
        assert not any("viewer" in m for m in notices.messages()), notices.messages()


@run_async
async def test_export_asks_before_replacing_an_existing_file(
    small_url: str, tmp_path: Path
) -> None:
    """The export screen replaced any existing file without a word (a path typed by mistake,
    an earlier export, any file the user may write). It asks first; `n` keeps the file."""
    from exolab.tui.screens.transfer import ExportScreen
    from exolab.tui.widgets.forms import ConfirmScreen
    from tests.tui.conftest import choose, fill, palette

    out = tmp_path / "keep.csv"
    out.write_text("precious\n", encoding="utf-8")
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await palette(pilot, "Export data")
        assert isinstance(app.screen, ExportScreen)
        await choose(pilot, "samples")
        await pilot.press("tab")
        await fill(pilot, str(out))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot, 8)
        assert out.read_text(encoding="utf-8") == "precious\n"
        assert isinstance(app.screen, ExportScreen)
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot, 8)
    assert out.read_text(encoding="utf-8").startswith("sample_id")


@run_async
async def test_labels_ask_before_replacing_an_existing_file(small_url: str, tmp_path: Path) -> None:
    """Print labels replaced an existing PDF without a word; it asks first."""
    from textual.widgets import Input

    from exolab.tui.widgets.forms import ConfirmScreen
    from tests.tui.conftest import fill, palette

    out = tmp_path / "labels.pdf"
    out.write_bytes(b"earlier labels")
    app = ExolabApp(small_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await palette(pilot, "Print labels")
        app.screen.query_one("#labels-ids", Input).value = "S-1"
        await fill(pilot, "S-1")  # the ids field has focus
        app.screen.query_one("#labels-out", Input).value = str(out)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen), (
            app.screen.query_one("#labels-result").render(),
            app.focused,
            out.read_bytes()[:20],
        )
        await pilot.press("n")
        await settle(pilot)
        assert out.read_bytes() == b"earlier labels"
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot, 8)
    assert out.read_bytes().startswith(b"%PDF")


async def _export_named(url: str, out: Path) -> list[str]:
    """Export samples from the UI to ``out``: the error notices it gave (the test fails if
    the app reported an unexpected error); the export screen stays open."""
    from exolab.tui.screens.transfer import ExportScreen
    from tests.tui.conftest import choose, fill, palette

    notices = Notices()
    app = ExolabApp(url, TESTER)
    async with app.run_test(size=SIZE, message_hook=notices.hook) as pilot:
        await settle(pilot)
        await palette(pilot, "Export data")
        assert isinstance(app.screen, ExportScreen)
        await choose(pilot, "samples")
        await pilot.press("tab")
        await fill(pilot, str(out))
        await pilot.press("ctrl+s")
        await settle(pilot, 8)  # fails the test if the app reported an unexpected error
        assert isinstance(app.screen, ExportScreen)
    return notices.messages("error")


@run_async
async def test_a_file_the_system_refuses_is_a_plain_message_not_a_bug(
    small_url: str, tmp_path: Path
) -> None:
    """An export to a name the file system refuses (too long, a read-only place) was reported
    as an unexpected error with a traceback in the log; it is the user's to fix."""
    errors = await _export_named(small_url, tmp_path / ("a" * 300 + ".csv"))
    assert any("too long" in m for m in errors), errors


def test_pasted_control_characters_in_a_search_find_what_the_text_names(
    small_db_url: str,
) -> None:
    """A NUL (or another control character) pasted into a list search, the palette or the
    scan field: no id holds one, and PostgreSQL refused the parameter, which the UI reported
    as an unexpected error. The search keeps the rest of the text."""
    from exolab.services.list_query import KINDS, ListQuery
    from exolab.services.lists import list_page
    from exolab.services.lookup import resolve_id, search_ids

    _add_mixed_case_tube(small_db_url)
    lab = lab_for(small_db_url)
    with lab.read() as tx:
        for kind in KINDS:
            list_page(tx, kind, ListQuery(search="P01\x00", study="E\x00VS"))
        page = list_page(tx, "samples", ListQuery(search="P01-base\x00line"))
        assert [r.key for r in page.rows] == [MIXED]
        assert resolve_id(tx, "\x00") is None
        found = resolve_id(tx, "P01-baseline-PL\x00")
        assert found is not None and found.key == MIXED
        assert [r.key for r in search_ids(tx, "P01\x00-b")] == [MIXED]
    lab.db.dispose()


@run_async
async def test_a_file_name_with_a_nul_is_a_plain_message_not_a_bug(
    small_url: str, tmp_path: Path
) -> None:
    """A NUL pasted into the export's file name raised Python's 'embedded null byte' in the
    screen's own handler: an unexpected error. It is the user's to fix: a file message."""
    errors = await _export_named(small_url, tmp_path / "a\x00b.csv")
    assert any("NUL" in m for m in errors), errors
    assert not list(tmp_path.glob("*.csv*"))
