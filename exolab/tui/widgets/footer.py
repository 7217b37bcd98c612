"""A Footer that rebuilds its keys only when the keys it shows change.

Textual's Footer rebuilds all its key widgets on every ``bindings_updated`` signal, which a
screen sends on mount and on every focus change: several rebuilds of ~15 widgets each while a
screen opens (over half the cost of opening a tube view). This one compares what it would
show with what it shows, and rebuilds once per burst, only when that differs.

It shows only keys that fit whole (Textual's cut the last one: "esc Ba"), keeping the way back
and help when room runs out, and leaves out write actions for a user who may not write
(the keys still answer, with the reason; docs/ui.md).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# Bindings that change data: hidden from the footer (and marked in help and the palette) for a
# user without write permission.
WRITE_BINDINGS = frozenset(
    {
        "register.save",
        "register.location",
        "register.clear",
        "subject.edit",
        "subject.new_sample",
        "sample.aliquot",
        "sample.move",
        "sample.checkout",
        "sample.return",
        "sample.consume",
        "sample.discard",
        "sample.isolate",
        "sample.edit",
        "modal.save",
        "storage.new",
        "home.register",
        "list.new",
        "list.edit",
        "grid.save",
        "grid.add",
        "isolation.readouts",
        "isolation.edit",
        "isoform.save",
        "import.apply",
        "undo.undo",
        "form.save",
    }
)
# Kept when the footer is too narrow for every key.
ESSENTIAL_ACTIONS = ("back", "cancel", "close", "help")
PALETTE_ROOM = 14  # the palette key docked right


def may_write(screen: Screen[Any]) -> bool:
    actor = getattr(screen.app, "actor", None)
    return bool(getattr(actor, "can_write", True))


def is_write(binding: Binding) -> bool:
    return binding.id in WRITE_BINDINGS


def shown_keys(screen: Screen[Any]) -> tuple[tuple[str, str, bool], ...]:
    """The (key, description, enabled) triples a footer on ``screen`` displays."""
    writer = may_write(screen)
    return tuple(
        (binding.key, binding.description, enabled)
        for (_, binding, enabled, _tooltip) in screen.active_bindings.values()
        if binding.show and (writer or not is_write(binding))
    )


def fit_keys(
    items: list[tuple[Binding, bool, str]], width: int, display: Any
) -> list[tuple[Binding, bool, str]]:
    """The keys that fit whole in ``width`` columns, in their order; essential ones (back,
    help) first in line for the room."""

    def cost(b: Binding) -> int:
        return len(display(b)) + len(b.description) + 3

    essential = [i for i in items if i[0].action.split("(")[0] in ESSENTIAL_ACTIONS]
    room = width - sum(cost(b) for b, _, _ in essential)
    chosen = {id(i) for i in essential}
    for item in items:
        if id(item) in chosen:
            continue
        if cost(item[0]) <= room:
            chosen.add(id(item))
            room -= cost(item[0])
        else:
            room = -1  # keep the order: once one does not fit, stop
    return [i for i in items if id(i) in chosen]


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

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        screen = self.screen
        writer = may_write(screen)
        seen: set[str] = set()
        items: list[tuple[Binding, bool, str]] = []
        for _, binding, enabled, tooltip in screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            if not writer and is_write(binding):
                continue
            seen.add(binding.action)
            items.append((binding, enabled, tooltip))
        width = (self.size.width or self.app.size.width) - PALETTE_ROOM
        for binding, enabled, tooltip in fit_keys(items, width, self.app.get_key_display):
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)
        palette = screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE and palette:
            _, binding, enabled, _tooltip = palette
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                classes="-command-palette",
                disabled=not enabled,
                tooltip=binding.tooltip or binding.description,
            )

    def on_resize(self) -> None:
        self._shown = None
        if self.is_attached and not self._rebuild_pending:
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
