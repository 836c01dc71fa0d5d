"""The office registrar on real sockets (sip-registration.md §7.6 rows 11-13).

Office PBXs are emulated by sipp's UAC scenario, Kamailio's `uac` module, baresip and our
own client; bindings are read back from the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine import peers
from tests.engine.conftest import T1, StubResolver, client_stack, run
from trunkline.domain.lines import LineType, NewLine, SipLine
from trunkline.engine.registrar import RegistrarServer
from trunkline.engine.resolver import Target
from trunkline.sip.digest import DigestClient, parse_challenges
from trunkline.sip.message import Request, Response, parse_datagram
from trunkline.sip.registrar import RegistrarConfig
from trunkline.sip.transaction import Timers
from trunkline.storage import migrate
from trunkline.storage.registrations import RegistrationStore
from trunkline.storage.secrets import Cipher, new_key
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> DatabaseUrl:
    url = DatabaseUrl(f"sqlite:///{tmp_path_factory.mktemp('office') / 'db.sqlite3'}")
    migrate.upgrade(url)
    return url


@dataclass
class Office:
    server: RegistrarServer
    store: RegistrationStore
    line: SipLine
    database: Store

    @property
    def port(self) -> int:
        return self.server.addresses["UDP"][1]

    async def bindings(self) -> list:
        return await self.store.bindings(self.line.portal_id, self.line.config_id, now=time.time())


_KEY = new_key()


@asynccontextmanager
async def office(
    database: DatabaseUrl,
    *,
    host: str = "127.0.0.1",
    tls: ssl.SSLContext | None = None,
    **options,
) -> AsyncIterator[Office]:
    """A registrar on a free port with a fresh office line in a fresh portal."""
    store = await Store.open(database, Cipher(_KEY))
    for table in ("bindings", "lines"):  # INCOMING_LOGIN sip1 must be unambiguous
        await store.driver.execute(f"DELETE FROM {table}")
    portal = await store.accounts.create_portal(f"p{time.monotonic_ns()}.example")
    async with store.lines.line_writer(portal.id) as writer:
        line = await writer.insert(
            NewLine(LineType.OFFICE, "", "pbx.example", "l", None, ""), incoming_server="office"
        )
    registrations = store.registrations
    server = RegistrarServer(
        registrations, secret=b"s" * 32, wall=time.time, timers=Timers(t1=T1), **options
    )
    await server.start(host, 0, tls_context=tls)
    try:
        yield Office(server, registrations, line, store)
    finally:
        await server.stop(1.0)
        await store.close()


async def exited(peer: peers.Peer, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = peer.process.poll()
        if code is not None:
            return code
        await asyncio.sleep(0.05)
    peer.stop()
    raise AssertionError(f"{peer.name} did not finish:\n{peer.output()[-2000:]}")


# -- sipp UAC (row 11) ---------------------------------------------------------------


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_office_pbx_registers_with_md5(database, tmp_path, transport):
    peers.require("sipp")

    async def scenario():
        async with office(database) as o:
            scenario_file = peers.sipp_uac_scenario(tmp_path)
            login, password = o.line.incoming_login, o.line.incoming_password

            def sipp(secret: str, name: str) -> peers.Peer:
                command = ["sipp", f"127.0.0.1:{o.port}", "-sf", str(scenario_file)]
                command += ["-i", "127.0.0.1", "-p", str(peers.free_port()), "-t", transport]
                command += ["-m", "1", "-key", "user", login, "-au", login, "-ap", secret]
                command += ["-nostdin", "-timeout", "10s", "-timeout_error", "-trace_msg"]
                return peers.Peer.start(name, command, tmp_path, limit=20)

            good = sipp(password, "sipp-good")
            assert await exited(good, 15) == 0, good.output()[-2000:]
            (binding,) = await o.bindings()
            assert binding.contact.startswith(f"sip:{login}@127.0.0.1:")
            assert binding.transport == ("UDP" if transport == "u1" else "TCP")
            assert binding.received_host == "127.0.0.1"
            bad = sipp("wrong", "sipp-bad")
            assert await exited(bad, 15) != 0  # 403 instead of 200
            assert len(await o.bindings()) == 1
            assert o.server.stats["auth_failed"] == 1

    run(scenario)


# -- Kamailio uac and baresip (row 12) ---------------------------------------------------


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_kamailio_uac_office_pbx(database, tmp_path, algorithm):
    peers.require("kamailio", "kamcmd")

    async def scenario():
        async with office(database, algorithm=algorithm) as o:
            peer = peers.kamailio_uac(
                tmp_path / "uac",
                peers.free_port(both=False),
                registrar_port=o.port,
                login=o.line.incoming_login,
                password=o.line.incoming_password,
                realm="127.0.0.1",
            )
            try:
                deadline = time.monotonic() + 12
                while time.monotonic() < deadline and not await o.bindings():
                    if "unsupported algorithm" in peer.output():
                        break
                    await asyncio.sleep(0.1)
                info = peers.kamcmd(tmp_path / "uac", "uac.reg_info", "l_uuid", "office")
                if algorithm == "MD5":
                    assert len(await o.bindings()) == 1, peer.output()[-2000:]
                    assert "flags: 20" in info, info
                else:  # the default must stay MD5: Kamailio's uac cannot answer SHA-256
                    assert await o.bindings() == []
                    assert "unsupported algorithm" in peer.output()
            finally:
                peer.stop()

    run(scenario)


def test_baresip_office_pbx_registers_and_unregisters(database, tmp_path):
    peers.require("baresip")

    async def scenario():
        async with office(database) as o:
            config = peers.baresip_config(
                tmp_path / "baresip",
                port=peers.free_port(),
                login=o.line.incoming_login,
                password=o.line.incoming_password,
                registrar_port=o.port,
            )
            peer = peers.Peer.start(
                "baresip", ["baresip", "-f", str(config), "-t", "3", "-s"], tmp_path, limit=10
            )
            try:
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline and not await o.bindings():
                    await asyncio.sleep(0.05)
                assert len(await o.bindings()) == 1, peer.output()[-3000:]
                await exited(peer, 8)
                assert await o.bindings() == []  # Expires: 0 at exit
                assert "401 Unauthorized" in peer.output() and "200 OK" in peer.output()
            finally:
                peer.stop()

    run(scenario)


def _server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


@pytest.mark.parametrize("variant", ["tls", "ipv6"])
def test_baresip_office_pbx_over_tls_and_ipv6(database, tmp_path, certificate, variant):
    peers.require("baresip")
    if variant == "ipv6" and not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    host = "::1" if variant == "ipv6" else "127.0.0.1"

    async def scenario():
        async with office(database, host=host, tls=_server_tls(certificate)) as o:
            transport = "TLS" if variant == "tls" else "UDP"
            config = peers.baresip_config(
                tmp_path / "baresip",
                port=peers.free_port(),
                login=o.line.incoming_login,
                password=o.line.incoming_password,
                registrar_port=o.server.addresses[transport][1],
                host="[::1]" if variant == "ipv6" else host,
                transport=transport.lower(),
                cafile=certificate[0],
            )
            peer = peers.Peer.start(
                "baresip", ["baresip", "-f", str(config), "-t", "3", "-s"], tmp_path, limit=10
            )
            try:
                deadline = time.monotonic() + 4
                while time.monotonic() < deadline and not await o.bindings():
                    await asyncio.sleep(0.05)
                (binding,) = await o.bindings()
                assert binding.transport == transport, peer.output()[-3000:]
                assert binding.received_host == host
                await exited(peer, 8)
                assert await o.bindings() == []  # Expires: 0 at exit
            finally:
                peer.stop()

    run(scenario)


@pytest.mark.parametrize("transport", ["TLS", "UDP6", "TCP6"])
def test_our_client_registers_over_tls_and_ipv6(database, certificate, transport):
    host = "::1" if transport.endswith("6") else "127.0.0.1"

    async def scenario():
        async with office(database, host=host, tls=_server_tls(certificate)) as o:
            name = transport.removesuffix("6")
            port = o.server.addresses[name][1]
            resolver = StubResolver({"office.test": [Target(name, host, port, "localhost")]})
            async with client_stack(resolver, cafile=certificate[0]) as client:
                login, password = o.line.incoming_login, o.line.incoming_password
                runner = client.add(1, "office.test", login, password)
                status = await client.settle(1)
                assert (status.result, status.status_code) == ("success", 200)
                assert runner.channel is not None and runner.channel.flow.transport == name
                (binding,) = await o.bindings()
                assert (binding.transport, binding.received_host) == (name, host)
                expected = f"@[{host}]:" if ":" in host else f"@{host}:"
                assert expected in binding.contact
                client.supervisor.remove((1, 1))  # Expires: 0
                await client.until(lambda: client.supervisor.stats["unregistered"] == 1)
                assert await o.bindings() == []

    run(scenario)


# -- our own client (row 13) --------------------------------------------------------------


def test_our_client_registers_with_sha256_423_and_stale_nonces(database):
    async def scenario():
        config = RegistrarConfig(realm="trunkline", nonce_ttl=1.0)
        async with (
            office(database, algorithm="SHA-256", config=config, realm="trunkline") as o,
            client_stack(expires=30) as client,
        ):
            login, password = o.line.incoming_login, o.line.incoming_password
            runner = client.add(1, f"127.0.0.1:{o.port}", login, password)
            status = await client.settle(1)
            assert (status.result, status.status_code) == ("success", 200)
            assert runner.registration.expires == 60  # 423 with Min-Expires 60
            (binding,) = await o.bindings()
            assert binding.expires_at - time.time() == pytest.approx(60, abs=2)
            await asyncio.sleep(2.1)  # the nonce is now stale
            client.supervisor.refresh((1, 1))
            await client.until(lambda: client.supervisor.stats["registered"] == 2)
            assert runner.lifecycle.permanent_failures == runner.lifecycle.temporary_failures == 0
            assert o.server.stats["auth_failed"] == 0

    run(scenario)


def test_line_opted_in_to_sha256_is_challenged_with_it_alone(
    database, tmp_path, capsys, monkeypatch
):
    """`trunkline line set --digest sha-256`: that line alone gets (and must answer) SHA-256."""
    monkeypatch.setenv("TRUNKLINE_SECRET_KEY", _KEY)

    async def scenario() -> tuple[SipLine, str]:
        async with office(database) as o, client_stack(expires=120) as client:
            line = o.line
            login, password = line.incoming_login, line.incoming_password
            assert await o.store.set_office_algorithm(line.portal_id, line.config_id, "SHA-256")
            assert not await o.store.set_office_algorithm(line.portal_id, 999, "SHA-256")
            with pytest.raises(ValueError):
                await o.store.set_office_algorithm(line.portal_id, line.config_id, "SHA-1")
            await o.server.refresh_algorithms()
            raw = RawClient(o.port)
            contact = (
                f'<sip:{login}@127.0.0.1:{raw.local}>;+sip.instance="<urn:uuid:00000000-0000'
                '-0000-0000-00000000abcd>";reg-id=1'
            )
            first = raw.request(login, 1, contact=contact, expires="120", branch="d1")
            challenge = await raw.exchange(first.to_bytes())
            (offer,) = parse_challenges(challenge.headers.get_all("WWW-Authenticate"))
            assert offer.algorithm == "SHA-256" and offer.qop == ("auth",)
            md5 = dataclasses.replace(offer, algorithm="MD5")
            second = raw.request(login, 2, contact=contact, expires="120", branch="d2")
            second.headers.add(
                "Authorization",
                DigestClient(login, password).authorize(md5, "REGISTER", "sip:127.0.0.1"),
            )
            refused = await raw.exchange(second.to_bytes())  # MD5 is no longer accepted
            assert refused.status_code == 401
            assert parse_challenges(refused.headers.get_all("WWW-Authenticate"))[0].algorithm == (
                "SHA-256"
            )
            assert await o.bindings() == []
            third = raw.request(login, 3, contact=contact, expires="120", branch="d3")
            third.headers.add(
                "Authorization",
                DigestClient(login, password).authorize(offer, "REGISTER", "sip:127.0.0.1"),
            )
            assert (await raw.exchange(third.to_bytes())).status_code == 200
            (binding,) = await o.bindings()
            assert binding.instance_id == "<urn:uuid:00000000-0000-0000-0000-00000000abcd>"
            assert binding.reg_id == 1
            raw.sock.close()
            # Our own client over real sockets answers the SHA-256 challenge.
            client.add(1, f"127.0.0.1:{o.port}", login, password)
            status = await client.settle(1)
            assert (status.result, status.status_code) == ("success", 200)
            assert len(await o.bindings()) == 2
            # Back to MD5: after the next refresh the challenge is MD5 again.
            assert await o.store.set_office_algorithm(line.portal_id, line.config_id, "MD5")
            await o.server.refresh_algorithms()
            again = RawClient(o.port)
            fresh = again.request(login, 1, contact="<sip:x@127.0.0.1>", expires="60", branch="d4")
            (offer,) = parse_challenges(
                (await again.exchange(fresh.to_bytes())).headers.get_all("WWW-Authenticate")
            )
            assert offer.algorithm == "MD5"
            again.sock.close()
            assert o.server.stats["auth_failed"] == 0
            portal = await o.database.accounts.get_portal(line.portal_id)
            return line, portal.domain

    line, domain = asyncio.run(scenario())
    from trunkline.cli import main

    common = ["--portal", domain, "--json", "--database-url", database.raw]
    assert main(["line", "set", str(line.config_id), "--digest", "SHA-256", *common]) == 0
    assert json.loads(capsys.readouterr().out)["digest"] == "SHA-256"
    assert main(["line", "show", str(line.config_id), *common]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["digest"] == "SHA-256"
    assert {b["reg_id"] for b in shown["bindings"]} == {0, 1}
    assert main(["line", "set", "999", "--digest", "md5", *common]) != 0


class RawClient:
    """Hand-made requests over UDP."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = port
        self.local = self.sock.getsockname()[1]

    def request(self, login: str, cseq: int, *, contact: str, expires: str, branch: str) -> Request:
        request = Request("REGISTER", "sip:127.0.0.1")
        request.headers.add("Via", f"SIP/2.0/UDP 127.0.0.1:{self.local};branch=z9hG4bK{branch}")
        request.headers.add("From", f"<sip:{login}@127.0.0.1>;tag=t1")
        request.headers.add("To", f"<sip:{login}@127.0.0.1>")
        request.headers.add("Call-ID", "raw-call")
        request.headers.add("CSeq", f"{cseq} REGISTER")
        request.headers.add("Contact", contact)
        request.headers.add("Expires", expires)
        return request

    async def exchange(self, data: bytes) -> Response:
        loop = asyncio.get_running_loop()
        self.sock.sendto(data, ("127.0.0.1", self.port))
        reply = await asyncio.wait_for(loop.sock_recv(self.sock, 65535), 2)
        message = parse_datagram(reply)
        assert isinstance(message, Response)
        return message


