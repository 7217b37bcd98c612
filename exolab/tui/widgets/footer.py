"""A Footer that redraws its keys once per burst of binding changes.

Textual's Footer rebuilds all its key widgets on every ``bindings_updated`` signal, and a
screen being opened sends several (mount, focus, each widget gaining focus): six rebuilds of
~15 widgets when a list opens, on the path to its first page. This one coalesces them.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    _rebuild_pending = False

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        await self.recompose()
