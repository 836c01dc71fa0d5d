"""The REGISTER client flow for one cloud line (RFC 3261 §10.2, §8.1.1, §22; RFC 3581).

Rules:

* One Call-ID and one From tag for the life of the object (a line's life in the process);
  CSeq + 1 and a new `z9hG4bK` branch on every request, the retry after a challenge included.
* Request-URI `sip:<domain>`; From and To `sip:<login>@<domain host>`; `Max-Forwards: 70`;
  `Route: <sip:<outbound_proxy>;lr>` when a proxy is set; Contact
  `<sip:<contact_user>@<host>:<port>[;transport=tcp|tls]>` and an `Expires` header.
* One attempt = `register()`, `unregister()` or `clear()` until exactly one outcome event:
  `Registered`, `Unregistered` or `RegistrationFailed`. `clear()` sends `Contact: *` with
  `Expires: 0` (RFC 3261 §10.2.2): it removes every binding of the AOR, a previous owner's
  included (a cluster node taking a line over does this before it registers). Inside one
  attempt:
  - 401/407: answer with Authorization / Proxy-Authorization from the strongest answerable
    challenge. If the credentials just rejected were built on a nonce received in this attempt
    (fresh) and the new challenge is not `stale=true`, the password is wrong: AUTH failure.
    A challenge to credentials built on a remembered nonce (preemptive), and any
    `stale=true` challenge, is answered again. At most 3 challenge rounds per attempt. A
    challenge we cannot answer (unknown algorithm, qop without `auth`) is an AUTH failure.
  - 423: retry once with `Expires` = Min-Expires, keeping the credentials (preemptively, nc + 1).
    No usable Min-Expires (absent, not above what we asked) or a second 423 fails PERMANENT.
    The raised Expires is kept for later refreshes.
  - 2xx after REGISTER: granted = the `expires` of the Contact matching ours, else the
    `Expires` header, else what we asked; the first positive one wins.
  - 2xx with a top Via `received`/`rport` different from our Contact host/port (NAT): learn the
    public address and send one more REGISTER in the same attempt, with the new Contact and the
    old one at `expires=0`. Only once per attempt; off with `rewrite_contact=False`.
  - Any other final response fails with the class from `policy.classify`; Retry-After is read.
  - Timer F: `RegistrationFailed(408, "Request Timeout")`; a transport error: 503 + its text.
* Challenges are remembered across attempts, so refreshes authenticate preemptively with the
  last nonce and nc + 1; a stale nonce only costs one `stale=true` round.
* Nothing here does I/O or reads a clock: `now` is passed in, `Transmit` carries the bytes.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from trunkline.sip.digest import Challenge, DigestClient, choose_challenge, parse_challenges
from trunkline.sip.errors import SipParseError, SipStateError, UnsupportedChallengeError
from trunkline.sip.headers import parse_delta_seconds, parse_host_port, uri_matches
from trunkline.sip.message import Headers, Response
from trunkline.sip.policy import REQUEST_TIMEOUT, Outcome, classify, trim_reason
from trunkline.sip.transaction import (
    DEFAULT_TIMERS,
    MAGIC_COOKIE,
    ClientTransaction,
    ResponseReceived,
    Timers,
    TransactionTimedOut,
    Transmit,
)

__all__ = [
    "Flow",
    "LineConfig",
    "Registered",
    "Registration",
    "RegistrationFailed",
    "RegistrationOutput",
    "Unregistered",
]

MAX_CHALLENGE_ROUNDS = 3
_AUTH_HEADERS = {
    401: ("WWW-Authenticate", "Authorization"),
    407: ("Proxy-Authenticate", "Proxy-Authorization"),
}


@dataclass(frozen=True)
class LineConfig:
    """What a cloud line registers with (from SERVER, LOGIN, PASSWORD, AUTH_USER, ...)."""

    domain: str
    login: str
    password: str
    auth_user: str = ""
    contact_user: str = "trunkline"
    expires: int = 3600
    outbound_proxy: str | None = None
    user_agent: str | None = None
    rewrite_contact: bool = True


@dataclass(frozen=True)
class Flow:
    """Where one attempt's requests leave from: transport and local address."""

    transport: str
    local_host: str
    local_port: int

    @property
    def reliable(self) -> bool:
        return self.transport.upper() != "UDP"


