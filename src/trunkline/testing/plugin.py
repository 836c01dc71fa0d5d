"""The pytest plugin (entry point ``pytest11``: ``trunkline``), installed with the package.

One live ``trunkline serve`` per test session (per xdist worker), on SQLite in a temporary
directory, with the operator API on; nothing starts unless a test asks for a fixture.

Fixtures:

* ``trunkline`` (session): a :class:`~trunkline.testing.control.Control` handle on the
  server's operator API (``create_portal``, ``delete_portal``, ``reset``, ``snapshot``,
  ``restore``, ``requests``, ``count``, ``advance``, ``add_fault``, ``set_state`` ...),
  with the :class:`~trunkline.testing.server.LiveServer` as ``trunkline.server``.
* ``portal`` (per test): a fresh portal with administrator 1, a telephony webhook and an
  installed application: :class:`Portal` with ``webhook_url``, ``access_token``,
  ``refresh_token``, ``client_id``, ``client_secret``; deleted after the test, with the
  faults the test added.

Options and markers:

* ``--trunkline-tls``: serve HTTPS (``serve --tls``); the session exports the printed
  trust lines (``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE``, ``NODE_EXTRA_CA_CERTS``), so
  https-only clients work unpatched.
* ``--trunkline-limits``: every portal limited as a real one is (``serve --limits``);
  ``@pytest.mark.trunkline_limits`` limits only the marked test's portal.
* ``@pytest.mark.trunkline_faults({"kind": "query-limit", "method": "...", "count": 1}, ...)``:
  faults for the marked test's portal, cleared after it.
* ``@pytest.mark.trunkline_scenario({...})``: fields merged into the ``portal`` fixture's
  scenario document (more users, lines, ``seed_ids``).
* ``--trunkline-arg=ARG`` (repeatable): any other ``serve`` flag.

It shares its code with ``LiveServer`` (the process) and ``Control`` (the API).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from trunkline.testing.control import Control
from trunkline.testing.server import LiveServer

MARKERS = (
    "trunkline_limits: limit the portal fixture's portal as a real portal is limited",
    "trunkline_faults(*faults): faults for the portal fixture's portal, cleared after the test",
    "trunkline_scenario(fields): fields merged into the portal fixture's scenario document",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trunkline", "Trunkline (a local Bitrix24 telephony portal)")
    group.addoption(
        "--trunkline-tls", action="store_true", help="serve HTTPS from a local CA (serve --tls)"
    )
    group.addoption("--trunkline-limits", action="store_true", help="limits on for every portal")
    group.addoption(
        "--trunkline-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="another flag for trunkline serve (repeatable)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)


class TrunklineHandle(Control):
    """The ``trunkline`` fixture: the operator API of the session's server."""

    def __init__(self, server: LiveServer) -> None:
        assert server.operator_token is not None, "the server has no operator token"
        super().__init__(server.base_url, server.operator_token, ca_file=server.ca_file)
        self.server = server

    @property
    def webhook_url(self) -> str:
        """The seeded portal's webhook (``trunkline.local``, user 1)."""
        return self.server.webhook_url


@dataclass
class Portal:
    """The ``portal`` fixture: a fresh portal and its credentials."""

    domain: str
    webhook_url: str
    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    application_token: str
    made: dict[str, Any] = field(repr=False)  # the whole answer of POST /operator/portals
    control: Control = field(repr=False)

    @property
    def rest_url(self) -> str:
        """``<server>/rest/``, where OAuth calls go (``auth`` in the body)."""
        return self.webhook_url.split("/rest/", 1)[0] + "/rest/"


@pytest.fixture(scope="session")
def trunkline_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The session's ``trunkline serve`` (LiveServer)."""
    options = request.config.option
    args = ["--operator-token", secrets.token_hex(16)]
    if options.trunkline_tls:
        args.append("--tls")
    if options.trunkline_limits:
        args.append("--limits")
    args += options.trunkline_arg
    workdir = tmp_path_factory.mktemp("trunkline")
    with LiveServer.start(workdir, args=tuple(args)) as server:
        saved = {}
        if server.tls is not None:  # what a user would export from the printed lines
            for name, value in server.tls["env"].items():
                saved[name] = os.environ.get(name)
                os.environ[name] = value
        try:
            yield server
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture(scope="session")
def trunkline(trunkline_server: LiveServer) -> TrunklineHandle:
    """The operator API of the session's server, as Python methods."""
    return TrunklineHandle(trunkline_server)


def scenario_for(domain: str, extra: dict[str, Any]) -> dict[str, Any]:
    scenario: dict[str, Any] = {
        "domain": domain,
        "users": [{"id": 1, "login": "admin", "admin": True}],
        "webhooks": [{"user": 1, "scopes": ["telephony", "crm", "user"]}],
        "apps": [{"title": "Test app", "scopes": ["telephony", "crm", "user"], "user": 1}],
    }
    scenario.update(extra)
    return scenario


@pytest.fixture
def portal(request: pytest.FixtureRequest, trunkline: TrunklineHandle) -> Iterator[Portal]:
    """A fresh portal for this test: administrator 1, a webhook, an installed app."""
    domain = f"t{secrets.token_hex(5)}.trunkline.test"
    extra: dict[str, Any] = {}
    for mark in reversed(list(request.node.iter_markers("trunkline_scenario"))):
        for fields in mark.args:
            extra.update(fields)
    made = trunkline.create_portal(scenario_for(domain, extra))
    domain = made["portal"]["domain"]
    if request.node.get_closest_marker("trunkline_limits") is not None:
        trunkline.set_state(domain, limits="on")
    for mark in request.node.iter_markers("trunkline_faults"):
        for fault in mark.args:
            trunkline.add_fault(**{"portal": domain, **fault})
    hook = made["webhooks"][0] if made["webhooks"] else {"url": ""}
    app = made["apps"][0] if made["apps"] else {}
    try:
        yield Portal(
            domain=domain,
            webhook_url=hook["url"],
            client_id=app.get("client_id", ""),
            client_secret=app.get("client_secret", ""),
            access_token=app.get("access_token", ""),
            refresh_token=app.get("refresh_token", ""),
            application_token=app.get("application_token", ""),
            made=made,
            control=trunkline,
        )
    finally:
        trunkline.delete_portal(domain)  # its faults and state go with it
