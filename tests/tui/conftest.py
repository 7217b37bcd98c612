"""Fixtures for the UI tests: small lab data, the demo database (built once, with a frozen
audit clock so snapshots are stable) and helpers to drive the app by keyboard."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
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


@pytest.fixture
def small_url(sqlite_url: str) -> Iterator[str]:
    """One subject with one stored plasma tube S-1 (4 mL) in box F1/R1/B1."""
    db = Database(sqlite_url)
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
    yield sqlite_url


async def settle(pilot: Pilot[Any], rounds: int = 4) -> None:
    """Let workers finish and their results reach the screen."""
    from contextlib import suppress

    from textual.worker import WorkerCancelled

    app = pilot.app
    for _ in range(rounds):
        await pilot.pause(0.05)
        with suppress(WorkerCancelled):  # a newer request replaced it (exclusive groups)
            await app.workers.wait_for_complete()
    await pilot.pause(0.05)


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(c, c) for c in text])


async def clear_and_type(pilot: Pilot[Any], text: str) -> None:
    """Empty the focused input (end, then ctrl+u) and type ``text``."""
    assert isinstance(pilot.app.focused, Input), pilot.app.focused
    await pilot.press("end", "ctrl+u")
    await type_text(pilot, text)


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
