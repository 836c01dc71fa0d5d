"""The Market review flow with real clients against a live server, with OAuth: b24pysdk
(Python) and @bitrix24/b24jssdk (through Node) each register an external call, show and
hide its card, finish it, attach an mp3 and find the row, with its recording, in
voximplant.statistic.get."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from b24pysdk import BitrixApp, BitrixToken, Client

from tests.compat.conftest import trunkline_cli
from tests.compat.test_oauth_clients import (
    CLIENTS_JS,
    Grant,
    b24pysdk_oauth,  # noqa: F401  (the fixture)
    node_ready,
)
from trunkline.testing.server import LiveServer

if TYPE_CHECKING:
    from conftest import Hook  # tests/compat/conftest.py

pytestmark = pytest.mark.compat

DOMAIN = "telephony.compat.test"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 200


@pytest.fixture(scope="module")
def portal(new_portal: Callable[[str], Hook]) -> Hook:
    return new_portal(DOMAIN)


@pytest.fixture(scope="module")
def grant(live_server: LiveServer, portal: Hook) -> Grant:
    app = trunkline_cli(
        live_server,
        "app",
        "create",
        "--title",
        "Compat PBX",
        "--scope",
        "telephony,user",
        "--redirect-uri",
        "http://127.0.0.1:9/callback",
    )
    auth = trunkline_cli(
        live_server,
        "app",
        "install",
        app["client_id"],
        "--portal",
        DOMAIN,
        "--user",
        "1",
        "--public-url",
        live_server.base_url,
    )
    return Grant(app["client_id"], app["client_secret"], auth)


def test_b24pysdk_drives_the_market_flow_with_oauth(
    live_server: LiveServer,
    grant: Grant,
    b24pysdk_oauth: list[str],  # noqa: F811
) -> None:
    token = BitrixToken(
        domain=urlsplit(live_server.base_url).netloc,
        auth_token=grant.access,
        refresh_token=grant.refresh,
        bitrix_app=BitrixApp(client_id=grant.client_id, client_secret=grant.client_secret),
    )
    calls = Client(token).telephony.external_call
    registered = calls.register(
        "+7 978 111-22-33", 2, user_id=1, line_number="7", external_call_id="py-1"
    ).response.result
    call_id = registered["CALL_ID"]
    assert call_id.startswith("externalCall.")
    assert calls.show(call_id, user_id=[1]).response.result is True
    assert calls.hide(call_id, user_id=1).response.result is True
    row = calls.finish(
        call_id, user_id=1, duration=42, cost=1.5, cost_currency="EUR", status_code="200"
    ).response.result
    assert (row["CALL_DURATION"], row["CALL_FAILED_CODE"], row["COST"]) == (42, "200", 1.5)
    assert row["REST_APP_NAME"] == "Compat PBX" and row["PORTAL_NUMBER"] == "7"
    file_id = calls.attach_record(
        call_id, filename="py.mp3", file_content=base64.b64encode(MP3).decode()
    ).response.result["FILE_ID"]
    assert calls.show(call_id).response.result is False  # finished: no card
    rows = Client(token).voximplant.statistic.get(filter={"CALL_ID": call_id}).response.result
    assert [(r["CALL_ID"], r["RECORD_FILE_ID"], r["EXTERNAL_CALL_ID"]) for r in rows] == [
        (call_id, file_id, "py-1")
    ]
    assert rows[0]["PHONE_NUMBER"] == "79781112233" and rows[0]["CALL_TYPE"] == "2"


def test_b24jssdk_drives_the_market_flow_with_oauth(grant: Grant) -> None:
    node_ready()
    config = {
        "scenario": "telephony",
        "clientEndpoint": grant.auth["client_endpoint"],
        "serverEndpoint": grant.auth["server_endpoint"],
        "accessToken": grant.access,
        "refreshToken": grant.refresh,
        "expires": 2_000_000_000,
        "clientId": grant.client_id,
        "clientSecret": grant.client_secret,
        "memberId": grant.auth["member_id"],
        "domain": grant.auth["domain"],
        "phone": "79782223344",
        "record": base64.b64encode(MP3).decode(),
    }
    completed = subprocess.run(
        ["node", "run.mjs", json.dumps(config)],
        cwd=CLIENTS_JS,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    records: list[dict[str, Any]] = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [r["method"] for r in records] == [
        "telephony.externalcall.register",
        "telephony.externalcall.show",
        "telephony.externalcall.hide",
        "telephony.externalcall.finish",
        "telephony.externalCall.attachRecord",
        "voximplant.statistic.get",
    ]
    assert all(r["ok"] for r in records), records
    register, show, hide, finish, attach, listed = (r["result"] for r in records)
    assert (show, hide) == (True, True)
    assert finish["CALL_ID"] == register["CALL_ID"] and finish["CALL_DURATION"] == 33
    assert finish["COST"] == 0.25 and finish["COST_CURRENCY"] == "USD"
    [row] = listed
    assert row["CALL_ID"] == register["CALL_ID"] and row["RECORD_FILE_ID"] == attach["FILE_ID"]
    assert row["PORTAL_NUMBER"] == "77" and row["EXTERNAL_CALL_ID"] == "js-1"
