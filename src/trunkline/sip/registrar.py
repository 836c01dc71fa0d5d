"""The office-PBX registrar core: one request in, one response and binding changes out.

Rules (RFC 3261 §10.3, sip-registration.md §6):

* Methods: REGISTER is processed; OPTIONS gets 200 (keep-alives); ACK gets nothing; anything
  else 405 with `Allow: REGISTER, OPTIONS`. A request missing Via gets nothing (no way to
  answer); missing or malformed From, To, Call-ID or CSeq, or a CSeq method that differs from
  the request method, gets 400.
* Responses copy Via (the top one stamped with `received` when the source host differs or
  `rport` was asked for, and `rport=<source port>` when asked, RFC 3581), From, To (with a tag
  derived from the To value added when it has none), Call-ID and CSeq.
* Authentication, in this order; nothing is stored unless every check passes:
  1. no credentials for our realm -> 401 with ONE challenge: `qop="auth"`, `algorithm=MD5`
     (or the account's opt-in algorithm, e.g. SHA-256), a stateless HMAC nonce and `opaque`;
  2. credentials that do not parse -> 400;
  3. a nonce we did not issue -> 401 (new challenge);
  4. unknown account, digest username other than the To user, or no `qop` (unless
     `allow_no_qop`) -> 403; `qop` with an `nc` that is not 8 hex digits -> 400;
  5. an algorithm other than the account's -> 401 (new challenge);
  6. digest `uri` other than the Request-URI -> 400 (a `uri` that adds only a port to a
     Request-URI without one is the same: sipp and some PBXs put the port they sent to);
  7. wrong response -> 403;
  8. authentic but expired nonce with a right response -> 401 `stale=true`;
  9. `nc` not above the highest accepted for the nonce (replay) -> 401 `stale=true`;
  then the `nc` is recorded. 403s are flagged `auth_failed` for throttling and audit.
* Bindings, after authentication; any error leaves every binding unchanged:
  - expires per Contact: its `expires` param, else the Expires header, else `default_expires`;
    0 removes; below `min_expires` -> 423 with `Min-Expires`; above `max_expires` is capped;
  - `Contact: *` must be alone and come with `Expires: 0`, else 400; it removes every binding;
  - an existing binding (same contact URI, RFC 3261 §19.1.4) with the same Call-ID and a CSeq
    not lower than the request's -> 500 (out of order);
  - more than `max_bindings` live bindings -> 403;
  - bindings whose `expires_at` has passed count as absent;
  - 200 lists every live binding as `<uri>;expires=<remaining>`, plus a `Date` header.
* `now` is wall-clock seconds since the epoch, passed in (binding expiry and nonce stamps).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate

from trunkline.sip.answers import Account, Binding, RegistrarDecision, Source, stamped_vias
from trunkline.sip.digest import (
    Challenge,
    DigestCredentials,
    format_challenge,
    parse_authorization,
    verify_authorization,
)
from trunkline.sip.errors import SipParseError
from trunkline.sip.headers import (
    parse_address,
    parse_delta_seconds,
    parse_uri,
    quote,
    uri_matches,
)
from trunkline.sip.message import Headers, Request, Response, check_value
from trunkline.sip.nonce import NonceIssuer, ReplayGuard, hmac_sha256

__all__ = [
    "Account",
    "Binding",
    "Registrar",
    "RegistrarConfig",
    "RegistrarDecision",
    "Source",
]

ALLOW = "REGISTER, OPTIONS"
_NONCE_MARK = "\x00nonce\x00"  # stands for the nonce in a challenge's cached text (never sent)
# To values whose answer's To (with its derived tag) is kept: a phone's challenge and its
# REGISTER come within milliseconds and answer the same To (see PARSE_CACHE in headers.py).
_TAGGED_KEPT = 512


@dataclass(frozen=True)
class RegistrarConfig:
    realm: str
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    nonce_ttl: float = 300.0
    max_bindings: int = 10
    allow_no_qop: bool = False
    server_name: str | None = "Trunkline"


@functools.lru_cache(maxsize=4)
def _http_date(second: int) -> str:
    """The `Date` header's text for a whole second (the same for every answer in it)."""
    return formatdate(second, usegmt=True)


@functools.lru_cache(maxsize=64)  # a registrar's phones send one or two (uri, Request-URI)
def _same_target(digest_uri: str, request_uri: str) -> bool:
    """Rule 6: the digest `uri` names the Request-URI (a port it adds is tolerated)."""
    if uri_matches(digest_uri, request_uri):
        return True
    try:
        given, wanted = parse_uri(digest_uri), parse_uri(request_uri)
    except SipParseError:
        return False
    same = (given.scheme, given.user, given.host.lower()) == (
        wanted.scheme,
        wanted.user,
        wanted.host.lower(),
    )
    return same and wanted.port is None and not given.params and not wanted.params


