"""A background loop built on ``woken`` ends when cancelled, even if its event is set in
the same loop iteration (``asyncio.wait_for`` on 3.11 lost that cancellation, and an app's
shutdown then waited forever for its event deliverer or call simulator)."""

import asyncio

from trunkline.services.waits import woken


def test_a_cancellation_that_meets_a_wake_up_is_kept():
    async def scenario() -> str:
        wake = asyncio.Event()

        async def loop() -> None:
            while True:
                await woken(wake, 1.0)
                wake.clear()

        task = asyncio.create_task(loop())
        await asyncio.sleep(0)
        wake.set()
        task.cancel()
        try:
            await asyncio.wait_for(task, 2.0)
        except asyncio.CancelledError:
            return "cancelled"
        except TimeoutError:
            return "still running"
        return "returned"

    assert asyncio.run(scenario()) == "cancelled"


def test_woken_says_whether_the_event_was_set():
    async def scenario() -> tuple[bool, bool]:
        wake = asyncio.Event()
        timed_out = await woken(wake, 0.01)
        wake.set()
        return timed_out, await woken(wake, None)

    assert asyncio.run(scenario()) == (False, True)
