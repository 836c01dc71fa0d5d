"""trunkline.testing.inprocess(): a fresh app in-process, reached through httpx, no port."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from trunkline.testing import InProcessClient, inprocess


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(scenario(), 60)

    return asyncio.run(bounded())


def hidden_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))


def test_inprocess_answers_the_seeded_webhook() -> None:
    async def scenario() -> None:
        async with inprocess() as client:
            assert isinstance(client, InProcessClient)
            assert re.fullmatch(r"http://trunkline\.local/rest/1/[a-z0-9]{16}/", client.webhook_url)
            answer = await client.post(client.webhook_url + "voximplant.sip.get.json")
            assert answer.status_code == 200 and answer.json()["result"] == []
            added = await client.post(
                client.webhook_url + "voximplant.sip.add",
                json={"TYPE": "office", "SERVER": "pbx.example", "LOGIN": "a"},
            )
            assert added.json()["result"]["INCOMING_SERVER"] == "127.0.0.1"
            health = await client.get("/health")
            assert health.json()["engine"] == {"mode": "off", "running": False}

    run(scenario)


def test_each_inprocess_is_a_fresh_app_and_settings_pass_through() -> None:
    async def scenario() -> None:
        async with inprocess(error_texts="core", admin_password="correct-horse") as first:
            await first.post(
                first.webhook_url + "voximplant.sip.add",
                json={"TYPE": "office", "SERVER": "pbx", "LOGIN": "a"},
            )
            assert first.app.settings.error_texts == "core"
            assert first.admin_password == "correct-horse"
        async with inprocess() as second:
            listed = await second.post(second.webhook_url + "voximplant.sip.get")
            assert listed.json()["result"] == []
            assert second.webhook_url != first.webhook_url

    run(scenario)


def test_without_a_seed_there_is_no_webhook() -> None:
    async def scenario() -> None:
        async with inprocess(seed=False) as client:
            assert client.admin_password is None
            with pytest.raises(LookupError):
                client.webhook_url  # noqa: B018

    run(scenario)


def test_sign_in_with_the_seeded_password_and_deny() -> None:
    """The real sign-in page, in-process: the administrator's password signs in, Deny
    redirects with error=access_denied (RFC 6749 §4.1.2.1)."""

    async def scenario() -> None:
        async with inprocess() as client:
            services = client.app.services
            assert services is not None
            created = await services.apps.create_app(redirect_uri="https://app.example/cb")
            portal = await services.accounts.portal()
            assert portal is not None
            await services.apps.install(portal, created.app.client_id, 1, "http://x")
            query = {"client_id": created.app.client_id, "state": "s-1"}
            page = await client.get("/oauth/authorize/", params=query)
            assert page.status_code == 200 and ">Deny</button>" in page.text
            allowed = await client.post(
                "/oauth/authorize/",
                data={
                    **hidden_fields(page.text),
                    "login": "admin",
                    "password": client.admin_password,
                    "decision": "allow",
                },
            )
            assert allowed.status_code == 302, allowed.text
            granted = parse_qs(urlsplit(allowed.headers["location"]).query)
            assert granted["state"] == ["s-1"] and granted["code"]

            page = await client.get("/oauth/authorize/", params=query)
            denied = await client.post(
                "/oauth/authorize/", data={**hidden_fields(page.text), "decision": "deny"}
            )
            assert denied.status_code == 302
            location = urlsplit(denied.headers["location"])
            assert location.netloc == "app.example" and location.path == "/cb"
            assert parse_qs(location.query) == {
                "error": ["access_denied"],
                "error_description": ["The user denied access"],
                "state": ["s-1"],
            }
            forged = await client.post(
                "/oauth/authorize/",
                data={**hidden_fields(page.text), "csrf": "forged", "decision": "deny"},
            )
            assert forged.status_code == 400  # Deny is checked against its cookie too

    run(scenario)
