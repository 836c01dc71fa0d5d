"""The processes table: a running server's and engine's rows, live while their pid runs."""

from __future__ import annotations

import os

from trunkline.storage.processes import ENGINE, SERVER, ProcessRepository, pid_alive


def test_announce_update_withdraw(env) -> None:
    repo = env.app.store.processes

    async def scenario() -> None:
        await env.app.store.driver.execute("DELETE FROM processes")
        first = await repo.announce(SERVER, {"url": "http://127.0.0.1:1"})
        second = await repo.announce(SERVER, {"url": "http://127.0.0.1:2"})
        engine = await repo.announce(ENGINE, {"registrar": None})
        live = await repo.live(SERVER)
        assert [r.id for r in live] == [second, first]  # newest first
        assert live[0].data == {"url": "http://127.0.0.1:2"} and live[0].pid == os.getpid()
        await repo.update(second, {"url": "http://127.0.0.1:3"})
        assert (await repo.live(SERVER))[0].data == {"url": "http://127.0.0.1:3"}
        await repo.withdraw(second)
        assert [r.id for r in await repo.live(SERVER)] == [first]
        assert [r.id for r in await repo.live(ENGINE)] == [engine]
        await env.app.store.driver.execute("DELETE FROM processes")

    env.run(scenario)


def test_rows_of_dead_processes_on_this_node_are_not_live_and_are_swept(env) -> None:
    driver, clock = env.app.store.driver, env.app.clock
    dead = {4242}
    here = ProcessRepository(driver, clock, node="here", alive=lambda pid: pid not in dead)
    there = ProcessRepository(driver, clock, node="there", alive=lambda pid: False)

    async def scenario() -> None:
        await driver.execute("DELETE FROM processes")
        await here.announce(SERVER, {"url": "dead"}, pid=4242)
        await here.announce(SERVER, {"url": "alive"}, pid=1)
        await there.announce(SERVER, {"url": "elsewhere"}, pid=4242)
        assert [r.data["url"] for r in await here.live(SERVER)] == ["elsewhere", "alive"]
        assert await here.sweep() == 1
        assert len(await there.live(SERVER)) == 1  # other nodes' rows cannot be checked
        await driver.execute("UPDATE processes SET data = 'not json'")
        assert {r.data == {} for r in await here.live(SERVER)} == {True}
        await driver.execute("DELETE FROM processes")

    env.run(scenario)


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(2**22 + 12345)  # above Linux's pid_max
