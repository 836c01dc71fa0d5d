"""b24pysdk 1.3.2 and fast-bitrix24 1.8.14 drive the built-in telephony flow against the
live server: line.get -> line.outgoing.set -> line.outgoing.get, and user.get ->
user.activatePhone -> user.get."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from b24pysdk import BitrixWebhook, Client
from fast_bitrix24 import Bitrix

from tests.compat.test_b24pysdk import b24pysdk_plain_http  # noqa: F401  (the fixture)
from tests.compat.test_fast_bitrix24 import bitrix  # noqa: F401  (the fixture)

if TYPE_CHECKING:
    from conftest import Hook  # tests/compat/conftest.py

pytestmark = pytest.mark.compat


@pytest.fixture
def client(hook: Hook, b24pysdk_plain_http: None) -> Client:  # noqa: F811
    return Client(BitrixWebhook(domain=hook.domain, webhook_token=hook.token))


def add_cloud(hook: Hook, title: str) -> str:
    body = {"TYPE": "cloud", "TITLE": title, "SERVER": "s.example", "LOGIN": "l", "PASSWORD": "p"}
    return f"reg{hook.call('voximplant.sip.add', body)['result']['REG_ID']}"


def test_b24pysdk_picks_the_default_outgoing_line(client: Client, hook: Hook) -> None:
    key = add_cloud(hook, "b24pysdk line")
    lines = client.voximplant.line.get().response.result
    assert lines[key] == "b24pysdk line"
    assert client.voximplant.line.outgoing.set(line_id=key).response.result == 1
    assert client.voximplant.line.outgoing.get().response.result == key
    # An unknown line: 1, and nothing changes (the documented quirk).
    assert client.voximplant.line.outgoing.set(line_id="reg1").response.result == 1
    assert client.voximplant.line.outgoing.get().response.result == key


def test_b24pysdk_activates_a_users_phone(client: Client) -> None:
    assert client.voximplant.user.activate_phone(user_id=1).response.result == 1
    (row,) = client.voximplant.user.get(user_id=[1]).response.result
    assert (row["ID"], row["PHONE_ENABLED"], row["SIP_LOGIN"]) == ("1", "Y", "phone1")
    assert re.fullmatch(r"[0-9a-f]{12}", row["SIP_PASSWORD"])


def test_fast_bitrix24_picks_the_default_outgoing_line(bitrix: Bitrix, hook: Hook) -> None:  # noqa: F811
    key = add_cloud(hook, "fast line")
    assert bitrix.call("voximplant.line.get", raw=True)["result"][key] == "fast line"
    assert bitrix.call("voximplant.line.outgoing.set", {"LINE_ID": key}, raw=True)["result"] == 1
    assert bitrix.call("voximplant.line.outgoing.get", raw=True)["result"] == key


def test_fast_bitrix24_activates_a_users_phone(bitrix: Bitrix) -> None:  # noqa: F811
    assert bitrix.call("voximplant.user.activatePhone", {"USER_ID": 1}, raw=True)["result"] == 1
    rows = bitrix.call("voximplant.user.get", {"USER_ID": [1]}, raw=True)["result"]
    assert rows[0]["PHONE_ENABLED"] == "Y" and rows[0]["SIP_LOGIN"] == "phone1"
