"""Trunkline in-process: an ``httpx.AsyncClient`` bound to a fresh app, with no port.

    from trunkline.testing import inprocess

    async def test_lines():
        async with inprocess() as client:
            answer = await client.post(client.webhook_url + "voximplant.sip.get.json")
            assert answer.json()["result"] == []

Each ``inprocess()`` is a new application on a new SQLite file in a temporary directory,
migrated and seeded as ``trunkline serve`` seeds it (portal ``trunkline.local``,
administrator ``admin`` with :attr:`InProcessClient.admin_password`, a telephony webhook
at :attr:`InProcessClient.webhook_url`). Requests go straight into the ASGI app
(``httpx.ASGITransport``): no socket, no process, a few milliseconds a call, as moto's
in-process mode. The SIP engine is off unless a setting says otherwise
(``inprocess(sip_engine="inprocess")``); any setting may be passed by name.

It needs ``httpx``: ``pip install 'trunkline[testing]'``. ``LiveServer``
(``trunkline.testing.server``) runs a real server process instead, for clients that
must connect over HTTP.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from trunkline.settings import Settings
from trunkline.web.app import TrunklineApp
from trunkline.web.bootstrap import Seed, prepare

try:
    import httpx
except ImportError as exc:  # pragma: no cover - the optional dependency is missing
    raise ImportError(
        "trunkline.testing.inprocess needs httpx: pip install 'trunkline[testing]'"
    ) from exc

BASE_URL = "http://trunkline.local"


class InProcessClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose requests the in-process app answers."""

    def __init__(self, app: TrunklineApp, seed: Seed | None, **kwargs: Any) -> None:
        asgi: Any = app  # TrunklineApp is an ASGI app; httpx types the scope as a Mapping
        super().__init__(transport=httpx.ASGITransport(app=asgi), base_url=BASE_URL, **kwargs)
        self.app = app
        self.seed = seed

    @property
    def webhook_url(self) -> str:
        """The seeded telephony webhook: ``http://trunkline.local/rest/1/<code>/``."""
        if self.seed is None or self.seed.code is None:
            raise LookupError("this app was not seeded (seed=False)")
        return f"{BASE_URL}/rest/{self.seed.user_id}/{self.seed.code}/"

    @property
    def admin_password(self) -> str | None:
        """The sign-in password of ``admin`` (user 1)."""
        return self.seed.password if self.seed is not None else None


@asynccontextmanager
async def inprocess(**settings: Any) -> AsyncIterator[InProcessClient]:
    """A fresh app on a temporary SQLite file and a client bound to it (see above)."""
    with tempfile.TemporaryDirectory(prefix="trunkline-") as directory:
        database = f"sqlite:///{Path(directory) / 'trunkline.sqlite3'}"
        chosen = Settings(**{"database_url": database, "sip_engine": "off", **settings})
        seed = await prepare(chosen)
        app = TrunklineApp(chosen)
        await app.startup()
        try:
            async with InProcessClient(app, seed) as client:
                yield client
        finally:
            await app.shutdown()
