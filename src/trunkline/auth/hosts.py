"""Which portal a request is for: the Host header (``host_fallback`` setting).

Rules:

* The Host header, lower-cased, names a portal when it equals a portal's domain
  with or without its ``:port``.
* A credential (webhook code, access token) belongs to exactly one portal. When
  the Host names a portal, a credential of any other portal is refused as if it
  did not exist (``INVALID_CREDENTIALS`` / ``invalid_token``): nothing of one
  portal is visible from another.
* When the Host names no portal (``127.0.0.1:8080``, a bare IP, a proxy name),
  the credential's own portal answers if ``host_fallback`` is on (in a
  single-portal install that is the default portal); with it off the request
  is refused.
* Whether a host names some other portal is remembered for ``CACHE_SECONDS``
  (portals are never renamed, and a portal created within that window only
  means its address still serves credentials of their own portal, never
  another's), so a request at ``127.0.0.1`` costs no extra query.
* Pages without a credential (the sign-in page) use the named portal, else,
  with ``host_fallback`` on, the default portal: the only portal of a
  single-portal install, or the one whose domain is ``default_portal_domain``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from trunkline.domain.clock import Clock
from trunkline.domain.portals import Portal

CACHE_SECONDS = 2.0
CACHE_SIZE = 1024


def host_names(host: str | None) -> tuple[str, ...]:
    """``Portal.Example.com:8443`` -> (``portal.example.com:8443``, ``portal.example.com``)."""
    if not host:
        return ()
    full = host.strip().lower()
    if full.startswith("["):  # [v6]:port
        bare = full[: full.find("]") + 1] if "]" in full else full
    else:
        bare = full.rsplit(":", 1)[0] if full.count(":") == 1 else full
    return (full,) if bare == full else (full, bare)


class PortalReader(Protocol):
    """The reads the host policy makes (``storage.accounts.AccountRepository``)."""

    async def portal_by_host(self, names: Sequence[str]) -> Portal | None: ...

    async def list_portals(self) -> list[Portal]: ...


class HostPolicy:
    def __init__(
        self,
        portals: PortalReader,
        *,
        fallback: bool,
        default_domain: str,
        monotonic: Callable[[], float] = Clock.monotonic,
    ) -> None:
        self.portals = portals
        self.fallback = fallback
        self.default_domain = default_domain.lower()
        self.monotonic = monotonic
        self._named: dict[tuple[str, ...], tuple[float, int | None]] = {}

    async def _portal_id(self, names: tuple[str, ...]) -> int | None:
        """The id of the portal these host names name (cached briefly), or None."""
        now = self.monotonic()
        cached = self._named.get(names)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        portal = await self.portals.portal_by_host(names)
        if len(self._named) >= CACHE_SIZE:
            self._named.clear()
        self._named[names] = (now, None if portal is None else portal.id)
        return None if portal is None else portal.id

    async def admits(self, host: str | None, portal: Portal) -> bool:
        """May a credential of ``portal`` be used at ``host``?"""
        names = host_names(host)
        if portal.domain in names:
            return True
        named = await self._portal_id(names)
        if named is not None:
            return named == portal.id  # False: the host names another portal
        return self.fallback

    async def portal_for_page(self, host: str | None) -> Portal | None:
        named = await self.portals.portal_by_host(host_names(host))
        if named is not None or not self.fallback:
            return named
        portals = await self.portals.list_portals()
        if len(portals) == 1:
            return portals[0]
        return next((p for p in portals if p.domain == self.default_domain), None)
