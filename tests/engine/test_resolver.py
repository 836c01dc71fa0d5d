"""RFC 3263 resolution: unit cases, then a loopback dnsmasq and Kamailio (§7.6 row 9)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import dns.exception
import dns.resolver
import pytest

from tests.engine.conftest import client_stack, run
from trunkline.engine.resolver import (
    ResolutionError,
    SipResolver,
    Target,
    make_dns_resolver,
    order_srv,
)
from trunkline.sip.lifecycle import LineState

# -- unit ----------------------------------------------------------------------------


@dataclass
class Srv:
    priority: int
    weight: int
    name: str


def test_order_srv_sorts_by_priority_then_weight_draw():
    records = [Srv(20, 0, "c"), Srv(10, 10, "a"), Srv(10, 90, "b")]
    assert [r.name for r in order_srv(records, lambda: 0.0)] == ["a", "b", "c"]
    assert [r.name for r in order_srv(records, lambda: 0.5)] == ["b", "a", "c"]
    zero = [Srv(1, 0, "x"), Srv(1, 0, "y")]
    assert sorted(r.name for r in order_srv(zero, lambda: 0.3)) == ["x", "y"]


def test_ip_literals_need_no_lookup():
    resolver = SipResolver(object(), clock=lambda: 0.0)
    assert resolver.cached("192.0.2.7") == [Target("UDP", "192.0.2.7", 5060, "192.0.2.7")]
    assert resolver.cached("[2001:db8::1]:5070") == [
        Target("UDP", "2001:db8::1", 5070, "2001:db8::1")
    ]
    assert resolver.cached("bad host") is None
    assert resolver.cached("sip.example.com") is None


class FakeAnswer:
    def __init__(self, records, ttl=60):
        self.rrset = None if records is None else FakeRRset(records, ttl)


class FakeRRset(list):
    def __init__(self, records, ttl):
        super().__init__(records)
        self.ttl = ttl


@dataclass
class A:
    address: str


class FakeDns:
    def __init__(self, table):
        self.table = table
        self.queries = []

    async def resolve(self, name, rdtype, raise_on_no_answer=False):
        self.queries.append((name, rdtype))
        value = self.table.get((name, rdtype))
        if isinstance(value, Exception):
            raise value
        return FakeAnswer(value, ttl=30)


def test_explicit_port_uses_a_records_and_caches_for_the_ttl():
    now = [0.0]
    dns_ = FakeDns({("sip.example.com", "A"): [A("192.0.2.1"), A("192.0.2.2")]})
    resolver = SipResolver(dns_, clock=lambda: now[0])
    targets = asyncio.run(resolver.resolve("sip.example.com:5080"))
    assert [(t.transport, t.address, t.port) for t in targets] == [
        ("UDP", "192.0.2.1", 5080),
        ("UDP", "192.0.2.2", 5080),
    ]
    assert resolver.cached("sip.example.com:5080") == targets
    now[0] = 31.0
    assert resolver.cached("sip.example.com:5080") is None


def test_timeouts_everywhere_are_unresolvable():
    dns_ = FakeDns(
        {
            (name, rdtype): dns.exception.Timeout()
            for name in ("x.example", "_sip._udp.x.example", "_sip._tcp.x.example")
            for rdtype in ("NAPTR", "SRV", "A", "AAAA")
        }
    )
    resolver = SipResolver(dns_, clock=lambda: 0.0)
    with pytest.raises(ResolutionError):
        asyncio.run(resolver.resolve("x.example"))


def test_aaaa_is_used_when_there_is_no_a_record():
    dns_ = FakeDns({("v6.example", "AAAA"): [A("2001:db8::5")]})
    resolver = SipResolver(dns_, clock=lambda: 0.0)
    targets = asyncio.run(resolver.resolve("v6.example:5060"))
    assert targets == [Target("UDP", "2001:db8::5", 5060, "v6.example")]


def test_nxdomain_is_unresolvable():
    dns_ = FakeDns({("gone.example", "NAPTR"): dns.resolver.NXDOMAIN()})
    with pytest.raises(ResolutionError):
        asyncio.run(SipResolver(dns_, clock=lambda: 0.0).resolve("gone.example"))
    with pytest.raises(ResolutionError):
        asyncio.run(SipResolver(dns_, clock=lambda: 0.0).resolve("bad name"))


# -- against dnsmasq -----------------------------------------------------------------


def resolve(port: int, name: str) -> list[Target]:
    async def go() -> list[Target]:
        loop = asyncio.get_running_loop()
        return await SipResolver(make_dns_resolver(f"127.0.0.1:{port}"), clock=loop.time).resolve(
            name
        )

    return asyncio.run(go())


def test_naptr_srv_a_chain(dns_server, kamailio):
    targets = resolve(dns_server, "voip.test")
    assert [(t.transport, t.port) for t in targets] == [
        ("TLS", kamailio.tls_port),
        ("TCP", kamailio.port),
        ("UDP", kamailio.port),  # reg1 (priority 10)
        ("UDP", kamailio.port),  # reg2 (priority 20)
    ]
    assert {t.domain for t in targets} == {"voip.test"}
    assert resolve(dns_server, "srvonly.test") == [
        Target("UDP", "127.0.0.1", kamailio.port, "srvonly.test")
    ]
    assert resolve(dns_server, "aonly.test") == [Target("UDP", "127.0.0.1", 5060, "aonly.test")]
    assert resolve(dns_server, "reg1.voip.test:7777") == [
        Target("UDP", "127.0.0.1", 7777, "reg1.voip.test")
    ]
    with pytest.raises(ResolutionError):
        resolve(dns_server, "nosuch.test")


def test_lines_register_through_naptr_srv_and_report_unresolvable_names(
    dns_server, kamailio, certificate
):
    async def scenario():
        async with client_stack(dns_port=dns_server, cafile=certificate[0]) as client:
            tls = client.add(1, "voip.test", "alice", "secret")
            udp = client.add(2, "srvonly.test", "alice", "secret")
            client.add(3, "nosuch.test", "alice", "secret")
            assert (await client.settle(1)).status_code == 200
            assert tls.channel.flow.transport == "TLS"
            assert (await client.settle(2)).status_code == 200
            assert udp.channel.flow.transport == "UDP"
            status = await client.settle(3)
            assert (status.result, status.status_code, status.error_message) == (
                "error",
                502,
                "Unable to resolve hostname",
            )
            assert client.runner(3).lifecycle.state is LineState.RETRY_WAIT
            assert client.supervisor.stats["registers"] == 2  # nothing sent for nosuch.test

    run(scenario)


def test_failover_to_the_next_srv_target_after_a_timeout(dns_server, kamailio):
    async def scenario():
        async with client_stack(dns_port=dns_server) as client:
            runner = client.add(1, "failover.test", "alice", "secret")
            status = await client.settle(1, timeout=8)
            assert (status.result, status.status_code) == ("success", 200)
            assert runner.target_index == 1
            assert client.supervisor.stats["failover"] == 1

    run(scenario)


def test_failures_are_remembered_and_concurrent_lookups_shared():
    now = [0.0]
    dns_ = FakeDns({("gone.example", "NAPTR"): dns.resolver.NXDOMAIN()})
    resolver = SipResolver(dns_, clock=lambda: now[0], negative_ttl=30)

    async def many() -> list[object]:
        return await asyncio.gather(
            *(resolver.resolve("gone.example") for _ in range(50)), return_exceptions=True
        )

    results = asyncio.run(many())
    assert all(isinstance(r, ResolutionError) for r in results)
    assert len(dns_.queries) == 1  # one lookup for fifty lines
    with pytest.raises(ResolutionError):
        asyncio.run(resolver.resolve("gone.example"))
    assert len(dns_.queries) == 1  # remembered
    now[0] = 31.0
    with pytest.raises(ResolutionError):
        asyncio.run(resolver.resolve("gone.example"))
    assert len(dns_.queries) == 2
