"""Fixtures for the UI tests: small lab data, the demo database (built once, with a frozen
audit clock so snapshots are stable) and helpers to drive the app by keyboard."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.pilot import Pilot
from textual.widgets import Input

from exolab.db.engine import Database
from exolab.services import samples, storage, subjects
from exolab.services.context import Lab

TESTER = "tester"  # admin of every test database (tests/conftest.py)


class FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> FrozenDatetime:  # type: ignore[override]
        return cls(2025, 1, 15, 9, 30, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_template(_templates: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo cohort in a SQLite file, loaded once per session (audit times frozen)."""
    from exolab.io.demo import load_demo
    from exolab.services import audit

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copyfile(_templates["sqlite"], path)
    db = Database(f"sqlite:///{path}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(audit, "datetime", FrozenDatetime)
        load_demo(Lab(db, TESTER))
    db.dispose()
    return path


@pytest.fixture
def demo_url(demo_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "demo.db"
    shutil.copyfile(demo_template, target)
    return f"sqlite:///{target}"


def _fill_small(url: str) -> None:
    db = Database(url)
    lab = Lab(db, TESTER)
    with lab.write() as tx:
        for box in ("F1/R1/B1", "F2/R1/B9"):  # storage is created explicitly
            storage.add_location(tx, box)
        subjects.create_subject(tx, {"study": "EVS", "subject_id": "P01", "group": "case"})
        samples.register_sample(
            tx,
            {
                "sample_id": "S-1",
                "biofluid": "plasma",
                "collected_at": "2024-03-01 09:00",
                "study": "EVS",
                "subject_id": "P01",
                "visit": "baseline",
                "volume_ml": "4",
                "tube": "K2EDTA",
                "location": "F1/R1/B1/A1",
            },
        )
    db.dispose()


@pytest.fixture
def small_url(sqlite_url: str) -> Iterator[str]:
    """One subject with one stored plasma tube S-1 (4 mL) in box F1/R1/B1."""
    _fill_small(sqlite_url)
    yield sqlite_url


@pytest.fixture
def small_db_url(db_url: str) -> Iterator[str]:
    """The same as ``small_url`` on SQLite and on PostgreSQL (tests/conftest.py backends)."""
    _fill_small(db_url)
    yield db_url


@pytest.fixture(autouse=True)
def ui_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Unexpected-error details go to a file of the test, not the user's log directory."""
    path = tmp_path / "ui.log"
    monkeypatch.setenv("EXOLAB_UI_LOG", str(path))
    return path


async def settle(pilot: Pilot[Any], rounds: int = 4, *, expect_errors: bool = False) -> None:
    """Let workers finish and their results reach the screen; an unexpected error the app
    reported (and carried on after) fails the test unless ``expect_errors``."""
    from contextlib import suppress

    from textual.worker import WorkerCancelled

    app = pilot.app
    for _ in range(rounds):
        await pilot.pause(0.05)
        with suppress(WorkerCancelled):  # a newer request replaced it (exclusive groups)
            await app.workers.wait_for_complete()
    await pilot.pause(0.05)
    if not expect_errors:
        assert not getattr(app, "unexpected", None), getattr(app, "unexpected", None)


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(c, c) for c in text])


async def clear_and_type(pilot: Pilot[Any], text: str) -> None:
    """Empty the focused input (end, then ctrl+u) and type ``text``."""
    assert isinstance(pilot.app.focused, Input), pilot.app.focused
    await pilot.press("end", "ctrl+u")
    await type_text(pilot, text)


async def fill(pilot: Pilot[Any], text: str) -> None:
    """Put ``text`` into the focused input in one step, as a paste would: for file paths and long
    text where the keystrokes themselves are not under test (``type_text`` is, elsewhere)."""
    field = pilot.app.focused
    assert isinstance(field, Input), field
    field.value = text
    field.cursor_position = len(text)
    await pilot.pause()


async def palette(pilot: Pilot[Any], command: str) -> None:
    """Run ``command`` from the command palette (ctrl+p): its search text is set in one step,
    then the highlighted hit is chosen with Enter. (Typing it key by key, a search per key, is
    covered once in tests/tui/test_cohort.py.)"""
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    await settle(pilot, 1)
    assert isinstance(pilot.app.screen, CommandPalette), pilot.app.screen
    await fill(pilot, command)
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


class Notices:
    """What the app told the user: every notification it posted (Textual's public ``Notify``
    message), recorded through ``run_test(message_hook=notices.hook)``."""

    def __init__(self) -> None:
        self.shown: list[Notification] = []

    def hook(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.shown.append(message.notification)

    def messages(self, severity: str | None = None) -> list[str]:
        return [n.message for n in self.shown if severity in (None, n.severity)]


async def choose(pilot: Pilot[Any], text: str) -> None:
    """Pick an option of the focused Select by typing it."""
    await pilot.press("enter")
    await type_text(pilot, text)
    await pilot.press("enter")


def lab_for(url: str) -> Lab:
    return Lab(Database(url), TESTER)


def run_async(fn: Any) -> Any:
    """Run an ``async def`` test with asyncio (no async pytest plugin is installed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper
