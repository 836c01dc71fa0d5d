"""The office-PBX registrar on the network: listeners, transactions, throttling, bindings.

Rules (sip-registration.md §6; the decisions themselves are `sip.registrar.Registrar`'s):

* Listeners: UDP and TCP on one port, TLS on another when a certificate is configured.
  Port 0 (tests) picks a number free on both UDP and TCP, trying again when TCP finds the
  number UDP got taken by another process.
* UDP requests with credentials go through a server transaction table: a retransmission
  gets the cached final response (Timer J) and never reaches the registrar a second time,
  so it cannot trip the `nc` replay guard. TCP/TLS need no cache. A request without
  credentials is answered statelessly (as Kamailio's `sl`): a retransmission gets a new
  challenge, and a burst of challenges keeps nothing for Timer J.
* A source IP or a login that failed authentication too often (`sip.throttle`) is ignored
  without an answer until its block ends.
* The database is read only for requests that carry credentials: a challenge costs no
  query, so unauthenticated traffic cannot load the database. A request without
  credentials (a challenge, OPTIONS, a refusal) is answered at once, in the callback that
  read it, without a task. The account is the office
  line whose INCOMING_LOGIN is the To user; its INCOMING_PASSWORD is the digest password.
* Decisions and the binding writes that follow run one at a time (a lock), so two requests
  of one PBX cannot interleave between reading and writing its bindings.
* The challenge is MD5 with `qop=auth`, one header only: sipp, Kamailio `uac` and baresip
  fail on anything else (sip-registration.md §3.4). A line the operator opted in to
  SHA-256 (`trunkline line set --digest sha-256`) is challenged with SHA-256 alone and must
  answer with it. The opted-in logins are kept in memory (`refresh_algorithms`, run at
  start and at every engine poll), so a challenge still costs no query; the line's own row
  decides for requests with credentials. `algorithm` sets the default (tests).
* Users' phones (voximplant.user.get) register here too: a login ``phone<USER_ID>`` is the
  user's phone, its password the user's SIP_PASSWORD, accepted only while PHONE_ENABLED is Y
  and the user is active (else 403, as an unknown account). The same user id in several
  portals is told apart by the password the digest answers. Its bindings are the user's
  (``phone_bindings``), swept like an office line's; its account and bindings are kept in
  memory and its binding writes batched (``engine/phones.py`` has the rules).
* Bindings keep the RFC 5626 `+sip.instance` and `reg-id` of their Contact.
* The realm is the `sip_realm` setting, or else the host the PBX registers to (the
  Request-URI host). Every realm shares one nonce secret and one replay guard.
* Expired bindings are deleted every `SWEEP_INTERVAL` s, UDP transactions past Timer J every
  `TABLE_TICK` s (even with no request: a burst's 10,000 would otherwise stay).
* Bad input never escapes: unparsable bytes are dropped, handler errors are logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import itertools
import logging
import ssl
from collections import Counter, OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

from trunkline.domain.telephony import phone_user
from trunkline.engine import inline
from trunkline.engine.decisions import Decided, PhoneDecisions, count
from trunkline.engine.phones import PhoneBook
from trunkline.engine.transport import DatagramEndpoint, StreamConnection, host_port
from trunkline.metrics import families
from trunkline.sip.errors import SipParseError
from trunkline.sip.headers import parse_uri
from trunkline.sip.message import Request, Response
from trunkline.sip.nonce import ReplayGuard
from trunkline.sip.registrar import (
    Account,
    Registrar,
    RegistrarConfig,
    RegistrarDecision,
    Source,
)
from trunkline.sip.throttle import FailureThrottle
from trunkline.sip.transaction import (
    DEFAULT_TIMERS,
    ServerTransaction,
    ServerTransactionTable,
    Timers,
)
from trunkline.storage.registrations import RegistrationStore
from trunkline.storage.telephony import TelephonyRepository

__all__ = ["RegistrarServer"]

log = logging.getLogger("trunkline.engine.registrar")

SWEEP_INTERVAL = 60.0
TABLE_TICK = 2.0
MAX_REALMS = 64
MAX_CONNECTIONS = 1024
MAX_PENDING = 2048
READ_PAUSE = 0.05  # UDP reads gathered per wake-up (engine/transport.py)
PORT_ATTEMPTS = 20  # port 0: tries to find a number free on both UDP and TCP


class RegistrarServer(PhoneDecisions):
    """Serves REGISTER and OPTIONS from office PBXs."""

    def __init__(
        self,
        registrations: RegistrationStore,
        *,
        secret: bytes,
        wall: Callable[[], float],
        realm: str = "",
        timers: Timers = DEFAULT_TIMERS,
        config: RegistrarConfig | None = None,
        throttle: FailureThrottle | None = None,
        algorithm: str = "MD5",
        phones: TelephonyRepository | None = None,
    ) -> None:
        self.registrations = registrations
        self.phones = phones
        self.book = PhoneBook(phones) if phones is not None else None
        self._secret = secret
        self._wall = wall
        self.realm = realm
        self.timers = timers
        self._base = config if config is not None else RegistrarConfig(realm=realm or "trunkline")
        self.throttle = throttle if throttle is not None else FailureThrottle()
        self.algorithm = algorithm  # MD5 unless a test opts in (sip-registration.md §3.4)
        self._algorithms: dict[str, list[tuple[str, str]]] = {}  # login -> (server, algorithm)
        self._replay_guard = ReplayGuard(ttl=self._base.nonce_ttl)
        self._registrars: OrderedDict[str, Registrar] = OrderedDict()
        self._realm_of: tuple[str | None, str] = (None, "")  # the last Request-URI's realm
        self._challenge_only: dict[str, Account] = {}  # by algorithm (frozen: shared)
        self._table = ServerTransactionTable()
        self._lock = asyncio.Lock()
        self._udp: list[DatagramEndpoint] = []
        self._servers: list[asyncio.base_events.Server] = []
        self._connections: set[StreamConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._commits: dict[asyncio.Future[None], int] = {}  # answers waiting for each
        self._waiting = 0  # answers waiting for a commit
        self._sweeper: asyncio.Task[None] | None = None
        self.addresses: dict[str, tuple[str, int]] = {}
        self.on_decision: Callable[..., None] | None = None  # the history (engine/history.py)
        self.on_expired: Callable[[tuple[str, int, int], float], None] | None = None
        self.stats: Counter[str] = Counter()

    # -- listeners ------------------------------------------------------------------------

    async def start(
        self,
        host: str,
        port: int,
        *,
        tls_port: int = 0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        # Port 0: UDP picks a free port, TCP then takes the same number, which another
        # process may hold on TCP alone; pick again (a fixed port fails at once).
        for attempt in range(1 if port else PORT_ATTEMPTS):
            endpoint = await DatagramEndpoint.open(self._datagram, host, port)
            endpoint.pause = READ_PAUSE
            endpoint.after_read = self._after_read
            try:
                server = await loop.create_server(
                    lambda: self._new_connection("TCP"),
                    host,
                    endpoint.local[1],
                    reuse_address=True,
                )
            except OSError as exc:
                endpoint.close()
                if port or exc.errno != errno.EADDRINUSE or attempt == PORT_ATTEMPTS - 1:
                    raise
                continue
            break
        self._udp.append(endpoint)
        self.addresses["UDP"] = endpoint.local
        self._servers.append(server)
        self.addresses["TCP"] = server.sockets[0].getsockname()[:2]
        if tls_context is not None:
            tls = await loop.create_server(
                lambda: self._new_connection("TLS"), host, tls_port, ssl=tls_context
            )
            self._servers.append(tls)
            self.addresses["TLS"] = tls.sockets[0].getsockname()[:2]
        await self.refresh_algorithms()
        self._sweeper = asyncio.ensure_future(self._sweep())

    async def refresh_algorithms(self) -> None:
        """Re-read which office lines are opted in to another digest algorithm than MD5."""
        table: dict[str, list[tuple[str, str]]] = {}
        for login, server, algorithm in await self.registrations.office_algorithms():
            table.setdefault(login, []).append((server.lower(), algorithm))
        self._algorithms = table

    def challenge_algorithm(self, login: str, realm: str) -> str:
        """The algorithm to challenge `login` with, from memory (no query)."""
        opted = self._algorithms.get(login)
        if opted:
            if len(opted) > 1:  # the same login in several portals: the realm picks
                opted = [entry for entry in opted if entry[0] == realm.lower()]
            if len(opted) == 1:
                return opted[0][1]
        return self.algorithm

    def _new_connection(self, transport: str) -> StreamConnection:
        connection = StreamConnection(transport, self._stream_message, self._closed)
        self._connections.add(connection)
        if len(self._connections) > MAX_CONNECTIONS:
            asyncio.get_running_loop().call_soon(connection.close)
        return connection

    def _closed(self, connection: StreamConnection, reason: str) -> None:
        self._connections.discard(connection)

    async def stop(self, timeout: float = 5.0) -> None:
        for server in self._servers:
            server.close()
        for endpoint in self._udp:
            endpoint.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._tasks or self._commits:  # answers still to send (tasks, commits awaited)
            await asyncio.wait([*self._tasks, *self._commits], timeout=timeout)
        for task in list(self._tasks):
            task.cancel()
        if self.book is not None:  # refreshes answered before their batch was written
            await self.book.flush()
        for connection in list(self._connections):
            connection.abort()
        for server in self._servers:
            await server.wait_closed()
        for _ in range(3):
            await asyncio.sleep(0)
        self._servers.clear()
        self._udp.clear()

    async def _sweep(self) -> None:
        for tick in itertools.count(1):
            await asyncio.sleep(TABLE_TICK)
            self._table.handle_timer(self._wall())
            if tick % int(SWEEP_INTERVAL / TABLE_TICK) == 0:
                await self.sweep()

    async def sweep(self) -> None:
        """Delete the expired bindings, telling the history which subjects lost their last."""
        try:
            now = self._wall()
            lapsed = [("office", *x) for x in await self.registrations.lapsing(now)]
            removed = await self.registrations.delete_expired(now)
            if self.phones is not None and self.book is not None:
                await self.book.flush()  # a refresh still queued would be swept otherwise
                lapsed += [("phone", *x) for x in await self.phones.lapsing(now)]
                removed += await self.phones.delete_expired(now)
                self.book.swept(now)  # before any await: as the DELETE left them
            if self.on_expired is not None:
                for kind, portal_id, number, when in lapsed:
                    self.on_expired((kind, portal_id, number), when)
            self.stats["expired"] += removed
        except Exception:
            log.exception("binding sweep failed")

    # -- requests -------------------------------------------------------------------------

    def _after_read(self) -> None:
        # The end of a wake-up that read datagrams: their phones' binding changes that a
        # REGISTER waits for go to the database now, in one batch, rather than in a wake-up
        # of their own (refreshes alone wait for their window, engine/phones.py).
        if self.book is not None:
            self.book.start()

    def _datagram(self, message: Request | Response, addr: tuple[str, int]) -> None:
        if not isinstance(message, Request):
            return
        endpoint = self._udp[0]
        self.receive(message, Source(addr[0], addr[1], "UDP"), lambda d: endpoint.send(d, addr))

    def _stream_message(self, message: Request | Response, connection: StreamConnection) -> None:
        if not isinstance(message, Request):
            return
        host, port = connection.peer
        self.receive(message, Source(host, port, connection.transport_name), connection.send)

    def receive(self, request: Request, source: Source, reply: Callable[[bytes], None]) -> None:
        """Handle one request from `source`; answers go out through `reply`."""
        now = self._wall()
        self.stats["requests"] += 1
        throttle = self.throttle
        if throttle.blocked_keys and throttle.blocked(f"ip:{source.host}", now):
            self.stats["throttled"] += 1
            families.registrar_refusals.labels("throttled").inc()
            return
        if request.method == "REGISTER":
            families.registrar_registers.inc()
        if request.method != "REGISTER" or "Authorization" not in request.headers:
            try:  # a challenge (or OPTIONS, or a refusal) costs no query: answered at once
                decision = self._unauthenticated(request, source, now)
            except Exception:
                log.exception("registrar failed on a %s from %s", request.method, source.host)
                return
            self._send(decision, reply, None)  # stateless: a retransmission is answered anew
            return
        transaction: ServerTransaction | None = None
        if source.transport == "UDP":
            try:  # its key made once: the transaction's, looked up before it is added
                transaction = ServerTransaction(request, reliable=False, timers=self.timers)
            except SipParseError:
                transaction = None
            else:
                known = self._table.find_key(transaction.key)
                if known is not None:
                    for output in known.receive(request, now):
                        reply(output.data)  # type: ignore[union-attr]
                    return
                self._table.add(transaction)
        if len(self._tasks) + self._waiting >= MAX_PENDING:
            self.stats["overload"] += 1
            families.registrar_refusals.labels("overload").inc()
            return
        try:
            begun = self._begin(request, source, self._wall())
            if begun is None:
                return
            user_id = phone_user(begun[2]) if self.phones is not None else None
            decided = None
            if user_id is not None and self._idle():  # a phone the book keeps: at once
                decided = self._phone_now(request, source, *begun[1:], user_id)
        except Exception:
            log.exception("registrar failed on a %s from %s", request.method, source.host)
            return
        if decided is not None:
            self._answered(request, source, reply, transaction, begun, decided)
            return
        task = inline.start(self._answer(request, source, reply, transaction, begun, user_id))
        if task is not None:  # it waits for the database
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(
        self,
        request: Request,
        source: Source,
        reply: Callable[[bytes], None],
        transaction: ServerTransaction | None,
        begun: tuple[float, Registrar, str],
        user_id: int | None,
    ) -> None:
        try:
            decided = await self._decide(request, source, begun, user_id)
        except Exception:
            log.exception("registrar failed on a %s from %s", request.method, source.host)
            return
        self._answered(request, source, reply, transaction, begun, decided)

    def _answered(
        self,
        request: Request,
        source: Source,
        reply: Callable[[bytes], None],
        transaction: ServerTransaction | None,
        begun: tuple[float, Registrar, str],
        decided: Decided,
        written: asyncio.Future[None] | None = None,
    ) -> None:
        """Answer a decision, or once its bindings are committed (a callback, not a task)."""
        decision, commit = decided
        if written is not None:  # the commit it waited for
            self._waiting -= 1
            if self._commits[written] == 1:
                del self._commits[written]
            else:
                self._commits[written] -= 1
            if written.cancelled():
                return
            commit = None
        try:
            if commit is not None:
                self._waiting += 1
                self._commits[commit] = self._commits.get(commit, 0) + 1
                args = (request, source, reply, transaction, begun, decided)
                commit.add_done_callback(partial(self._answered, *args))
                return
            if written is not None and written.exception() is not None:
                raise written.exception()  # type: ignore[misc]
            self._send(self._end(decision, source, begun), reply, transaction)
        except Exception:
            log.exception("registrar failed on a %s from %s", request.method, source.host)

    def _send(
        self,
        decision: RegistrarDecision | None,
        reply: Callable[[bytes], None],
        transaction: ServerTransaction | None,
    ) -> None:
        if decision is None or decision.response is None:
            return
        now = self._wall()
        if transaction is None:
            reply(decision.response.to_bytes())
            return
        self._table.handle_timer(now)
        for output in self._table.respond(transaction, decision.response, now):
            reply(output.data)  # type: ignore[union-attr]

    def registrar_for(self, request: Request) -> Registrar:
        realm = self.realm
        if not realm:
            uri = request.uri
            last, realm = self._realm_of  # phones register to one URI: parsed once
            if uri != last:
                try:
                    realm = parse_uri(uri).host.lower()[:255]
                except SipParseError:
                    realm = self._base.realm
                self._realm_of = (uri, realm)
        registrar = self._registrars.get(realm)
        if registrar is None:
            config = dataclasses.replace(self._base, realm=realm)
            registrar = Registrar(config, self._secret, replay_guard=self._replay_guard)
            self._registrars[realm] = registrar
            while len(self._registrars) > MAX_REALMS:
                self._registrars.popitem(last=False)
        else:
            self._registrars.move_to_end(realm)
        return registrar

    async def decide(self, request: Request, source: Source) -> RegistrarDecision | None:
        """The registrar's answer to one request, with its bindings written; None: drop it."""
        now = self._wall()
        if request.method != "REGISTER" or "Authorization" not in request.headers:
            return self._unauthenticated(request, source, now)
        begun = self._begin(request, source, now)
        if begun is None:
            return None
        user_id = phone_user(begun[2]) if self.phones is not None else None
        decision, written = await self._decide(request, source, begun, user_id)
        if written is not None:  # new or moved bindings: answered once they are stored
            await written
        return self._end(decision, source, begun)

    def _begin(
        self, request: Request, source: Source, now: float
    ) -> tuple[float, Registrar, str] | None:
        """A request with credentials: its registrar and login; None when the login is
        throttled (dropped)."""
        registrar = self.registrar_for(request)
        login = Registrar.account_name(request) or ""
        throttle = self.throttle
        if login and throttle.blocked_keys and throttle.blocked(f"login:{login}", now):
            self.stats["throttled"] += 1
            families.registrar_refusals.labels("throttled").inc()
            return None
        return now, registrar, login

    async def _decide(
        self,
        request: Request,
        source: Source,
        begun: tuple[float, Registrar, str],
        user_id: int | None,  # a phone's (``phone_user`` of the login, with a phone book)
    ) -> Decided:
        _, registrar, login = begun
        async with self._lock:
            if user_id is not None:
                return await self._phone(request, source, registrar, login, user_id)
            return await self._office(request, source, registrar, login), None

    def _end(
        self, decision: RegistrarDecision, source: Source, begun: tuple[float, Registrar, str]
    ) -> RegistrarDecision:
        """Count a decision answered; throttle a refused digest's source and login."""
        now, _, login = begun
        count(decision)
        if decision.auth_failed:
            self.stats["auth_failed"] += 1
            self.throttle.record_failure(f"ip:{source.host}", now)
            if login:
                self.throttle.record_failure(f"login:{login}", now)
            note = decision.note
            log.warning("registration refused for %r from %s: %s", login[:64], source.host, note)
        return decision

    def _unauthenticated(self, request: Request, source: Source, now: float) -> RegistrarDecision:
        """A request without credentials (a challenge, OPTIONS, a refusal): no query."""
        registrar = self.registrar_for(request)
        login = Registrar.account_name(request) or ""
        algorithm = self.challenge_algorithm(login, registrar.config.realm)
        challenge_only = self._challenge_only.get(algorithm)
        if challenge_only is None:
            challenge_only = self._challenge_only[algorithm] = Account("", algorithm=algorithm)
        return count(registrar.handle(request, source, challenge_only, (), now))

    def describe(self) -> dict[str, Any]:
        return {"listening": {k: list(v) for k, v in self.addresses.items()}, **self.stats}

    def listeners(self) -> dict[str, str]:
        """``{"udp": "127.0.0.1:5060", "tcp": ..., "tls": ...}`` of the bound sockets."""
        return {name.lower(): host_port(*where) for name, where in self.addresses.items()}
