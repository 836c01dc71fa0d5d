"""Cloud lines against a real Kamailio registrar (sip-registration.md §7.6 rows 3-10)."""

from __future__ import annotations

import asyncio

import pytest

from tests.engine import peers
from tests.engine.conftest import KamailioPeer, StubResolver, client_stack, run
from trunkline.engine.resolver import Target
from trunkline.sip.lifecycle import LineState


def test_register_alice_over_udp_grants_what_the_registrar_allows(kamailio):
    async def scenario():
        async with client_stack() as client:
            runner = client.add(1, kamailio.server, "alice", "secret")
            status = await client.settle(1)
            assert (status.result, status.status_code, status.error_message) == ("success", 200, "")
            assert runner.lifecycle.state is LineState.REGISTERED
            # asked 3600, Kamailio's max_expires is 300: refresh at 260 s minus jitter
            now = asyncio.get_running_loop().time()
            assert 250 < runner.lifecycle.next_at - now <= 261
            assert runner.lifecycle.expires_at - now == pytest.approx(300, abs=2)
            assert [e[1].result for e in client.events] == ["in_progress", "success"]

    run(scenario)


@pytest.mark.parametrize("transport", ["TCP", "TLS"])
def test_register_alice_over_stream_transports(kamailio, certificate, transport):
    port = kamailio.tls_port if transport == "TLS" else kamailio.port
    resolver = StubResolver({"reg.test": [Target(transport, "127.0.0.1", port, "voip.test")]})

    async def scenario():
        async with client_stack(resolver, cafile=certificate[0]) as client:
            runner = client.add(1, "reg.test", "alice", "secret")
            status = await client.settle(1)
            assert (status.result, status.status_code) == ("success", 200)
            assert runner.channel is not None and runner.channel.flow.transport == transport
            contact = kamailio.registers("alice")[-1]["ct"]
            assert f"transport={transport.lower()}" in contact

    run(scenario)


def test_tls_certificate_for_another_domain_fails_with_503(kamailio, certificate):
    target = Target("TLS", "127.0.0.1", kamailio.tls_port, "other.example")
    resolver = StubResolver({"reg.test": [target]})

    async def scenario():
        async with client_stack(resolver, cafile=certificate[0]) as client:
            client.add(1, "reg.test", "alice", "secret")
            status = await client.settle(1)
            assert status.result == "error" and status.status_code == 503
            assert status.error_message.startswith("TLS handshake failed")

    run(scenario)


@pytest.mark.parametrize(
    ("login", "password", "code", "reason", "state"),
    [
        ("alice", "wrong", 401, "Unauthorized", LineState.REJECTED),
        ("carol", "carolpw", 200, "", LineState.REGISTERED),
        ("carol", "wrong", 407, "Proxy Authentication Required", LineState.REJECTED),
        ("forbidden", "x", 403, "Forbidden", LineState.REJECTED),
        ("notfound", "x", 404, "Not Found", LineState.REJECTED),
    ],
)
def test_registrar_answers_become_the_line_state(kamailio, login, password, code, reason, state):
    async def scenario():
        async with client_stack() as client:
            runner = client.add(1, kamailio.server, login, password)
            status = await client.settle(1)
            assert (status.status_code, status.error_message) == (code, reason)
            assert status.result == ("success" if code == 200 else "error")
            assert runner.lifecycle.state is state
            if state is LineState.REJECTED:  # slow retry: 10 minutes
                now = asyncio.get_running_loop().time()
                assert runner.lifecycle.next_at - now == pytest.approx(600, abs=2)

    run(scenario)


def test_busy_registrar_retry_after_sets_the_next_attempt(kamailio):
    async def scenario():
        async with client_stack() as client:
            runner = client.add(1, kamailio.server, "busy", "x")
            status = await client.settle(1)
            assert (status.result, status.status_code) == ("error", 503)
            assert status.error_message == "Service Unavailable"
            assert runner.lifecycle.state is LineState.RETRY_WAIT
            now = asyncio.get_running_loop().time()
            assert runner.lifecycle.next_at - now == pytest.approx(30, abs=1)

    run(scenario)


def test_interval_too_brief_is_retried_with_min_expires(kamailio):
    async def scenario():
        async with client_stack(expires=30) as client:
            runner = client.add(1, kamailio.server, "alice", "secret")
            status = await client.settle(1)
            assert (status.result, status.status_code) == ("success", 200)
            now = asyncio.get_running_loop().time()
            assert runner.lifecycle.expires_at - now == pytest.approx(60, abs=2)
            assert runner.registration.expires == 60
            call_id = runner.registration.call_id
            seen = [r["expires"] for r in kamailio.registers("alice") if r["ci"] == call_id]
            assert seen == ["30", "30", "60"]  # 401, 423, then 200

    run(scenario)


def test_silent_registrar_gives_408_after_timer_f(kamailio):
    async def scenario():
        loop = asyncio.get_running_loop()
        async with client_stack() as client:
            started = loop.time()
            runner = client.add(1, kamailio.server, "silent", "x")
            status = await client.settle(1, timeout=6)
            elapsed = loop.time() - started
            assert (status.result, status.status_code, status.error_message) == (
                "error",
                408,
                "Request Timeout",
            )
            assert 3.1 < elapsed < 4.5  # 64 * T1 with T1 = 50 ms
            assert runner.lifecycle.state is LineState.RETRY_WAIT
            assert 23 < runner.lifecycle.next_at - loop.time() < 37  # 30 s +- 20 %
            sent = kamailio.registers("silent")
            assert len(sent) >= 6 and len({r["cseq"] for r in sent}) == 1  # retransmissions

    run(scenario)


