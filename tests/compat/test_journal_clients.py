"""The request journal counts what real clients sent: batch commands one by one, whether
they come from a plain JSON batch, fast-bitrix24 (which wraps even single calls in a
batch) or b24pysdk (webhook calls and ``call_batch``).

One server with the operator API on (``--operator-token auto``); each test makes its own
portal through ``POST /operator/portals`` and counts with ``POST /operator/requests/count``.
"""

from __future__ import annotations

import asyncio
import importlib
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from b24pysdk import BitrixWebhook, Client
from fast_bitrix24 import Bitrix

from trunkline.testing.server import LiveServer

pytestmark = pytest.mark.compat

call_method = importlib.import_module("b24pysdk.api.callers.call_method")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir: Path = tmp_path_factory.mktemp("journal-server")
    with LiveServer.start(workdir, args=("--operator-token", "auto")) as live:
        yield live


class Portal:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.auth = {"authorization": f"Bearer {server.operator_token}"}
        self.domain = f"j{secrets.token_hex(4)}.example"
        made = httpx.post(
            f"{server.base_url}/operator/portals",
            json={"domain": self.domain, "webhooks": [{"user": 1}]},
            headers=self.auth,
        )
        assert made.status_code == 201, made.text
        self.hook: str = made.json()["webhooks"][0]["url"]

    def count(self, **matcher: Any) -> int:
        answer = httpx.post(
            f"{self.server.base_url}/operator/requests/count",
            json={"portal": self.domain, **matcher},
            headers=self.auth,
        )
        assert answer.status_code == 200, answer.text
        return int(answer.json()["count"])


@pytest.fixture
def portal(server: LiveServer) -> Portal:
    return Portal(server)


def test_count_matches_a_json_batch(portal: Portal):
    commands = {f"c{i}": f"voximplant.sip.add?TYPE=office&SERVER=s{i}&LOGIN=l{i}" for i in range(7)}
    commands["g"] = "voximplant.sip.get"
    answer = httpx.post(portal.hook + "batch.json", json={"cmd": commands, "halt": 0})
    assert answer.status_code == 200, answer.text
    assert portal.count(method="voximplant.sip.add") == 7
    assert portal.count(method="voximplant.sip.add", batch=True) == 7
    assert portal.count(method="voximplant.sip.get") == 1
    assert portal.count(method="batch") == 1


@pytest.fixture
def bitrix(portal: Portal) -> Iterator[Bitrix]:
    yield Bitrix(portal.hook, verbose=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return
    loop.close()
    asyncio.set_event_loop(None)


def test_count_matches_fast_bitrix24(portal: Portal, bitrix: Bitrix):
    items = [{"TYPE": "office", "SERVER": f"s{i}", "LOGIN": f"l{i}"} for i in range(5)]
    bitrix.call("voximplant.sip.add", items)  # one batch of five commands
    bitrix.call("voximplant.sip.get", {"SORT": "CONFIG_ID"}, raw=True)  # one plain call
    rows = bitrix.get_all("voximplant.sip.get")
    assert len(rows) == 5
    assert portal.count(method="voximplant.sip.add") == 5
    assert portal.count(method="voximplant.sip.add", batch=True) == 5
    assert portal.count(method="voximplant.sip.get", batch=False) >= 1
    assert portal.count(method="voximplant.sip.get", params={"SORT": "CONFIG_ID"}) == 1


def test_count_matches_b24pysdk(portal: Portal, monkeypatch: pytest.MonkeyPatch):
    # Plain http (the SDK forces https; tests/compat/test_tls_clients.py runs it unpatched).
    monkeypatch.setattr(
        call_method._MethodCaller, "_base_url", property(lambda self: f"http://{self._domain}/rest")
    )
    parts = httpx.URL(portal.hook)
    token = "/".join(parts.path.strip("/").split("/")[1:3])
    webhook = BitrixWebhook(domain=f"{parts.host}:{parts.port}", webhook_token=token)
    client = Client(webhook)
    for i in range(3):
        added = client.voximplant.sip.add(
            type="office", title=f"t{i}", server=f"s{i}", login=f"l{i}", password="p"
        ).response
        assert added.result["TITLE"] == f"t{i}"
    assert len(client.voximplant.sip.get().response.result) == 3
    answer = webhook.call_batch({f"s{i}": ("voximplant.sip.get", {"start": 0}) for i in range(4)})
    assert len(answer["result"]["result"]) == 4
    assert portal.count(method="voximplant.sip.add") == 3
    assert portal.count(method="voximplant.sip.add", params={"PASSWORD": "***"}) == 3
    assert portal.count(method="voximplant.sip.get") == 5
    assert portal.count(method="voximplant.sip.get", batch=True) == 4
