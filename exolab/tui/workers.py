"""Database work off the UI thread: one helper every screen uses.

``run_db`` starts a thread worker (exclusive per group, so a newer request cancels an older
one's result) that opens a read or write transaction, runs a service function and hands the
result back on the UI thread. Service errors either go to the caller's ``on_error`` (forms show
them next to the field) or up to the app's single worker-error handler (a notification).
"""

from __future__ import annotations

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
) -> Worker[T | None]:
    """Run ``fn(tx)`` in a thread; call ``done(result)`` on the UI thread when it succeeds."""
    app: ExolabApp = node.app  # type: ignore[assignment]
    lab = app.lab

    def job() -> T | None:
        try:
            with lab.write() if write else lab.read() as tx:
                result = fn(tx)
        except ExolabError as exc:
            if on_error is None:
                raise
            app.call_from_thread(on_error, exc)
            return None
        worker = get_current_worker()
        if done is not None and not worker.is_cancelled:
            app.call_from_thread(done, result)
        return result

    return node.run_worker(
        job,
        name=group,
        group=group,
        thread=True,
        exclusive=True,
        exit_on_error=False,
    )


def run_task(
    node: DOMNode,
    fn: Callable[[], T],
    done: Callable[[T], Any] | None = None,
    *,
    group: str,
    on_error: Callable[[ExolabError], Any] | None = None,
) -> Worker[T | None]:
    """Like :func:`run_db` for service calls that open their own transactions (imports)."""
    app = node.app

    def job() -> T | None:
        try:
            result = fn()
        except ExolabError as exc:
            if on_error is None:
                raise
            app.call_from_thread(on_error, exc)
            return None
        if done is not None and not get_current_worker().is_cancelled:
            app.call_from_thread(done, result)
        return result

    return node.run_worker(
        job, name=group, group=group, thread=True, exclusive=True, exit_on_error=False
    )
