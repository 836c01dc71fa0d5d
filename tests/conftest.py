"""Shared fixtures: the in-process app on every storage backend.

``backend`` runs a test on SQLite and on PostgreSQL. PostgreSQL is at
``TRUNKLINE_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each test session works in a schema of its own. Where PostgreSQL does not
answer the PostgreSQL cases are skipped with the reason, except under CI
(``CI`` set), where they fail: CI must really run them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from trunkline.domain.portals import Portal
from trunkline.services.accounts import AccountService
from trunkline.settings import Settings
from trunkline.storage import migrate
from trunkline.storage.secrets import new_key
from trunkline.storage.url import DatabaseUrl
from trunkline.web.app import TrunklineApp

POSTGRES_URL = os.environ.get(
    "TRUNKLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgres"]


def postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    parts = urlsplit(POSTGRES_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            return None
    except OSError as exc:
        return f"PostgreSQL at {parts.hostname}:{parts.port} does not answer ({exc})"


def require_postgres() -> None:
    reason = postgres_reachable()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the PostgreSQL tests (.ci/run starts it)")
    pytest.skip(reason)


async def _drop_schema(url: DatabaseUrl) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.asyncpg_dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{url.postgres_schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DatabaseUrl]]:
    """One migrated database per backend for the whole session (created lazily)."""
    made: dict[str, DatabaseUrl] = {}
    yield made
    for name, url in made.items():
        if name == "postgres":
            asyncio.run(_drop_schema(url))


def database_url(
    backend: str, urls: dict[str, DatabaseUrl], tmp: pytest.TempPathFactory
) -> DatabaseUrl:
    if backend not in urls:
        if backend == "postgres":
            require_postgres()
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            schema = f"tl_{worker}_{secrets.token_hex(4)}"
            url = DatabaseUrl(f"{POSTGRES_URL}?schema={schema}")
        else:
            url = DatabaseUrl(f"sqlite:///{tmp.mktemp('db') / 'trunkline.sqlite3'}")
        migrate.upgrade(url)
        urls[backend] = url
    return urls[backend]


_RESET = [
    "DELETE FROM snapshots",  # test control: snapshots, the journal, the clock's offset
    "DELETE FROM requests",
    "DELETE FROM operator_values",
    "DELETE FROM event_journal",  # the journal outlives portals (no foreign key)
    "DELETE FROM faults",  # injected faults for every portal have no portal to cascade from
    "DELETE FROM bindings",
    "DELETE FROM lines",
    "DELETE FROM webhooks",
    "DELETE FROM users",
    "DELETE FROM portals",
    "DELETE FROM apps",  # installs, codes, tokens, passwords, connectors cascade
]


@dataclass
class Env:
    """A running in-process app with a fresh portal, admin user 1 and a webhook."""

    client: TestClient
    app: TrunklineApp
    portal: Portal
    code: str
    backend: str

    @property
    def hook(self) -> str:
        return f"/rest/1/{self.code}/"

    def run(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Run a coroutine function on the app's event loop."""
        portal = self.client.portal
        assert portal is not None
        return portal.call(lambda: fn(*args, **kwargs))

    @property
    def accounts(self) -> AccountService:
        assert self.app.services is not None
        return self.app.services.accounts

    def call(
        self, method: str, payload: Any = None, *, hook: str | None = None, **kwargs: Any
    ) -> Any:
        """POST JSON to a method through the webhook; returns the httpx response."""
        if payload is not None:
            kwargs["json"] = payload
        return self.client.post((hook or self.hook) + method, **kwargs)

    def ok(self, method: str, payload: Any = None, **kwargs: Any) -> Any:
        response = self.call(method, payload, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def webhook(self, user_id: int, scopes: list[str] | None = None, **kwargs: Any) -> str:
        created = self.run(
            self.accounts.create_webhook, self.portal, user_id, scopes or ["telephony"], **kwargs
        )
        return f"/rest/{user_id}/{created.code}/"

    def user(self, login: str, **kwargs: Any) -> int:
        user = self.run(self.accounts.create_user, self.portal, login, **kwargs)
        return int(user.user_id)

    def add_line(self, **fields: Any) -> dict[str, Any]:
        body = {"TYPE": "office", "SERVER": "pbx.example.com", "LOGIN": "user", **fields}
        result: dict[str, Any] = self.ok("voximplant.sip.add", body)["result"]
        return result


def make_env(
    backend: str,
    urls: dict[str, DatabaseUrl],
    tmp: pytest.TempPathFactory,
    **settings: Any,
) -> Iterator[Env]:
    url = database_url(backend, urls, tmp)
    key = new_key()
    settings = {"sip_engine": "off", **settings}  # SIP tests start their own engine
    settings.setdefault("record_dir", str(tmp.mktemp("records")))  # never the working dir
    app = TrunklineApp(Settings(database_url=url.raw, secret_key=key, **settings))
    with TestClient(app, base_url="http://testserver") as client:
        env = Env(client, app, None, "", backend)  # type: ignore[arg-type]

        async def reset() -> tuple[Portal, str]:
            assert app.store is not None
            for statement in _RESET:
                await app.store.driver.execute(statement)
            accounts = env.accounts
            portal = await accounts.create_portal("test.bitrix24.com", title="Test")
            await accounts.create_user(portal, "admin", name="Ada", is_admin=True, user_id=1)
            created = await accounts.create_webhook(portal, 1, ["telephony"])
            # The app read portal states and faults when it started, before the rows of the
            # previous test were deleted: read them again (a portal id is reused on SQLite,
            # so a state left by the last test would otherwise apply to this portal).
            assert app.control is not None
            await app.control.refresh()
            return portal, created.code

        env.portal, env.code = env.run(reset)
        yield env


@contextmanager
def other_node(env: Env) -> Iterator[Env]:
    """A second app on ``env``'s database and portal (another node or worker: its own
    connection and caches)."""
    settings = Settings(
        database_url=env.app.settings.database_url,
        secret_key=env.app.settings.secret_key,
        sip_engine="off",
        record_dir=env.app.settings.record_dir,
    )
    with TestClient(TrunklineApp(settings), base_url="http://testserver") as client:
        yield Env(client, client.app, env.portal, env.code, env.backend)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def env(
    request: pytest.FixtureRequest,
    database_urls: dict[str, DatabaseUrl],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Env]:
    """The app on each backend with a fresh portal."""
    yield from make_env(request.param, database_urls, tmp_path_factory)


@pytest.fixture
def sqlite_env(
    database_urls: dict[str, DatabaseUrl], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    """The app on SQLite only (for tests about the wire, not the storage)."""
    yield from make_env("sqlite", database_urls, tmp_path_factory)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def sqlite_and_pg(
    database_urls: dict[str, DatabaseUrl], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Env]]:
    """Both backends at once (for tests that compare them); PostgreSQL as `env` does."""
    envs: list[Env] = []
    gens = []
    for backend in BACKENDS:
        if backend == "postgres" and postgres_reachable() and not os.environ.get("CI"):
            continue
        gen = make_env(backend, database_urls, tmp_path_factory)
        envs.append(next(gen))
        gens.append(gen)
    yield envs
    for gen in gens:
        gen.close()
