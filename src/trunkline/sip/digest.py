"""HTTP digest authentication for SIP: RFC 7616, RFC 2617 fallback, RFC 8760, RFC 3261 §22.

Rules:

* Algorithms: `MD5`, `SHA-256`, `SHA-512-256` and their `-sess` forms. Strength order when
  several challenges are offered (RFC 8760 §2.4): SHA-512-256 > SHA-256 > MD5; a `-sess` form
  ranks with its base; ties go to the challenge offered first. A challenge without `algorithm`
  means MD5.
* A challenge can be answered only when its algorithm is known and, if it lists `qop`, the list
  contains `auth` (`auth-int` alone is not answered). When `qop` is offered we always use
  `qop=auth`; without `qop` we answer the RFC 2069/2617 legacy way (no cnonce, no nc).
* `nc` is 8 hex digits counted per nonce, starting at 00000001; the client remembers the count of
  the last few nonces only.
* `opaque` is echoed verbatim. `stale=true` (case-insensitive) marks a challenge whose nonce
  expired while the credentials were right.
* With `userhash=true` the username sent is H(username ":" realm) (RFC 7616 §3.4.4).
* A1 = username:realm:password, or for `-sess` H(username:realm:password):nonce:cnonce;
  A2 = method:uri; response = H(H(A1):nonce:nc:cnonce:qop:H(A2)), or without qop
  H(H(A1):nonce:H(A2)). Hex digests are lower-case.
* Parsing: parameter names are case-insensitive, values may be tokens or quoted strings, a
  parameter repeated in one challenge is an error, and several challenges may share one header
  line. Syntax errors raise `SipParseError`; a Digest challenge without realm or nonce is skipped.
* Server side: responses are compared with `hmac.compare_digest`; a stored HA1 may replace the
  password.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from trunkline.sip.errors import SipParseError, UnsupportedChallengeError
from trunkline.sip.headers import quote, unquote

__all__ = [
    "ALGORITHMS",
    "Challenge",
    "DigestClient",
    "DigestCredentials",
    "choose_challenge",
    "compute_ha1",
    "compute_response",
    "format_authorization",
    "format_challenge",
    "parse_authorization",
    "parse_challenges",
    "verify_authorization",
]


def _md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


try:  # CPython's own MD5: the same digest without OpenSSL's per-call set-up (~2.9k
    # instructions a short hash instead of ~5.5k, callgrind)
    from _md5 import md5 as _builtin_md5  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - a build without it
    pass
else:

    def _md5_hex(data: bytes) -> str:
        digest: str = _builtin_md5(data).hexdigest()
        return digest


_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": _md5_hex,
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
}
_STRENGTH = {"MD5": 1, "SHA-256": 2, "SHA-512-256": 3}
ALGORITHMS: tuple[str, ...] = tuple(name for base in _HASHES for name in (base, f"{base}-sess"))
_NONCES_REMEMBERED = 8
_NC_RE = re.compile(r"[0-9A-Fa-f]{8}")
# A quoted-string as an unrolled loop: runs of plain characters between escapes (the same
# strings as `"(?:[^"\\]|\\.)*"`, which tries an alternation a character: twice as slow).
_QUOTED = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_PARAM_RE = re.compile(r"\s*([A-Za-z0-9\-.!%*_+`\'~]+)\s*(=?)\s*(" + _QUOTED + r'|[^\s,"]*)\s*')
_PAIR = r"\s*([A-Za-z0-9\-.!%*_+`\'~]+)\s*=\s*(" + _QUOTED + r'|[^\s,"]*)\s*'
_PAIR_RE = re.compile(_PAIR + ",?")
# A scheme then name=value pairs separated by single commas: what `_PARAM_RE`'s walk reads
# as one scheme and its parameters, matched in one go.
_ONE_SCHEME_RE = re.compile(
    r"[ \t]*([A-Za-z0-9\-.!%*_+`\'~]+)[ \t]+((?:" + _PAIR + ",)*" + _PAIR + r")[ \t,]*"
)


def _canonical_algorithm(name: str) -> str:
    upper = name.strip().upper()
    return upper[:-5] + "-sess" if upper.endswith("-SESS") else upper


def _base(algorithm: str) -> str:
    return algorithm.removesuffix("-sess")


def _hash(algorithm: str, text: str) -> str:
    return _HASHES[_base(algorithm)](text.encode())


# The characters of a token (RFC 3261 §25.1): a name made only of them strips to nothing.
_TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~"
# The parameter names a usual value has (lower-case tokens: the split keeps them as they are).
_USUAL_NAMES = frozenset(("username", "realm", "nonce", "uri", "response", "algorithm"))
_USUAL_NAMES |= {"cnonce", "opaque", "qop", "nc", "userhash", "stale", "domain"}
_REQUIRED = frozenset(("username", "realm", "nonce", "uri", "response"))


def _parse_auth_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """Split `Scheme a=b, c="d", Scheme2 e=f` into `[(scheme, params), ...]`."""
    usual = _usual_auth_header(value)
    return usual if usual is not None else _parse_auth_header_general(value)


def _usual_auth_header(value: str) -> list[tuple[str, dict[str, str]]] | None:
    """`_parse_auth_header_general` of the usual value, by splitting (its regexes cost
    ~130k instructions on a sipp Authorization): one scheme, one space, then distinct
    `name=token` or `name="text"` pairs joined by ", " (baresip, Linphone, pjsip) or ","
    (sipp, Zoiper), no backslash, no quote or comma in a token, no whitespace around.
    None for any other value (a property test holds the two equal)."""
    scheme, _, rest = value.partition(" ")
    if not scheme or scheme.strip(_TOKEN_CHARS) or not rest or "\\" in rest:
        return None
    # A comma inside a quoted text splits it: the piece fails the quote check below, so
    # the ", " made "," inside one is never taken.
    pieces = rest.replace(", ", ",").split(",")
    try:
        params: dict[str, str] = dict([piece.split("=", 1) for piece in pieces])
    except ValueError:  # a piece without "="
        return None
    if len(params) != len(pieces) or not params.keys() <= _USUAL_NAMES:
        return None  # a repeated name (the general path refuses it) or a less usual one
    quoted = 0  # the quoted values: every quote of `rest` must be one of theirs (below)
    for name, raw in params.items():  # (a piece holds no comma: split off)
        if raw[:1] == '"':  # a quoted-string
            if len(raw) < 2 or raw[-1] != '"':
                return None
            params[name] = raw[1:-1]  # the same key: the dict keeps its size while iterated
            quoted += 1
        elif " " in raw or not raw.isprintable():
            return None  # printable and no space: no whitespace at all
    if rest.count('"') != 2 * quoted:
        return None  # a quote inside a quoted text or in a token (names are usual ones)
    return [(scheme, params)]


def _parse_auth_header_general(value: str) -> list[tuple[str, dict[str, str]]]:
    """`_parse_auth_header` for any value."""
    one = _ONE_SCHEME_RE.fullmatch(value)
    if one is not None:  # the usual value: one scheme, comma-separated pairs
        pairs = _PAIR_RE.findall(one.group(2))
        # A quoted value of _PAIR is a whole quoted-string: without a backslash its
        # text is what is inside the quotes (unquote's walk only for escapes).
        params = {
            name.lower(): raw if raw[:1] != '"' else raw[1:-1] if "\\" not in raw else unquote(raw)
            for name, raw in pairs
        }
        if len(params) == len(pairs):  # else a repeated name: the walk refuses it
            return [(one.group(1), params)]
    return _walk_auth_header(value)


def _walk_auth_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """`_parse_auth_header` for any value, one `_PARAM_RE` match at a time."""
    items: list[tuple[str, dict[str, str]]] = []
    position = 0
    while position < len(value):
        if value[position] in ", \t":
            position += 1
            continue
        match = _PARAM_RE.match(value, position)
        if match is None or match.end() == position:
            raise SipParseError(f"invalid authentication header {value[:80]!r}")
        name, equals, raw = match.groups()
        if equals:
            if not items:
                raise SipParseError("authentication parameter before any scheme")
            if name.lower() in items[-1][1]:
                raise SipParseError(f"repeated authentication parameter {name!r}")
            items[-1][1][name.lower()] = unquote(raw)
            position = match.end()
        else:
            items.append((name, {}))
            position = match.start(3)
    return items


@dataclass(frozen=True)
class Challenge:
    """One Digest challenge from WWW-Authenticate or Proxy-Authenticate."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    userhash: bool = False

    @property
    def answerable(self) -> bool:
        return self.algorithm in ALGORITHMS and (not self.qop or "auth" in self.qop)


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every Digest challenge in the given header values, in order offered."""
    challenges: list[Challenge] = []
    for value in values:
        for scheme, params in _parse_auth_header(value):
            if scheme.lower() != "digest" or "realm" not in params or "nonce" not in params:
                continue
            qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
            challenges.append(
                Challenge(
                    realm=params["realm"],
                    nonce=params["nonce"],
                    algorithm=_canonical_algorithm(params.get("algorithm", "MD5")),
                    qop=qop,
                    opaque=params.get("opaque"),
                    stale=params.get("stale", "").lower() == "true",
                    userhash=params.get("userhash", "").lower() == "true",
                )
            )
    return challenges


def choose_challenge(challenges: Sequence[Challenge]) -> Challenge:
    """The strongest answerable challenge (first offered among equals)."""
    usable = [challenge for challenge in challenges if challenge.answerable]
    if not usable:
        offered = ", ".join(c.algorithm for c in challenges) or "none"
        raise UnsupportedChallengeError(f"no answerable digest challenge (offered: {offered})")
    return max(usable, key=lambda challenge: _STRENGTH[_base(challenge.algorithm)])


def format_challenge(challenge: Challenge) -> str:
    """Serialise a challenge as a WWW-Authenticate / Proxy-Authenticate value."""
    parts = [f"realm={quote(challenge.realm)}", f"nonce={quote(challenge.nonce)}"]
    if challenge.qop:
        parts.append(f"qop={quote(','.join(challenge.qop))}")
    parts.append(f"algorithm={challenge.algorithm}")
    if challenge.opaque is not None:
        parts.append(f"opaque={quote(challenge.opaque)}")
    if challenge.stale:
        parts.append("stale=true")
    if challenge.userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


def compute_ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """H(username:realm:password) with the base hash of `algorithm` (what a server may store)."""
    return _hash(algorithm, f"{username}:{realm}:{password}")


@functools.lru_cache(maxsize=64)  # a registrar's phones all REGISTER to one or two URIs
def _ha2(algorithm: str, method: str, uri: str) -> str:
    """H(A2) = H(method:uri)."""
    return _hash(algorithm, f"{method}:{uri}")


def compute_response(
    *,
    algorithm: str,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    """The digest `response` value given H(username:realm:password)."""
    if algorithm.endswith("-sess"):
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _ha2(algorithm, method, uri)
    if qop is None:
        return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


# Made from every REGISTER's Authorization: compared and hashed by value as a frozen
# dataclass is, never changed once made, but not frozen (its __init__ would set each of
# the 11 fields through object.__setattr__).
@dataclass(slots=True, unsafe_hash=True)
class DigestCredentials:
    """The parameters of an Authorization / Proxy-Authorization header."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    userhash: bool = False

    @property
    def nc_value(self) -> int | None:
        """`nc` as an integer, or None when absent or not 8 hex digits."""
        if self.nc is None or not _NC_RE.fullmatch(self.nc):
            return None
        return int(self.nc, 16)