def test_retransmission_replay_and_wildcard_removal(database):
    async def scenario():
        async with office(database) as o:
            login, password = o.line.incoming_login, o.line.incoming_password
            raw = RawClient(o.port)
            contact = f"<sip:{login}@127.0.0.1:{raw.local}>"
            first = raw.request(login, 1, contact=contact, expires="120", branch="a1")
            challenge = await raw.exchange(first.to_bytes())
            assert challenge.status_code == 401
            (offer,) = parse_challenges(challenge.headers.get_all("WWW-Authenticate"))
            assert offer.algorithm == "MD5" and offer.qop == ("auth",)
            digest = DigestClient(login, password)
            second = raw.request(login, 2, contact=contact, expires="120", branch="a2")
            second.headers.add(
                "Authorization", digest.authorize(offer, "REGISTER", "sip:127.0.0.1")
            )
            ok = await raw.exchange(second.to_bytes())
            assert ok.status_code == 200
            again = await raw.exchange(second.to_bytes())  # UDP retransmission: Timer J cache
            assert again.to_bytes() == ok.to_bytes()
            replay = Request(second.method, second.uri, second.headers)
            replay.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1:{raw.local};branch=z9hG4bKa3")
            stale = await raw.exchange(replay.to_bytes())  # same nc, new transaction
            assert stale.status_code == 401 and "stale=true" in stale.headers.get(
                "WWW-Authenticate"
            )
            assert len(await o.bindings()) == 1
            wildcard = raw.request(login, 3, contact="*", expires="0", branch="a4")
            wildcard.headers.add(
                "Authorization", digest.authorize(offer, "REGISTER", "sip:127.0.0.1")
            )
            removed = await raw.exchange(wildcard.to_bytes())
            assert removed.status_code == 200 and removed.headers.get("Contact") is None
            assert await o.bindings() == []
            options = Request("OPTIONS", "sip:127.0.0.1", first.headers)
            options.headers.set("CSeq", "9 OPTIONS")
            options.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1:{raw.local};branch=z9hG4bKo1")
            assert (await raw.exchange(options.to_bytes())).status_code == 200
            raw.sock.close()

    run(scenario)


def test_failures_are_throttled_per_source(database):
    async def scenario():
        from trunkline.sip.throttle import FailureThrottle

        async with office(database, throttle=FailureThrottle(limit=2)) as o:
            login = o.line.incoming_login
            raw = RawClient(o.port)
            contact = f"<sip:{login}@127.0.0.1:{raw.local}>"
            challenge = await raw.exchange(
                raw.request(login, 1, contact=contact, expires="120", branch="b1").to_bytes()
            )
            (offer,) = parse_challenges(challenge.headers.get_all("WWW-Authenticate"))
            digest = DigestClient(login, "not-the-password")
            for n in (2, 3):
                bad = raw.request(login, n, contact=contact, expires="120", branch=f"b{n}")
                bad.headers.add(
                    "Authorization", digest.authorize(offer, "REGISTER", "sip:127.0.0.1")
                )
                assert (await raw.exchange(bad.to_bytes())).status_code == 403
            blocked = raw.request(login, 4, contact=contact, expires="120", branch="b4")
            with pytest.raises(TimeoutError):
                await raw.exchange(blocked.to_bytes())
            assert o.server.stats["throttled"] == 1
            raw.sock.close()

    run(scenario)


def test_registrar_port_in_use_is_reported(database):
    async def scenario():
        async with office(database) as o:
            other = RegistrarServer(o.store, secret=b"x" * 32, wall=time.time)
            with pytest.raises(OSError):
                await other.start("127.0.0.1", o.port)

    run(scenario)


