"""SQLite group commit and the versioned row cache."""

from __future__ import annotations

import asyncio

import pytest

from trunkline.lines import LineChanges, LineQuery, LineType, NewLine
from trunkline.storage.driver import SqliteDriver
from trunkline.storage.migrate import upgrade
from trunkline.storage.secrets import Cipher, new_key
from trunkline.storage.store import DuplicateError, Store
from trunkline.storage.url import DatabaseUrl


@pytest.fixture
def url(tmp_path):
    url = DatabaseUrl(f"sqlite:///{tmp_path / 'g.sqlite3'}")
    upgrade(url)
    return url


def new(title: str) -> NewLine:
    return NewLine(LineType.OFFICE, title, "s", "l", "pw", "")


async def open_store(url: DatabaseUrl, key: str) -> Store:
    store = Store(SqliteDriver(url), Cipher(key))
    return store


def test_group_commit_isolates_a_failing_writer(url):
    key = new_key()

    async def scenario():
        store = await open_store(url, key)
        portal = await store.create_portal("p.example")

        async def add(title: str) -> str:
            async with store.line_writer(portal.id) as writer:
                await writer.insert(new(title), incoming_server="x")
                if title == "bad":
                    raise RuntimeError("writer failed after its insert")
            return title

        results = await asyncio.gather(
            *(add(t) for t in ["a", "b", "bad", "c"]), return_exceptions=True
        )
        other = await open_store(url, key)  # a second connection sees only commits
        titles = sorted(line.title for line in await other.all_lines(portal.id))
        await other.close()
        await store.close()
        return results, titles

    results, titles = asyncio.run(scenario())
    assert results[:2] == ["a", "b"] and results[3] == "c"
    assert isinstance(results[2], RuntimeError)
    assert titles == ["a", "b", "c"]


def test_group_commit_batches_writers_of_one_loop_turn(url):
    key = new_key()

    async def scenario():
        store = await open_store(url, key)
        portal = await store.create_portal("p.example")
        commits = 0
        original = store.driver._commit

        def counting() -> None:
            nonlocal commits
            commits += 1
            original()

        store.driver._commit = counting

        async def add(i: int) -> None:
            async with store.line_writer(portal.id) as writer:
                await writer.insert(new(f"t{i}"), incoming_server="x")

        await asyncio.gather(*(add(i) for i in range(20)))
        total = len(await store.all_lines(portal.id))
        await store.close()
        return commits, total

    commits, total = asyncio.run(scenario())
    assert total == 20 and commits < 20


def test_unique_title_violation_inside_a_batch(url):
    async def scenario():
        store = await open_store(url, new_key())
        portal = await store.create_portal("p.example")

        async def add(title: str) -> None:
            async with store.line_writer(portal.id) as writer:
                await writer.insert(new(title), incoming_server="x")

        results = await asyncio.gather(
            add("same"), add("same"), add("other"), return_exceptions=True
        )
        titles = sorted(line.title for line in await store.all_lines(portal.id))
        await store.close()
        return results, titles

    results, titles = asyncio.run(scenario())
    assert results[0] is None and isinstance(results[1], DuplicateError) and results[2] is None
    assert titles == ["other", "same"]


def test_row_cache_sees_writes_of_other_connections(url):
    key = new_key()

    async def scenario():
        reader = await open_store(url, key)
        writer_store = await open_store(url, key)
        portal = await reader.create_portal("p.example")
        async with writer_store.line_writer(portal.id) as writer:
            line = await writer.insert(new("before"), incoming_server="x")
        query = LineQuery(portal_id=portal.id, app_id=None)
        first = (await reader.list_lines(query))[1][0]
        again = (await reader.list_lines(query))[1][0]
        async with writer_store.line_writer(portal.id) as writer:
            await writer.update(line.config_id, LineChanges(title="after", password="new"))
        changed = (await reader.list_lines(query))[1][0]
        await writer_store.set_registration(portal.id, line.config_id, 200, "")
        registered = (await reader.list_lines(query))[1][0]
        await reader.close()
        await writer_store.close()
        return first, again, changed, registered

    first, again, changed, registered = asyncio.run(scenario())
    assert again is first  # served from the cache
    assert (changed.title, changed.password, changed.version) == ("after", "new", 2)
    assert registered.registration_status_code == 200 and registered.version == 3


def test_line_columns_follow_sipline_fields():
    import dataclasses

    from trunkline.lines import SipLine
    from trunkline.storage.sql import LINE_COLUMNS

    assert [f.name for f in dataclasses.fields(SipLine)] == ["portal_id", *LINE_COLUMNS]


def test_close_finishes_a_pending_group_commit(url):
    key = new_key()

    async def scenario():
        store = await open_store(url, key)
        portal = await store.create_portal("p.example")
        driver = store.driver
        driver._run("BEGIN IMMEDIATE", ())
        driver._batch = asyncio.get_running_loop().create_future()
        await driver.execute(
            "UPDATE portals SET title = ? WHERE id = ?", ("committed on close", portal.id)
        )
        await store.close()
        other = await open_store(url, key)
        title = (await other.get_portal(portal.id)).title
        await other.close()
        return title

    assert asyncio.run(scenario()) == "committed on close"


def test_webhook_owner_cache_follows_every_change(url):
    """The cached webhook/user/portal answer is dropped by any change that could alter it:
    this store's own writes, and any commit by another connection (another worker or the
    CLI); line writes, the hot path, leave it in place."""
    key = new_key()

    async def scenario():
        store = await open_store(url, key)
        portal = await store.create_portal("p.example")
        user = await store.create_user(portal.id, "admin", is_admin=True, user_id=1)
        hook = await store.create_webhook(portal.id, user.user_id, "h1", ["telephony"])
        seen = []

        async def active() -> bool | None:
            found = await store.webhook_with_owner("h1")
            return None if found is None else found[0].active

        seen.append(await active())
        first = await store.webhook_with_owner("h1")
        assert first is not None and await store.webhook_with_owner("h1") is first  # cached
        mark = store.driver.change_mark()
        async with store.line_writer(portal.id) as writer:
            await writer.insert(new("a line"), incoming_server="x")
        assert store.driver.change_mark() == mark  # line writes keep the cache
        assert await store.webhook_with_owner("h1") is first

        await store.set_webhook_active(hook.id, False)  # own write
        seen.append(await active())

        other = await open_store(url, key)  # another connection: another process's view
        await other.set_webhook_active(hook.id, True)
        seen.append(await active())
        await other.driver.execute("DELETE FROM webhooks WHERE id = ?", (hook.id,))
        seen.append(await active())
        # An unknown code is cached as unknown only until a webhook with it appears.
        await other.create_webhook(portal.id, user.user_id, "h1", ["telephony"])
        seen.append(await active())
        await other.close()
        await store.close()
        return seen

    assert asyncio.run(scenario()) == [True, False, True, None, True]
