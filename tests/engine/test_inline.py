"""engine/inline.py: a coroutine runs in its caller until it first waits, then as a task."""

from __future__ import annotations

import asyncio

import pytest

from trunkline.engine.inline import start


def test_start_finishes_a_coroutine_that_never_waits_without_a_task() -> None:
    async def scenario() -> None:
        done: list[str] = []

        async def quick() -> None:
            done.append("ran")

        assert start(quick()) is None
        assert done == ["ran"]

    asyncio.run(scenario())


def test_start_hands_a_waiting_coroutine_to_a_task_that_finishes_it() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        seen: list[object] = []

        async def waits() -> None:
            seen.append(await future)
            await asyncio.sleep(0)
            seen.append("after")

        task = start(waits())
        assert task is not None and seen == []
        loop.call_soon(future.set_result, 7)
        await task
        assert seen == [7, "after"]

    asyncio.run(scenario())


def test_start_lets_several_coroutines_wait_for_one_future() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        seen: list[int] = []

        async def waits(number: int) -> None:
            await future
            seen.append(number)

        tasks = [start(waits(n)) for n in range(3)]
        plain = asyncio.ensure_future(waits(3))
        loop.call_soon(future.set_result, None)
        await asyncio.gather(*[t for t in tasks if t is not None], plain)
        assert sorted(seen) == [0, 1, 2, 3]

    asyncio.run(scenario())


def test_start_passes_the_awaited_exception_to_the_coroutine() -> None:
    async def scenario() -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        seen: list[str] = []

        async def waits() -> None:
            try:
                await future
            except ValueError:
                seen.append("caught")

        task = start(waits())
        future.set_exception(ValueError("boom"))
        assert task is not None
        await task
        assert seen == ["caught"]

    asyncio.run(scenario())


def test_start_task_cancelled_cancels_the_coroutine_where_it_waits() -> None:
    async def scenario() -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        seen: list[str] = []

        async def waits() -> None:
            try:
                await future
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        task = start(waits())
        assert task is not None
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen == ["cancelled"]

    asyncio.run(scenario())
