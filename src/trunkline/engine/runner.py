"""One cloud line inside the supervisor: the row's view, its protocol state, its farewells.

Rules:

* A :class:`CloudLine` is what the engine needs of a cloud line row; its ``fingerprint``
  (SERVER, LOGIN, PASSWORD, AUTH_USER, OUTBOUND_PROXY) decides whether a changed row
  needs a new registration.
* A :class:`LineRunner` holds the sans-IO ``Registration`` (one Call-ID and From tag for
  the life of the line in this process), the ``LineLifecycle``, the channel the binding
  was granted on, the targets of the attempt in flight, and the farewells
  (``Expires: 0``) still running for bindings the line no longer wants.
* A line's registration is built from its row (:func:`new_registration`); a row whose
  SERVER cannot even be parsed gets a placeholder that is never sent, and the line shows
  502 "Unable to resolve hostname" at each attempt.
* Before an attempt starts it takes a slot from the REGISTER pacer (`pace`, `sip.pacing`):
  when the slot is later, the lifecycle's timer moves to it and the attempt starts then
  (an expiry of a refreshing binding is not an attempt and is never held back).
* A runner's next deadline is its lifecycle timer or a farewell's (its deadline, or its
  transaction timer); a stopping supervisor waits only for farewells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from trunkline.domain.lines import RegistrationState, SipLine
from trunkline.engine.resolver import Target
from trunkline.engine.transport import Channel
from trunkline.metrics import families
from trunkline.sip.errors import SipParseError
from trunkline.sip.lifecycle import LineLifecycle, LineResult, LineState, LineStatus
from trunkline.sip.message import Response
from trunkline.sip.pacing import RegisterPacer
from trunkline.sip.registration import LineConfig, Registration
from trunkline.sip.transaction import Timers

__all__ = [
    "FAREWELL_TIMEOUT",
    "READ",
    "SHOWN",
    "CloudLine",
    "Farewell",
    "Hop",
    "LineRunner",
    "Resolver",
    "Transport",
    "cloud_line",
    "new_registration",
]

FAREWELL_TIMEOUT = 5.0
PACE_SLACK = 0.001  # a slot this close is now (deadlines fire on a grid anyway)
TRANSCRIPT_LIMIT = 16  # messages of one attempt kept for the line's history
WAITING = LineStatus(LineResult.WAIT, None, None, None)


@dataclass(frozen=True)
class CloudLine:
    """What the engine needs of a cloud line row."""

    portal_id: int
    config_id: int
    reg_id: int
    server: str
    login: str
    password: str
    auth_user: str = ""
    outbound_proxy: str = ""
    status: LineStatus = WAITING
    marker: float | None = None  # registration_updated_at as read
    clear_first: bool = False  # taken over from another node: `Contact: *` before registering

    @property
    def key(self) -> tuple[int, int]:
        return (self.portal_id, self.config_id)

    @property
    def fingerprint(self) -> tuple[str, ...]:
        return (self.server, self.login, self.password, self.auth_user, self.outbound_proxy)


# The one mapping between what the SIP core shows and what the REST side stores and reads.
SHOWN: dict[LineResult, RegistrationState] = {
    LineResult.WAIT: RegistrationState.WAIT,
    LineResult.IN_PROGRESS: RegistrationState.IN_PROGRESS,
    LineResult.SUCCESS: RegistrationState.SUCCESS,
    LineResult.ERROR: RegistrationState.ERROR,
}
READ: dict[RegistrationState, LineResult] = {state: result for result, state in SHOWN.items()}


def cloud_line(line: SipLine) -> CloudLine:
    """The engine's view of a cloud line row."""
    status = LineStatus(
        READ[line.registration_result or RegistrationState.WAIT],
        line.registration_status_code,
        line.registration_error_message,
        None,
    )
    return CloudLine(
        portal_id=line.portal_id,
        config_id=line.config_id,
        reg_id=line.reg_id,
        server=line.server or "",
        login=line.login or "",
        password=line.password or "",
        auth_user=line.auth_user or "",
        outbound_proxy=line.outbound_proxy or "",
        status=status,
        marker=line.registration_updated_at,
    )


class Transport(Protocol):
    def channel_now(self, target: Target) -> Channel | None: ...

    async def channel(self, target: Target) -> Channel: ...


class Resolver(Protocol):
    def cached(self, server: str) -> list[Target] | None: ...

    async def resolve(self, server: str) -> list[Target]: ...


@dataclass
class Farewell:
    """A best-effort `Expires: 0` for a binding the line no longer wants."""

    registration: Registration
    channel: Channel
    deadline: float


@dataclass(frozen=True, slots=True)
class Hop:
    """One message of an attempt, as it went over the wire (for the line's history)."""

    at: float  # the supervisor's clock (monotonic)
    outgoing: bool
    message: bytes | Response  # what was sent, or the response as parsed
    transport: str
    local: tuple[str, int]
    remote: tuple[str, int]


