"""Host header -> host names, and the brief memory of which hosts name a portal."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from trunkline.auth.hosts import CACHE_SECONDS, HostPolicy, host_names
from trunkline.domain.portals import Portal


@pytest.mark.parametrize(
    ("host", "names"),
    [
        (None, ()),
        ("", ()),
        ("Portal.Example.com", ("portal.example.com",)),
        ("portal.example.com:8443", ("portal.example.com:8443", "portal.example.com")),
        ("127.0.0.1:8080", ("127.0.0.1:8080", "127.0.0.1")),
        ("[::1]:8080", ("[::1]:8080", "[::1]")),
        ("[::1]", ("[::1]",)),
        (" a.b ", ("a.b",)),
    ],
)
def test_host_names(host, names) -> None:
    assert host_names(host) == names


def portal(pid: int, domain: str) -> Portal:
    return Portal(pid, domain, f"m{pid}", "", "UTC", "en", "en_project")


class Repo:
    def __init__(self, portals: list[Portal]) -> None:
        self.portals = portals
        self.lookups = 0

    async def portal_by_host(self, names: Any) -> Portal | None:
        self.lookups += 1
        return next((p for p in self.portals if p.domain in names), None)


def test_admits_and_remembers_briefly() -> None:
    a, b = portal(1, "a.example"), portal(2, "b.example")
    repo = Repo([a, b])
    now = [100.0]
    policy = HostPolicy(repo, fallback=True, default_domain="", monotonic=lambda: now[0])  # type: ignore[arg-type]

    async def scenario() -> None:
        assert await policy.admits("a.example:443", a)
        assert repo.lookups == 0  # its own address needs no query
        assert not await policy.admits("b.example", a)
        assert await policy.admits("127.0.0.1", a)
        assert await policy.admits("127.0.0.1", b)
        assert repo.lookups == 2  # 127.0.0.1 was looked up once
        now[0] += CACHE_SECONDS
        repo.portals.append(portal(3, "127.0.0.1"))
        assert not await policy.admits("127.0.0.1", a)  # now it names portal 3
        assert repo.lookups == 3

    asyncio.run(scenario())


def test_no_fallback() -> None:
    a = portal(1, "a.example")
    policy = HostPolicy(Repo([a]), fallback=False, default_domain="")  # type: ignore[arg-type]
    assert not asyncio.run(policy.admits("127.0.0.1", a))
    assert not asyncio.run(policy.admits(None, a))
    assert asyncio.run(policy.admits("A.example", a))