def parse_authorization(value: str) -> DigestCredentials:
    """Parse a Digest Authorization value; anything else raises `SipParseError`."""
    items = _parse_auth_header(value)
    if len(items) != 1 or items[0][0].lower() != "digest":
        raise SipParseError("not a single Digest credentials value")
    params = items[0][1]
    if not params.keys() >= _REQUIRED:
        missing = _REQUIRED - params.keys()
        raise SipParseError(f"Digest credentials missing {', '.join(sorted(missing))}")
    return DigestCredentials(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"],
        algorithm=_canonical_algorithm(params.get("algorithm", "MD5")),
        qop=params.get("qop"),
        nc=params.get("nc"),
        cnonce=params.get("cnonce"),
        opaque=params.get("opaque"),
        userhash=params.get("userhash", "").lower() == "true",
    )


def format_authorization(credentials: DigestCredentials) -> str:
    """Serialise credentials as an Authorization / Proxy-Authorization value."""
    parts = [
        f"username={quote(credentials.username)}",
        f"realm={quote(credentials.realm)}",
        f"nonce={quote(credentials.nonce)}",
        f"uri={quote(credentials.uri)}",
        f"response={quote(credentials.response)}",
        f"algorithm={credentials.algorithm}",
    ]
    if credentials.cnonce is not None:
        parts.append(f"cnonce={quote(credentials.cnonce)}")
    if credentials.opaque is not None:
        parts.append(f"opaque={quote(credentials.opaque)}")
    if credentials.qop is not None:
        parts.append(f"qop={credentials.qop}")
    if credentials.nc is not None:
        parts.append(f"nc={credentials.nc}")
    if credentials.userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