class LineRunner:
    """One cloud line inside the supervisor."""

    def __init__(self, line: CloudLine, registration: Registration, lifecycle: LineLifecycle):
        self.line = line
        self.registration = registration
        self.lifecycle = lifecycle
        self.valid = True
        self.channel: Channel | None = None
        self.targets: list[Target] = []
        self.target_index = 0
        self.generation = 0
        self.farewells: list[Farewell] = []
        self.reported: LineStatus = lifecycle.status
        self.scheduled: float | None = None
        self.removed = False
        self.clearing = False  # `Contact: *` still to send before the first REGISTER
        self.paced_at: float | None = None  # the slot the pacer gave the next attempt
        self.transcript: list[Hop] = []  # the messages of the current attempt
        self.sent_at: float | None = None  # when the request in flight was first sent
        self.previous: LineStatus = lifecycle.status  # what the line showed before `reported`

    def begin_attempt(self) -> None:
        self.transcript = []
        self.sent_at = None

    def sent(self, data: bytes, now: float, *, resent: bool) -> None:
        """A request (or its retransmission) left on the line's channel."""
        if not resent:
            self.sent_at = now
        self._hop(now, True, data)

    def received(self, response: Response, now: float) -> None:
        """A response to the line's REGISTER: counted, timed, kept for the history."""
        code = response.status_code
        families.register_responses.labels(str(code)).inc()
        if code >= 200 and self.sent_at is not None:
            families.register_round_trip.observe(now - self.sent_at)
            self.sent_at = None
        self._hop(now, False, response)

    def _hop(self, now: float, outgoing: bool, message: bytes | Response) -> None:
        channel = self.channel
        if channel is None or len(self.transcript) >= TRANSCRIPT_LIMIT:
            return
        flow, target = channel.flow, channel.target
        local, remote = (flow.local_host, flow.local_port), (target.address, target.port)
        self.transcript.append(Hop(now, outgoing, message, flow.transport, local, remote))

    @property
    def key(self) -> tuple[int, int]:
        return self.line.key

    @property
    def destination(self) -> str:
        """The provider host the pacer counts this line's REGISTERs against."""
        return (self.line.outbound_proxy or self.line.server).lower()

    @property
    def status(self) -> LineStatus:
        return self.lifecycle.status

    def deadline(self, *, stopping: bool = False) -> float | None:
        """The next lifecycle or farewell deadline (transaction timers go by the tick)."""
        if not self.farewells:
            return None if stopping else self.lifecycle.get_timer()
        deadlines = [] if stopping else [self.lifecycle.get_timer()]
        deadlines.extend(f.deadline for f in self.farewells)
        deadlines.extend(f.registration.get_timer() for f in self.farewells)
        return min((d for d in deadlines if d is not None), default=None)


def new_registration(
    line: CloudLine,
    previous: Registration | None,
    *,
    timers: Timers,
    expires: int,
    user_agent: str | None,
) -> tuple[Registration, bool]:
    """The line's Registration (keeping the previous one's Call-ID, From tag and a CSeq past
    its own), and whether its configuration is valid."""
    kwargs: dict[str, Any] = {"timers": timers}
    if previous is not None:
        kwargs.update(call_id=previous.call_id, from_tag=previous.from_tag, cseq=previous.cseq + 10)
    try:
        config = LineConfig(
            domain=line.server,
            login=line.login,
            password=line.password,
            auth_user=line.auth_user,
            contact_user=f"tl{line.portal_id}-{line.reg_id or line.config_id}",
            expires=expires,
            outbound_proxy=line.outbound_proxy or None,
            user_agent=user_agent,
        )
        return Registration(config, **kwargs), True
    except SipParseError:
        placeholder = LineConfig(domain="invalid", login=line.login or "invalid", password="")
        return Registration(placeholder, **kwargs), False


def pace(runner: LineRunner, pacer: RegisterPacer, now: float) -> bool:
    """True when the attempt due now must wait for its pacer slot (the timer moved there)."""
    lifecycle = runner.lifecycle
    timer = lifecycle.get_timer()
    if timer is None or now < timer:
        return False
    expiring = lifecycle.state is LineState.REFRESHING and lifecycle.expires_at is not None
    if expiring and now >= lifecycle.expires_at:  # type: ignore[operator]
        return False
    if runner.paced_at is not None and now >= runner.paced_at:
        runner.paced_at = None  # this is the slot it waited for
        return False
    cost = (1 if runner.registration.preemptive else 2) + (1 if runner.clearing else 0)
    slot = pacer.reserve(runner.destination, runner.registration.aor, now, cost)
    if slot - now < PACE_SLACK:
        return False
    runner.paced_at = lifecycle.next_at = slot
    return True
