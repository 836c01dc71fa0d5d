"""Real clients through OAuth against the live server (clients.md §1–§3, rest-protocol.md §9).

* b24pysdk ``BitrixToken``: a token already expired on the server is refreshed
  through ``GET /oauth/token/`` (``_OAUTH_TOKEN_URL`` patched to loopback, as
  clients.md says) and the call succeeds.
* fast-bitrix24 with ``token_func``: the 401 makes it ask for a new token, which
  the test gets from ``POST /oauth/token/``.
* @bitrix24/b24jssdk 2.2.0 ``B24OAuth`` (``tests/clients_js/run.mjs`` under Node):
  reactive refresh on 401 and pre-emptive refresh of a past ``expires``, calling
  through the ``client_endpoint`` the server handed out (``.../rest/``, so the SDK
  requests ``/rest//method``).
* The authorization-code flow over real HTTP: sign-in page, redirect, exchange.

Tokens come from ``trunkline app install`` in a portal of this module's own; a
token "expired on the server" is made by moving its expiry in the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import requests
from b24pysdk import BitrixApp, BitrixToken, Client
from b24pysdk.api.requesters.bitrix_oauth_requester import BitrixOAuthRequester
from fast_bitrix24 import Bitrix

from tests.compat.conftest import trunkline_cli
from trunkline.testing.server import LiveServer

if TYPE_CHECKING:
    from conftest import Hook  # tests/compat/conftest.py

pytestmark = pytest.mark.compat

DOMAIN = "oauth.compat.test"
CLIENTS_JS = Path(__file__).resolve().parents[1] / "clients_js"
call_method = importlib.import_module("b24pysdk.api.callers.call_method")


@dataclass
class Grant:
    client_id: str
    client_secret: str
    auth: dict[str, Any]  # auth[...] of ONAPPINSTALL, from `trunkline app install --json`

    @property
    def access(self) -> str:
        return str(self.auth["access_token"])

    @property
    def refresh(self) -> str:
        return str(self.auth["refresh_token"])


@pytest.fixture(scope="module")
def portal(new_portal: Callable[[str], Hook]) -> Hook:
    return new_portal(DOMAIN)


@pytest.fixture(scope="module")
def app(live_server: LiveServer, portal: Hook) -> dict[str, Any]:
    created: dict[str, Any] = trunkline_cli(
        live_server,
        "app",
        "create",
        "--title",
        "Compat",
        "--scope",
        "telephony,user",
        "--redirect-uri",
        "http://127.0.0.1:9/callback",
    )
    return created


@pytest.fixture
def grant(live_server: LiveServer, app: dict[str, Any]) -> Grant:
    """A fresh install: new tokens for user 1 (the earlier install's are revoked)."""
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


def expire_on_server(server: LiveServer, access_token: str) -> None:
    digest = hashlib.sha256(access_token.encode()).hexdigest()
    with sqlite3.connect(server.workdir / "trunkline.sqlite3") as db:
        changed = db.execute(
            "UPDATE oauth_tokens SET access_expires_at = ? WHERE access_hash = ?",
            (time.time() - 60, digest),
        ).rowcount
    assert changed == 1


def refresh_refused(server: LiveServer, grant: Grant, refresh_token: str) -> None:
    answer = httpx.get(
        f"{server.base_url}/oauth/token/",
        params={
            "grant_type": "refresh_token",
            "client_id": grant.client_id,
            "client_secret": grant.client_secret,
            "refresh_token": refresh_token,
        },
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", answer.text


def test_install_answer_points_back_at_this_server(live_server: LiveServer, grant: Grant) -> None:
    assert grant.auth["client_endpoint"] == f"{live_server.base_url}/rest/"
    assert grant.auth["server_endpoint"] == f"{live_server.base_url}/rest/"
    assert grant.auth["domain"] == DOMAIN


# -- b24pysdk ---------------------------------------------------------------------------


@pytest.fixture
def b24pysdk_oauth(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Plain http, the OAuth host on loopback; returns the token URLs it GETs."""
    monkeypatch.setattr(
        call_method._MethodCaller,
        "_base_url",
        property(lambda self: f"http://{self._domain}/rest"),
    )
    monkeypatch.setattr(
        BitrixOAuthRequester, "_OAUTH_TOKEN_URL", f"{live_server.base_url}/oauth/token/"
    )
    fetched: list[str] = []
    real_get = requests.get

    def recording_get(*args: Any, **kwargs: Any) -> requests.Response:
        fetched.append(kwargs.get("url") or args[0])
        return real_get(*args, **kwargs)

    monkeypatch.setattr(requests, "get", recording_get)
    return fetched


def test_b24pysdk_refreshes_a_token_expired_on_the_server(
    live_server: LiveServer, grant: Grant, b24pysdk_oauth: list[str]
) -> None:
    expire_on_server(live_server, grant.access)
    token = BitrixToken(
        domain=urlsplit(live_server.base_url).netloc,
        auth_token=grant.access,
        refresh_token=grant.refresh,
        bitrix_app=BitrixApp(client_id=grant.client_id, client_secret=grant.client_secret),
    )
    client = Client(token)

    status = client.voximplant.sip.connector.status().response.result

    assert status == {"FREE_MINUTES": 0, "PAID": False}
    assert b24pysdk_oauth == [f"{live_server.base_url}/oauth/token/"]
    assert token.auth_token != grant.access and token.refresh_token != grant.refresh
    added = client.voximplant.sip.add(
        type="office", title="pysdk-oauth", server="pbx.example.com", login="py", password="pw"
    ).response.result
    rows = client.voximplant.sip.get(filter={"CONFIG_ID": int(added["CONFIG_ID"])}).response.result
    assert [row["TITLE"] for row in rows] == ["pysdk-oauth"]
    refresh_refused(live_server, grant, grant.refresh)


# -- fast-bitrix24 -----------------------------------------------------------------------


@pytest.fixture
def closing_loop() -> Iterator[None]:
    yield
    try:  # the sync wrapper leaves a loop behind (see test_fast_bitrix24.py)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return
    loop.close()
    asyncio.set_event_loop(None)


def test_fast_bitrix24_token_func_refreshes_on_401(
    live_server: LiveServer, grant: Grant, closing_loop: None
) -> None:
    expire_on_server(live_server, grant.access)
    handed: list[str] = []
    current = {"refresh": grant.refresh}

    async def token_func() -> str:
        if not handed:
            handed.append(grant.access)  # the first call gets the expired token
            return grant.access
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"{live_server.base_url}/oauth/token/",
                data={
                    "grant_type": "refresh_token",
                    "client_id": grant.client_id,
                    "client_secret": grant.client_secret,
                    "refresh_token": current["refresh"],
                },
            )
        body = answer.json()
        current["refresh"] = body["refresh_token"]
        handed.append(body["access_token"])
        return str(body["access_token"])

    bitrix = Bitrix(grant.auth["client_endpoint"], token_func=token_func, verbose=False)
    reply = bitrix.call("voximplant.sip.connector.status", raw=True)

    assert reply["result"] == {"FREE_MINUTES": 0, "PAID": False}
    assert len(handed) == 2 and handed[0] == grant.access != handed[1]
    profile = bitrix.call("profile", raw=True)
    assert profile["result"]["ID"] == "1"
    assert len(handed) == 2  # the new token is kept


# -- @bitrix24/b24jssdk ------------------------------------------------------------------


def node_ready() -> None:
    reason = None
    if shutil.which("node") is None:
        reason = "node is not installed"
    elif not (CLIENTS_JS / "node_modules" / "@bitrix24" / "b24jssdk").is_dir():
        reason = "tests/clients_js has no node_modules: scripts/test runs npm ci there"
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the b24jssdk tests")
    pytest.skip(reason)


def run_jssdk(grant: Grant, scenario: str, expires: int) -> list[dict[str, Any]]:
    node_ready()
    config = {
        "scenario": scenario,
        "clientEndpoint": grant.auth["client_endpoint"],
        "serverEndpoint": grant.auth["server_endpoint"],
        "accessToken": grant.access,
        "refreshToken": grant.refresh,
        "expires": expires,
        "clientId": grant.client_id,
        "clientSecret": grant.client_secret,
        "memberId": grant.auth["member_id"],
        "domain": grant.auth["domain"],
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
    return [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]


def check_jssdk_run(records: list[dict[str, Any]], grant: Grant, scenario: str) -> dict[str, Any]:
    *calls, final = records
    assert [c["method"] for c in calls] == [
        "voximplant.sip.connector.status",
        "voximplant.sip.add",
        "voximplant.sip.get",
        "profile",
    ]
    assert all(c["ok"] for c in calls), calls
    assert calls[0]["result"] == {"FREE_MINUTES": 0, "PAID": False}
    assert calls[1]["result"]["TITLE"] == f"jssdk-{scenario}"
    assert [row["TITLE"] for row in calls[2]["result"]] == [f"jssdk-{scenario}"]
    assert calls[3]["result"]["ID"] == "1"
    [renewed] = final["refreshes"]  # exactly one refresh
    assert renewed["accessToken"] != grant.access and renewed["refreshToken"] != grant.refresh
    assert renewed["clientEndpoint"] == grant.auth["client_endpoint"]
    assert renewed["serverEndpoint"] == grant.auth["server_endpoint"]
    assert (renewed["scope"], renewed["status"]) == ("telephony,user", "L")
    assert final["auth"]["access_token"] == renewed["accessToken"]
    return renewed


def test_b24jssdk_refreshes_on_401(live_server: LiveServer, grant: Grant) -> None:
    assert grant.auth["client_endpoint"].endswith("/rest/")  # so the SDK calls /rest//method
    expire_on_server(live_server, grant.access)
    records = run_jssdk(grant, "reactive", expires=int(time.time()) + 3600)
    check_jssdk_run(records, grant, "reactive")
    refresh_refused(live_server, grant, grant.refresh)


def test_b24jssdk_refreshes_a_past_expires_before_calling(
    live_server: LiveServer, grant: Grant
) -> None:
    # The server still takes the token: only a refresh made before the first call
    # explains a new pair and a spent refresh token.
    records = run_jssdk(grant, "preemptive", expires=int(time.time()) - 10)
    check_jssdk_run(records, grant, "preemptive")
    refresh_refused(live_server, grant, grant.refresh)


# -- the authorization-code flow over HTTP -----------------------------------------------


def test_authorization_code_flow_over_http(live_server: LiveServer, grant: Grant) -> None:
    trunkline_cli_stdin(
        live_server,
        "hunter2-hunter2",
        "user",
        "password",
        "admin",
        "--portal",
        DOMAIN,
        "--password-stdin",
    )
    with httpx.Client(base_url=live_server.base_url, headers={"host": DOMAIN}) as browser:
        page = browser.get(
            "/oauth/authorize/", params={"client_id": grant.client_id, "state": "xyz"}
        )
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        redirect = browser.post(
            "/oauth/authorize/",
            data={
                "client_id": grant.client_id,
                "state": "xyz",
                "csrf": csrf.group(1),
                "login": "admin",
                "password": "hunter2-hunter2",
            },
        )
    assert redirect.status_code == 302, redirect.text
    location = urlsplit(redirect.headers["location"])
    assert location.path == "/callback"
    query = parse_qs(location.query)
    assert (query["state"], query["domain"], query["scope"]) == (
        ["xyz"],
        [DOMAIN],
        ["telephony,user"],
    )
    answer = httpx.post(
        f"{live_server.base_url}/oauth/token/",
        data={
            "grant_type": "authorization_code",
            "client_id": grant.client_id,
            "client_secret": grant.client_secret,
            "code": query["code"][0],
        },
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()
    status = httpx.post(
        token["client_endpoint"] + "voximplant.sip.connector.status",
        headers={"authorization": f"Bearer {token['access_token']}"},
    )
    assert status.json()["result"] == {"FREE_MINUTES": 0, "PAID": False}


def trunkline_cli_stdin(server: LiveServer, stdin: str, *args: str) -> Any:
    database = f"sqlite:///{server.workdir / 'trunkline.sqlite3'}"
    completed = subprocess.run(
        [sys.executable, "-m", "trunkline", *args, "--json", "--database-url", database],
        input=stdin + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)
