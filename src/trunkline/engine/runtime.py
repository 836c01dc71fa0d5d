"""The SIP engine: supervisor + registrar + the link to the lines table, started and stopped.

Start-up phases, in order: the client sockets open; the office registrar listens (a port
that cannot be bound is logged and the registrar stays off, cloud lines still register);
every cloud line is loaded with a random start-up spread; the engine's row in the
`processes` table is written (its `state()`: listeners and counts, which `/health` and
`trunkline engine status` read); the status writer and the change poller start. Shutdown
runs them backwards: no new attempts, in-flight transactions and farewells finish or time
out (at most `STOP_TIMEOUT` seconds), pending status writes are flushed, the row is
deleted, sockets close. Each poll rewrites the row when the state changed.

How changes reach the engine:

* In the same process, `LineService` calls `line_changed(portal_id, config_id)` after every
  add, credential update and delete: the line is read again at once.
* From any process, a poll every `sip_poll_seconds` reads each cloud line's change marker
  (`registration_updated_at`) and reads again the lines whose marker differs from the one
  the engine holds; lines that vanished are removed (with `Expires: 0`). On PostgreSQL the
  poll first reads the lines' change counter (storage/mark_schema.py) and skips the scan of
  every row when it has not moved since the last scan began (at least every
  `FULL_SCAN_EVERY` polls it scans anyway): with 100,000 lines the scan was a third of a
  node's CPU while nothing changed. The same poll
  re-reads which office lines are opted in to a SHA-256 challenge.
* The engine's own writes are compare-and-set on that marker (storage/registrations.py):
  a write refused because the row moved makes the engine read the line again.

On PostgreSQL every engine is a cluster node (engine/cluster.py): it keeps registered only
the lines of the buckets it owns, drops a bucket's lines before handing it over, loads the
lines of buckets it gains (clearing the previous owner's binding first), fences each write
with its bucket's token, drops every line when its lease runs out, and releases its buckets
when it stops. The beat only renews and hands buckets over; the lines of gained buckets are
read by a task of their own (`_loader`), so reading and decrypting 100,000 rows never holds
up the next renewal (it did: the lease ran out, every node lapsed and joined again, in a
loop). On SQLite one engine owns every line.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import random as random_module
import ssl
from collections.abc import Callable
from typing import Any

from trunkline import __version__
from trunkline.engine.cluster import ClusterNode
from trunkline.engine.gauges import count_states
from trunkline.engine.history import HistoryRecorder
from trunkline.engine.ownership import Ownership
from trunkline.engine.registrar import RegistrarServer
from trunkline.engine.resolver import SipResolver, make_dns_resolver
from trunkline.engine.runner import SHOWN, LineRunner, cloud_line
from trunkline.engine.supervisor import Supervisor
from trunkline.engine.transport import ClientTransport, StreamConnection
from trunkline.metrics.exposition import process_exited
from trunkline.services.events import EventService
from trunkline.settings import Settings
from trunkline.sip.lifecycle import LineResult, LineStatus
from trunkline.sip.message import Response
from trunkline.sip.pacing import RegisterPacer
from trunkline.sip.transaction import Timers
from trunkline.storage.processes import ENGINE
from trunkline.storage.registrations import StatusWrite
from trunkline.storage.store import Store

__all__ = ["Engine", "cloud_line", "engine_secret", "listeners_text"]

log = logging.getLogger("trunkline.engine")

STOP_TIMEOUT = 5.0
FULL_SCAN_EVERY = 15  # polls: every cloud row is read at least this often
UNHELD = object()  # the marker of a line the engine does not run
WRITE_BATCH = 500


def engine_secret(key: str) -> bytes:
    """The registrar's nonce secret, derived from the server's secret key."""
    return hmac.new(key.encode(), b"trunkline sip nonce", hashlib.sha256).digest()


def client_ssl_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.sip_tls_ca_file or None)
    if not settings.sip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if not settings.sip_tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.sip_tls_cert, settings.sip_tls_key or None)
    return context


class Engine(Ownership):
    """Everything SIP, bound to one store."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        secret: bytes,
        dns_resolver: Any | None = None,
        clock: Callable[[], float] | None = None,
        wall: Callable[[], float] | None = None,
        random: Callable[[], float] = random_module.random,
    ) -> None:
        self.settings = settings
        self.registrations = store.registrations
        self.processes = store.processes
        self._record: int | None = None  # our row in the processes table
        self._recorded: dict[str, Any] = {}
        self._polls = 0
        self._scanned: int | None = None  # the lines' change counter when the last scan began
        wall = wall or store.clock.now  # the application clock: stamps that are stored
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._wall = wall
        timers = Timers(t1=settings.sip_t1_ms / 1000, t2=max(4.0, settings.sip_t1_ms / 1000))
        self.transport = ClientTransport(
            self._on_response,
            self._on_closed,
            ssl_context=client_ssl_context(settings),
            connect_timeout=64 * timers.t1,
        )
        resolver = dns_resolver or make_dns_resolver(settings.sip_dns_server)
        self.resolver = SipResolver(resolver, clock=self._now, random=random)
        self.supervisor = Supervisor(
            self.transport,
            self.resolver,
            on_status=self._reported,
            clock=self._now,
            timers=timers,
            random=random,
            expires=settings.sip_expires,
            user_agent=f"Trunkline/{__version__}",
            gate=self._may_send,
            pacer=RegisterPacer(
                host_rate=settings.sip_register_rate_host,
                aor_rate=settings.sip_register_rate_aor,
                random=random,
            ),
        )
        self.registrar = RegistrarServer(
            self.registrations,
            secret=secret,
            wall=wall,
            realm=settings.sip_realm,
            timers=timers,
            phones=store.telephony,
        )
        events = EventService(store.events, store.clock)
        self.history = HistoryRecorder(
            store.history, keep=settings.history_limit, wall=wall, clock=self._now, events=events
        )
        self.registrar.on_decision = self._office_decided
        self.registrar.on_expired = self._office_expired
        self.registrar_running = False
        self.cluster: ClusterNode | None = None
        if store.dialect == "postgres":
            self.cluster = ClusterNode(
                store.cluster,
                lease=settings.cluster_lease_ms / 1000,
                address=f"{store.processes.node}:{os.getpid()}",
                clock=self._now,
                on_lapse=self._lapsed,
            )
        self._markers: dict[tuple[int, int], float | None] = {}
        self._pending_writes: dict[tuple[int, int], LineRunner] = {}
        self._pending_syncs: set[tuple[int, int]] = set()
        self._wake_writer = asyncio.Event()
        self._wake_syncer = asyncio.Event()
        self._gained: set[int] = set()  # buckets gained whose lines are still to be read
        self._wake_loader = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    def _now(self) -> float:
        return self._clock()

    def _may_send(self) -> bool:
        return self.cluster is None or self.cluster.valid()

    def _on_response(self, response: Response) -> None:
        self.supervisor.on_response(response)

    def _on_closed(self, connection: StreamConnection, reason: str) -> None:
        self.supervisor.on_connection_closed(connection, reason)

    # -- life -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.transport.open()
        s = self.settings
        if s.sip_port:
            try:
                await self.registrar.start(
                    s.sip_host,
                    s.sip_port,
                    tls_port=s.sip_tls_port,
                    tls_context=server_ssl_context(s),
                )
                self.registrar_running = True
                log.info(
                    "SIP registrar listening on %s", listeners_text(self.registrar.listeners())
                )
            except OSError as exc:
                log.error("SIP registrar not started on %s:%s (%s)", s.sip_host, s.sip_port, exc)
        if self.cluster is not None:
            await self.cluster.join()
            self.registrations.fence_node = self.cluster.node_id
            self._tasks.append(asyncio.ensure_future(self._beater()))  # renew while loading
            self._tasks.append(asyncio.ensure_future(self._loader()))
            self._tasks.append(asyncio.ensure_future(self._renewer()))
        for n, line in enumerate(await self.registrations.cloud_lines(lambda *k: self._owns(k))):
            if (line.portal_id, line.config_id) not in self.supervisor.runners:
                self._adopt(line, spread=True)
            if n % 500 == 499:
                await asyncio.sleep(0)
        try:
            self._recorded = self.state()
            self._record = await self.processes.announce(ENGINE, self._recorded)
        except Exception:
            log.exception("could not record the engine in the processes table")
        self._tasks += [
            asyncio.ensure_future(self._writer()),
            asyncio.ensure_future(self._syncer()),
            asyncio.ensure_future(self._poller()),
        ]
        self.started = True
        self.count_states()
        log.info("SIP engine started with %d cloud lines", len(self.supervisor.runners))

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        await self.supervisor.stop(STOP_TIMEOUT)
        if self.registrar_running:
            await self.registrar.stop(STOP_TIMEOUT)
            self.registrar_running = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self._flush()
            await self.history.flush()
        except Exception:
            log.exception("could not write the last registration states")
        if self.cluster is not None:
            try:
                await self.cluster.leave()
            except Exception:
                log.exception("could not hand the cloud lines over to the other nodes")
        if self._record is not None:
            try:
                await self.processes.withdraw(self._record)
            except Exception:
                log.exception("could not remove the engine from the processes table")
            self._record = None
        await self.transport.close()
        await self.history.close()
        process_exited()  # its live gauges leave the sum

    # -- changes from the REST side -------------------------------------------------------

    def line_changed(self, portal_id: int, config_id: int) -> None:
        """Observer hook: a line was added, changed or deleted (read it again soon)."""
        self._pending_syncs.add((portal_id, config_id))
        self._wake_syncer.set()

    async def sync(self, key: tuple[int, int]) -> None:
        """Read one line again and bring the supervisor in line with it."""
        if not self._owns(key):
            self._drop(key)
            return
        line = await self.registrations.cloud_line(*key)
        if not self._owns(key):  # a beat handed the bucket over while the row was read
            self._drop(key)
            return
        if line is None:
            self._markers.pop(key, None)
            self._pending_writes.pop(key, None)
            self.supervisor.remove(key)
            return
        cloud = cloud_line(line)
        self._markers[key] = cloud.marker
        runner = self.supervisor.runners.get(key)
        if runner is None:
            self._adopt(line, spread=False)  # clears the old owner's binding of a taken bucket
            return
        # sip.update of SERVER/LOGIN/PASSWORD shows wait/0: re-register even with equal values
        reset = (cloud.status.result, cloud.status.status_code) == (LineResult.WAIT, 0)
        self.supervisor.update(cloud, force=reset and runner.status.result != LineResult.WAIT)
        if self._shown(cloud.status) != self._shown(runner.status):
            self._status_changed(runner)

    @staticmethod
    def _shown(status: LineStatus) -> tuple[LineResult, int | None, str | None]:
        return (status.result, status.status_code, status.error_message)

    async def _syncer(self) -> None:
        while True:
            await self._wake_syncer.wait()
            self._wake_syncer.clear()
            while self._pending_syncs:
                key = self._pending_syncs.pop()
                try:
                    await self.sync(key)
                except Exception:
                    log.exception("could not read line %s", key)

    async def _poller(self) -> None:
        interval = max(0.1, float(self.settings.sip_poll_seconds))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.poll()
            except Exception:
                log.exception("line scan failed")

    def scan_due(self, mark: int | None) -> bool:
        """Whether this poll must scan every cloud row: always on SQLite (`mark` None), else
        when the lines' change counter moved since the last scan began, and at least every
        `FULL_SCAN_EVERY` polls (a net under the counter)."""
        self._polls += 1
        due = mark is None or mark != self._scanned or self._polls % FULL_SCAN_EVERY == 0
        if due:
            self._scanned = mark  # read before the scan: a write after it moves it again
        return due

    async def poll(self) -> None:
        """Queue every line whose change marker moved, and every line that vanished."""
        if self.scan_due(await self.registrations.lines_mark()):
            await self._scan()
        self.count_states()
        if self.registrar_running:
            await self.registrar.refresh_algorithms()
        state = self.state()
        if self._record is not None and state != self._recorded:
            await self.processes.update(self._record, state)
            self._recorded = state

    async def _scan(self) -> None:
        seen: set[tuple[int, int]] = set()
        markers, pending = self._markers, self._pending_syncs
        for n, (portal_id, config_id, marker) in enumerate(
            await self.registrations.cloud_markers()
        ):
            key = (portal_id, config_id)
            if not self._owns(key):  # one still held is dropped below (not seen)
                continue
            held = markers.get(key, UNHELD)
            if held is UNHELD or held != marker:
                pending.add(key)
            seen.add(key)
            if n % 2000 == 1999:
                await asyncio.sleep(0)  # 100,000 rows: let the beat and the sockets in
        self._pending_syncs.update(set(self.supervisor.runners) - seen)
        if self._pending_syncs:
            self._wake_syncer.set()

    # -- writing outcomes -----------------------------------------------------------------

    def _reported(self, runner: LineRunner) -> None:
        """The supervisor saw a line's shown state change: keep it in the history too."""
        self.history.cloud_changed(runner, runner.previous, runner.status)
        self._status_changed(runner)

    def _office_decided(self, *args: Any) -> None:
        self.history.office_decided(*args)
        if self.history.pending:  # most decisions change nothing: no wake-up for them
            self._wake_writer.set()

    def _office_expired(self, subject: tuple[str, int, int], at: float) -> None:
        self.history.expired(subject, at)
        self._wake_writer.set()

    def _status_changed(self, runner: LineRunner) -> None:
        self._pending_writes[runner.key] = runner
        self._wake_writer.set()

    async def _writer(self) -> None:
        while True:
            await self._wake_writer.wait()
            self._wake_writer.clear()
            try:
                await self._flush()
                await self.history.flush()
            except Exception:
                log.exception("could not write registration states")
                await asyncio.sleep(1.0)
                self._wake_writer.set()

    async def _flush(self) -> None:
        while self._pending_writes:
            batch: list[tuple[LineRunner, StatusWrite]] = []
            while self._pending_writes and len(batch) < WRITE_BATCH:
                key, runner = next(iter(self._pending_writes.items()))
                del self._pending_writes[key]
                fence = None if self.cluster is None else self.cluster.fence(key)
                if runner.removed or key not in self._markers:
                    continue
                if self.cluster is not None and fence is None:
                    continue
                status = runner.status
                marker = self._markers[key]
                stamp = self._wall()
                if marker is not None and stamp <= marker:
                    stamp = marker + 0.001
                write = StatusWrite(
                    key[0],
                    key[1],
                    SHOWN[status.result],
                    status.status_code,
                    status.error_message,
                    marker,
                    stamp,
                    fence,
                )
                batch.append((runner, write))
            if not batch:
                return
            applied = await self.registrations.write_statuses([w for _, w in batch])
            for (runner, write), ok in zip(batch, applied, strict=True):
                if ok:
                    if runner.key in self._markers:  # not dropped while it was written
                        self._markers[runner.key] = write.new_marker
                else:
                    self.line_changed(*runner.key)
            self.count_states()

    def count_states(self) -> None:
        """Set the registration gauges from the runners' states (engine/gauges.py)."""
        cluster = self.cluster
        owned = None if cluster is None else (len(cluster.tokens) if cluster.valid() else 0)
        count_states(
            self.supervisor.runners.values(), per_line=self.settings.metrics_per_line, owned=owned
        )

    def describe(self) -> dict[str, Any]:
        """Counters for benchmarks (printed as JSON on SIGUSR1)."""
        return {
            "lines": len(self.supervisor.runners),
            "client": dict(self.supervisor.stats),
            "registrar": self.registrar.describe() if self.registrar_running else None,
            "cluster": None if self.cluster is None else self.cluster.describe(),
        }

    def state(self) -> dict[str, Any]:
        """What ``/health`` and ``trunkline engine status`` show: the registrar's listeners,
        the cloud lines by outcome, and the client's and registrar's counters."""
        counts = {"registered": 0, "failed": 0, "waiting": 0}
        for runner in self.supervisor.runners.values():
            result = runner.status.result
            key = "registered" if result == LineResult.SUCCESS else "waiting"
            counts["failed" if result == LineResult.ERROR else key] += 1
        running = self.registrar_running
        return {
            "registrar": self.registrar.listeners() if running else None,
            "cloud_lines": counts,
            "client": dict(sorted(self.supervisor.stats.items())),
            "office": dict(sorted(self.registrar.stats.items())) if running else {},
        }


def listeners_text(listeners: dict[str, str] | None) -> str:
    """``udp+tcp 127.0.0.1:5060, tls 127.0.0.1:5061`` (``off`` when there are none)."""
    if not listeners:
        return "off"
    by_address: dict[str, list[str]] = {}
    for transport, address in listeners.items():
        by_address.setdefault(address, []).append(transport)
    return ", ".join(f"{'+'.join(names)} {address}" for address, names in by_address.items())
