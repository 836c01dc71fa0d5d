"""kill -9 of a real server with events in flight and in the outbox: after a restart on
the same database every committed event reaches its handler (the one in flight again),
and a handler unbound while the server was down gets nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest

from trunkline.testing.events import fire_event, wait_delivered
from trunkline.testing.handler import EventReceiver
from trunkline.testing.server import LiveServer

pytestmark = pytest.mark.e2e

DOMAIN = "acme.example"
SCENARIO = {
    "domain": DOMAIN,
    "users": [{"login": "admin", "admin": True}],
    "apps": [{"title": "A"}],
}
TOKEN = "operator-token-for-events"
ARGS = ("--seed", "scenario.json", "--operator-token", TOKEN)


def bind(server: LiveServer, token: str, url: str) -> None:
    answer = httpx.post(
        f"{server.base_url}/rest/event.bind",
        json={"event": "OnAppTest", "handler": url, "auth": token},
        headers={"host": DOMAIN},
    )
    assert answer.json() == {"result": True, "time": answer.json()["time"]}, answer.text


def test_kill_9_loses_no_committed_event(tmp_path: Path) -> None:
    (tmp_path / "scenario.json").write_text(json.dumps(SCENARIO))
    # One post at a time, and a handler that hangs: at the kill one event is in flight
    # and the others wait in the outbox.
    slow = {"TRUNKLINE_EVENT_TIMEOUT": "60", "TRUNKLINE_EVENT_CONCURRENCY": "1"}
    with EventReceiver(delay=60) as kept, EventReceiver() as dropped:
        server = LiveServer.launch(tmp_path, args=ARGS, env=slow)
        try:
            assert server.scenario is not None
            token = server.scenario["apps"][0]["access_token"]
            bind(server, token, kept.url)
            bind(server, token, dropped.url)
            for n in range(5):
                fire_event(server.base_url, TOKEN, "OnAppTest", {"N": n}, portal=DOMAIN)
            kept.wait(1)  # the first is being posted, and hangs
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(10)
        finally:
            server.stop()
        with sqlite3.connect(tmp_path / "trunkline.sqlite3") as db:
            assert db.execute("SELECT COUNT(*) FROM event_outbox").fetchone()[0] == 10
            db.execute("DELETE FROM event_bindings WHERE handler = ?", (dropped.url,))
        kept.delay = 0
        kept.release.set()
        with LiveServer.start(tmp_path, args=ARGS, env={"TRUNKLINE_EVENT_TIMEOUT": "2"}) as again:
            found = wait_delivered(again.base_url, TOKEN, "OnAppTest", 5, timeout=30)
            refused = wait_delivered(
                again.base_url, TOKEN, "OnAppTest", 5, timeout=30, outcome="refused"
            )
    assert (found, refused) == (5, 5)
    received = [dict(form)["data[N]"] for form in kept.forms]
    assert sorted(set(received)) == ["0", "1", "2", "3", "4"]
    assert len(received) == 6  # the one in flight at the kill, posted again
    assert dropped.forms == []


def test_a_deliverer_process_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "scenario.json").write_text(json.dumps(SCENARIO))
    with EventReceiver() as receiver:
        env = {"TRUNKLINE_EVENT_DELIVERY": "process"}
        with LiveServer.start(tmp_path, args=ARGS, env=env) as server:
            pid = server.info["deliverer_pid"]
            assert isinstance(pid, int) and pid != server.process.pid
            assert server.scenario is not None
            bind(server, server.scenario["apps"][0]["access_token"], receiver.url)
            mark = fire_event(server.base_url, TOKEN, "OnAppTest", {"N": 1}, portal=DOMAIN)
            assert wait_delivered(server.base_url, TOKEN, "OnAppTest", 1, after=mark) == 1
        [form] = receiver.forms
    assert dict(form)["data[N]"] == "1"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped with the server