def test_line_show_lists_live_bindings(database, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TRUNKLINE_SECRET_KEY", _KEY)

    async def scenario() -> tuple[SipLine, Path]:
        async with office(database) as o:
            login, password = o.line.incoming_login, o.line.incoming_password
            raw = RawClient(o.port)
            contact = f"<sip:{login}@127.0.0.1:{raw.local}>"
            challenge = await raw.exchange(
                raw.request(login, 1, contact=contact, expires="120", branch="c1").to_bytes()
            )
            (offer,) = parse_challenges(challenge.headers.get_all("WWW-Authenticate"))
            request = raw.request(login, 2, contact=contact, expires="120", branch="c2")
            request.headers.add(
                "Authorization",
                DigestClient(login, password).authorize(offer, "REGISTER", "sip:127.0.0.1"),
            )
            assert (await raw.exchange(request.to_bytes())).status_code == 200
            raw.sock.close()
            portal = await o.database.accounts.get_portal(o.line.portal_id)
            return o.line, portal.domain

    line, domain = asyncio.run(scenario())
    from trunkline.cli import main

    assert (
        main(
            [
                "line",
                "show",
                str(line.config_id),
                "--portal",
                domain,
                "--json",
                "--database-url",
                database.raw,
            ]
        )
        == 0
    )
    import json

    shown = json.loads(capsys.readouterr().out)
    assert shown["type"] == "office" and shown["incoming_login"] == line.incoming_login
    (binding,) = shown["bindings"]
    assert binding["transport"] == "UDP" and 110 <= binding["expires_in"] <= 120


def test_port_zero_retries_when_tcp_finds_the_udp_number_taken(database, monkeypatch):
    """Port 0: UDP gets a number another process holds on TCP; the registrar picks again."""
    from trunkline.engine import registrar as registrar_module

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    real_open = registrar_module.DatagramEndpoint.open
    opened: list[int] = []

    async def open_first_on_busy(on_message, host, port, **kwargs):
        endpoint = await real_open(on_message, host, busy if not opened else port, **kwargs)
        opened.append(endpoint.local[1])
        return endpoint

    monkeypatch.setattr(registrar_module.DatagramEndpoint, "open", open_first_on_busy)

    async def scenario():
        async with office(database) as o:
            udp, tcp = o.server.addresses["UDP"][1], o.server.addresses["TCP"][1]
            assert opened[0] == busy and udp == tcp == opened[-1] != busy
            assert o.server.listeners() == {"udp": f"127.0.0.1:{udp}", "tcp": f"127.0.0.1:{udp}"}
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind(("127.0.0.1", busy))  # the first UDP socket was closed again
            probe.close()

    try:
        run(scenario)
    finally:
        taken.close()


def test_same_login_in_two_portals_at_one_address_is_told_apart_by_password(database):
    """Every portal's office lines share INCOMING_SERVER by default, and CONFIG_IDs (so
    INCOMING_LOGINs) repeat across portals: the digest picks the line whose password it
    answers."""

    async def scenario():
        store = await Store.open(database, Cipher(_KEY))
        server = RegistrarServer(
            store.registrations, secret=b"s" * 32, wall=time.time, timers=Timers(t1=T1)
        )
        try:
            for table in ("bindings", "lines"):
                await store.driver.execute(f"DELETE FROM {table}")
            lines = []
            for name in ("a", "b"):
                portal = await store.accounts.create_portal(f"{name}{time.monotonic_ns()}.test")
                async with store.lines.line_writer(portal.id) as writer:
                    lines.append(
                        await writer.insert(
                            NewLine(LineType.OFFICE, "", "pbx", "l", None, ""),
                            incoming_server="127.0.0.1",
                        )
                    )
            assert lines[0].incoming_login == lines[1].incoming_login == "sip1"
            await server.start("127.0.0.1", 0)
            port = server.addresses["UDP"][1]
            for line, other in (lines[1], lines[0]), (lines[0], lines[1]):
                async with client_stack(expires=120) as client:
                    client.add(1, f"127.0.0.1:{port}", line.incoming_login, line.incoming_password)
                    status = await client.settle(1)
                    assert (status.result, status.status_code) == ("success", 200)
                    now = time.time()
                    mine = await store.registrations.bindings(line.portal_id, 1, now=now)
                    theirs = await store.registrations.bindings(other.portal_id, 1, now=now)
                    assert len(mine) == 1 and theirs == []
                    client.supervisor.remove((1, 1))
                    await client.until(lambda c=client: c.supervisor.stats["unregistered"] == 1)
            async with client_stack(expires=120) as client:
                client.add(1, f"127.0.0.1:{port}", "sip1", "no-portal-has-this-password")
                status = await client.settle(1)
                assert (status.result, status.status_code) == ("error", 403)
        finally:
            await server.stop(1.0)
            await store.close()

    run(scenario)
