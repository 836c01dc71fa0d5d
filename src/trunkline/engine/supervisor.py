"""The registration supervisor: every cloud line's REGISTER life, on one timer heap.

Rules (sip-registration.md §5; the per-line rules live in `sip.lifecycle` and `sip.policy`):

* One `LineRunner` per cloud line holds the sans-IO `Registration` (one Call-ID and From tag
  for the life of the line in this process) and the `LineLifecycle`. All runners share one
  heap of lifecycle deadlines served by one `loop.call_at` alarm: a line costs a heap
  entry, not a task. The alarm wakes on the next multiple of `timer_grid` (1 s) after a
  deadline, so refreshes due in the same second go out in one wake-up (at most `FIRE_BATCH`
  lines per wake-up; the rest follow on the next loop turn, after the socket was read). A
  refresh or retry is thus up to 1 s late, against the 5 s of refresh jitter; a deadline
  already due (an update, a dropped connection) fires on the next loop turn. Transaction
  timers (E, F) of the lines with a request in flight are served by one shared tick every
  T1/5 while any is in flight, so a quick answer costs no alarm of its own.
* An attempt starts when the lifecycle says so. It resolves SERVER (or OUTBOUND_PROXY) with
  RFC 3263 and tries the targets in turn; 408, 503 and transport failures move to the next
  target inside the same attempt. A refresh goes straight to the target that granted the
  binding. A name that does not resolve ends the attempt with 502 "Unable to resolve
  hostname"; a connection that cannot be made with 503 and the reason.
* Whenever what the line shows (result, code, message) changes, `on_status(runner)` is
  called; the engine writes the row. Refreshes that keep `success` call nothing.
* `update` with other SERVER/LOGIN/PASSWORD/AUTH_USER/OUTBOUND_PROXY, and `remove`, send a
  best-effort `Expires: 0` for the binding the line holds, from the old configuration, given
  at most `FAREWELL_TIMEOUT` seconds. An update then shows `wait` with code 0 and tries at
  once with a fresh Registration on the same Call-ID (CSeq moved past the farewell's).
* A TCP/TLS connection that drops fails the attempt running on it (and fails over), and a
  line registered through it re-registers at once.
* A line taken over from another cluster node (`CloudLine.clear_first`) first sends
  `Contact: *`, `Expires: 0` (the old owner's binding goes), then registers on the same
  channel; a registrar refusing the wildcard (but 408/503) is not asked again. `gate()`
  False (cluster lease ran out) sends nothing new; `drop` forgets a line without farewell.
* Attempts wait for their slot under the per-host and per-AOR REGISTER caps (`sip.pacing`,
  `runner.pace`; not a configuration change's first try); outcomes tell it of outages.
* Time comes from the injected `clock` (monotonic seconds); tests drive `handle_timer(now)`
  by hand with `auto_timer=False`. Nothing here raises on bad network input.

A line's own state is in `runner.py`; the heap of deadlines and the grid are in `alarm.py`.
"""

from __future__ import annotations

import asyncio
import logging
import random as random_module
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from trunkline.engine.alarm import Alarm
from trunkline.engine.farewells import Farewells
from trunkline.engine.resolver import ResolutionError, Target
from trunkline.engine.runner import (
    FAREWELL_TIMEOUT,
    CloudLine,
    LineRunner,
    Resolver,
    Transport,
    new_registration,
    pace,
)
from trunkline.engine.transport import Channel, SipTransportError, StreamConnection
from trunkline.sip.errors import SipError, SipParseError
from trunkline.sip.lifecycle import LineLifecycle, LineState
from trunkline.sip.message import Response
from trunkline.sip.pacing import RegisterPacer
from trunkline.sip.policy import UNRESOLVABLE, Outcome
from trunkline.sip.registration import (
    Registered,
    Registration,
    RegistrationFailed,
    RegistrationOutput,
    Unregistered,
)
from trunkline.sip.transaction import DEFAULT_TIMERS, Timers, Transmit

__all__ = ["Supervisor"]

log = logging.getLogger("trunkline.engine")

TIMER_GRID = 1.0
FIRE_BATCH = 128
FAILOVER_CODES = frozenset({408, 503})


