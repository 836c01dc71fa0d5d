"""Where to send a line's REGISTER: RFC 3263 server location with dnspython.

Rules (RFC 3263 §4, RFC 2782; sip-registration.md §3.1, §5.3):

* SERVER (or OUTBOUND_PROXY) is `host[:port]`. A numeric IP gives one UDP target (port 5060
  when none is given); a name with an explicit port gives UDP targets from A (else AAAA)
  records, with no NAPTR or SRV lookup.
* A name without a port: NAPTR first. Records with flag `s` and a service we speak
  (`SIPS+D2T` TLS, `SIP+D2T` TCP, `SIP+D2U` UDP) are taken in (order, preference) order, each
  followed to its SRV name. Without usable NAPTR records: SRV `_sip._udp`, `_sip._tcp`,
  `_sips._tcp`, in that order of preference. Without SRV records: A/AAAA on 5060 over UDP.
* SRV records are ordered by priority, and inside one priority by a weighted random draw
  (RFC 2782); every address of every SRV host becomes a target, in that order.
* The result is a list of targets to try in turn (failover on 408, 503 and transport errors
  happens in the supervisor). No target at all -- NXDOMAIN, no usable records, a timeout or
  SERVFAIL everywhere, a malformed name -- raises `ResolutionError`, which the engine reports
  as 502 "Unable to resolve hostname".
* Answers are cached for their smallest TTL, at most `max_ttl` seconds; a failure is
  remembered for `negative_ttl` seconds, and concurrent lookups of one name share one query,
  so thousands of lines on one provider cost one lookup.
* The dnspython resolver is injected: tests point it at a loopback dnsmasq and never reach
  the system resolver. Randomness (the SRV weights) is injected too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random as random_module
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.resolver

from trunkline.sip.errors import SipParseError
from trunkline.sip.headers import parse_host_port

__all__ = ["ResolutionError", "SipResolver", "Target", "make_dns_resolver", "order_srv"]

DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061}
NAPTR_SERVICES = {"SIPS+D2T": "TLS", "SIP+D2T": "TCP", "SIP+D2U": "UDP"}
SRV_PREFIXES = (("_sip._udp.", "UDP"), ("_sip._tcp.", "TCP"), ("_sips._tcp.", "TLS"))


class ResolutionError(Exception):
    """The name gave no target at all."""


@dataclass(frozen=True)
class Target:
    """One place to send to: transport, IP address and port, and the SIP domain (for TLS)."""

    transport: str
    address: str
    port: int
    domain: str

    @property
    def family_v6(self) -> bool:
        return ":" in self.address


def make_dns_resolver(server: str = "", *, lifetime: float = 2.0) -> dns.asyncresolver.Resolver:
    """A dnspython resolver: the system's, or only `server` (`host[:port]`) when given."""
    if not server:
        resolver = dns.asyncresolver.Resolver()
    else:
        host, port = parse_host_port(server)
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [host.strip("[]")]
        resolver.port = port or 53
    resolver.lifetime = lifetime
    return resolver


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class SipResolver:
    """RFC 3263 target lists, cached for their TTL."""

    def __init__(
        self,
        dns_resolver: Any | None = None,
        *,
        clock: Callable[[], float],
        random: Callable[[], float] = random_module.random,
        max_ttl: float = 300.0,
        negative_ttl: float = 30.0,
    ) -> None:
        self._dns = dns_resolver if dns_resolver is not None else make_dns_resolver()
        self._clock = clock
        self._random = random
        self._max_ttl = max_ttl
        self._negative_ttl = negative_ttl
        self._cache: dict[str, tuple[float, list[Target]]] = {}
        self._failed: dict[str, tuple[float, str]] = {}
        self._inflight: dict[str, asyncio.Future[list[Target]]] = {}

    def cached(self, server: str) -> list[Target] | None:
        """The targets of `server` without any lookup: IP literals and fresh cache entries."""
        try:
            host, port = parse_host_port(server)
        except SipParseError:
            return None
        address = _ip_literal(host)
        if address is not None:
            return [Target("UDP", address, port or 5060, address)]
        entry = self._cache.get(server.lower())
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None

    async def resolve(self, server: str) -> list[Target]:
        """Every target of `server`, in the order to try them."""
        known = self.cached(server)
        if known is not None:
            return known
        key = server.lower()
        failed = self._failed.get(key)
        if failed is not None and failed[0] > self._clock():
            raise ResolutionError(failed[1])
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(server))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _f: self._inflight.pop(key, None))
        return await asyncio.shield(pending)

    async def _lookup(self, server: str) -> list[Target]:
        try:
            return await self._resolve(server)
        except ResolutionError as exc:
            self._failed[server.lower()] = (self._clock() + self._negative_ttl, str(exc))
            if len(self._failed) > 10_000:
                self._failed.pop(next(iter(self._failed)))
            raise

    async def _resolve(self, server: str) -> list[Target]:
        try:
            host, port = parse_host_port(server)
        except SipParseError as exc:
            raise ResolutionError(f"invalid server {server[:100]!r}") from exc
        domain = host.lower().rstrip(".")
        lookup = _Lookup(self._dns, self._random, self._max_ttl)
        if port is not None:
            addresses = await lookup.addresses(domain)
            targets = [Target("UDP", a, port, domain) for a in addresses]
        else:
            targets = await lookup.naptr(domain) or await lookup.srv_only(domain)
            if not targets:
                addresses = await lookup.addresses(domain)
                targets = [Target("UDP", a, 5060, domain) for a in addresses]
        if not targets:
            raise ResolutionError(f"no address for {domain}")
        if lookup.ttl > 0:
            self._cache[server.lower()] = (self._clock() + lookup.ttl, targets)
            if len(self._cache) > 10_000:
                self._cache.pop(next(iter(self._cache)))
        return targets


