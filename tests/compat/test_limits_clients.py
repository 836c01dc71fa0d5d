"""Real clients recover from injected faults (``clients.md``: how each one retries).

* b24pysdk retries HTTP 503 only: an injected 503 ``QUERY_LIMIT_EXCEEDED``, then success.
* fast-bitrix24 retries every 5xx and lost connections: injected 500s and a dropped
  connection, then success.
* @bitrix24/b24jssdk retries 503 and 429 (a 429 waits at least 10 s in that SDK, so
  there is exactly one such case).

The server is started here with an operator token; faults go through the operator
endpoint, which applies them at once on its (single) worker.
"""

from __future__ import annotations

import importlib
import json
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from b24pysdk import BitrixWebhook, Client, Config

from tests.compat.test_oauth_clients import CLIENTS_JS, node_ready
from trunkline.testing.server import LiveServer

pytestmark = pytest.mark.compat

TOKEN = "compat-operator-token"
call_method = importlib.import_module("b24pysdk.api.callers.call_method")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"TRUNKLINE_OPERATOR_TOKEN": TOKEN, "TRUNKLINE_SIP_ENGINE": "off"}
    with LiveServer.start(tmp_path_factory.mktemp("limits-compat"), env=env) as live:
        yield live


@pytest.fixture
def operator(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        yield client
        client.delete("/operator/faults")


def inject(operator: httpx.Client, **fault: Any) -> int:
    response = operator.post("/operator/faults", json=fault)
    assert response.status_code == 201, response.text
    fault_id: int = response.json()["fault"]["id"]
    return fault_id


def remaining(operator: httpx.Client, fault_id: int) -> int | None:
    faults = operator.get("/operator/faults").json()["faults"]
    left: int | None = next(f["remaining"] for f in faults if f["id"] == fault_id)
    return left


def test_b24pysdk_retries_an_injected_503(server, operator, monkeypatch):
    monkeypatch.setattr(
        call_method._MethodCaller, "_base_url", property(lambda self: f"http://{self._domain}/rest")
    )
    config = Config()
    saved = (config.default_initial_retry_delay, config.default_retry_delay_increment)
    config.configure(default_initial_retry_delay=0.05, default_retry_delay_increment=0.05)
    try:
        fault = inject(operator, kind="query-limit", method="voximplant.sip.get", count=2)
        parts = urlsplit(server.webhook_url)
        token = "/".join(parts.path.strip("/").split("/")[1:3])
        client = Client(BitrixWebhook(domain=parts.netloc, webhook_token=token))
        assert client.voximplant.sip.get().response.result == []
        assert remaining(operator, fault) == 0  # two 503s answered, the third call served
    finally:
        config.configure(
            default_initial_retry_delay=saved[0], default_retry_delay_increment=saved[1]
        )


@pytest.mark.parametrize(
    "fault", [{"kind": "internal-error", "count": 2}, {"kind": "drop", "count": 1}]
)
def test_fast_bitrix24_retries_5xx_and_lost_connections(server, operator, fault):
    from fast_bitrix24 import Bitrix

    fault_id = inject(operator, method="voximplant.sip.connector.status", **fault)
    bitrix = Bitrix(server.webhook_url, verbose=False)
    assert bitrix.call("voximplant.sip.connector.status", raw=True)["result"] == {
        "FREE_MINUTES": 0,
        "PAID": False,
    }
    assert remaining(operator, fault_id) == 0


def test_b24jssdk_retries_503_and_429(server, operator):
    node_ready()
    first = inject(operator, kind="query-limit", method="voximplant.sip.get", count=1)
    second = inject(
        operator, kind="operation-time", method="voximplant.sip.connector.status", count=1
    )
    user, code = urlsplit(server.webhook_url).path.strip("/").split("/")[1:3]
    config = {
        "scenario": "faults",
        "b24Url": server.base_url,
        "userId": int(user),
        "secret": code,
        "methods": ["voximplant.sip.get", "voximplant.sip.connector.status"],
    }
    completed = subprocess.run(
        ["node", "run.mjs", json.dumps(config)],
        cwd=CLIENTS_JS,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    records = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    assert [(r["method"], r["ok"]) for r in records] == [
        ("voximplant.sip.get", True),
        ("voximplant.sip.connector.status", True),
    ], records
    assert records[1]["ms"] >= 10_000  # the SDK's own wait after a 429
    assert remaining(operator, first) == remaining(operator, second) == 0
