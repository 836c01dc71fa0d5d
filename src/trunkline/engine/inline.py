"""Running a coroutine in the callback that starts it, and as a task only if it must wait.

Rules:

* `start` steps the coroutine at once. Most registrar answers need no wait (a challenge, a
  REGISTER whose phone is in memory): they finish there, with no task and no extra turn of
  the event loop.
* A coroutine that waits (a query, a batch commit) goes on as a task from the point where it
  waits: the task first waits for what the coroutine was waiting for, then resumes it.
  Cancelling the task cancels the coroutine where it waits, as for any task.
* An exception the coroutine raises in its first step propagates to the caller of `start`.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["start"]


def start(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run `coroutine` until it first waits; None if it finished, else the task that runs
    the rest."""
    try:
        waiting = coroutine.send(None)
    except StopIteration:
        return None
    if getattr(waiting, "_asyncio_future_blocking", None):
        # Taken, as a task takes it: until then another coroutine cannot await the future.
        waiting._asyncio_future_blocking = False
    return asyncio.ensure_future(_rest(coroutine, waiting))


async def _rest(coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
    await _resumed(coroutine, waiting)


@types.coroutine
def _resumed(coroutine: Coroutine[Any, Any, None], waiting: Any) -> Generator[Any, Any, None]:
    """Hand what the coroutine waits for to the task, then drive it on (as ``await`` does)."""
    while True:
        if getattr(waiting, "_asyncio_future_blocking", None) is False:
            # The flag ``Future.__await__`` sets before it yields, which tells the task to
            # wait for the future (`start` cleared it).
            waiting._asyncio_future_blocking = True
        try:
            sent = yield waiting
        except BaseException as exc:  # cancellation (or a throw) goes to the coroutine
            try:
                waiting = coroutine.throw(exc)
            except StopIteration:
                return
        else:
            try:
                waiting = coroutine.send(sent)
            except StopIteration:
                return
