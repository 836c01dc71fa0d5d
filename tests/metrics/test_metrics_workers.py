"""``/metrics`` of a real ``trunkline serve``: prometheus-client's multiprocess mode sums
the workers' values, so the counters move by the calls made whichever worker answered."""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client.parser import text_string_to_metric_families

from trunkline.testing.server import LiveServer

pytestmark = pytest.mark.e2e

GET = "trunkline_rest_requests_total"


def scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def calls(samples) -> float:
    key = (GET, (("method", "voximplant.sip.get"), ("status", "200")))
    return samples.get(key, 0.0)


def health_pid(base_url: str) -> int:
    with urllib.request.urlopen(base_url + "/health", timeout=10) as response:
        return int(json.load(response)["pid"])


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers["x-request-id"]


@pytest.mark.parametrize("workers", [1, 2])
def test_counters_move_with_calls_across_workers(tmp_path, workers):
    directory = tmp_path / "prom"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with LiveServer.start(tmp_path, args=("--workers", str(workers)), env=env) as server:
        url = server.webhook_url + "voximplant.sip.get"
        if workers == 2:  # both workers must have answered for the sum to mean anything
            pids: set[int] = set()
            deadline = time.monotonic() + 20
            with ThreadPoolExecutor(max_workers=8) as pool:
                while len(pids) < 2 and time.monotonic() < deadline:
                    probes = pool.map(lambda _: health_pid(server.base_url), range(16))
                    pids |= set(probes)
            assert len(pids) == 2
        before = calls(scrape(server.base_url))
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: fetch(url), range(40)))
        assert {status for status, _ in results} == {200}
        assert len({rid for _, rid in results}) == 40
        # A call is counted just after its answer is sent: give the last ones a moment.
        deadline = time.monotonic() + 10
        while calls(scrape(server.base_url)) - before < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert calls(scrape(server.base_url)) - before == 40
        writers = {p.name.rsplit("_", 1)[-1] for p in directory.glob("*.db")}
        assert len(writers) >= workers  # each worker writes its own values


def test_json_log_lines_carry_the_request_id(tmp_path):
    with LiveServer.start(tmp_path, args=("--log-format", "json")) as server:
        status, rid = fetch(server.webhook_url + "voximplant.sip.get")
        assert status == 200
        deadline = time.monotonic() + 10
        found: list[dict[str, object]] = []
        while not found and time.monotonic() < deadline:
            for line in server.read_output():
                if line.startswith("{") and rid in line:
                    found.append(json.loads(line))
            time.sleep(0.05)
        assert found, "".join(server.read_output())
        entry = found[0]
        assert entry["logger"] == "trunkline.access" and entry["request_id"] == rid
        assert {"time", "level", "pid", "message"} <= set(entry)
        assert server.webhook_code not in "".join(server.read_output()[1:])
        for line in server.read_output():
            if line.startswith("{") and '"level"' in line:
                json.loads(line)  # every log line is one JSON object