def verify_authorization(
    credentials: DigestCredentials,
    *,
    method: str,
    password: str | None = None,
    ha1: str | None = None,
) -> bool:
    """True when the credentials' response matches the password (or the stored HA1)."""
    if credentials.algorithm not in ALGORITHMS:
        return False
    if credentials.qop is not None and (
        credentials.qop.lower() != "auth" or credentials.cnonce is None or credentials.nc is None
    ):
        return False
    if ha1 is None:
        ha1 = compute_ha1(
            credentials.algorithm, credentials.username, credentials.realm, password or ""
        )
    expected = compute_response(
        algorithm=credentials.algorithm,
        ha1=ha1.lower(),
        nonce=credentials.nonce,
        method=method,
        uri=credentials.uri,
        qop=credentials.qop and credentials.qop.lower(),
        nc=credentials.nc or "",
        cnonce=credentials.cnonce or "",
    )
    return hmac.compare_digest(expected.encode(), credentials.response.lower().encode())


class DigestClient:
    """Answers challenges for one username/password, counting `nc` per nonce.

    H(A1) is computed once per (algorithm, realm) and the fixed text of the header value once
    per (challenge, uri): a refresh costs two hashes and a few concatenations.
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        cnonce_factory: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        self.username = username
        self._password = password
        self._cnonce_factory = cnonce_factory
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._ha1: dict[tuple[str, str], str] = {}
        self._layout: tuple[Challenge, str, tuple[str, str, str]] | None = None

    def _respond(
        self, challenge: Challenge, method: str, uri: str
    ) -> tuple[str, str | None, str | None, str | None]:
        """(response, qop, nc, cnonce) for the next request answering `challenge`."""
        if not challenge.answerable:
            raise UnsupportedChallengeError(
                f"cannot answer algorithm={challenge.algorithm} qop={','.join(challenge.qop)}"
            )
        qop = "auth" if challenge.qop else None
        count = self._counts.pop(challenge.nonce, 0) + 1
        self._counts[challenge.nonce] = count
        while len(self._counts) > _NONCES_REMEMBERED:
            self._counts.popitem(last=False)
        nc = f"{count:08x}" if qop else None
        cnonce = self._cnonce_factory() if qop or challenge.algorithm.endswith("-sess") else None
        key = (challenge.algorithm, challenge.realm)
        ha1 = self._ha1.get(key)
        if ha1 is None:
            ha1 = compute_ha1(challenge.algorithm, self.username, challenge.realm, self._password)
            self._ha1[key] = ha1
        response = compute_response(
            algorithm=challenge.algorithm,
            ha1=ha1,
            nonce=challenge.nonce,
            method=method,
            uri=uri,
            qop=qop,
            nc=nc or "",
            cnonce=cnonce or "",
        )
        return response, qop, nc, cnonce

    def _username(self, challenge: Challenge) -> str:
        if challenge.userhash:
            return _hash(challenge.algorithm, f"{self.username}:{challenge.realm}")
        return self.username

    def credentials(self, challenge: Challenge, method: str, uri: str) -> DigestCredentials:
        """Answer `challenge` for a request; raises `UnsupportedChallengeError` if impossible."""
        response, qop, nc, cnonce = self._respond(challenge, method, uri)
        return DigestCredentials(
            username=self._username(challenge),
            realm=challenge.realm,
            nonce=challenge.nonce,
            uri=uri,
            response=response,
            algorithm=challenge.algorithm,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            opaque=challenge.opaque,
            userhash=challenge.userhash,
        )

    def authorize(self, challenge: Challenge, method: str, uri: str) -> str:
        """The Authorization / Proxy-Authorization header value answering `challenge`.

        The text `format_authorization(self.credentials(...))` gives, built around the fixed
        parts of the last (challenge, uri) answered.
        """
        response, qop, nc, cnonce = self._respond(challenge, method, uri)
        layout = self._layout
        if layout is None or layout[0] is not challenge or layout[1] != uri:
            head = (
                f"Digest username={quote(self._username(challenge))},"
                f" realm={quote(challenge.realm)}, nonce={quote(challenge.nonce)},"
                f' uri={quote(uri)}, response="'
            )
            middle = "" if challenge.opaque is None else f", opaque={quote(challenge.opaque)}"
            middle += "" if qop is None else f", qop={qop}"
            tail = ", userhash=true" if challenge.userhash else ""
            layout = self._layout = (challenge, uri, (head, middle, tail))
        head, middle, tail = layout[2]
        text = f'{head}{response}", algorithm={challenge.algorithm}'
        if cnonce is not None:
            text += f", cnonce={quote(cnonce)}"
        text += middle
        if nc is not None:
            text += f", nc={nc}"
        return text + tail
