"""ONAPPINSTALL and ONAPPUNINSTALL through the events outbox, against a loopback handler:
the PHP-style form, the journal, retries only when asked, a short timeout, failures
logged without tokens, never blocking the install."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from tests.auth.conftest import OAuth
from tests.conftest import Env, make_env
from trunkline.domain.events import JournalEntry, JournalQuery
from trunkline.events.delivery import attempt
from trunkline.events.http import FormPoster
from trunkline.services.apps import Installed
from trunkline.testing.handler import EventReceiver
from trunkline.testing.server import free_port

# Kept for the CLI tests that import it from here.
Receiver = EventReceiver


def install(oauth: OAuth, url: str) -> Installed:
    client_id = oauth.create_app(handler_url=url)
    return oauth.env.run(oauth.apps.install, oauth.env.portal, client_id, 1, "http://testserver")


def journal(env: Env, event: str) -> list[JournalEntry]:
    assert env.app.services is not None
    query = JournalQuery(portal_id=env.portal.id, event=event, after=0)
    found: list[JournalEntry] = env.run(env.app.services.events.journal, query)
    return found


@pytest.fixture
def retrying(database_urls, tmp_path_factory) -> Iterator[Env]:
    """SQLite app that retries twice, 10 ms then 20 ms apart."""
    yield from make_env(
        "sqlite", database_urls, tmp_path_factory, event_retries=2, event_retry_delay_ms=10
    )


def test_install_posts_onappinstall(oauth: OAuth) -> None:
    with EventReceiver() as receiver:
        installed = install(oauth, receiver.url)
        [delivery] = oauth.env.run(oauth.apps.drain_events)
    assert delivery.delivered and delivery.attempts == 1 and delivery.url == receiver.url
    [form] = receiver.forms
    names = [name for name, _ in form]
    assert names[:6] == [
        "event",
        "event_handler_id",
        "data[VERSION]",
        "data[ACTIVE]",
        "data[INSTALLED]",
        "data[LANGUAGE_ID]",
    ]
    assert names[6] == "ts" and all(n.startswith("auth[") for n in names[7:])
    body = dict(form)
    assert body["event"] == "ONAPPINSTALL"
    assert body["event_handler_id"] == str(installed.installation.id)
    assert body["data[VERSION]"] == "1" and body["data[LANGUAGE_ID]"] == "en"
    auth = {key[5:-1]: value for key, value in form if key.startswith("auth[")}
    assert auth == {key: str(value) for key, value in installed.auth.items()}
    assert auth["domain"] == "test.bitrix24.com"
    assert auth["member_id"] == oauth.env.portal.member_id
    # The event's token works.
    assert oauth.ok("profile", auth["access_token"])["ID"] == "1"
    [entry] = journal(oauth.env, "ONAPPINSTALL")
    assert (entry.outcome, entry.status, entry.handler) == ("delivered", 200, receiver.url)


def test_failed_attempts_are_not_retried_by_default(oauth: OAuth) -> None:
    with EventReceiver([500]) as receiver:
        install(oauth, receiver.url)
        [delivery] = oauth.env.run(oauth.apps.drain_events)
    assert not delivery.delivered and delivery.attempts == 1 and delivery.error == "HTTP 500"
    assert len(receiver.forms) == 1
    [entry] = journal(oauth.env, "ONAPPINSTALL")
    assert (entry.outcome, entry.status, entry.reason) == ("failed", 500, "HTTP 500")


def test_retries_when_the_setting_asks(retrying: Env) -> None:
    assert retrying.app.services is not None
    apps = retrying.app.services.apps
    with EventReceiver([500, 302]) as receiver:
        created = retrying.run(apps.create_app, title="t", handler_url=receiver.url)
        retrying.run(apps.install, retrying.portal, created.app.client_id, 1, "http://ts")
        [delivery] = retrying.run(apps.drain_events)
    assert delivery.delivered and delivery.attempts == 3
    assert len(receiver.forms) == 3
    outcomes = [(e.attempt, e.outcome, e.status) for e in journal(retrying, "ONAPPINSTALL")]
    assert outcomes == [(1, "failed", 500), (2, "failed", 302), (3, "delivered", 200)]


def test_delivery_to_a_closed_port_is_journaled_and_logged_without_tokens(
    oauth: OAuth, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    with caplog.at_level(logging.WARNING, logger="trunkline.events"):
        installed = install(oauth, url)
        [delivery] = oauth.env.run(oauth.apps.drain_events)
    assert not delivery.delivered and delivery.attempts == 1
    assert delivery.error == "connection refused"
    assert "connection refused" in caplog.text and url in caplog.text
    assert installed.auth["access_token"] not in caplog.text
    # The install stands: its token works.
    assert oauth.ok("profile", installed.auth["access_token"])["ID"] == "1"


def test_install_does_not_wait_for_the_handler(oauth: OAuth) -> None:
    with EventReceiver(delay=5) as receiver:
        installed = install(oauth, receiver.url)
        # install returned with the event still queued or being posted
        assert installed.event is not None
        assert oauth.ok("profile", installed.auth["access_token"])["ID"] == "1"
        receiver.wait(1)
        assert oauth.ok("profile", installed.auth["access_token"])["ID"] == "1"
        receiver.release.set()


def test_only_http_urls_are_called() -> None:
    poster = FormPoster()
    result = asyncio.run(attempt(poster.post, "file:///etc/passwd", b"event=X", 1))
    assert (result.outcome, result.reason) == ("refused", "not an http(s) URL")


@pytest.mark.parametrize("clean", [False, True])
def test_uninstall_posts_onappuninstall(oauth: OAuth, clean: bool) -> None:
    with EventReceiver() as receiver:
        installed = install(oauth, receiver.url)
        oauth.env.run(oauth.apps.drain_events)
        client_id = installed.app.client_id
        portal = oauth.env.portal
        oauth.env.run(oauth.apps.uninstall, portal, client_id, clean=clean, base="http://ts")
        [delivery] = oauth.env.run(oauth.apps.drain_events)
        # Uninstalling what is no longer installed sends nothing.
        oauth.env.run(oauth.apps.uninstall, portal, client_id, base="http://ts")
        assert oauth.env.run(oauth.apps.drain_events) == []
    assert delivery.delivered
    form = receiver.forms[1]
    assert [name for name, _ in form][:4] == ["event", "event_handler_id", "data[CLEAN]", "ts"]
    body = dict(form)
    assert body["event"] == "ONAPPUNINSTALL"
    assert body["data[CLEAN]"] == ("1" if clean else "0")
    auth = {key[5:-1]: value for key, value in form if key.startswith("auth[")}
    assert auth == {
        "domain": "test.bitrix24.com",
        "client_endpoint": "http://ts/rest/",
        "server_endpoint": "http://ts/rest/",
        "member_id": portal.member_id,
        "application_token": installed.auth["application_token"],
    }
    # No token travels with it, and the installed one no longer works.
    assert installed.auth["access_token"] not in str(receiver.forms[1])
    answer = oauth.call("profile", installed.auth["access_token"])
    assert (answer.status_code, answer.json()["error"]) == (401, "APPLICATION_NOT_FOUND")


def test_uninstall_of_an_app_without_handler_sends_nothing(oauth: OAuth) -> None:
    client_id = oauth.create_app()
    oauth.env.run(oauth.apps.install, oauth.env.portal, client_id, 1, "http://testserver")
    oauth.env.run(oauth.apps.drain_events)
    oauth.env.run(oauth.apps.uninstall, oauth.env.portal, client_id)
    assert oauth.env.run(oauth.apps.drain_events) == []
    assert journal(oauth.env, "ONAPPUNINSTALL") == []
