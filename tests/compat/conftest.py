"""One real Trunkline server process shared by the compat tests.

``live_server`` starts ``python -m trunkline serve`` once per session (per xdist
worker) in a temporary directory. ``hook`` hands each test the seeded portal's
webhook with every line deleted first, so tests start from a clean slate.
``new_portal`` makes a fresh portal, admin user and webhook through the CLI, as
an operator would, for tests that need CONFIG_IDs counted from 1.

Line ids count per portal and never go back, and at most ten cloud lines fit in
a portal, so bulk fixtures seed office lines (``TYPE=office``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.auth.conftest import oauth  # noqa: F401  (the PHP replays' app context)
from trunkline.testing.server import LiveServer

BATCH_LIMIT = 50


@dataclass
class Hook:
    """A webhook of the live server, driven with plain JSON over ``httpx``."""

    url: str  # http://127.0.0.1:PORT/rest/USER/CODE/
    http: httpx.Client

    @property
    def domain(self) -> str:
        """host:port, as b24pysdk wants its ``domain``."""
        return urlsplit(self.url).netloc

    @property
    def token(self) -> str:
        """user/code, as b24pysdk wants its ``webhook_token``."""
        return "/".join(urlsplit(self.url).path.strip("/").split("/")[1:3])

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST JSON to ``{hook}{method}.json``; the decoded success envelope."""
        response = self.http.post(f"{self.url}{method}.json", json=params or {})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def batch(self, commands: dict[str, str], *, halt: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = self.call("batch", {"cmd": commands, "halt": halt})["result"]
        assert not result["result_error"], result["result_error"]
        return result

    def add_lines(self, count: int, *, type: str = "office", prefix: str = "line") -> list[int]:
        """Add ``count`` lines (titled ``{prefix}-000``...) in batches; their CONFIG_IDs."""
        ids: list[int] = []
        for first in range(0, count, BATCH_LIMIT):
            commands = {
                f"n{i:04d}": (
                    f"voximplant.sip.add?TYPE={type}&TITLE={quote(f'{prefix}-{i:03d}')}"
                    f"&SERVER=pbx{i}.example.com&LOGIN=user{i}&PASSWORD=secret{i}"
                )
                for i in range(first, min(first + BATCH_LIMIT, count))
            }
            added = self.batch(commands)["result"]
            ids.extend(int(added[key]["CONFIG_ID"]) for key in commands)
        return ids

    def delete_all_lines(self) -> None:
        while True:
            rows = self.call("voximplant.sip.get")["result"]
            if not rows:
                return
            self.batch(
                {
                    f"d{row['CONFIG_ID']}": f"voximplant.sip.delete?CONFIG_ID={row['CONFIG_ID']}"
                    for row in rows
                }
            )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer.start(tmp_path_factory.mktemp("compat-server")) as server:
        assert server.webhook_url, "".join(server.output)
        yield server


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def hook(live_server: LiveServer, http: httpx.Client) -> Hook:
    """The seeded webhook (user 1, administrator), with no lines left in its portal."""
    seeded = Hook(live_server.webhook_url, http)
    seeded.delete_all_lines()
    return seeded


def trunkline_cli(server: LiveServer, *args: str) -> Any:
    """Run ``python -m trunkline ... --json`` against the live server's database."""
    database = f"sqlite:///{server.workdir / 'trunkline.sqlite3'}"
    completed = subprocess.run(
        [sys.executable, "-m", "trunkline", *args, "--json", "--database-url", database],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.fixture(scope="session")
def new_portal(live_server: LiveServer, http: httpx.Client) -> Callable[[str], Hook]:
    """Create a portal (domain given), admin user 1 and a webhook with the CLI."""

    def create(domain: str) -> Hook:
        trunkline_cli(live_server, "portal", "create", domain)
        trunkline_cli(live_server, "user", "create", "admin", "--portal", domain, "--admin")
        created = trunkline_cli(live_server, "webhook", "create", "--portal", domain, "--user", "1")
        url = f"{live_server.base_url}/rest/{created['user_id']}/{created['code']}/"
        return Hook(url, http)

    return create