@dataclass(frozen=True)
class Registered:
    granted: int
    status_code: int
    reason: str
    contact: str


@dataclass(frozen=True)
class Unregistered:
    status_code: int
    reason: str


@dataclass(frozen=True)
class RegistrationFailed:
    status_code: int
    reason: str
    outcome: Outcome
    retry_after: int | None = None


RegistrationOutput = Transmit | Registered | Unregistered | RegistrationFailed


@dataclass
class _Attempt:
    unregister: bool
    flow: Flow
    transaction: ClientTransaction | None = None
    challenge_rounds: int = 0
    fresh: set[str] = field(default_factory=set)
    had_423: bool = False
    rewritten: bool = False
    removed_contact: str | None = None
    wildcard: bool = False


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class Registration:
    """Sans-IO REGISTER client for one line."""

    def __init__(
        self,
        config: LineConfig,
        *,
        timers: Timers = DEFAULT_TIMERS,
        token: Callable[[], str] = lambda: secrets.token_hex(8),
        cnonce_factory: Callable[[], str] | None = None,
        call_id: str | None = None,
        from_tag: str | None = None,
        cseq: int = 0,
    ) -> None:
        self.timers = timers
        self._token = token
        self._cnonce_factory = cnonce_factory or (lambda: secrets.token_hex(16))
        self.call_id = call_id or token()
        self.from_tag = from_tag or token()
        self.cseq = cseq
        self._attempt: _Attempt | None = None
        self._last_flow: Flow | None = None
        self._template_key: tuple[object, ...] | None = None
        self._template = ("", "", "", "")
        self.public_address: tuple[str, int] | None = None
        self.reconfigure(config)

    @property
    def preemptive(self) -> bool:
        """True when the next REGISTER carries credentials from a remembered challenge."""
        return bool(self._challenges)

    @property
    def busy(self) -> bool:
        """True while an attempt is in flight."""
        return self._attempt is not None

    def reconfigure(self, config: LineConfig) -> None:
        """Switch to new settings, keeping Call-ID, From tag and CSeq; forgets auth and NAT.

        Raises `SipParseError` when `config.domain` is not `host[:port]`.
        """
        if self.busy:
            raise SipStateError("cannot reconfigure during an attempt")
        domain_host, _ = parse_host_port(config.domain)
        self.config = config
        self.expires = config.expires
        self.aor = f"sip:{config.login}@{domain_host}"
        self.request_uri = f"sip:{config.domain}"
        self.public_address = None
        self._template_key = None
        self._challenges: dict[str, Challenge] = {}
        self._digest = DigestClient(
            config.auth_user or config.login, config.password, cnonce_factory=self._cnonce_factory
        )

    def contact_uri(self, flow: Flow) -> str:
        host, port = self.public_address or (flow.local_host, flow.local_port)
        transport = "" if not flow.reliable else f";transport={flow.transport.lower()}"
        return f"sip:{self.config.contact_user}@{_bracket(host)}:{port}{transport}"

    def register(self, flow: Flow, now: float) -> list[RegistrationOutput]:
        """Start a REGISTER attempt (first registration or refresh)."""
        return self._start(_Attempt(unregister=False, flow=flow), now)

    def unregister(self, flow: Flow, now: float) -> list[RegistrationOutput]:
        """Start an `Expires: 0` attempt removing our binding."""
        return self._start(_Attempt(unregister=True, flow=flow), now)

    def clear(self, flow: Flow, now: float) -> list[RegistrationOutput]:
        """Start a `Contact: *`, `Expires: 0` attempt removing every binding of the AOR."""
        return self._start(_Attempt(unregister=True, flow=flow, wildcard=True), now)

    def cancel(self) -> None:
        """Abandon the attempt in flight without an outcome (failover, shutdown)."""
        if self._attempt is not None and self._attempt.transaction is not None:
            self._attempt.transaction.abort()
        self._attempt = None

    def handle_transport_error(self, reason: str) -> list[RegistrationOutput]:
        """The transport failed (refused, reset, TLS): the attempt fails with 503."""
        if self._attempt is None:
            return []
        self.cancel()
        return [RegistrationFailed(503, trim_reason(reason), Outcome.TEMPORARY)]

    def get_timer(self) -> float | None:
        if self._attempt is None or self._attempt.transaction is None:
            return None
        return self._attempt.transaction.get_timer()

    def handle_timer(self, now: float) -> list[RegistrationOutput]:
        if self._attempt is None or self._attempt.transaction is None:
            return []
        outputs: list[RegistrationOutput] = []
        for output in self._attempt.transaction.handle_timer(now):
            if isinstance(output, TransactionTimedOut):
                self._attempt = None
                outputs.append(RegistrationFailed(*REQUEST_TIMEOUT, Outcome.TEMPORARY))
            else:
                outputs.append(output)
        return outputs

    def receive(self, response: Response, now: float) -> list[RegistrationOutput]:
        """Feed any response received for this line; foreign and stray ones are ignored."""
        attempt = self._attempt
        if attempt is None or attempt.transaction is None:
            return []
        outputs: list[RegistrationOutput] = []
        for output in attempt.transaction.receive(response, now):
            if isinstance(output, ResponseReceived) and output.response.status_code >= 200:
                outputs.extend(self._final(attempt, output.response, now))
        return outputs

    # -- internals ----------------------------------------------------------------------

    def _start(self, attempt: _Attempt, now: float) -> list[RegistrationOutput]:
        if self.busy:
            raise SipStateError("an attempt is already in flight")
        if attempt.flow != self._last_flow:
            self.public_address = None
            self._last_flow = attempt.flow
        self._attempt = attempt
        return self._send(attempt, now)

    def _send(self, attempt: _Attempt, now: float) -> list[RegistrationOutput]:
        data, branch = self._build(attempt)
        attempt.transaction = ClientTransaction.from_bytes(
            data,
            branch=branch,
            method="REGISTER",
            reliable=attempt.flow.reliable,
            timers=self.timers,
        )
        return [*attempt.transaction.start(now)]

    def _build(self, attempt: _Attempt) -> tuple[bytes, str]:
        """The next REGISTER and its branch: the line's template plus what changes per request."""
        self.cseq += 1
        branch = MAGIC_COOKIE + self._token()
        expires = 0 if attempt.unregister else self.expires
        key = (
            attempt.flow,
            self.public_address,
            attempt.removed_contact,
            expires,
            attempt.wildcard,
        )
        if key != self._template_key:
            self._template = self._make_template(attempt, expires)
            self._template_key = key
        before_branch, before_cseq, before_auth, end = self._template
        auth = "".join(
            f"{name}: {self._digest.authorize(challenge, 'REGISTER', self.request_uri)}\r\n"
            for name, challenge in self._challenges.items()
        )
        text = f"{before_branch}{branch}{before_cseq}{self.cseq}{before_auth}{auth}{end}"
        return text.encode(), branch

    def _make_template(self, attempt: _Attempt, expires: int) -> tuple[str, str, str, str]:
        """The fixed text of this line's REGISTER around branch, CSeq number and credentials.

        Header order: Via, Max-Forwards, Route, From, To, Call-ID, CSeq, Contact, Expires,
        the credentials, User-Agent, Content-Length. Raises `SipParseError` on CR or LF.
        """
        flow, config = attempt.flow, self.config
        via = f"SIP/2.0/{flow.transport.upper()} {_bracket(flow.local_host)}:{flow.local_port}"
        contact = "*" if attempt.wildcard else f"<{self.contact_uri(flow)}>"
        if attempt.removed_contact is not None:
            contact += f", <{attempt.removed_contact}>;expires=0"
        middle = Headers([("Max-Forwards", "70")])
        if config.outbound_proxy:
            middle.add("Route", f"<sip:{config.outbound_proxy};lr>")
        middle.add("From", f"<{self.aor}>;tag={self.from_tag}")
        middle.add("To", f"<{self.aor}>")
        middle.add("Call-ID", self.call_id)
        after = Headers([("Contact", contact), ("Expires", str(expires))])
        end = Headers([("User-Agent", config.user_agent)] if config.user_agent else [])
        end.add("Content-Length", "0")

        def lines(headers: Headers) -> str:
            return "".join(f"{name}: {value}\r\n" for name, value in headers)

        return (
            f"REGISTER {self.request_uri} SIP/2.0\r\nVia: {via};branch=",
            f";rport\r\n{lines(middle)}CSeq: ",
            f" REGISTER\r\n{lines(after)}",
            f"{lines(end)}\r\n",
        )

    def _fail(self, response: Response, outcome: Outcome | None = None) -> RegistrationFailed:
        self._attempt = None
        retry_after: int | None = None
        value = response.headers.get("Retry-After")
        if value is not None:
            try:
                retry_after = parse_delta_seconds(value)
            except SipParseError:
                retry_after = None
        return RegistrationFailed(
            response.status_code,
            trim_reason(response.reason),
            outcome or classify(response.status_code),
            retry_after,
        )

    def _final(self, attempt: _Attempt, response: Response, now: float) -> list[RegistrationOutput]:
        code = response.status_code
        if code in _AUTH_HEADERS:
            return self._challenged(attempt, response, now)
        if code == 423:
            return self._too_brief(attempt, response, now)
        if not 200 <= code < 300:
            return [self._fail(response)]
        attempt.fresh.clear()
        if attempt.unregister:
            self._attempt = None
            return [Unregistered(code, trim_reason(response.reason))]
        if self._learn_public_address(attempt, response):
            return self._send(attempt, now)
        self._attempt = None
        contact = self.contact_uri(attempt.flow)
        return [
            Registered(
                self._granted(response, contact), code, trim_reason(response.reason), contact
            )
        ]

    def _challenged(
        self, attempt: _Attempt, response: Response, now: float
    ) -> list[RegistrationOutput]:
        challenge_header, credentials_header = _AUTH_HEADERS[response.status_code]
        attempt.challenge_rounds += 1
        try:
            challenge = choose_challenge(
                parse_challenges(response.headers.get_all(challenge_header))
            )
        except (SipParseError, UnsupportedChallengeError):
            return [self._fail(response, Outcome.AUTH)]
        wrong_password = credentials_header in attempt.fresh and not challenge.stale
        if wrong_password or attempt.challenge_rounds > MAX_CHALLENGE_ROUNDS:
            self._challenges.pop(credentials_header, None)
            return [self._fail(response, Outcome.AUTH)]
        self._challenges[credentials_header] = challenge
        attempt.fresh.add(credentials_header)
        return self._send(attempt, now)

    def _too_brief(
        self, attempt: _Attempt, response: Response, now: float
    ) -> list[RegistrationOutput]:
        attempt.fresh.clear()
        value = response.headers.get("Min-Expires")
        try:
            minimum = parse_delta_seconds(value) if value is not None else 0
        except SipParseError:
            minimum = 0
        if attempt.had_423 or attempt.unregister or minimum <= self.expires:
            return [self._fail(response, Outcome.PERMANENT)]
        attempt.had_423 = True
        self.expires = minimum
        return self._send(attempt, now)

    def _learn_public_address(self, attempt: _Attempt, response: Response) -> bool:
        """Learn the public address from the top Via; True when the Contact must change."""
        if not self.config.rewrite_contact or attempt.rewritten:
            return False
        via = response.vias[0]  # readable: the transaction matched on it
        if via.received is None and via.rport is None:
            return False
        host, port = self.public_address or (attempt.flow.local_host, attempt.flow.local_port)
        learned = (via.received or host, via.rport or port)
        if learned == (host, port):
            return False
        attempt.rewritten = True
        attempt.removed_contact = self.contact_uri(attempt.flow)
        self.public_address = learned
        return True

    def _granted(self, response: Response, contact: str) -> int:
        candidates: list[int] = []
        try:
            for address in response.contacts:
                value = address.params.get("expires")
                if value is not None and (
                    address.uri == contact or uri_matches(address.uri, contact)
                ):
                    candidates.append(parse_delta_seconds(value))
                    break
        except SipParseError:
            pass
        value = response.headers.get("Expires")
        with contextlib.suppress(SipParseError):
            candidates.append(parse_delta_seconds(value) if value is not None else 0)
        candidates.append(self.expires)
        return next((granted for granted in candidates if granted > 0), self.expires)
