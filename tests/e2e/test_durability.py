"""kill -9 in the middle of a stream of sip.add calls loses nothing acknowledged (issue 13).

For SQLite, PostgreSQL and SQLite with `--workers 2`: start `trunkline serve`, let client
threads add office lines as fast as they can, kill the whole process group with SIGKILL at a
random moment, start the server again on the same database, and check that

* every add that was answered 200 is there, with the TITLE, SERVER, LOGIN and PASSWORD it was
  given (the password decrypts);
* no row is torn: each row's fields all belong to the same add (TITLE `t<thread>-<n>` goes with
  LOGIN `l<thread>x<n>` and PASSWORD `p<thread>x<n>`).

Each backend runs three kill cycles on one database in one test; every loop is bounded.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import re
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.conftest import POSTGRES_URL, _drop_schema, require_postgres
from trunkline.settings import Settings
from trunkline.storage.secrets import new_key
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl
from trunkline.testing.server import LiveServer
from trunkline.web.bootstrap import cipher_for

pytestmark = pytest.mark.e2e

CYCLES = 3
THREADS = 6
TITLE = re.compile(r"t(\d+)-(\d+)")


def _add(url: str, body: dict[str, Any]) -> int | None:
    """The CONFIG_ID of an acknowledged add, None when it was not acknowledged."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            if response.status != 200:
                return None
            return int(json.loads(response.read())["result"]["CONFIG_ID"])
    except (OSError, ValueError, KeyError, http.client.HTTPException):  # not acknowledged
        return None


def _hammer(server: LiveServer, cycle: int, acked: dict[int, tuple[str, str, str]]) -> None:
    """Add lines from THREADS threads until the server dies (kill -9 after a random while)."""
    url = server.webhook_url + "voximplant.sip.add"
    stop = threading.Event()
    lock = threading.Lock()

    def client(thread: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            tag = f"{cycle}{thread:02d}"
            body = {
                "TYPE": "office",
                "TITLE": f"t{tag}-{n}",
                "SERVER": "pbx.example.com",
                "LOGIN": f"l{tag}x{n}",
                "PASSWORD": f"p{tag}x{n}",
            }
            config_id = _add(url, body)
            if config_id is not None:
                with lock:
                    acked[config_id] = (body["TITLE"], body["LOGIN"], body["PASSWORD"])

    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    time.sleep(0.8 + random.random() * 1.2)
    os.killpg(server.process.pid, signal.SIGKILL)  # the server and all its workers
    server.process.wait(10)
    stop.set()
    for thread in threads:
        thread.join(10)
    server.stop()


def _rows(url: str, key: str) -> list[Any]:
    settings = Settings(database_url=url, secret_key=key)

    async def read() -> list[Any]:
        database = DatabaseUrl(url)
        store = await Store.open(database, cipher_for(settings, database))
        try:
            return await store.lines.all_lines()
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "sqlite-workers"])
def test_kill_9_during_adds_loses_no_acknowledged_line_and_tears_no_row(tmp_path, backend):
    if backend == "postgres":
        require_postgres()
        url = f"{POSTGRES_URL}?schema=tl_kill_{secrets.token_hex(4)}"
    else:
        url = f"sqlite:///{tmp_path / 'kill.sqlite3'}"
    key = new_key()
    env = {"TRUNKLINE_DATABASE_URL": url, "TRUNKLINE_SECRET_KEY": key}
    args = ("--workers", "2") if backend == "sqlite-workers" else ()
    acked: dict[int, tuple[str, str, str]] = {}
    try:
        for cycle in range(CYCLES):
            server = LiveServer.launch(tmp_path, env=env, args=args)
            before = len(acked)
            _hammer(server, cycle, acked)
            assert len(acked) > before, "no add was acknowledged in this cycle"
            rows = {line.config_id: line for line in _rows(url, key)}
            missing = [cid for cid in acked if cid not in rows]
            assert not missing, f"cycle {cycle}: acknowledged adds lost: {missing[:10]}"
            for config_id, (title, login, password) in acked.items():
                line = rows[config_id]
                assert (line.title, line.login, line.password) == (title, login, password)
            for line in rows.values():
                match = TITLE.fullmatch(line.title or "")
                assert match, f"row {line.config_id} has TITLE {line.title!r}"
                tag, n = match.groups()
                assert (line.login, line.password) == (f"l{tag}x{n}", f"p{tag}x{n}"), line
                assert line.server == "pbx.example.com"
    finally:
        if backend == "postgres":
            asyncio.run(_drop_schema(DatabaseUrl(url)))
