"""Database work off the UI thread: one helper every screen uses.

``run_db`` starts a thread worker (exclusive per group, so a newer request cancels an older
one's result) that opens a read or write transaction, runs a service function and hands the
result back on the UI thread. Service errors either go to the caller's ``on_error`` (forms show
them next to the field) or up to the app's single worker-error handler (a notification).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from textual.dom import DOMNode
from textual.worker import Worker, get_current_worker

from exolab.services.context import Tx
from exolab.services.errors import ExolabError

if TYPE_CHECKING:
    from exolab.tui.app import ExolabApp

T = TypeVar("T")


def run_db(
    node: DOMNode,
    fn: Callable[[Tx], T],
    done: Callable[[T], Any] | None = None,
    *,
    group: str,
    write: bool = False,
    on_error: Callable[[ExolabError], Any] | None = None,
    holds_keys: bool | None = None,
) -> Worker[T | None]:
    """Run ``fn(tx)`` in a thread; call ``done(result)`` on the UI thread when it succeeds.

    ``holds_keys`` (default: for writes) keeps keys typed meanwhile until ``done`` has run:
    for work whose result moves focus or opens a screen (a save that readies the form for the
    next tube, a scanned id that opens its record), see exolab.tui.keys."""
    app: ExolabApp = node.app  # type: ignore[assignment]
    lab = app.lab

    def job() -> T | None:
        def work() -> T:
            with lab.write() if write else lab.read() as tx:
                return fn(tx)

        if write:  # a write that ends after its screen was closed still reports its outcome
            return _guarded(
                app,
                group,
                work,
                _alive(node, done, _saved_after_close(app)),
                _alive(node, on_error, app.report_error),
                always=True,
            )
        return _guarded(app, group, work, _alive(node, done), _alive(node, on_error))

    worker = node.run_worker(
        job,
        name=group,
        group=group,
        thread=True,
        exclusive=True,
        exit_on_error=False,
    )
    if write if holds_keys is None else holds_keys:
        app.key_gate.track(worker)
    return worker


def run_task(
    node: DOMNode,
    fn: Callable[[], T],
    done: Callable[[T], Any] | None = None,
    *,
    group: str,
    on_error: Callable[[ExolabError], Any] | None = None,
) -> Worker[T | None]:
    """Like :func:`run_db` for service calls that open their own transactions (imports);
    keys typed meanwhile wait for the result."""
    app: ExolabApp = node.app  # type: ignore[assignment]

    def job() -> T | None:
        return _guarded(app, group, fn, _alive(node, done), _alive(node, on_error))

    worker = node.run_worker(
        job, name=group, group=group, thread=True, exclusive=True, exit_on_error=False
    )
    app.key_gate.track(worker)
    return worker


def _alive(
    node: DOMNode,
    callback: Callable[[Any], Any] | None,
    gone: Callable[[Any], Any] | None = None,
) -> Callable[[Any], Any] | None:
    """``callback`` run only while ``node`` is still part of the app: a result that arrives
    after its screen was closed (escape, f2) has nowhere to go but ``gone``, if given."""
    if callback is None:
        return gone

    def run(value: Any) -> Any:
        if node.is_attached and not getattr(node, "_closing", False):
            return callback(value)
        return None if gone is None else gone(value)

    return run


def _saved_after_close(app: ExolabApp) -> Callable[[Any], None]:
    def say(_: Any) -> None:
        app.notify(
            "saved: the change sent before its form was closed went through "
            "(it had waited for the database)",
            title="Saved",
            severity="warning",
            timeout=10,
        )

    return say


def _guarded(
    app: ExolabApp,
    group: str,
    work: Callable[[], T],
    done: Callable[[T], Any] | None,
    on_error: Callable[[ExolabError], Any] | None,
    *,
    always: bool = False,
) -> T | None:
    """Run ``work`` in the worker thread and hand its result or error to the UI thread
    (``always``: even when the worker was cancelled meanwhile, its screen closed)."""
    try:
        result = work()
        if done is not None and (always or not get_current_worker().is_cancelled):
            with contextlib.suppress(RuntimeError):  # the app closed meanwhile
                app.call_from_thread(done, result)
        return result
    except ExolabError as exc:
        _to_ui(app, on_error or app.report_error, exc, always)
    except Exception as exc:  # database down (a plain message) or a bug (logged)
        _to_ui(app, app.report_error, exc, always)
    return None


def _to_ui(
    app: ExolabApp, report: Callable[[Any], Any], exc: Exception, always: bool = False
) -> None:
    if (get_current_worker().is_cancelled and not always) or not app.is_running:
        return
    with contextlib.suppress(RuntimeError):  # the app closed meanwhile
        app.call_from_thread(report, exc)
