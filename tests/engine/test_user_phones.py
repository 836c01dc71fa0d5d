"""Users' SIP phones at the office registrar, with the credentials voximplant.user.get gives:
sipp over UDP and TCP, baresip over UDP, TCP and TLS; a wrong password, a deactivated
phone and a replayed nonce are refused; `trunkline user show` lists the binding."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Env
from tests.engine import peers
from tests.engine.conftest import T1
from tests.engine.test_office_registrar import RawClient
from trunkline.engine.registrar import RegistrarServer
from trunkline.sip.digest import DigestClient, parse_challenges
from trunkline.sip.message import Request
from trunkline.sip.transaction import Timers


@dataclass
class Phones:
    env: Env
    server: RegistrarServer

    def port(self, transport: str = "UDP") -> int:
        return self.server.addresses[transport][1]

    def credentials(self, user_id: int = 1) -> tuple[str, str]:
        self.env.ok("voximplant.user.activatePhone", {"USER_ID": user_id})
        (row,) = self.env.ok("voximplant.user.get", {"USER_ID": user_id})["result"]
        assert row["PHONE_ENABLED"] == "Y"
        return row["SIP_LOGIN"], row["SIP_PASSWORD"]

    def bindings(self, user_id: int = 1) -> list:
        telephony = self.env.app.store.telephony
        return self.env.run(telephony.bindings, self.env.portal.id, user_id, now=time.time())

    def wait_bound(self, count: int = 1, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.bindings()) < count:
            time.sleep(0.05)
        return self.bindings()


def _server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


@pytest.fixture
def phones(sqlite_env: Env, certificate: tuple[Path, Path]) -> Iterator[Phones]:
    store = sqlite_env.app.store
    assert store is not None
    server = RegistrarServer(
        store.registrations,
        secret=b"p" * 32,
        wall=time.time,
        timers=Timers(t1=T1),
        phones=store.telephony,
    )
    sqlite_env.run(server.start, "127.0.0.1", 0, tls_context=_server_tls(certificate))
    try:
        yield Phones(sqlite_env, server)
    finally:
        sqlite_env.run(server.stop, 1.0)


def sipp(phones: Phones, tmp_path: Path, login: str, secret: str, transport: str) -> int:
    scenario = peers.sipp_uac_scenario(tmp_path)
    command = ["sipp", f"127.0.0.1:{phones.port()}", "-sf", str(scenario)]
    command += ["-i", "127.0.0.1", "-p", str(peers.free_port()), "-t", transport]
    command += ["-m", "1", "-key", "user", login, "-au", login, "-ap", secret]
    command += ["-nostdin", "-timeout", "10s", "-timeout_error"]
    peer = peers.Peer.start(f"sipp-{transport}", command, tmp_path, limit=20)
    try:
        return peer.wait_exit(15)
    finally:
        peer.stop()


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_registers_as_a_users_phone(phones, tmp_path, transport):
    peers.require("sipp")
    login, password = phones.credentials()
    assert login == "phone1"
    assert sipp(phones, tmp_path, login, "wrong", transport) != 0  # 403
    assert phones.bindings() == []
    assert phones.server.stats["auth_failed"] == 1
    assert sipp(phones, tmp_path, login, password, transport) == 0
    (binding,) = phones.bindings()
    assert binding.contact.startswith("sip:phone1@127.0.0.1:")
    assert binding.transport == ("UDP" if transport == "u1" else "TCP")


@pytest.mark.parametrize("transport", ["UDP", "TCP", "TLS"])
def test_baresip_registers_as_a_users_phone(phones, tmp_path, certificate, transport):
    peers.require("baresip")
    login, password = phones.credentials()
    config = peers.baresip_config(
        tmp_path / "baresip",
        port=peers.free_port(),
        login=login,
        password=password,
        registrar_port=phones.port(transport),
        transport=transport.lower(),
        cafile=certificate[0],
    )
    peer = peers.Peer.start(
        "baresip", ["baresip", "-f", str(config), "-t", "3", "-s"], tmp_path, limit=10
    )
    try:
        (binding,) = phones.wait_bound()
        assert binding.transport == transport, peer.output()[-3000:]
        peer.wait_exit(8)
        assert phones.bindings() == []  # Expires: 0 at exit
    finally:
        peer.stop()


def test_deactivated_phone_loses_its_bindings_and_is_refused(phones, tmp_path):
    peers.require("sipp")
    login, password = phones.credentials()
    assert sipp(phones, tmp_path, login, password, "u1") == 0
    assert len(phones.bindings()) == 1
    phones.env.ok("voximplant.user.deactivatePhone", {"USER_ID": 1})
    assert phones.bindings() == []
    assert sipp(phones, tmp_path, login, password, "u1") != 0
    assert phones.bindings() == []
    # Activated again: the same password works again.
    assert phones.credentials() == (login, password)
    assert sipp(phones, tmp_path, login, password, "u1") == 0


def test_replayed_nonce_is_refused(phones):
    login, password = phones.credentials()

    async def exchange() -> None:
        raw = RawClient(phones.port())
        contact = f"<sip:{login}@127.0.0.1:{raw.local}>"
        first = raw.request(login, 1, contact=contact, expires="120", branch="r1")
        challenge = await raw.exchange(first.to_bytes())
        assert challenge.status_code == 401
        (offer,) = parse_challenges(challenge.headers.get_all("WWW-Authenticate"))
        second = raw.request(login, 2, contact=contact, expires="120", branch="r2")
        digest = DigestClient(login, password)
        second.headers.add("Authorization", digest.authorize(offer, "REGISTER", "sip:127.0.0.1"))
        assert (await raw.exchange(second.to_bytes())).status_code == 200
        replay = Request(second.method, second.uri, second.headers)
        replay.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1:{raw.local};branch=z9hG4bKr3")
        stale = await raw.exchange(replay.to_bytes())  # same nonce and nc, new transaction
        assert stale.status_code == 401
        assert "stale=true" in (stale.headers.get("WWW-Authenticate") or "")
        raw.sock.close()

    phones.env.run(exchange)
    assert len(phones.bindings()) == 1


def test_phone_of_another_portal_with_the_same_user_id_is_told_apart(phones):
    env = phones.env
    login, password = phones.credentials()

    async def other_portal() -> None:
        accounts = env.accounts
        portal = await accounts.create_portal("other.bitrix24.com")
        await accounts.create_user(portal, "admin", is_admin=True, user_id=1)
        await env.app.store.telephony.set_phone(portal.id, 1, enabled=True, new_password="x" * 12)

    env.run(other_portal)

    async def register() -> int:
        raw = RawClient(phones.port())
        contact = f"<sip:{login}@127.0.0.1:{raw.local}>"
        first = raw.request(login, 1, contact=contact, expires="120", branch="o1")
        (offer,) = parse_challenges(
            (await raw.exchange(first.to_bytes())).headers.get_all("WWW-Authenticate")
        )
        second = raw.request(login, 2, contact=contact, expires="120", branch="o2")
        second.headers.add(
            "Authorization",
            DigestClient(login, password).authorize(offer, "REGISTER", "sip:127.0.0.1"),
        )
        answer = await raw.exchange(second.to_bytes())
        raw.sock.close()
        return answer.status_code

    assert env.run(register) == 200
    assert len(phones.bindings()) == 1


def test_user_show_lists_the_phone_and_its_binding(phones, capsys, monkeypatch):
    from trunkline.cli import main

    login, password = phones.credentials()
    env = phones.env

    async def register() -> None:
        raw = RawClient(phones.port())
        contact = f"<sip:{login}@127.0.0.1:{raw.local}>"
        first = raw.request(login, 1, contact=contact, expires="120", branch="s1")
        (offer,) = parse_challenges(
            (await raw.exchange(first.to_bytes())).headers.get_all("WWW-Authenticate")
        )
        second = raw.request(login, 2, contact=contact, expires="120", branch="s2")
        second.headers.add(
            "Authorization",
            DigestClient(login, password).authorize(offer, "REGISTER", "sip:127.0.0.1"),
        )
        assert (await raw.exchange(second.to_bytes())).status_code == 200
        raw.sock.close()

    env.run(register)
    settings = env.app.settings
    common = ["--portal", env.portal.domain, "--json", "--database-url", settings.database_url]
    monkeypatch.setenv("TRUNKLINE_SECRET_KEY", settings.secret_key)
    assert main(["user", "show", "admin", *common]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["sip_login"] == "phone1" and shown["phone_enabled"] == "Y"
    (binding,) = shown["bindings"]
    assert binding["contact"].startswith("sip:phone1@127.0.0.1:")
    assert binding["transport"] == "UDP" and binding["expires_in"] > 100
