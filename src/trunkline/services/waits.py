"""Waiting for a wake-up in a background loop, without losing a cancellation.

``asyncio.wait_for(event.wait(), timeout)`` on Python 3.11 returns normally when the event
is set in the same loop iteration as the task is cancelled, and the cancellation is lost: a
loop built on it then never ends, and whatever awaits the cancelled task (an app's shutdown)
waits forever. ``asyncio.timeout`` counts cancellations and keeps them.
"""

from __future__ import annotations

import asyncio


async def woken(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass (``None``: no limit); True if set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
