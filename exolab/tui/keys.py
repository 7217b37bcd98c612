"""Keystrokes in order, to the right widget.

Textual hands a key to whichever widget has focus when the app gets to it, and
``Widget.focus()`` only queues the change behind keys already typed. A keyboard-wedge scanner
or a paste types faster than a screen is built or a field is focused, so keys reached the old
field or a screen with nothing focused. Two rules fix that at the root (see docs/ui.md):

- :func:`focus_now` moves focus before the next key is delivered;
- :class:`KeyGate` (used by the app) delivers a key only when the previous one has been fully
  handled: every widget of the current screen mounted and its messages processed, and no
  database lookup that will move focus or open a screen (``run_db(..., holds_keys=True)``)
  still running. Keys wait in order; after ``MAX_WAIT`` seconds they go on regardless.
"""

from __future__ import annotations

from collections import deque
from time import monotonic
from typing import TYPE_CHECKING, Any

from textual import events
from textual.widget import Widget
from textual.worker import Worker

if TYPE_CHECKING:
    from textual.app import App

MAX_WAIT = 3.0
POLL = 0.004


def focus_now(widget: Widget) -> None:
    """Focus ``widget`` at once (the screen's own ``set_focus``); ``Widget.focus()`` would
    defer it behind keys already typed."""
    try:
        widget.screen.set_focus(widget)
    except Exception:  # not mounted (yet): fall back to the deferred way
        widget.focus()


PASSES = 2  # a key's handler may post a message (Submitted) whose handler does the work


def _queued(node: Any) -> list[Any]:
    queue = getattr(node, "_message_queue", None)
    return list(getattr(queue, "values", ()))


def _busy(node: Any) -> bool:
    return bool(_queued(node)) or not getattr(node, "is_mounted", True)


class KeyGate:
    """Holds keys while the UI is still reacting to the previous one."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.held: deque[events.Key] = deque()
        self.flight_since: float | None = None  # a delivered key still being handled
        self.workers: set[Worker[Any]] = set()  # lookups that will move focus / open a screen
        self.waiting_since: float | None = None
        self.scheduled = False

    def track(self, worker: Worker[Any]) -> None:
        """Hold keys until ``worker`` (whose result moves focus or opens a screen) is
        finished, its ``done`` callback included (cancelled workers count as finished)."""
        self.workers.add(worker)

    def settled(self) -> bool:
        if self.workers:
            self.workers = {w for w in self.workers if not (w.is_finished or w.is_cancelled)}
            if self.workers:
                return False
        # A key that went unhandled by the widgets comes back to the app for its bindings
        # (``App._on_key``): until then its action (open a dialog...) has not run.
        if any(isinstance(m, events.Key) and m.is_forwarded for m in _queued(self.app)):
            return False
        try:
            screen = self.app.screen
        except Exception:
            return True
        if _busy(screen):
            return False
        return not any(_busy(node) for node in screen.walk_children(with_self=False))

    def admit(self, event: events.Key) -> bool:
        """True when ``event`` may be delivered now; otherwise it is kept, in order."""
        if not self.held and self.flight_since is None and self.settled():
            self.follow(event)
            return True
        self.held.append(event)
        self.schedule()
        return False

    def follow(self, event: events.Key) -> None:
        """Mark ``event`` in flight until every widget on its way (the focused one, its
        containers, the screen, the app; twice) has processed what was queued behind it."""
        self.flight_since = monotonic()
        target = self.app.focused or self.app.screen
        chain: list[Any] = [*target.ancestors_with_self]
        if self.app not in chain:
            chain.append(self.app)
        steps = chain * PASSES
        flight = self.flight_since

        def step(i: int) -> None:
            if self.flight_since != flight:
                return  # given up on (timed out)
            if i == len(steps):
                self.flight_since = None
                if self.held:
                    self.schedule()
                return
            node = steps[i]
            try:
                posted = node.call_later(step, i + 1) and not getattr(node, "_closing", False)
            except Exception:
                posted = False
            if not posted:  # that widget is gone (its screen closed): on to the next
                step(i + 1)

        step(0)

    def schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            self.app.set_timer(POLL, lambda: self.app.call_later(self.release))

    async def release(self) -> None:
        """Deliver the held keys one at a time, each once the UI has settled."""
        self.scheduled = False
        if not self.held:
            self.waiting_since = None
            return
        now = monotonic()
        if self.flight_since is not None:
            if now - self.flight_since <= MAX_WAIT:
                self.schedule()  # look again (its end also schedules a release)
                return
            self.flight_since = None
        if self.waiting_since is None:
            self.waiting_since = now
        if self.settled() or now - self.waiting_since > MAX_WAIT:
            self.waiting_since = None
            event = self.held.popleft()
            self.follow(event)
            await self.deliver(event)
        if self.held and self.flight_since is None:
            self.schedule()

    async def deliver(self, event: events.Key) -> None:
        deliver = getattr(self.app, "deliver_key", None)
        if deliver is not None:
            await deliver(event)
