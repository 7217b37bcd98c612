"""Unexpected errors in the UI: a notification naming a log file, never an exit.

Anything a screen, a widget or a worker raises that is not an ExolabError (those are the
user's to fix and are shown as such) is a bug: its traceback is appended to the UI log file
and the user is told where it is. The file is ``EXOLAB_UI_LOG`` when set, otherwise
``ui.log`` in the per-user log directory (platformdirs, e.g. ``~/.local/state/exolab/log``
on Linux). See docs/ui.md.
"""

from __future__ import annotations

import asyncio
import os
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOG_ENV = "EXOLAB_UI_LOG"


def ui_log_path() -> Path:
    """Where the UI writes the details of unexpected errors."""
    given = os.environ.get(LOG_ENV)
    if given:
        return Path(given)
    from platformdirs import user_log_path

    return user_log_path("exolab", appauthor=False) / "ui.log"


def write_error(path: Path, exc: BaseException, where: str, user: str) -> Path | None:
    """Append ``exc`` with its traceback to ``path``; the path, or None when it cannot be
    written (a read-only home must not turn one error into two)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(f"--- {stamp} user={user} where={where}\n{text}\n")
    except OSError:
        return None
    return path


class GuardedPump:
    """Mixin for screens: an error in one of the screen's handlers (a Submitted message, a
    worker's result, a timer) is reported and the screen carries on, instead of Textual
    ending the screen's message loop and the app."""

    async def _dispatch_message(self, message: Any) -> None:
        try:
            await super()._dispatch_message(message)  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            app = self.app  # type: ignore[attr-defined]
            report = getattr(app, "report_unexpected", None)
            if report is None or type(message).__name__ in ("Compose", "Mount"):
                raise  # half-built screen: App._handle_exception closes it
            report(exc, f"{type(message).__name__} on {type(self).__name__}")
