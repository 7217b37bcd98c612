"""What every exolab screen shares: a header, a footer and database helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker

from exolab.services.context import Tx
from exolab.services.errors import ExolabError
from exolab.tui.errors import GuardedPump
from exolab.tui.keys import focus_now
from exolab.tui.workers import run_db

if TYPE_CHECKING:
    from exolab.services.readouts import ReadoutOut
    from exolab.tui.app import ExolabApp

T = TypeVar("T")
__all__ = ["BaseScreen", "focus_now", "plural", "readout_cells"]


class BaseScreen(GuardedPump, Screen[Any]):
    """A screen with typed access to the app and a one-line way to run database work."""

    resumed_before = False

    def returned_to(self) -> bool:
        """True when the screen is shown again (not the first time): time to reload."""
        again = self.resumed_before
        self.resumed_before = True
        return again

    @property
    def lab_app(self) -> ExolabApp:
        return self.app  # type: ignore[return-value]

    def action_back(self) -> None:
        """Back to the screen below (the home screen stays). Screens where escape first leaves
        a field or a search define their own."""
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    @staticmethod
    def show_banner(banner: Static, text: str, cls: str) -> None:
        """Put ``text`` in a status banner with one state class (``-wrong``, ``-ok``,
        ``-done``; empty: none)."""
        banner.update(text)
        banner.remove_class("-wrong", "-ok", "-done")
        if cls:
            banner.add_class(cls)

    def db(
        self,
        fn: Callable[[Tx], T],
        done: Callable[[T], Any] | None = None,
        *,
        group: str = "load",
        write: bool = False,
        on_error: Callable[[ExolabError], Any] | None = None,
        holds_keys: bool | None = None,
    ) -> Worker[T | None]:
        return run_db(
            self, fn, done, group=group, write=write, on_error=on_error, holds_keys=holds_keys
        )


def readout_cells(r: ReadoutOut) -> list[str]:
    """A readout's cells as the sample and isolation views list them: analyte, value, unit,
    censor (blank when none), assay, run, replicate, QC."""
    return [
        r.analyte,
        r.value,
        r.unit or "",
        "" if r.censor == "none" else r.censor,
        r.assay,
        r.run_id or "",
        str(r.replicate),
        r.qc or "",
    ]


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 readout``, ``2 readouts``."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"