def _existing(
    live: dict[str, Binding], upserts: list[Binding], call_id: str, cseq: int, uri: str
) -> Binding | None:
    """The live binding of `uri` (RFC 3261 §19.1.4), refused when the request is out of
    order for it (a function, not a closure made per REGISTER)."""
    for match in live.values():
        if uri_matches(match.contact, uri):
            break
    else:
        return None
    if match in upserts:
        return match
    if match.call_id == call_id and cseq <= match.cseq:
        raise _RefusalError(500, "Server Internal Error", "CSeq out of order")
    return match


class _RefusalError(Exception):
    def __init__(self, code: int, reason: str, note: str, *, auth_failed: bool = False) -> None:
        super().__init__(note)
        self.code, self.reason, self.note, self.auth_failed = code, reason, note, auth_failed


# What `_authenticate` raises for a request without credentials, made once: a request
# without an Authorization header is refused with it without the raise (~0.5 us).
_CHALLENGE = _RefusalError(401, "Unauthorized", "challenge")


class Registrar:
    """Decides REGISTER/OPTIONS responses and binding changes; keeps only the replay guard."""

    def __init__(
        self,
        config: RegistrarConfig,
        secret: bytes,
        *,
        random_source: Callable[[int], bytes] | None = None,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        self.config = config
        self._tag_mac = hmac_sha256(secret)
        self._tagged: dict[str, str] = {}  # To value -> the answer's To value
        self.nonces = NonceIssuer(secret, ttl=config.nonce_ttl, random_source=random_source)
        # Shared by the registrars of several realms when the caller passes one in.
        self.replay_guard = replay_guard or ReplayGuard(ttl=config.nonce_ttl)
        self.opaque = hmac.new(secret, b"opaque", hashlib.sha256).hexdigest()[:16]
        self._challenges: dict[tuple[str, bool], tuple[str, str]] = {}

    @staticmethod
    def account_name(request: Request) -> str | None:
        """The account to look up for this request: the user part of the To URI (kept on
        the request with its To text: the engine asks, then the registrar)."""
        to = request.headers.get("To")
        kept = request.__dict__.get("_account_name")
        if kept is not None and kept[0] == to:
            return kept[1]  # type: ignore[no-any-return]
        try:
            name = None if to is None else parse_uri(parse_address(to).uri).user
        except SipParseError:
            name = None
        request.__dict__["_account_name"] = (to, name)
        return name

    def pick(self, request: Request, accounts: Sequence[Account]) -> int | None:
        """Which of several accounts of one login the request's credentials answer (by
        password); None when not exactly one does. Nothing is recorded (no ``nc``)."""
        matches = []
        for value in request.headers.get_all("Authorization"):
            try:
                credentials = parse_authorization(value)
            except SipParseError:
                return None
            if credentials.realm != self.config.realm:
                continue
            for index, account in enumerate(accounts):
                if verify_authorization(
                    credentials, method=request.method, password=account.password, ha1=account.ha1
                ):
                    matches.append(index)
            break
        return matches[0] if len(matches) == 1 else None

    def handle(
        self,
        request: Request,
        source: Source,
        account: Account | None,
        bindings: Sequence[Binding],
        now: float,
    ) -> RegistrarDecision:
        """Decide the answer to one request (retransmissions are absorbed before this)."""
        vias = request.headers.get_all("Via")  # the answer's, stamped below
        if request.method == "ACK" or not vias:
            return RegistrarDecision(None, note="no response")
        try:
            vias = stamped_vias(vias, request.vias[0], source)  # parsed once a message
            call_id = request.call_id  # validates the header (and _bind's)
            request.from_address  # noqa: B018 - validates the header
            request.to_address  # noqa: B018
            cseq = request.cseq
            if cseq[1] != request.method:
                raise SipParseError("CSeq method differs from the request method")
        except SipParseError as exc:
            return RegistrarDecision(
                self._response(request, vias, 400, "Bad Request"), note=str(exc)
            )
        if request.method == "OPTIONS":
            response = self._response(request, vias, 200, "OK")
            response.headers.add("Allow", ALLOW)
            return RegistrarDecision(response, note="options")
        if request.method != "REGISTER":
            response = self._response(request, vias, 405, "Method Not Allowed")
            response.headers.add("Allow", ALLOW)
            return RegistrarDecision(response, note="method not allowed")
        if not request.headers._values("Authorization"):  # a challenge: refused, not raised
            return self._refused(request, vias, account, now, _CHALLENGE)
        try:
            credentials = self._authenticate(request, account, now)
        except _RefusalError as reject:
            return self._refused(request, vias, account, now, reject)
        try:
            return self._bind(
                request, vias, source, credentials.username, bindings, now, call_id, cseq[0]
            )
        except _RefusalError as reject:
            response = self._response(request, vias, reject.code, reject.reason)
            if reject.code == 423:
                response.headers.add("Min-Expires", str(self.config.min_expires))
            return RegistrarDecision(response, username=credentials.username, note=reject.note)

    # -- responses ------------------------------------------------------------------------

    def _refused(
        self,
        request: Request,
        vias: list[str],
        account: Account | None,
        now: float,
        reject: _RefusalError,
    ) -> RegistrarDecision:
        """The answer to a refused authentication (a 401 with a new challenge)."""
        response = self._response(request, vias, reject.code, reject.reason)
        if reject.code == 401:
            stale = reject.note.startswith("stale")
            response.headers.add("WWW-Authenticate", self._challenge(account, now, stale))
        return RegistrarDecision(response, auth_failed=reject.auth_failed, note=reject.note)

    def _response(
        self,
        request: Request,
        vias: list[str],
        code: int,
        reason: str,
        extra: list[tuple[str, str]] = [],  # noqa: B006 - never changed
    ) -> Response:
        """The answer's Via (`vias`), From, To (tagged), Call-ID, CSeq and Server fields, then
        the `extra` ones (canonical names), as `Headers.add` would add them one by one: the
        values copied from the request were checked when its headers were made; the
        others are checked here."""
        items: list[tuple[str, str]] = []
        for value in vias:
            check_value("Via", value)
            items.append(("Via", value))
        headers = request.headers  # its index's own lists (Headers._values), read once
        index = headers._index if headers._index is not None else headers._indexed()
        for value in index.get("From") or ():
            items.append(("From", value))
        tagged = self._tagged
        for value in index.get("To") or ():
            items.append(("To", tagged.get(value) or self._tag(value)))
        for value in index.get("Call-ID") or ():
            items.append(("Call-ID", value))
        for value in index.get("CSeq") or ():
            items.append(("CSeq", value))
        server = self.config.server_name
        if server:
            check_value("Server", server)
            items.append(("Server", server))
        for name, value in extra:
            check_value(name, value)
            items.append((name, value))
        return Response(code, reason, Headers._checked(items))

    def _tag(self, value: str) -> str:
        """The answer's To for a request's To `value`: with a tag derived from the value
        (HMAC-SHA256 under the secret) when it has none; kept for the next answer to it."""
        tagged = value
        if self._needs_tag(value):
            tagged = f"{value};tag={self._tag_mac(value.encode()).hex()[:16]}"
        if len(self._tagged) >= _TAGGED_KEPT:
            self._tagged.clear()
        self._tagged[value] = tagged
        return tagged

    @staticmethod
    def _needs_tag(value: str) -> bool:
        try:
            return parse_address(value).tag is None
        except SipParseError:
            return False

    def _challenge(self, account: Account | None, now: float, stale: bool) -> str:
        """The WWW-Authenticate value: ``format_challenge``'s text, whose parts around the
        nonce are made once per (algorithm, stale)."""
        algorithm = account.algorithm if account is not None else "MD5"
        parts = self._challenges.get((algorithm, stale))
        if parts is None:
            marker = quote(_NONCE_MARK)
            text = format_challenge(
                Challenge(
                    realm=self.config.realm,
                    nonce=_NONCE_MARK,
                    algorithm=algorithm,
                    qop=("auth",),
                    opaque=self.opaque,
                    stale=stale,
                )
            )
            head, _, tail = text.partition(marker)
            parts = self._challenges[(algorithm, stale)] = (head, tail)
        return f'{parts[0]}"{self.nonces.issue(now)}"{parts[1]}'

    # -- authentication -------------------------------------------------------------------

    def _authenticate(
        self, request: Request, account: Account | None, now: float
    ) -> DigestCredentials:
        credentials = None
        for value in request.headers.get_all("Authorization"):
            try:
                parsed = parse_authorization(value)
            except SipParseError as exc:
                raise _RefusalError(400, "Bad Request", f"malformed credentials: {exc}") from exc
            if parsed.realm == self.config.realm:
                credentials = parsed
                break
        if credentials is None:
            raise _RefusalError(401, "Unauthorized", "challenge")
        issued = self.nonces.issued_at(credentials.nonce)
        if issued is None:
            raise _RefusalError(401, "Unauthorized", "challenge: nonce not ours")
        to_user = self.account_name(request)
        if account is None or credentials.username != to_user:
            raise _RefusalError(403, "Forbidden", "unknown user or To mismatch", auth_failed=True)
        if credentials.qop is None and not self.config.allow_no_qop:
            raise _RefusalError(403, "Forbidden", "credentials without qop", auth_failed=True)
        nc = credentials.nc_value
        if credentials.qop is not None and nc is None:
            raise _RefusalError(400, "Bad Request", "invalid nc")
        if credentials.algorithm != account.algorithm:
            raise _RefusalError(401, "Unauthorized", "challenge: algorithm not allowed")
        if not _same_target(credentials.uri, request.uri):
            raise _RefusalError(400, "Bad Request", "digest uri differs from the Request-URI")
        if not verify_authorization(
            credentials, method=request.method, password=account.password, ha1=account.ha1
        ):
            raise _RefusalError(403, "Forbidden", "wrong password", auth_failed=True)
        if abs(now - issued) > self.nonces.ttl:
            raise _RefusalError(401, "Unauthorized", "stale: nonce expired")
        if nc is not None:
            if self.replay_guard.is_replay(credentials.nonce, nc, issued_at=issued):
                raise _RefusalError(401, "Unauthorized", "stale: nc replay")
            self.replay_guard.record(credentials.nonce, nc, issued_at=issued, now=now)
        return credentials

    # -- bindings -------------------------------------------------------------------------

    def _expires(self, value: str | None, default: int) -> int:
        if value is None:
            return default
        try:
            return parse_delta_seconds(value)
        except SipParseError as exc:
            raise _RefusalError(400, "Bad Request", f"invalid expires {value[:20]!r}") from exc

    def _bind(
        self,
        request: Request,
        vias: list[str],
        source: Source,
        username: str,
        bindings: Sequence[Binding],
        now: float,
        call_id: str,
        cseq: int,
    ) -> RegistrarDecision:
        """The bindings' changes and the 200 (`call_id` and `cseq` are the request's, read
        and checked by `handle`)."""
        try:
            contacts = request.contacts
        except SipParseError as exc:
            raise _RefusalError(400, "Bad Request", f"invalid Contact: {exc}") from exc
        headers, config = request.headers, self.config
        default = self._expires(headers.get("Expires"), config.default_expires)
        live: dict[str, Binding] = {}  # loops, not comprehensions: a function object each
        for binding in bindings:
            if binding.expires_at > now:
                live[binding.contact] = binding
        upserts: list[Binding] = []
        removals: list[str] = []
        wildcard = False
        for contact in contacts:
            if contact.uri == "*":  # Address.is_wildcard, without its call
                wildcard = True
                break
        if wildcard:
            if len(contacts) != 1 or headers.get("Expires") is None or default != 0:
                raise _RefusalError(400, "Bad Request", "Contact: * needs Expires: 0 and no other")
            for binding in list(live.values()):
                _existing(live, upserts, call_id, cseq, binding.contact)
                removals.append(binding.contact)
                del live[binding.contact]
            contacts = []
        user_agent = headers.get("User-Agent")
        for contact in contacts:
            params = contact.params
            value = params.get("expires")
            expires = default if value is None else self._expires(value, default)
            if 0 < expires < config.min_expires:
                raise _RefusalError(423, "Interval Too Brief", "expires below minimum")
            old = _existing(live, upserts, call_id, cseq, contact.uri)
            if old is not None:
                del live[old.contact]
                if old in upserts:
                    upserts.remove(old)
            if expires == 0:
                if old is not None and old.contact not in removals:
                    removals.append(old.contact)
                continue
            binding = Binding(  # contact, expires_at, call_id, cseq, source, user_agent,
                contact.uri,  # instance_id, reg_id
                now + min(expires, config.max_expires),
                call_id,
                cseq,
                source,
                user_agent,
                params.get("+sip.instance"),
                params.get("reg-id"),
            )
            upserts.append(binding)
            live[binding.contact] = binding
        if len(live) > config.max_bindings:
            raise _RefusalError(403, "Forbidden", "too many bindings")
        listed: list[tuple[str, str]] = []
        for binding in live.values():
            remaining = max(0, math.ceil(binding.expires_at - now))
            listed.append(("Contact", f"<{binding.contact}>;expires={remaining}"))
        listed.append(("Date", _http_date(int(now))))
        response = self._response(request, vias, 200, "OK", listed)
        return RegistrarDecision(
            response,
            tuple(upserts),
            tuple(removals),
            username=username,
            note="registered",
            bindings=tuple(live.values()),
        )
