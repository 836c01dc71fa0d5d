"""Handlers that hang, answer 500 or listen nowhere: REST calls that raise events answer
while the handler still holds the POST, and each case is in the journal with its reason.
A restart delivers what was still in the outbox, and nothing to a handler unbound
meanwhile."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.auth.conftest import Clock, OAuth
from tests.conftest import Env, make_env
from trunkline.domain.events import JournalEntry, JournalQuery
from trunkline.settings import Settings
from trunkline.storage import migrate
from trunkline.storage.secrets import new_key
from trunkline.storage.url import DatabaseUrl
from trunkline.testing.handler import EventReceiver
from trunkline.testing.server import free_port

REGISTER = {"USER_ID": 1, "PHONE_NUMBER": "+7 (978) 000-00-00", "TYPE": 1}
INIT = "ONVOXIMPLANTCALLINIT"


@pytest.fixture
def quick(database_urls: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuth]:
    """OAuth helpers on SQLite with a one-second handler timeout."""
    for env in make_env("sqlite", database_urls, tmp_path_factory, event_timeout=1):
        clock = Clock()
        env.app.clock.use(clock)
        yield OAuth(env, clock)


def journal(env: Env, event: str = INIT) -> list[JournalEntry]:
    assert env.app.services is not None
    query = JournalQuery(portal_id=env.portal.id, event=event, after=0)
    found: list[JournalEntry] = env.run(env.app.services.events.journal, query)
    return found


def wait_journal(env: Env, count: int, event: str = INIT) -> list[JournalEntry]:
    deadline = time.monotonic() + 15
    while len(found := journal(env, event)) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.02)
    return found


def bound(oauth: OAuth, url: str) -> str:
    """An app's token, with ``url`` bound to ONVOXIMPLANTCALLINIT."""
    _, auth = oauth.app_tokens()
    token = str(auth["access_token"])
    assert oauth.ok("event.bind", token, {"event": INIT, "handler": url})
    return token


def test_a_hanging_handler_never_slows_rest(quick: OAuth) -> None:
    with EventReceiver(delay=30) as receiver:
        token = bound(quick, receiver.url)
        first = quick.ok("telephony.externalCall.register", token, REGISTER)
        receiver.wait(1)  # the handler holds the first POST ...
        # ... while REST calls that raise more events answer at once.
        for _ in range(3):
            quick.ok("telephony.externalCall.register", token, REGISTER | {"PHONE_NUMBER": "1"})
        assert quick.ok("event.get", token)
        assert not receiver.release.is_set()
        entries = wait_journal(quick.env, 1)
        receiver.release.set()
    entry = entries[0]
    assert (entry.outcome, entry.status, entry.reason) == ("failed", None, "handler timeout")
    assert entry.duration_ms >= 900
    assert first["CALL_ID"]


def test_a_handler_answering_500_is_journaled(quick: OAuth) -> None:
    with EventReceiver([500]) as receiver:
        token = bound(quick, receiver.url)
        quick.ok("telephony.externalCall.register", token, REGISTER)
        [entry] = wait_journal(quick.env, 1)
    assert (entry.outcome, entry.status, entry.reason) == ("failed", 500, "HTTP 500")
    assert len(receiver.forms) == 1  # no retry by default


def test_a_closed_port_is_journaled(quick: OAuth) -> None:
    url = f"http://127.0.0.1:{free_port()}/closed"
    token = bound(quick, url)
    quick.ok("telephony.externalCall.register", token, REGISTER)
    [entry] = wait_journal(quick.env, 1)
    assert (entry.outcome, entry.reason, entry.handler) == ("failed", "connection refused", url)
    assert quick.ok("profile", token)["ID"] == "1"


def test_a_restart_delivers_the_outbox_and_skips_unbound_handlers(tmp_path: Any) -> None:
    from starlette.testclient import TestClient

    from trunkline.web.app import TrunklineApp

    url = DatabaseUrl(f"sqlite:///{tmp_path / 'restart.sqlite3'}")
    migrate.upgrade(url)
    settings = Settings(database_url=url.raw, secret_key=new_key(), sip_engine="off")

    def started() -> tuple[TestClient, TrunklineApp]:
        app = TrunklineApp(settings)
        return TestClient(app, base_url="http://testserver"), app

    with EventReceiver() as kept, EventReceiver() as dropped:
        client, app = started()
        with client:
            services, store = app.services, app.store
            assert services is not None and store is not None and app.deliverer is not None
            portal = client.portal
            assert portal is not None

            async def setup() -> int:
                assert app.deliverer is not None and services is not None and store is not None
                await app.deliverer.stop()  # nothing is posted before the "crash"
                made = await services.accounts.create_portal("r.example", title="R")
                await services.accounts.create_user(made, "admin", is_admin=True, user_id=1)
                created = await services.apps.create_app(title="t")
                installed = await services.apps.install(made, created.app.client_id, 1, "http://t")
                install_id = installed.installation.id
                await store.events.bind(made.id, install_id, INIT, kept.url, now=time.time())
                gone = await store.events.bind(made.id, install_id, INIT, dropped.url, now=0)
                for n in range(3):
                    await services.events.fire(made.id, INIT, {"N": n}, user_id=1)
                await store.events.unbind(gone)  # unbound before any delivery
                return made.id

            portal_id = portal.call(setup)
        # A new process on the same database delivers what the first left behind.
        client, app = started()
        with client:
            deadline = time.monotonic() + 15
            while len(kept.forms) < 3:
                assert time.monotonic() < deadline, kept.forms
                time.sleep(0.02)
            assert client.portal is not None and app.services is not None
            query = JournalQuery(portal_id=portal_id, event=INIT, after=0)
            # A handler has its form before the deliverer writes the journal line of it.
            while True:
                entries = client.portal.call(lambda: app.services.events.journal(query))
                if len(entries) >= 6:  # three delivered, three refused
                    break
                assert time.monotonic() < deadline, entries
                time.sleep(0.02)
    assert sorted(dict(form)["data[N]"] for form in kept.forms) == ["0", "1", "2"]
    assert dropped.forms == []
    reasons = sorted((e.outcome, e.reason) for e in entries)
    assert reasons == [("delivered", "")] * 3 + [("refused", "handler unbound")] * 3
