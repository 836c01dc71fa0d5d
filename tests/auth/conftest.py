"""OAuth fixtures: the in-process app with a hand-driven clock, apps, installs, sign-in.

``oauth`` wraps the ``env`` fixture (SQLite and PostgreSQL) and replaces the app's
clock, so code and token expiry is tested by moving time, never by sleeping.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Env
from trunkline.domain.portals import Portal
from trunkline.services.apps import AppService, CreatedApp

PORTAL_HOST = "test.bitrix24.com"  # the env fixture's portal
PASSWORD = "correct horse battery"
REDIRECT = "https://app.example.com/callback?from=b24"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class OAuth:
    env: Env
    clock: Clock
    secrets: dict[str, str] = field(default_factory=dict)

    @property
    def apps(self) -> AppService:
        assert self.env.app.services is not None and self.env.app.services.apps is not None
        return self.env.app.services.apps

    def create_app(self, **kwargs: Any) -> str:
        kwargs.setdefault("title", "Test app")
        kwargs.setdefault("redirect_uri", REDIRECT)
        created: CreatedApp = self.env.run(self.apps.create_app, **kwargs)
        self.secrets[created.app.client_id] = created.client_secret
        return created.app.client_id

    def install(
        self, client_id: str, user_id: int = 1, portal: Portal | None = None
    ) -> dict[str, Any]:
        installed = self.env.run(
            self.apps.install, portal or self.env.portal, client_id, user_id, "http://testserver"
        )
        return dict(installed.auth)

    def app_tokens(self, user_id: int = 1, **kwargs: Any) -> tuple[str, dict[str, Any]]:
        client_id = self.create_app(**kwargs)
        return client_id, self.install(client_id, user_id)

    def set_password(
        self, who: str = "admin", password: str = PASSWORD, portal: Portal | None = None
    ) -> None:
        self.env.run(self.apps.set_password, portal or self.env.portal, who, password)

    def authorize_page(
        self, client_id: str, *, state: str = "st4te", host: str = PORTAL_HOST, **query: str
    ) -> Any:
        return self.env.client.get(
            "/oauth/authorize/",
            params={"client_id": client_id, "state": state, **query},
            headers={"host": host},
        )

    def sign_in(
        self,
        client_id: str,
        login: str = "admin",
        password: str = PASSWORD,
        *,
        state: str = "st4te",
        host: str = PORTAL_HOST,
    ) -> Any:
        page = self.authorize_page(client_id, state=state, host=host)
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        return self.env.client.post(
            "/oauth/authorize/",
            data={
                "client_id": client_id,
                "state": state,
                "csrf": csrf.group(1),
                "login": login,
                "password": password,
            },
            headers={"host": host},
            follow_redirects=False,
        )

    def code(self, client_id: str, **kwargs: Any) -> str:
        response = self.sign_in(client_id, **kwargs)
        assert response.status_code == 302, response.text
        return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]

    def token(self, params: dict[str, str], *, post: bool = False) -> Any:
        if post:
            return self.env.client.post("/oauth/token/", data=params)
        return self.env.client.get("/oauth/token/", params=params)

    def exchange(self, client_id: str, code: str, **kwargs: Any) -> Any:
        return self.token(
            {
                "grant_type": "authorization_code",
                "client_id": client_id,
                "client_secret": self.secrets[client_id],
                "code": code,
            },
            **kwargs,
        )

    def refresh(self, client_id: str, refresh_token: str, **kwargs: Any) -> Any:
        return self.token(
            {
                "grant_type": "refresh_token",
                "client_id": client_id,
                "client_secret": self.secrets[client_id],
                "refresh_token": refresh_token,
            },
            **kwargs,
        )

    def call(self, method: str, token: str, payload: Any = None, *, host: str | None = None) -> Any:
        headers = {"host": host} if host else {}
        return self.env.client.post(
            f"/rest/{method}", json={**(payload or {}), "auth": token}, headers=headers
        )

    def ok(self, method: str, token: str, payload: Any = None, **kwargs: Any) -> Any:
        response = self.call(method, token, payload, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["result"]


@pytest.fixture
def oauth(env: Env) -> Iterator[OAuth]:
    clock = Clock()
    env.app.clock.use(clock)
    yield OAuth(env, clock)


def error(response: Any, status: int, code: str, description: str | None = None) -> dict[str, Any]:
    """Assert an error envelope exactly; returns the body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    if description is not None:
        assert body["error_description"] == description, body
    assert set(body) == {"error", "error_description"}, body
    return body
