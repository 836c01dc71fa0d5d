"""The authentication and answer caches on PostgreSQL, across nodes (issue 13).

Two apps on one PostgreSQL schema stand for two nodes. Each keeps its caches while nothing
changes (a repeated call costs no query) and drops them on the NOTIFY of a commit made by the
other: each call reads the server's snapshot once (storage/changes.py), so a webhook disabled through node A is refused by node B on its
next call, a line renamed through A shows its new TITLE on B's next sip.get.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Env, make_env
from trunkline.settings import Settings
from trunkline.web.app import TrunklineApp


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
    # The snapshot moves with any write on the server (other tests share it): a call is
    # answered without a query whenever nothing was written since the one before.
    quiet = 0
    for _ in range(20):
        del sent[:]
        reads = marks.reads
        response = node_b.post(hook + "voximplant.sip.get", json={})
        assert response.status_code == 200 and response.json()["result"][0]["TITLE"] == "first"
        assert marks.reads == reads + 1  # one snapshot read for the whole call
        quiet += not sent  # neither the webhook nor the answer was read again
    assert quiet > 0


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


def test_concurrent_calls_share_one_snapshot_read(node_a):
    from trunkline.storage.changes import ChangeMarks

    class Pool:
        def __init__(self) -> None:
            self.started = 0

        async def fetchval(self, sql: str) -> str:
            self.started += 1
            await asyncio.sleep(0.01)
            return f"snap{self.started}"

    async def scenario() -> tuple[list[tuple[str, int]], int]:
        marks, pool = ChangeMarks(), Pool()
        first = asyncio.ensure_future(marks.change_mark(pool))
        await asyncio.sleep(0)  # its read is in flight: later calls wait for the next one
        later = [asyncio.ensure_future(marks.change_mark(pool)) for _ in range(20)]
        found = [await first, *[await call for call in later]]
        return found, pool.started

    found, reads = asyncio.run(scenario())
    assert reads == 2 and found[0] == ("snap1", 0) and set(found[1:]) == {("snap2", 0)}
