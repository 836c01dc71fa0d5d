"""The call simulator: calls on the portal's built-in lines whose lives are scripted, and
the built-in calls of ``voximplant.callback.start`` and ``voximplant.infocall.*``.

Rules (``docs/builtin-telephony.md``):

* Every call goes through :class:`CallService`: registering it raises
  ``ONVOXIMPLANTCALLINIT``, its answer ``ONVOXIMPLANTCALLSTART``, its end
  ``ONVOXIMPLANTCALLEND`` and writes the statistics row, each in the transaction of its
  change. A simulated call is on a SIP line: ``ACCOUNT_SEARCH_ID`` and ``PORTAL_NUMBER`` are
  the line's key (``reg<REG_ID>``, ``sip<CONFIG_ID>``).
* A call's later steps (answered after N s, ended after N + M s, or ended as missed after
  ringing) are kept in a queue ordered by their time on the application clock. A step is
  due when the clock reaches it: a background task runs due steps as real time passes,
  and wakes at once when the clock is moved; :meth:`CallSimulator.advance` moves the clock
  step by step, so each step runs at its own moment and a 10-minute call takes no wall time.
* Steps live in the memory of the worker that started the call: a restart forgets them
  (the live call stays registered, as an unfinished call would).
* Built-in calls take the portal's next queued outcome (:meth:`script_next`, the operator's
  ``POST /operator/calls/outcomes``), else the settings' default: answered after
  ``call_answer_after`` s, lasting ``call_duration`` s.
* Simulated CALL_IDs have the shape of the call events page's example: 16 upper-case hex
  digits, the Unix time and 7 digits (``5E316880469A6376.1773306964.8740011``); built-in
  calls ``callback.<32 hex>.<unix>`` and ``infocall.<32 hex>.<unix>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from trunkline.domain.calls import CallEnd, CallOrigin, CallType, LineKind, NewCall, to_cost
from trunkline.domain.clock import Clock
from trunkline.domain.portals import Portal, User
from trunkline.domain.telephony import (
    FAILED_REASONS,
    LINK_BASE_NUMBER,
    CallScript,
    dialable,
)
from trunkline.errors import CallStartError
from trunkline.services.calls import CallService
from trunkline.services.telephony import TelephonyService
from trunkline.services.waits import woken
from trunkline.settings import Settings
from trunkline.storage.accounts import AccountRepository

log = logging.getLogger("trunkline.simulator")

MAX_PENDING = 100_000  # steps kept at once; more calls are refused


class SimulatorError(ValueError):
    """A call the operator asked for cannot be made (no such line, user or number)."""


_SCRIPT_KEYS = {
    "answer_after",
    "duration",
    "status_code",
    "failed_reason",
    "cost",
    "cost_currency",
    "ring",
}


def _seconds(data: dict[str, Any], name: str, default: float | None) -> float | None:
    value = data.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise SimulatorError(f"{name} must be a number of seconds")
    if not 0 <= value <= 7 * 86400:
        raise SimulatorError(f"{name} must be between 0 and 604800 seconds")
    return float(value)


def parse_script(data: dict[str, Any], default: CallScript) -> CallScript:
    """A call's script from the operator's JSON (or the CLI's flags); missing keys keep
    ``default``'s. ``answer_after`` null: nobody answers."""
    unknown = sorted(set(data) - _SCRIPT_KEYS)
    if unknown:
        raise SimulatorError(f"unknown field {unknown[0]!r}")
    answer = (
        _seconds(data, "answer_after", default.answer_after)
        if "answer_after" in data
        else (default.answer_after)
    )
    duration = _seconds(data, "duration", default.duration)
    ring = _seconds(data, "ring", default.ring)
    texts = {}
    for name in ("status_code", "failed_reason", "cost_currency"):
        value = data.get(name, getattr(default, name))
        if not isinstance(value, str) or len(value) > 255:
            raise SimulatorError(f"{name} must be a string of at most 255 characters")
        texts[name] = value
    cost = data.get("cost", default.cost)
    if isinstance(cost, bool) or not isinstance(cost, int | float | str):
        raise SimulatorError("cost must be a number")
    if texts["status_code"] and texts["status_code"] not in FAILED_REASONS:
        raise SimulatorError(f"status_code must be one of {', '.join(FAILED_REASONS)}")
    return CallScript(
        answer_after=answer,
        duration=int(duration or 0),
        status_code=texts["status_code"],
        failed_reason=texts["failed_reason"],
        cost=str(cost),
        cost_currency=texts["cost_currency"],
        ring=ring if ring is not None else default.ring,
    )


@dataclass(order=True)
class _Step:
    due: float
    seq: int
    call_id: str = field(compare=False)
    what: str = field(compare=False)  # "answer" or "end"
    action: Callable[[], Awaitable[None]] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Started:
    """A call the simulator made: its CALL_ID, when it started and its script."""

    call_id: str
    portal: Portal
    started_at: float
    script: CallScript

    def to_json(self) -> dict[str, Any]:
        script = self.script
        return {
            "call_id": self.call_id,
            "portal": self.portal.domain,
            "started_at": self.started_at,
            "answer_at": None
            if script.answer_after is None
            else self.started_at + script.answer_after,
            "end_at": self.started_at + script.ends_after,
        }


class CallSimulator:
    def __init__(
        self,
        calls: CallService,
        telephony: TelephonyService,
        accounts: AccountRepository,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.calls = calls
        self.telephony = telephony
        self.accounts = accounts
        self.settings = settings
        self.clock = clock
        self._queue: list[_Step] = []
        self._seq = itertools.count()
        self._outcomes: dict[int, list[CallScript]] = {}
        self._lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        clock.on_change(self._clock_moved)

    # -- the queue of steps --------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _clock_moved(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            delay = None
            if self._queue:
                delay = min(1.0, max(0.0, self._queue[0].due - self.clock.now()))
            await woken(self._wake, delay)
            self._wake.clear()
            await self.run_due()

    def _schedule(self, due: float, call_id: str, what: str, action: Any) -> None:
        heapq.heappush(self._queue, _Step(due, next(self._seq), call_id, what, action))
        if self._wake is not None:
            self._clock_moved()

    async def run_due(self) -> int:
        """Run every step whose time has come, in order; how many ran."""
        async with self._lock:
            return await self._run_due()

    async def _run_due(self) -> int:
        ran = 0
        while self._queue and self._queue[0].due <= self.clock.now():
            step = heapq.heappop(self._queue)
            ran += 1
            try:
                await step.action()
            except Exception:
                log.exception("simulated call %s: the %s step failed", step.call_id, step.what)
        return ran

    async def advance(self, seconds: float) -> int:
        """Move the application clock by ``seconds``, stopping at each due step to run it
        at its own moment; how many steps ran. The steps lock is held throughout, so the
        background loop, woken by each move of the clock, runs none of them itself."""
        async with self._lock:
            target = self.clock.now() + max(0.0, seconds)
            ran = await self._run_due()
            while self._queue and self._queue[0].due <= target:
                ahead = self._queue[0].due - self.clock.now()
                if ahead > 0:
                    self.clock.advance(ahead)
                ran += await self._run_due()
            rest = target - self.clock.now()
            if rest > 0:
                self.clock.advance(rest)
            return ran + await self._run_due()

    def pending(self) -> list[dict[str, Any]]:
        """The steps waiting, soonest first."""
        return [{"call_id": s.call_id, "step": s.what, "due": s.due} for s in sorted(self._queue)]

    # -- outcomes of built-in calls --------------------------------------------------------

    def script_next(self, portal: Portal, script: CallScript) -> int:
        """Queue the outcome of the portal's next built-in call; how many are queued."""
        queued = self._outcomes.setdefault(portal.id, [])
        queued.append(script)
        return len(queued)

    def default_script(self) -> CallScript:
        after = self.settings.call_answer_after
        return CallScript(
            answer_after=None if after < 0 else float(after), duration=self.settings.call_duration
        )

    def _next_script(self, portal: Portal) -> CallScript:
        queued = self._outcomes.get(portal.id)
        return queued.pop(0) if queued else self.default_script()

    # -- calls ------------------------------------------------------------------------------

    def _simulated_call_id(self, portal: Portal) -> str:
        ids = self.calls.ids
        head = ids.token_hex(8, portal.domain).upper()
        tail = int(ids.token_hex(4, portal.domain), 16) % 10_000_000
        return f"{head}.{int(self.clock.now())}.{tail:07d}"

    async def user(self, portal: Portal, user_id: int) -> User | None:
        if not 0 < user_id < 2**31:
            return None
        return await self.accounts.get_user(portal.id, user_id)

    async def simulate(
        self,
        portal: Portal,
        *,
        line: str,
        user_id: int,
        number: str,
        incoming: bool,
        script: CallScript,
    ) -> Started:
        """An incoming call on ``line`` to ``user_id`` from ``number``, or an outgoing call
        from the user to the number, living as ``script`` says."""
        lines = await self.telephony.lines(portal)
        if line.isdigit() and len(line) < 12:  # a CONFIG_ID
            keys = await self.telephony.keys_by_config(portal, int(line))
            line = keys[0] if keys else line
        if line not in lines:
            raise SimulatorError(f"portal {portal.domain} has no line {line}")
        user = await self.user(portal, user_id)
        if user is None:
            raise SimulatorError(f"portal {portal.domain} has no user {user_id}")
        cleaned = dialable(number)
        if cleaned is None:
            raise SimulatorError(f"{number!r} is not a phone number (5 to 20 digits)")
        kind = CallType.INCOMING if incoming else CallType.OUTGOING
        call_id = self._simulated_call_id(portal)
        return await self._place(
            portal, user, call_id, kind, CallOrigin.SIMULATED, line, cleaned, script
        )

    async def _place(
        self,
        portal: Portal,
        user: User,
        call_id: str,
        kind: CallType,
        origin: CallOrigin,
        line: str,
        number: str,
        script: CallScript,
    ) -> Started:
        if len(self._queue) >= MAX_PENDING:
            raise SimulatorError("too many simulated calls in progress")
        now = self.clock.now()
        new = NewCall(
            call_id=call_id,
            call_type=kind,
            origin=origin,
            line_kind=LineKind.SIP,
            portal_number=line,
            user_id=user.user_id,
            phone_number=number,
            started_at=now,
        )
        live = await self.calls.register(portal, new, cause_user=user.user_id)
        if live is None:
            raise SimulatorError(f"CALL_ID {call_id} is taken")
        if script.answer_after is not None:

            async def answer() -> None:
                await self.calls.answer(portal, call_id, user.user_id)

            self._schedule(now + script.answer_after, call_id, "answer", answer)

        async def end() -> None:
            await self._end(portal, call_id, user.user_id, script)

        self._schedule(now + script.ends_after, call_id, "end", end)
        return Started(call_id, portal, now, script)

    async def _end(self, portal: Portal, call_id: str, user_id: int, script: CallScript) -> None:
        live = await self.calls.live(portal.id, call_id)
        if live is None:
            return  # ended already (or the portal is gone)
        duration = script.duration if script.answer_after is not None else 0
        end = CallEnd(
            user_id=user_id,
            duration=duration,
            cost=to_cost(script.cost),
            cost_currency=script.cost_currency,
            status_code=script.status_code,
        )
        reason = script.failed_reason or FAILED_REASONS.get(end.code, FAILED_REASONS["OTHER"])
        end = CallEnd(
            user_id=user_id,
            duration=duration,
            cost=end.cost,
            cost_currency=end.cost_currency,
            status_code=end.code,
            failed_reason=reason,
        )
        await self.calls.finish(portal, live, end)

    # -- voximplant.callback.start, voximplant.infocall.* -------------------------------------

    async def check_builtin(
        self, portal: Portal, *, kind: CallType, from_line: str, to_number: str
    ) -> str:
        """A built-in call's line and number checked as the pages list their errors; the
        number cleaned."""
        infocall = kind is CallType.INFOCALL
        if infocall and from_line == LINK_BASE_NUMBER:
            raise CallStartError("Making infocall using LINK_BASE_NUMBER is not allowed")
        if from_line not in await self.telephony.lines(portal):
            text = "Could not find line" if not infocall else "Could not find config for number"
            raise CallStartError(f"{text} {from_line}")
        number = dialable(to_number)
        if number is None:
            raise CallStartError("Phone number is not correct")
        return number

    async def start_builtin(
        self, portal: Portal, user: User, *, kind: CallType, from_line: str, to_number: str
    ) -> str:
        """Check a built-in call, then place it with the portal's next outcome; its CALL_ID."""
        number = await self.check_builtin(
            portal, kind=kind, from_line=from_line, to_number=to_number
        )
        infocall = kind is CallType.INFOCALL
        prefix = "infocall" if infocall else "callback"
        call_id = self.calls.new_call_id(prefix, portal)
        origin = CallOrigin.INFOCALL if infocall else CallOrigin.CALLBACK
        script = self._next_script(portal)
        await self._place(portal, user, call_id, kind, origin, from_line, number, script)
        return call_id
