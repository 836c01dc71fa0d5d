"""Fixtures of the engine tests: peers shared per module, and a client stack on a real loop."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.engine import peers
from trunkline.engine.resolver import SipResolver, Target, make_dns_resolver
from trunkline.engine.runner import CloudLine, LineRunner
from trunkline.engine.supervisor import Supervisor
from trunkline.engine.transport import ClientTransport
from trunkline.sip.lifecycle import LineStatus
from trunkline.sip.transaction import Timers

T1 = 0.05  # Timer F = 3.2 s


@dataclass
class KamailioPeer:
    peer: peers.Peer
    port: int
    workdir: Path

    @property
    def tls_port(self) -> int:
        return self.port + 1

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def registers(self, user: str) -> list[dict[str, str]]:
        return peers.kamailio_registers(self.peer, user)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return peers.make_certificate(tmp_path_factory.mktemp("cert"))


@pytest.fixture(scope="module")
def kamailio(
    tmp_path_factory: pytest.TempPathFactory, certificate: tuple[Path, Path]
) -> Iterator[KamailioPeer]:
    """Kamailio registrar (MD5, nonces live 1 s, min_expires 60, max_expires 300, TLS)."""
    peers.require("kamailio")
    workdir = tmp_path_factory.mktemp("kamailio")
    port = peers.free_port()
    peer = peers.kamailio_registrar(workdir, port, tls=certificate, nonce_expire=1)
    yield KamailioPeer(peer, port, workdir)
    peer.stop()


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory: pytest.TempPathFactory, kamailio: KamailioPeer) -> Iterator[int]:
    """dnsmasq serving the RFC 3263 zone that points at the module's Kamailio; its port."""
    peers.require("dnsmasq")
    port = peers.free_port()  # dnsmasq answers DNS on UDP and TCP: both must be free
    peer = peers.dnsmasq(
        tmp_path_factory.mktemp("dnsmasq"),
        port,
        udp_port=kamailio.port,
        tcp_port=kamailio.port,
        tls_port=kamailio.tls_port,
    )
    yield port
    peer.stop()


class StubResolver:
    """Names mapped to fixed targets (for transport tests that need no DNS)."""

    def __init__(self, table: dict[str, list[Target]]) -> None:
        self.table = table

    def cached(self, server: str) -> list[Target] | None:
        return self.table.get(server)

    async def resolve(self, server: str) -> list[Target]:
        from trunkline.engine.resolver import ResolutionError

        if server not in self.table:
            raise ResolutionError(server)
        return self.table[server]


@dataclass
class Client:
    """A supervisor on real sockets; `events` holds every status it reported."""

    supervisor: Supervisor
    transport: ClientTransport
    events: list[tuple[tuple[int, int], LineStatus]] = field(default_factory=list)

    def add(self, config_id: int, server: str, login: str, password: str, **kw: Any) -> LineRunner:
        line = CloudLine(1, config_id, 150000 + config_id, server, login, password, **kw)
        return self.supervisor.add(line, spread=False)

    def runner(self, config_id: int) -> LineRunner:
        return self.supervisor.runners[(1, config_id)]

    async def settle(
        self,
        config_id: int,
        predicate: Callable[[LineStatus], bool] | None = None,
        timeout: float = 8.0,
    ) -> LineStatus:
        """Wait until the line shows a final result (success/error) or `predicate` holds."""
        check = predicate or (lambda s: s.result in ("success", "error"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runner = self.runner(config_id)
            if check(runner.status) and not runner.lifecycle.in_flight:
                return runner.status
            await asyncio.sleep(0.02)
        raise AssertionError(f"line {config_id} still {self.runner(config_id).status}")

    async def until(self, condition: Callable[[], bool], timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("condition not met in time")


@asynccontextmanager
async def client_stack(*args: Any, **kwargs: Any) -> AsyncIterator[Client]:
    client = await make_client(*args, **kwargs)
    try:
        yield client
    finally:
        await client.supervisor.stop(0.5)
        await client.transport.close()


async def make_client(
    resolver: Any = None,
    *,
    dns_port: int | None = None,
    expires: int = 3600,
    cafile: Path | None = None,
) -> Client:
    loop = asyncio.get_running_loop()
    holder: list[Supervisor] = []
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    transport = ClientTransport(
        lambda response: holder[0].on_response(response),
        lambda connection, reason: holder[0].on_connection_closed(connection, reason),
        ssl_context=context,
        connect_timeout=64 * T1,
    )
    await transport.open()
    if resolver is None:
        dns = make_dns_resolver(f"127.0.0.1:{dns_port or 9}", lifetime=2.0)
        resolver = SipResolver(dns, clock=loop.time)
    events: list[tuple[tuple[int, int], LineStatus]] = []
    supervisor = Supervisor(
        transport,
        resolver,
        on_status=lambda runner: events.append((runner.key, runner.status)),
        clock=loop.time,
        timers=Timers(t1=T1),
        expires=expires,
        user_agent="Trunkline-test",
    )
    holder.append(supervisor)
    return Client(supervisor, transport, events)


def run(scenario: Callable[[], Awaitable[None]], timeout: float = 60.0) -> None:
    """Run an async scenario on a fresh loop, bounded in time."""

    async def bounded() -> None:
        await asyncio.wait_for(scenario(), timeout)

    asyncio.run(bounded())
