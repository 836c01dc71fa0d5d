"""Two real worker processes sharing one Redis enforce one request budget.

``trunkline serve --workers 2 --limits --redis-url ...``: a burst sent over fresh
connections (so both workers take part) is admitted 50 times, as one worker would.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.limits.conftest import REDIS_URL, redis_prefix, require_redis
from trunkline.testing.server import LiveServer

pytestmark = pytest.mark.e2e


def fetch(url: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_two_workers_share_one_budget_through_redis(tmp_path):
    require_redis()
    args = ("--workers", "2", "--limits", "--redis-url", REDIS_URL)
    env = {"TRUNKLINE_REDIS_PREFIX": redis_prefix(), "TRUNKLINE_SIP_ENGINE": "off"}
    with LiveServer.start(tmp_path, args=args, env=env) as server:
        assert (server.info["limits"], server.info["limit_state"]) == ("on", "redis")
        assert server.info["redis_url"] == REDIS_URL
        # The second worker may still be starting; concurrent probes reach both.
        pids: set[int] = set()
        deadline = time.monotonic() + 20
        with ThreadPoolExecutor(max_workers=8) as pool:
            while len(pids) < 2 and time.monotonic() < deadline:
                probes = pool.map(lambda _: fetch(server.base_url + "/health"), range(16))
                pids |= {body["pid"] for _, body in probes}
        assert len(pids) == 2, "both workers must answer for this test to mean anything"

        url = server.webhook_url + "voximplant.sip.get"
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: fetch(url, {}), range(100)))
        elapsed = time.monotonic() - began
        admitted = sum(status == 200 for status, _ in results)
        # 50 at once, plus what drained (2/s) while the burst ran.
        assert 50 <= admitted <= 50 + math.ceil(2 * elapsed), (admitted, elapsed)
        refused = [body for status, body in results if status != 200]
        assert {(b["error"], b["error_description"]) for b in refused} == {
            ("QUERY_LIMIT_EXCEEDED", "Too many requests")
        }
        health = fetch(server.base_url + "/health")[1]
        assert (health["redis"], health["limits"]) == ("ok", "on")
