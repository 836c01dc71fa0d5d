"""Portal-wide rules hold under concurrent requests to several worker processes."""

from __future__ import annotations

import json
import secrets
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import POSTGRES_URL, require_postgres
from trunkline.testing.server import LiveServer

pytestmark = pytest.mark.e2e


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_adds_keep_the_cap_and_unique_titles(tmp_path, backend):
    args: tuple[str, ...] = ("--workers", "2")
    if backend == "postgres":
        require_postgres()
        schema = f"tl_e2e_{secrets.token_hex(4)}"
        args += ("--database-url", f"{POSTGRES_URL}?schema={schema}")
    with LiveServer.start(tmp_path, args=args) as server:
        add = server.webhook_url + "voximplant.sip.add"
        cloud = [{"TYPE": "cloud", "SERVER": "s", "LOGIN": f"u{i}"} for i in range(24)]
        same_title = [{"TYPE": "office", "SERVER": "s", "LOGIN": "l", "TITLE": "dup"}] * 12
        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(lambda body: post(add, body), cloud + same_title))
        cloud_results, title_results = results[:24], results[24:]
        assert sum(status == 200 for status, _ in cloud_results) == 10
        assert {body.get("error") for status, body in cloud_results if status != 200} == {
            "MAX_CLOUD_PBX"
        }
        assert sum(status == 200 for status, _ in title_results) == 1
        assert {body.get("error") for status, body in title_results if status != 200} == {
            "TITLE_EXISTS"
        }
        status, listed = post(server.webhook_url + "voximplant.sip.get", {})
        assert status == 200 and listed["total"] == 11
        config_ids = [int(row["CONFIG_ID"]) for row in listed["result"]]
        assert len(set(config_ids)) == 11
    if backend == "postgres":
        import asyncio

        from tests.conftest import _drop_schema
        from trunkline.storage.url import DatabaseUrl

        asyncio.run(_drop_schema(DatabaseUrl(f"{POSTGRES_URL}?schema={schema}")))
