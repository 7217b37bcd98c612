"""A Footer that rebuilds its keys only when the keys it shows change.

Textual's Footer rebuilds all its key widgets on every ``bindings_updated`` signal, which a
screen sends on mount and on every focus change: several rebuilds of ~15 widgets each while a
screen opens (over half the cost of opening a tube view). This one compares what it would
show with what it shows, and rebuilds once per burst, only when that differs.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


def shown_keys(screen: Screen[Any]) -> tuple[tuple[str, str, bool], ...]:
    """The (key, description, enabled) triples a footer on ``screen`` displays."""
    return tuple(
        (binding.key, binding.description, enabled)
        for (_, binding, enabled, _tooltip) in screen.active_bindings.values()
        if binding.show
    )


class KeyFooter(Footer):
    _rebuild_pending = False
    _shown: tuple[tuple[str, str, bool], ...] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        if not self.is_attached or not self.is_mounted:  # its screen closed meanwhile
            return
        keys = shown_keys(self.screen)
        if keys != self._shown:
            self._shown = keys
            await self.recompose()
