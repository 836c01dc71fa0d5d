"""A tiny counting registrar on loopback UDP for the cluster tests.

It answers every REGISTER with 200 (no challenge), keeps the bindings of each AOR (contact ->
expiry, `Contact: *` with `Expires: 0` clears them all) and records every REGISTER with its
source. Whenever a REGISTER leaves an AOR with live bindings from two sources (two nodes) it
records a violation. It runs in a thread of the test process and stops with `close()`.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from trunkline.sip.message import Headers, Request, Response, parse_datagram


@dataclass
class Seen:
    at: float
    aor: str
    source: tuple[str, int]
    contact: str
    expires: int


@dataclass
class CountingRegistrar:
    sock: socket.socket
    seen: list[Seen] = field(default_factory=list)
    bindings: dict[str, dict[str, tuple[float, tuple[str, int]]]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None

    @classmethod
    def start(cls) -> CountingRegistrar:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        registrar = cls(sock)
        registrar.thread = threading.Thread(target=registrar._serve, daemon=True)
        registrar.thread.start()
        return registrar

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        sock, self.sock = self.sock, None  # type: ignore[assignment]
        if self.thread is not None:
            self.thread.join(2)
        sock.close()

    def _serve(self) -> None:
        while self.sock is not None:
            try:
                data, source = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            try:
                request = parse_datagram(data)
            except Exception:
                continue
            if not isinstance(request, Request) or request.method != "REGISTER":
                continue
            self._handle(request, source)

    def _handle(self, request: Request, source: tuple[str, int]) -> None:
        now = time.monotonic()
        aor = request.to_address.uri
        expires = int(request.headers.get("Expires") or "3600")
        raw = (request.headers.get("Contact") or "").strip()
        with self.lock:
            held = self.bindings.setdefault(aor, {})
            if raw == "*":
                held.clear()
                contact = "*"
            else:
                contact = request.contacts[0].uri
                if expires == 0:
                    held.pop(contact, None)
                else:
                    held[contact] = (now + expires, source)
            self.seen.append(Seen(now, aor, source, contact, expires))
            sources = {s for until, s in held.values() if until > now}
            if len(sources) > 1:
                self.violations.append(f"{aor}: live bindings from {sorted(sources)}")
        headers = Headers()
        for name in ("Via", "From", "Call-ID", "CSeq"):
            for value in request.headers.get_all(name):
                headers.add(name, value)
        headers.add("To", (request.headers.get("To") or "") + ";tag=counting")
        if raw and raw != "*" and expires:
            headers.add("Contact", f"<{contact}>;expires={expires}")
        data = Response(200, "OK", headers).to_bytes()
        sock = self.sock
        if sock is not None:
            sock.sendto(data, source)

    def registered_from(self, since: float = 0.0) -> dict[str, set[tuple[str, int]]]:
        """AOR -> the sources that REGISTERed it (Expires > 0) since `since`."""
        found: dict[str, set[tuple[str, int]]] = {}
        with self.lock:
            for seen in self.seen:
                if seen.at >= since and seen.expires > 0 and seen.contact != "*":
                    found.setdefault(seen.aor, set()).add(seen.source)
        return found

    def live_sources(self) -> dict[str, set[tuple[str, int]]]:
        """AOR -> the sources of its live bindings now."""
        now = time.monotonic()
        with self.lock:
            return {
                aor: {s for until, s in held.values() if until > now}
                for aor, held in self.bindings.items()
            }


def seed_lines(url: str, key: str, server: str, count: int, *, per_portal: int = 10) -> None:
    """`count` cloud lines registering to `server`, in as many portals as they need (a
    portal holds at most 10), logins u0, u1, ... (password p)."""
    import asyncio

    from trunkline.domain.portals import User
    from trunkline.domain.principal import WEBHOOK, Principal
    from trunkline.services.lines import LineInput, LineService
    from trunkline.settings import Settings
    from trunkline.storage.store import Store
    from trunkline.storage.url import DatabaseUrl
    from trunkline.web.bootstrap import cipher_for

    settings = Settings(database_url=url, secret_key=key)

    async def run() -> None:
        database = DatabaseUrl(url)
        store = await Store.open(database, cipher_for(settings, database))
        try:
            service = LineService(store.lines, settings)
            for first in range(0, count, per_portal):
                portal = await store.accounts.create_portal(f"p{first}.cluster.example")
                user = User(portal.id, 0, "trunkline", "Trunkline", "CLI", True, True, True)
                principal = Principal(portal, user, WEBHOOK, frozenset({"telephony"}), None)
                for n in range(first, min(count, first + per_portal)):
                    await service.add(principal, LineInput("cloud", None, server, f"u{n}", "p"))
        finally:
            await store.close()

    asyncio.run(run())