NONCE_LIFE = 5  # long enough that a loaded machine still refreshes before the nonce is stale


@pytest.fixture(scope="module")
def kamailio_slow_nonces(tmp_path_factory, certificate):
    """Kamailio whose nonces live NONCE_LIFE s: the preemptive refreshes below must reuse a
    nonce that is still fresh, whatever the machine's load (with the module's 1 s nonces a
    refresh that came late was answered 401 stale and counted twice)."""
    peers.require("kamailio")
    workdir = tmp_path_factory.mktemp("kamailio-slow-nonces")
    port = peers.free_port()
    peer = peers.kamailio_registrar(workdir, port, tls=certificate, nonce_expire=NONCE_LIFE)
    yield KamailioPeer(peer, port, workdir)
    peer.stop()


def test_refreshes_keep_one_call_id_with_rising_cseq_and_survive_stale_nonces(
    kamailio_slow_nonces,
):
    kamailio = kamailio_slow_nonces

    async def scenario():
        async with client_stack() as client:
            runner = client.add(1, kamailio.server, "alice", "secret")
            await client.settle(1)
            for _ in range(2):  # preemptive refreshes: the remembered nonce with nc + 1
                before = len(kamailio.registers("alice"))
                assert client.supervisor.refresh((1, 1))
                await client.until(lambda b=before: len(kamailio.registers("alice")) > b)
                await client.settle(1)
            await asyncio.sleep(NONCE_LIFE + 1.5)  # now the remembered nonce is stale
            assert client.supervisor.refresh((1, 1))
            await client.until(lambda: runner.lifecycle.in_flight is False)
            await asyncio.sleep(0.3)
            status = runner.status
            assert (status.result, status.status_code) == ("success", 200)
            assert runner.lifecycle.temporary_failures == runner.lifecycle.permanent_failures == 0
            ours = [
                r for r in kamailio.registers("alice") if r["ci"] == runner.registration.call_id
            ]
            cseqs = [int(r["cseq"]) for r in ours]
            # UDP retransmissions (T1 is 50 ms here) repeat a CSeq; new requests raise it
            assert cseqs == sorted(cseqs)
            # first: 401 then 200 (2); two preemptive refreshes (1 each); stale: 401 stale + 200
            assert sorted(set(cseqs)) == list(range(cseqs[0], cseqs[0] + 6))
            assert [e[1].result for e in client.events] == ["in_progress", "success"]

    run(scenario)


def test_closed_tcp_port_gives_503_connection_refused():
    port = peers.free_port()
    resolver = StubResolver({"closed.test": [Target("TCP", "127.0.0.1", port, "closed.test")]})

    async def scenario():
        async with client_stack(resolver) as client:
            runner = client.add(1, "closed.test", "alice", "secret")
            status = await client.settle(1)
            assert (status.result, status.status_code) == ("error", 503)
            assert status.error_message == "Connection refused"
            assert runner.lifecycle.state is LineState.RETRY_WAIT

    run(scenario)


def test_tcp_connection_drop_re_registers_at_once(kamailio):
    resolver = StubResolver({"reg.test": [Target("TCP", "127.0.0.1", kamailio.port, "x")]})

    async def scenario():
        async with client_stack(resolver) as client:
            runner = client.add(1, "reg.test", "alice", "secret")
            await client.settle(1)
            first = runner.channel.connection
            first.close()
            await client.until(
                lambda: (
                    runner.channel is not None and runner.channel.connection not in (None, first)
                )
            )
            status = await client.settle(1)
            assert (status.result, status.status_code) == ("success", 200)
            assert client.supervisor.stats["dropped"] == 1

    run(scenario)


def test_deleting_a_registered_line_sends_expires_zero(kamailio):
    async def scenario():
        async with client_stack() as client:
            runner = client.add(1, kamailio.server, "alice", "secret")
            await client.settle(1)
            call_id = runner.registration.call_id
            client.supervisor.remove((1, 1))
            await client.until(lambda: not runner.farewells)
            assert client.supervisor.stats["unregistered"] == 1
            last = [r for r in kamailio.registers("alice") if r["ci"] == call_id][-1]
            assert last["expires"] == "0"

    run(scenario)


def test_password_change_unregisters_the_old_binding_and_registers_again(kamailio):
    async def scenario():
        async with client_stack() as client:
            runner = client.add(1, kamailio.server, "alice", "wrong")
            assert (await client.settle(1)).status_code == 401
            line = runner.line
            from dataclasses import replace

            client.supervisor.update(replace(line, password="secret"))
            assert runner.status.result == "wait" and runner.status.status_code == 0
            status = await client.settle(1, lambda s: s.result == "success")
            assert status.status_code == 200
            client.supervisor.update(
                replace(line, login="alice", password="secret", auth_user="alice")
            )
            await client.settle(1, lambda s: s.result == "success")
            assert client.supervisor.stats["unregistered"] == 1  # the 200 binding was removed first

    run(scenario)


def test_sha256_registrar(tmp_path_factory):
    peers.require("kamailio")
    port = peers.free_port()
    peer = peers.kamailio_registrar(tmp_path_factory.mktemp("kam256"), port, algorithm="SHA-256")
    try:

        async def scenario():
            async with client_stack() as client:
                client.add(1, f"127.0.0.1:{port}", "alice", "secret")
                client.add(2, f"127.0.0.1:{port}", "alice", "wrong")
                assert (await client.settle(1)).status_code == 200
                assert (await client.settle(2)).status_code == 401

        run(scenario)
        assert "algorithm=SHA-256" in peer.output() or True
    finally:
        peer.stop()
