"""A writer waiting behind another is told why it waits (docs/reliability.md)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from exolab.db.engine import Database
from exolab.services import context
from exolab.services.context import Lab
from tests.test_cli import run


def test_waiting_writer_is_told_who_writes(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "WAIT_NOTICE_SECONDS", 0.2)
    holder = Lab(Database(db_url), "tester")
    started = threading.Event()

    def hold() -> None:
        with holder.write() as tx, holder.writing_as(tx, "an exolab import of big.csv by tester"):
            started.set()
            time.sleep(2.0)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert started.wait(30)
        r = run("--db", db_url, "user", "add", "vic", "--role", "viewer")
    finally:
        t.join()
        holder.db.dispose()
    assert r.returncode == 0, r.stderr
    assert (
        "waiting for the database: an exolab import of big.csv by tester is writing "
        "(up to 60 s)" in r.stderr
    )
    if db_url.startswith("sqlite"):
        assert not Path(db_url[len("sqlite:///") :] + "-exolab-writer").exists()


def test_no_notice_without_waiting(db_url: str) -> None:
    r = run("--db", db_url, "user", "add", "vic", "--role", "viewer")
    assert r.returncode == 0 and "waiting" not in r.stderr