class _Lookup:
    """The queries of one resolution, tracking the smallest TTL seen."""

    def __init__(self, dns_resolver: Any, random: Callable[[], float], ttl: float) -> None:
        self._dns = dns_resolver
        self._random = random
        self.ttl = ttl

    # -- lookups --------------------------------------------------------------------------

    async def _query(self, name: str, rdtype: str) -> list[Any]:
        """The records of one query; [] for NODATA; `ResolutionError` for NXDOMAIN."""
        try:
            answer = await self._dns.resolve(name, rdtype, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as exc:
            raise ResolutionError(f"{name}: NXDOMAIN") from exc
        except dns.exception.DNSException:
            return []
        if answer.rrset is None:
            return []
        self.ttl = min(self.ttl, float(answer.rrset.ttl))
        return list(answer.rrset)

    async def _maybe(self, name: str, rdtype: str) -> list[Any]:
        try:
            return await self._query(name, rdtype)
        except ResolutionError:
            return []

    async def addresses(self, host: str) -> list[str]:
        records = await self._query(host, "A")
        if not records:
            records = await self._maybe(host, "AAAA")
        return [record.address for record in records]

    async def naptr(self, domain: str) -> list[Target] | None:
        """Targets through NAPTR records; None when there are no usable ones."""
        records = await self._query(domain, "NAPTR")
        usable = [
            r
            for r in records
            if r.flags.decode().lower() == "s" and r.service.decode().upper() in NAPTR_SERVICES
        ]
        if not usable:
            return None
        usable.sort(key=lambda r: (r.order, r.preference))
        targets: list[Target] = []
        for record in usable:
            transport = NAPTR_SERVICES[record.service.decode().upper()]
            srv_name = record.replacement.to_text(omit_final_dot=True)
            targets.extend(await self._srv(srv_name, transport, domain))
        return targets

    async def srv_only(self, domain: str) -> list[Target]:
        found = await asyncio.gather(
            *(self._srv(prefix + domain, transport, domain) for prefix, transport in SRV_PREFIXES)
        )
        return [target for targets in found for target in targets]

    async def _srv(self, name: str, transport: str, domain: str) -> list[Target]:
        records = await self._maybe(name, "SRV")
        targets: list[Target] = []
        for record in order_srv(records, self._random):
            host = record.target.to_text(omit_final_dot=True)
            if host in ("", "."):
                continue  # "service not available here" (RFC 2782)
            addresses = await self._maybe_addresses(host)
            targets.extend(Target(transport, a, int(record.port), domain) for a in addresses)
        return targets

    async def _maybe_addresses(self, host: str) -> list[str]:
        try:
            return await self.addresses(host)
        except ResolutionError:
            return []


def order_srv(records: Iterable[Any], random: Callable[[], float]) -> list[Any]:
    """RFC 2782 order: priority ascending, weighted random inside a priority."""
    by_priority: dict[int, list[Any]] = {}
    for record in records:
        by_priority.setdefault(int(record.priority), []).append(record)
    ordered: list[Any] = []
    for priority in sorted(by_priority):
        pool = sorted(by_priority[priority], key=lambda r: int(r.weight))  # zero weights first
        while pool:
            total = sum(int(r.weight) for r in pool)
            pick = random() * total
            chosen = pool[-1]
            running = 0
            for record in pool:
                running += int(record.weight)
                if running > pick:
                    chosen = record
                    break
            pool.remove(chosen)
            ordered.append(chosen)
    return ordered
