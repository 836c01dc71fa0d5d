"""ONAPPINSTALL delivery to an application's handler URL, against a loopback receiver:
the PHP-style form, bounded retries, a short timeout, failures logged, never blocking."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.auth.conftest import OAuth
from trunkline.events.delivery import EventSender
from trunkline.testing.server import free_port


class Receiver:
    """A loopback HTTP server answering POSTs with the statuses it is given, in turn."""

    def __init__(self, statuses: list[int], delay: float = 0.0) -> None:
        self.statuses = statuses
        self.delay = delay
        self.bodies: list[dict[str, list[str]]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                receiver.bodies.append(parse_qs(self.rfile.read(length).decode()))
                if receiver.delay:
                    receiver.release.wait(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/handler?app=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def waits(oauth: OAuth) -> Iterator[list[float]]:
    """The back-off waits the sender asked for (it never really sleeps here)."""
    asked: list[float] = []

    async def sleep(seconds: float) -> None:
        asked.append(seconds)

    oauth.apps.events = EventSender(timeout=2, attempts=3, sleep=sleep)
    yield asked


def install(oauth: OAuth, url: str) -> Any:
    client_id = oauth.create_app(handler_url=url)
    return oauth.env.run(oauth.apps.install, oauth.env.portal, client_id, 1, "http://testserver")


def test_install_posts_onappinstall(oauth: OAuth, waits: list[float]) -> None:
    with Receiver([200]) as receiver:
        installed = install(oauth, receiver.url)
        [delivery] = oauth.env.run(oauth.apps.drain_events)
    assert delivery.delivered and delivery.attempts == 1 and waits == []
    [body] = receiver.bodies
    assert body["event"] == ["ONAPPINSTALL"]
    assert body["data[VERSION]"] == ["1"] and body["data[LANGUAGE_ID]"] == ["en"]
    auth = {key[5:-1]: value[0] for key, value in body.items() if key.startswith("auth[")}
    assert auth == {key: str(value) for key, value in installed.auth.items()}
    assert auth["domain"] == "test.bitrix24.com"
    assert auth["member_id"] == oauth.env.portal.member_id
    # The event's token works.
    assert oauth.ok("profile", auth["access_token"])["ID"] == "1"


def test_failed_attempts_are_retried_with_backoff(oauth: OAuth, waits: list[float]) -> None:
    with Receiver([500, 302]) as receiver:
        install(oauth, receiver.url)
        [delivery] = oauth.env.run(oauth.apps.drain_events)
    assert delivery.delivered and delivery.attempts == 3
    assert waits == [1, 2]
    assert len(receiver.bodies) == 3


def test_delivery_gives_up_and_logs_without_tokens(
    oauth: OAuth, waits: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    with caplog.at_level(logging.WARNING, logger="trunkline.events"):
        installed = install(oauth, url)
        [delivery] = oauth.env.run(oauth.apps.drain_events)
    assert not delivery.delivered and delivery.attempts == 3 and waits == [1, 2]
    assert len([r for r in caplog.records if "failed (attempt" in r.message]) == 3
    assert installed.auth["access_token"] not in caplog.text
    # The install stands: its token works.
    assert oauth.ok("profile", installed.auth["access_token"])["ID"] == "1"


def test_install_does_not_wait_for_the_handler(oauth: OAuth) -> None:
    oauth.apps.events = EventSender(timeout=1, attempts=1)
    with Receiver([200], delay=5) as receiver:
        installed = install(oauth, receiver.url)
        assert not installed.event.done()  # install returned while the handler still works
        assert oauth.ok("profile", installed.auth["access_token"])["ID"] == "1"
        [delivery] = oauth.env.run(oauth.apps.drain_events)
        assert not delivery.delivered and "Timeout" in (delivery.error or "")
        receiver.release.set()


def test_only_http_urls_are_called(oauth: OAuth) -> None:
    sender = EventSender(timeout=1, attempts=3)
    delivery = oauth.env.run(sender.deliver, "file:///etc/passwd", [("event", "X")])
    assert not delivery.delivered and delivery.attempts == 0


@pytest.mark.parametrize("clean", [False, True])
def test_uninstall_posts_onappuninstall(oauth: OAuth, waits: list[float], clean: bool) -> None:
    with Receiver([200, 200]) as receiver:
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
    body = receiver.bodies[1]
    assert body["event"] == ["ONAPPUNINSTALL"]
    assert body["data[CLEAN]"] == ["1" if clean else "0"]
    auth = {key[5:-1]: value[0] for key, value in body.items() if key.startswith("auth[")}
    assert auth == {
        "domain": "test.bitrix24.com",
        "client_endpoint": "http://ts/rest/",
        "server_endpoint": "http://ts/rest/",
        "member_id": portal.member_id,
        "application_token": installed.auth["application_token"],
    }
    # No token travels with it, and the installed one no longer works.
    assert installed.auth["access_token"] not in str(receiver.bodies[1])
    answer = oauth.call("profile", installed.auth["access_token"])
    assert (answer.status_code, answer.json()["error"]) == (401, "APPLICATION_NOT_FOUND")


def test_uninstall_of_an_app_without_handler_sends_nothing(oauth: OAuth) -> None:
    client_id = oauth.create_app()
    oauth.env.run(oauth.apps.install, oauth.env.portal, client_id, 1, "http://testserver")
    oauth.env.run(oauth.apps.drain_events)
    oauth.env.run(oauth.apps.uninstall, oauth.env.portal, client_id)
    assert oauth.env.run(oauth.apps.drain_events) == []
