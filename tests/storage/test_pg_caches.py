"""The authentication and answer caches on PostgreSQL, across nodes (issue 13).

Two apps on one PostgreSQL schema stand for two nodes. Each keeps its caches while nothing
they read changes (a repeated call costs no query but the counters' read) and drops them
once the other commits a change: each call reads the schema's change counters once
(storage/changes.py, storage/mark_schema.py), so a webhook disabled through node A is
refused by node B on its next call, a line renamed through A shows its new TITLE on B's
next sip.get.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Env, make_env
from trunkline.settings import Settings
from trunkline.storage.mark_schema import CACHED_TABLES
from trunkline.web.app import TrunklineApp

CACHED = re.compile(
    r"\b(" + "|".join(sorted({t for ts in CACHED_TABLES.values() for t in ts})) + r")\b"
)


@pytest.fixture
def node_a(database_urls, tmp_path_factory) -> Iterator[Env]:
    yield from make_env("postgres", database_urls, tmp_path_factory)


@pytest.fixture
def node_b(node_a: Env) -> Iterator[TestClient]:
    settings = Settings(
        database_url=node_a.app.settings.database_url,
        secret_key=node_a.app.settings.secret_key,
        sip_engine="off",
    )
    with TestClient(TrunklineApp(settings), base_url="http://testserver") as client:
        yield client


def _queries(client: TestClient) -> list[str]:
    """Record every query node `client` sends from now on."""
    app: Any = client.app
    driver = app.store.driver
    sent: list[str] = []
    for name in ("fetch_one", "fetch_all", "execute"):
        original = getattr(driver, name)

        async def counted(sql: str, params: Any = (), _original: Any = original) -> Any:
            sent.append(sql)
            return await _original(sql, params)

        setattr(driver, name, counted)
    return sent


def test_repeated_calls_are_answered_from_the_caches(node_a, node_b):
    node_a.add_line(TITLE="first")
    hook = node_a.hook
    assert node_b.post(hook + "voximplant.sip.get", json={}).status_code == 200
    sent = _queries(node_b)
    marks = node_b.app.store.driver.marks  # type: ignore[attr-defined]
    # Writes elsewhere on the server (other schemas, other tests) move no counter of ours.
    for _ in range(20):
        del sent[:]
        reads = marks.reads
        response = node_b.post(hook + "voximplant.sip.get", json={})
        assert response.status_code == 200 and response.json()["result"][0]["TITLE"] == "first"
        assert marks.reads == reads + 1  # one counter read for the whole call
        # Background work (the journal's timed flush, the event outbox's poll) runs on its own
        # clock; what must not come back is a statement on a table the caches stand for.
        assert [q for q in sent if CACHED.search(q)] == []  # no webhook, no answer reread


def test_webhook_disabled_on_one_node_is_refused_by_another(node_a, node_b):
    hook = node_a.hook
    (webhook,) = node_a.run(node_a.accounts.webhooks, node_a.portal)
    for _ in range(10):
        assert node_b.post(hook + "voximplant.sip.get", json={}).status_code == 200
        node_a.run(node_a.accounts.set_webhook_active, webhook, False)
        refused = node_b.post(hook + "voximplant.sip.get", json={})
        assert refused.status_code == 401, refused.text  # B's very next call
        node_a.run(node_a.accounts.set_webhook_active, webhook, True)
        assert node_b.post(hook + "voximplant.sip.get", json={}).status_code == 200


def test_line_renamed_on_one_node_shows_on_another_at_once(node_a, node_b):
    line = node_a.add_line(TITLE="before")
    hook = node_a.hook
    for n in range(10):
        node_b.post(hook + "voximplant.sip.get", json={})
        node_a.ok("voximplant.sip.update", {"CONFIG_ID": line["CONFIG_ID"], "TITLE": f"t{n}"})
        (row,) = node_b.post(hook + "voximplant.sip.get", json={}).json()["result"]
        assert row["TITLE"] == f"t{n}"


def test_line_added_on_one_node_keeps_the_other_nodes_webhook(node_a, node_b):
    hook = node_a.hook
    assert node_b.post(hook + "voximplant.sip.get", json={}).json()["result"] == []
    sent = _queries(node_b)
    for n in range(3):
        node_a.add_line(TITLE=f"line {n}")  # bumps the portal's CONFIG_ID counter too
        del sent[:]
        listed = node_b.post(hook + "voximplant.sip.get", json={}).json()["result"]
        assert [line["TITLE"] for line in listed] == [f"line {k}" for k in range(n + 1)]
        assert sent and all(" FROM webhooks " not in query for query in sent)


def test_user_renamed_on_one_node_shows_on_another_at_once(node_a, node_b):
    app: Any = node_b.app
    portal = node_b.portal
    assert portal is not None
    for n in range(5):
        before = portal.call(app.store.accounts.get_user, node_a.portal.id, 1)  # now kept
        node_a.run(node_a.accounts.update_user, node_a.portal, 1, {"name": f"n{n}"})
        user = portal.call(app.store.accounts.get_user, node_a.portal.id, 1)
        assert before.name != f"n{n}" and user.name == f"n{n}"


def test_concurrent_calls_share_one_counter_read(node_a):
    from trunkline.storage.changes import ChangeMarks

    class Pool:
        def __init__(self) -> None:
            self.started = 0

        async def fetchrow(self, sql: str) -> tuple[int, int, int]:
            self.started += 1
            await asyncio.sleep(0.01)
            return (self.started, 0, 0)

    async def scenario() -> tuple[list[tuple[int, int]], int]:
        marks, pool = ChangeMarks(), Pool()
        first = asyncio.ensure_future(marks.change_mark(pool))
        await asyncio.sleep(0)  # its read is in flight: later calls wait for the next one
        later = [asyncio.ensure_future(marks.change_mark(pool)) for _ in range(20)]
        found = [await first, *[await call for call in later]]
        return found, pool.started

    found, reads = asyncio.run(scenario())
    assert reads == 2 and found[0] == (1, 0) and set(found[1:]) == {(2, 0)}