class Supervisor(Farewells):
    """Keeps every cloud line registered."""

    def __init__(
        self,
        transport: Transport,
        resolver: Resolver,
        *,
        on_status: Callable[[LineRunner], None],
        clock: Callable[[], float],
        timers: Timers = DEFAULT_TIMERS,
        random: Callable[[], float] = random_module.random,
        expires: int = 3600,
        user_agent: str | None = None,
        auto_timer: bool = True,
        timer_grid: float = TIMER_GRID,
        gate: Callable[[], bool] = lambda: True,
        pacer: RegisterPacer | None = None,
    ) -> None:
        self._gate = gate
        self.pacer = pacer or RegisterPacer(random=random)
        self.transport = transport
        self.resolver = resolver
        self._on_status = on_status
        self._clock = clock
        self.timers = timers
        self._random = random
        self.expires = expires
        self.user_agent = user_agent
        self._auto_timer = auto_timer
        self.runners: dict[tuple[int, int], LineRunner] = {}
        self._by_call_id: dict[str, LineRunner] = {}
        # The wake-up is looked up on each call (a test may wrap `_on_alarm`).
        self._alarm: Alarm[LineRunner] = Alarm(
            lambda: self._on_alarm(), clock, grid=timer_grid, auto=auto_timer
        )
        self._transacting: set[LineRunner] = set()
        self._tick: asyncio.TimerHandle | None = None
        self._tick_interval = timers.t1 / 5
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.stats: Counter[str] = Counter()

    # -- lines coming and going -----------------------------------------------------------

    def _registration(
        self, line: CloudLine, previous: Registration | None
    ) -> tuple[Registration, bool]:
        return new_registration(
            line, previous, timers=self.timers, expires=self.expires, user_agent=self.user_agent
        )

    def add(self, line: CloudLine, *, spread: bool = True) -> LineRunner:
        """Start keeping `line` registered (first attempt after the start-up spread)."""
        existing = self.runners.get(line.key)
        if existing is not None:
            self.update(line)
            return existing
        registration, valid = self._registration(line, None)
        lifecycle = LineLifecycle(self._random)
        lifecycle.status = line.status
        runner = LineRunner(line, registration, lifecycle)
        runner.valid = valid
        runner.clearing = line.clear_first
        self.runners[line.key] = runner
        self._by_call_id[registration.call_id] = runner
        lifecycle.start(self._clock(), spread=spread)
        self._schedule(runner)
        return runner

    def update(self, line: CloudLine, *, force: bool = False) -> bool:
        """The row changed; True when the registration configuration did (or `force`)."""
        runner = self.runners.get(line.key)
        if runner is None:
            self.add(line, spread=False)
            return True
        if line.fingerprint == runner.line.fingerprint and not force:
            runner.line = line
            return False
        now = self._clock()
        self._farewell(runner, now)
        runner.generation += 1
        registration, runner.valid = self._registration(line, runner.registration)
        runner.registration = registration
        self._by_call_id[registration.call_id] = runner
        runner.line = line
        runner.channel = None
        runner.targets = []
        runner.paced_at = now  # a changed configuration is tried at once, past the caps
        runner.lifecycle.config_changed(now)
        self._after(runner)
        self._schedule(runner)
        return True

    def remove(self, key: tuple[int, int]) -> None:
        """The line is gone: say goodbye to its binding and forget it."""
        runner = self.runners.pop(key, None)
        if runner is None:
            return
        now = self._clock()
        self._farewell(runner, now)
        runner.generation += 1
        runner.removed = True
        runner.lifecycle.stop()
        self._schedule(runner)
        if not runner.farewells:
            self._by_call_id.pop(runner.registration.call_id, None)

    def refresh(self, key: tuple[int, int]) -> bool:
        """Make the line's next attempt (or refresh) due now; False when one is in flight."""
        runner = self.runners.get(key)
        if runner is None or runner.lifecycle.in_flight:
            return False
        runner.lifecycle.next_at = self._clock()
        self._schedule(runner)
        return True

    # -- network input --------------------------------------------------------------------

    def on_response(self, response: Response) -> None:
        """A response arrived on any client socket."""
        try:
            runner = self._by_call_id.get(response.call_id)
        except SipParseError:
            return
        if runner is None:
            return
        now = self._clock()
        self.stats["responses"] += 1
        if runner.farewells:
            for farewell in list(runner.farewells):
                outputs = farewell.registration.receive(response, now)
                self._process_farewell(runner, farewell, outputs)
        if not runner.removed:
            if runner.registration.busy:
                runner.received(response, now)
            self._process(runner, runner.registration.receive(response, now), now)
        self._schedule(runner)

    def on_connection_closed(self, connection: StreamConnection, reason: str) -> None:
        """A TCP/TLS connection closed: fail what ran on it, re-register what it carried."""
        now = self._clock()
        for runner in list(self.runners.values()):
            channel = runner.channel
            if channel is None or channel.connection is not connection:
                continue
            runner.channel = None
            if runner.registration.busy:
                self._process(runner, runner.registration.handle_transport_error(reason), now)
            elif runner.lifecycle.transport_dropped():
                self.stats["dropped"] += 1
                self._begin(runner, now)
            self._schedule(runner)
        for runner in list(self._by_call_id.values()):
            for farewell in list(runner.farewells):
                if farewell.channel.connection is connection:
                    farewell.registration.cancel()
                    runner.farewells.remove(farewell)
            self._retire(runner)

    # -- attempts -------------------------------------------------------------------------

    def _begin(self, runner: LineRunner, now: float) -> None:
        """The lifecycle started an attempt: find where to send it."""
        self.stats["attempts"] += 1
        runner.begin_attempt()
        if not runner.valid:
            self._finish(runner, now, *UNRESOLVABLE, Outcome.TEMPORARY)
            return
        channel = runner.channel
        refreshing = runner.lifecycle.state is LineState.REFRESHING
        if refreshing and channel is not None and channel.usable:
            self._send(runner, channel, now)
            return
        runner.channel = None
        server = runner.line.outbound_proxy or runner.line.server
        targets = self.resolver.cached(server)
        if targets is not None:
            self._try_targets(runner, targets, 0, now)
        else:
            self._spawn(self._resolve_then_try(runner, runner.generation, server))

    async def _resolve_then_try(self, runner: LineRunner, generation: int, server: str) -> None:
        try:
            targets = await self.resolver.resolve(server)
        except ResolutionError as exc:
            log.info("line %s: %s", runner.key, exc)
            targets = []
        if generation != runner.generation or runner.removed:
            return
        now = self._clock()
        if not targets:
            self._finish(runner, now, *UNRESOLVABLE, Outcome.TEMPORARY)
        else:
            self._try_targets(runner, targets, 0, now)
        self._schedule(runner)

    def _try_targets(
        self, runner: LineRunner, targets: list[Target], index: int, now: float
    ) -> None:
        runner.targets, runner.target_index = targets, index
        channel = self.transport.channel_now(targets[index])
        if channel is not None:
            self._send(runner, channel, now)
        else:
            self._spawn(self._connect_then_send(runner, runner.generation, targets[index]))

    async def _connect_then_send(self, runner: LineRunner, generation: int, target: Target) -> None:
        try:
            channel: Channel | None = await self.transport.channel(target)
            reason = ""
        except SipTransportError as exc:
            channel, reason = None, str(exc)
        if generation != runner.generation or runner.removed:
            return
        now = self._clock()
        if channel is not None:
            self._send(runner, channel, now)
        else:
            self._failed(runner, RegistrationFailed(503, reason, Outcome.TEMPORARY), now)
        self._schedule(runner)

    def _send(self, runner: LineRunner, channel: Channel, now: float) -> None:
        if not self._gate():
            self.stats["gated"] += 1
            return
        runner.channel = channel
        if runner.clearing:
            self.stats["clears"] += 1
            self._process(runner, runner.registration.clear(channel.flow, now), now)
            return
        self.stats["registers"] += 1
        self._process(runner, runner.registration.register(channel.flow, now), now)

    def _process(
        self,
        runner: LineRunner,
        outputs: list[RegistrationOutput],
        now: float,
        *,
        resent: bool = False,
    ) -> None:
        for output in outputs:
            if isinstance(output, Transmit):
                self.stats["sent"] += 1
                assert runner.channel is not None
                runner.channel.send(output.data)
                runner.sent(output.data, now, resent=resent)
            elif isinstance(output, Registered):
                self.stats["registered"] += 1
                self.pacer.succeeded(runner.destination, now)
                runner.lifecycle.attempt_finished(
                    now, output.status_code, output.reason, Outcome.SUCCESS, granted=output.granted
                )
                self._after(runner)
            elif isinstance(output, Unregistered):  # the wildcard of a line taken over
                runner.clearing = False
                assert runner.channel is not None
                self._send(runner, runner.channel, now)
            elif runner.clearing and output.status_code not in FAILOVER_CODES and runner.channel:
                runner.clearing = False  # the registrar will not clear: just register
                self._send(runner, runner.channel, now)
            else:
                self._failed(runner, output, now)

    def _failed(self, runner: LineRunner, failure: RegistrationFailed, now: float) -> None:
        next_index = runner.target_index + 1
        if failure.status_code in FAILOVER_CODES and next_index < len(runner.targets):
            self.stats["failover"] += 1
            runner.registration.cancel()
            self._try_targets(runner, runner.targets, next_index, now)
            return
        runner.channel = None
        self._finish(
            runner, now, failure.status_code, failure.reason, failure.outcome, failure.retry_after
        )

    def _finish(
        self,
        runner: LineRunner,
        now: float,
        code: int,
        reason: str,
        outcome: Outcome,
        retry_after: int | None = None,
    ) -> None:
        self.stats["failed"] += 1
        if outcome is Outcome.TEMPORARY:
            self.pacer.failed(runner.destination)
        runner.registration.cancel()
        runner.lifecycle.attempt_finished(now, code, reason, outcome, retry_after=retry_after)
        self._after(runner)

    def _after(self, runner: LineRunner) -> None:
        status = runner.lifecycle.status
        if status != runner.reported:
            runner.previous, runner.reported = runner.reported, status
            if not runner.removed:
                self._on_status(runner)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("engine task failed", exc_info=task.exception())

    # -- timers ---------------------------------------------------------------------------

    def _schedule(self, runner: LineRunner) -> None:
        if runner.registration.busy and runner not in self._transacting:
            self._transacting.add(runner)
            if self._auto_timer and self._tick is None:
                loop = asyncio.get_running_loop()
                self._tick = loop.call_later(self._tick_interval, self._on_tick)
        deadline = runner.deadline(stopping=self.stopping)
        if deadline is None or deadline == runner.scheduled:
            runner.scheduled = deadline
            return
        self._alarm.schedule(runner, deadline)

    def _on_alarm(self) -> None:
        self._alarm.woke()  # lines rescheduled while firing arm nothing: rearm() below
        try:
            self._fire_due(self._clock(), FIRE_BATCH)
        except Exception:
            log.exception("engine timer failed")
        self._alarm.rearm()

    def _on_tick(self) -> None:
        self._tick = None
        try:
            self._run_transactions(self._clock())
        except Exception:
            log.exception("engine transaction timer failed")
        if self._transacting:
            loop = asyncio.get_running_loop()
            self._tick = loop.call_later(self._tick_interval, self._on_tick)

    def _run_transactions(self, now: float) -> None:
        """Fire Timers E and F of every line with a request in flight."""
        for runner in list(self._transacting):
            timer = runner.registration.get_timer()
            if timer is not None and timer <= now and not runner.removed:
                self._process(runner, runner.registration.handle_timer(now), now, resent=True)
                self._schedule(runner)
            if not runner.registration.busy or runner.removed:
                self._transacting.discard(runner)

    def get_timer(self) -> float | None:
        """The next deadline of any kind (tests drive the clock with it)."""
        timers = [self._alarm.deadlines.next()]
        timers.extend(r.registration.get_timer() for r in self._transacting)
        return min((t for t in timers if t is not None), default=None)

    def handle_timer(self, now: float) -> None:
        """Fire every deadline due at `now`."""
        self._run_transactions(now)
        self._fire_due(now, None)

    def _fire_due(self, now: float, limit: int | None) -> None:
        """Fire the lifecycle deadlines due at `now` (at most `limit` lines; the rest stay due).
        A deadline still past after firing waits for the next pass."""
        for runner in self._alarm.deadlines.pop_due(now, limit):
            try:
                self._fire(runner, now)
            except SipError:
                log.exception("line %s: protocol state error", runner.key)
            self._schedule(runner)

    def _fire(self, runner: LineRunner, now: float) -> None:
        for farewell in list(runner.farewells):
            if now >= farewell.deadline:
                farewell.registration.cancel()
                runner.farewells.remove(farewell)
            else:
                outputs = farewell.registration.handle_timer(now)
                self._process_farewell(runner, farewell, outputs)
        self._retire(runner)
        if runner.removed or self.stopping or pace(runner, self.pacer, now):
            return
        if runner.lifecycle.handle_timer(now):
            self._begin(runner, now)
        self._after(runner)

    # -- shutdown -------------------------------------------------------------------------

    def busy(self) -> bool:
        """True while any transaction, lookup, connection or farewell is in flight."""
        return bool(self._tasks) or any(
            r.registration.busy or r.farewells for r in self._by_call_id.values()
        )

    async def stop(self, timeout: float = FAREWELL_TIMEOUT) -> None:
        """Start nothing new; let in-flight work finish or time out within `timeout`."""
        self.stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.busy() and loop.time() < deadline:
            await asyncio.sleep(0.02)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # let them close their sockets
        for runner in list(self._by_call_id.values()):
            runner.registration.cancel()
            runner.lifecycle.in_flight = False
        self._alarm.cancel()
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        self._transacting.clear()
