"""Pick mode and label printing in the terminal UI, driven by keyboard through Pilot."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from textual.widgets import DataTable, Input, Static

from exolab.db.engine import Database
from exolab.services import samples
from exolab.services.context import Lab
from exolab.tui.app import ExolabApp
from exolab.tui.screens.pick import PickScreen
from exolab.tui.screens.print_labels import PrintLabelsScreen
from exolab.tui.screens.receive import ReceiveScreen
from tests.labels.conftest import cli, stock, tube
from tests.labels.decoding import decode, render
from tests.tui.conftest import TESTER, clear_and_type, run_async, settle, type_text

SIZE = (120, 40)


def _stocked(url: str) -> None:
    db = Database(url)
    stock(
        Lab(db, TESTER),
        [
            tube("S-10", location="F1/R1/B1/A10"),
            tube("S-2", location="F1/R1/B1/A2"),
            tube("S-1", location="F1/R1/B1/A1"),
            tube("OTHER", location="F1/R1/B1/B1"),
        ],
        boxes=[("F1/R1/B1", 10, 10)],
    )
    db.dispose()


async def _scan(pilot, code: str) -> None:  # type: ignore[no-untyped-def]
    await type_text(pilot, code)
    await pilot.press("enter")
    await pilot.pause(0.05)


@run_async
async def test_pick_mode_ticks_tubes_off_and_refuses_a_wrong_one(sqlite_url: str) -> None:
    _stocked(sqlite_url)
    app = ExolabApp(sqlite_url, TESTER)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_pick_mode()
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PickScreen)
        assert isinstance(app.focused, Input) and app.focused.id == "pick-source"
        await type_text(pilot, "S-10 S-1 S-2")
        await pilot.press("enter")
        await settle(pilot)
        table = screen.query_one("#pick-table", DataTable)
        assert [table.get_row_at(i)[2] for i in range(table.row_count)] == ["S-1", "S-2", "S-10"]
        assert app.focused is not None and app.focused.id == "pick-scan"

        await _scan(pilot, "S-2")
        banner = screen.query_one("#pick-banner", Static)
        assert table.get_row_at(1)[5] == "✔" and table.get_row_at(0)[5] == ""
        assert "S-2 (1 of 3). Next: S-1 at F1/R1/B1/A1" in str(banner.render())

        await _scan(pilot, "OTHER")  # in the same box, but not on the list
        assert bells == [1]
        assert banner.has_class("-wrong")
        assert "WRONG TUBE: OTHER is not on this pick list" in str(banner.render())
        assert [table.get_row_at(i)[5] for i in range(3)] == ["", "✔", ""]

        await _scan(pilot, "S-1")
        await _scan(pilot, "S-1")  # twice: said so, nothing else
        assert "already ticked" in str(banner.render()) and not banner.has_class("-wrong")
        await _scan(pilot, "S-10")
        assert banner.has_class("-done") and "All 3 tube(s) picked" in str(banner.render())
        assert screen.ticked == {"S-1", "S-2", "S-10"} and screen.refused == ["OTHER"]


@run_async
async def test_pick_mode_loads_a_study_and_reports_a_bad_list(sqlite_url: str) -> None:
    _stocked(sqlite_url)
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_pick_mode("S-1 NOPE")
        await settle(pilot)
        banner = app.screen.query_one("#pick-banner", Static)
        assert banner.has_class("-wrong") and "NOPE" in str(banner.render())
        await clear_and_type(pilot, "study EVS visit V1")
        await pilot.press("enter")
        await settle(pilot)
        table = app.screen.query_one("#pick-table", DataTable)
        assert table.row_count == 4 and "4 tube(s) to pick" in str(banner.render())


@run_async
async def test_print_labels_from_the_ui(sqlite_url: str, tmp_path: Path) -> None:
    _stocked(sqlite_url)
    app = ExolabApp(sqlite_url, TESTER)
    out = tmp_path / "box.pdf"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_print_labels("F1/R1/B1")
        await settle(pilot)
        assert isinstance(app.screen, PrintLabelsScreen)
        app.screen.query_one("#labels-out", Input).value = str(out)
        await pilot.press("enter")  # in the ids field: print
        await settle(pilot)
        result = app.screen.query_one("#labels-result", Static)
        assert "4 label(s) written" in str(result.render())
        app.screen.query_one("#labels-ids", Input).value = "S-1 NOPE"
        app.screen.query_one("#labels-out", Input).value = str(tmp_path / "bad.pdf")
        await pilot.press("enter")
        await settle(pilot)
        assert result.has_class("-wrong") and "NOPE" in str(result.render())
    assert not (tmp_path / "bad.pdf").exists()
    assert sorted(decode(render(out)[0], "datamatrix", 4)) == ["OTHER", "S-1", "S-10", "S-2"]


@run_async
async def test_receive_a_shipment_by_scanning(sqlite_url: str, tmp_path: Path) -> None:
    _stocked(sqlite_url)
    manifest = tmp_path / "manifest.csv"
    assert (
        cli(
            sqlite_url,
            "ship",
            "create",
            "S-1",
            "S-2",
            "S-10",
            "--to",
            "Core",
            "--code",
            "SHP-9",
            "--out",
            str(manifest),
        )
        == 0
    )
    app = ExolabApp(sqlite_url, TESTER)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_receive_shipment(str(manifest))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReceiveScreen)
        assert app.focused is not None and app.focused.id == "receive-scan"
        await _scan(pilot, "S-10")
        await _scan(pilot, "OTHER")  # a tube of ours, but not in this shipment
        banner = screen.query_one("#receive-banner", Static)
        assert bells == [1] and banner.has_class("-wrong")
        assert "NOT ON THE MANIFEST: OTHER" in str(banner.render())
        await _scan(pilot, "S-1")
        table = screen.query_one("#receive-table", DataTable)
        assert [table.get_row_at(i)[4] for i in range(3)] == ["✔", "", "✔"]
        screen.query_one("#receive-into", Input).value = "F2/R1/B1"
        await pilot.press("ctrl+r")  # the box does not exist yet: refused, nothing received
        await settle(pilot)
        text = str(banner.render())
        assert banner.has_class("-wrong") and text.startswith("Nothing received")
        assert "no freezer F2" in text and "exolab storage add F2/R1/B1" in text
        assert cli(sqlite_url, "storage", "add", "F2/R1/B1") == 0
        await pilot.press("ctrl+r")
        await settle(pilot)
        text = str(banner.render())
        assert "2 back in stock" in text and "1 missing (S-2)" in text
        assert "1 unexpected (OTHER)" in text
    db = Database(sqlite_url)
    try:
        with Lab(db, TESTER).read() as tx:
            got = {
                s: (t.status, t.location)
                for s in ("S-1", "S-2", "S-10", "OTHER")
                for t in [samples.get_sample(tx, s)]
            }
    finally:
        db.dispose()
    assert got == {
        "S-10": ("available", "F2/R1/B1/A1"),  # placed in the order scanned
        "S-1": ("available", "F2/R1/B1/A2"),
        "S-2": ("shipped", None),
        "OTHER": ("available", "F1/R1/B1/B1"),  # left alone
    }


@run_async
async def test_receive_reads_its_manifest_off_the_screen_thread(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A manifest that takes its time (a pipe nothing has been written to yet, as a file on a
    slow share): the screen is drawn and says it is reading; the tubes appear once the file
    arrives. A missing or empty manifest is reported in the screen, not as an app error."""
    _stocked(sqlite_url)
    manifest = tmp_path / "manifest.csv"
    made = cli(
        sqlite_url,
        "ship",
        "create",
        "S-10",
        "--to",
        "Core",
        "--code",
        "SHP-8",
        "--out",
        str(manifest),
    )
    assert made == 0
    content = manifest.read_bytes()
    slow = tmp_path / "slow.csv"
    os.mkfifo(slow)
    delivered = threading.Event()

    def deliver() -> None:
        with slow.open("wb") as f:  # waits for the reader
            f.write(content)
        delivered.set()

    # Were the manifest read on the screen's thread, the test would wait here for ever: after
    # 60 s the file arrives anyway, and the assertions below fail instead.
    rescue = threading.Timer(60, deliver)
    rescue.daemon = True
    rescue.start()
    app = ExolabApp(sqlite_url, TESTER)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_receive_shipment(str(slow))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReceiveScreen)
        banner = screen.query_one("#receive-banner", Static)
        assert not delivered.is_set()
        assert str(banner.render()) == "Reading the manifest slow.csv…"
        assert screen.query_one("#receive-table", DataTable).row_count == 0
        rescue.cancel()
        threading.Thread(target=deliver, daemon=True).start()
        await settle(pilot)
        assert delivered.is_set()
        table = screen.query_one("#receive-table", DataTable)
        assert [str(table.get_row_at(0)[0])] == ["S-10"] and table.row_count == 1
        assert str(banner.render()).startswith("Shipment SHP-8: 1 tube(s) listed")

        (tmp_path / "empty.csv").write_text("shipment,sample_id\n", encoding="utf-8")
        for name, problem in (("none.csv", "No such file"), ("empty.csv", "lists no tubes")):
            screen.load(str(tmp_path / name))
            await settle(pilot)  # (an app error would fail here)
            text = str(banner.render())
            assert banner.has_class("-wrong") and text.startswith("Cannot read the manifest")
            assert problem in text, text
        assert table.row_count == 1  # the manifest read before is kept
