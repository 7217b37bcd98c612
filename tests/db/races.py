"""Two PostgreSQL sessions racing for the same rows: the second runs in a thread while the
first holds its locks (tests/db/test_pg_integrity.py, test_pg_record_refs.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def in_thread(fn: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    """Run ``fn`` in a thread; the errors it raises land in the returned list."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, errors


def wait_blocked(con: Any, pid: int) -> None:
    """Until session ``pid`` waits for a lock (it is behind the other session)."""
    for _ in range(200):
        row = con.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()
        con.commit()
        if row and row[0] == "Lock":
            return
        time.sleep(0.05)
    raise AssertionError("the second session never waited for the first")
