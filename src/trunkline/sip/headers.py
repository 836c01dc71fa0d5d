"""Header grammar: names, lists, params, URIs, addresses, Via (RFC 3261 §7.3, §19, §20, §25).

Rules:

* Header names are case-insensitive; compact forms (`v f t i m l k s e c o r b u x`) expand to
  their full names and every name is stored in one canonical spelling (`Call-ID`, `CSeq`,
  `WWW-Authenticate`).
* A comma separates list elements only outside a quoted string and outside `<...>`; a quoted
  string may contain `\\"` and `\\\\`.
* Parameter names are case-insensitive and stored lower-case; values keep their case. A parameter
  without `=` (`rport`, `lr`) has the value `None`. Quoted values are stored unquoted and quoted
  again on output when they are not plain tokens.
* In a name-addr (`"Name" <sip:...>;tag=x`) parameters after `>` belong to the header; in a bare
  addr-spec (`sip:a@b;expires=60`) every `;` parameter belongs to the header (RFC 3261 §20).
* `Contact: *` is the wildcard address: `Address(uri="*")`.
* URIs compare as RFC 3261 §19.1.4 says, simplified for REGISTER: scheme and host are
  case-insensitive, user and password are not, a missing port never equals an explicit one, and
  `transport`, `user`, `ttl`, `method`, `maddr` must agree when either side has them.
* Anything that breaks these rules raises `SipParseError`.
* URIs, addresses, Via values and URI comparisons are remembered by their text (a bounded
  LRU of `PARSE_CACHE` entries): a REGISTER and its retries, refreshes and answers repeat
  the same From, To, Contact and Request-URI. The objects returned are shared: never
  mutate their `params` (copy them, as `dict(via.params)`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from trunkline.sip.errors import SipParseError
from trunkline.sip.lexical import (
    _TOKEN_RE,
    _scan_quoted,
    _split_outside,
    canonical_name,
    is_token,
    quote,
    split_list,
    unquote,
)

__all__ = [
    "Address",
    "SipUri",
    "Via",
    "canonical_name",
    "format_params",
    "parse_address",
    "parse_address_list",
    "parse_cseq",
    "parse_delta_seconds",
    "parse_host_port",
    "parse_params",
    "parse_uri",
    "parse_via_list",
    "quote",
    "split_list",
    "unquote",
    "uri_matches",
]

Params = dict[str, str | None]

_PARAM_VALUE_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~:\[\]/@&=$,?()]+")
_PLAIN_VALUE_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~:\[\]]+")
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?\.?|[A-Za-z0-9]")
_IPV6_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_DIGITS_RE = re.compile(r"[0-9]{1,10}")
_URI_FORBIDDEN_RE = re.compile(r'[ \t<>"]')
_URI_PARAMS_COMPARED = ("transport", "user", "ttl", "method", "maddr")
# Fast paths: the common well-formed shapes, parsed by one regex each; any other text goes
# to the strict parser, which gives the same result on these shapes (a property test holds
# them equal). No whitespace, no quoted string, no comma list.
_T = r"[A-Za-z0-9\-.!%*_+`'~]+"
_V = r"[A-Za-z0-9\-.!%*_+`'~:\[\]/@&=$()"  # _PARAM_VALUE_RE without ',' and '?'
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?\.?|\[[0-9A-Fa-f:.]+\])"
_PORT = r"(?::([0-9]{1,5}))?"
_FAST_VIA_RE = re.compile(rf"SIP/2\.0/({_T}) ({_HOST}){_PORT}((?:;{_T}(?:={_V}?]+)?)*)")
_FAST_ADDRESS_RE = re.compile(rf'<([^\s<>"]+)>((?:;{_T}(?:={_V},?]+)?)*)')
_FAST_URI_RE = re.compile(
    rf'(sips?):(?:([^ \t<>"@:;?]+)@)?({_HOST}){_PORT}((?:;{_T}(?:={_V},]+)?)*)'
)


def _fast_params(text: str) -> Params:
    """`parse_params` of the params text a fast regex matched (the same dict, faster)."""
    params: Params = {}
    for piece in text[1:].split(";"):
        name, sep, value = piece.partition("=")
        params[name.lower()] = value if sep else None
    return params


# Texts remembered per parser (see the rules above): a phone's challenge, REGISTER and
# answer come within milliseconds, and 512 texts are about a second of a burst of 200
# phones a second (2 or 3 new texts a phone per parser);
# a refresh an hour later is never found anyway. 2048 held ~3.5 MB for good.
PARSE_CACHE = 512


def parse_params(text: str, *, uri: bool = False) -> Params:
    """Parse `;name=value;flag` (the leading `;` is optional) into a lower-cased dict."""
    params: Params = {}
    if not text.strip():
        return params
    pieces = _split_outside(text, ";", brackets=False)
    if not pieces[0].strip():
        pieces = pieces[1:]
    for piece in pieces:
        name, sep, value = piece.partition("=")
        name = name.strip()
        if not _TOKEN_RE.fullmatch(name):
            raise SipParseError(f"invalid parameter name in {text!r}")
        if not sep:
            params[name.lower()] = None
            continue
        value = value.strip()
        if value.startswith('"') and not uri:
            params[name.lower()] = unquote(value)
        elif _PARAM_VALUE_RE.fullmatch(value):
            params[name.lower()] = value
        else:
            raise SipParseError(f"invalid value for parameter {name!r}")
    return params


def format_params(params: Params, *, uri: bool = False) -> str:
    """Serialise params as `;name=value;flag`, quoting values that are not plain."""
    out: list[str] = []
    for name, value in params.items():
        if value is None:
            out.append(f";{name}")
        elif uri or _PLAIN_VALUE_RE.fullmatch(value):
            out.append(f";{name}={value}")
        else:
            out.append(f";{name}={quote(value)}")
    return "".join(out)


def parse_host_port(text: str) -> tuple[str, int | None]:
    """Parse `host[:port]`, where host is a name, an IPv4 address or `[IPv6]`."""
    if text.startswith("["):
        close = text.find("]")
        host, rest = text[: close + 1], text[close + 1 :]
        if close < 0 or not _IPV6_RE.fullmatch(host):
            raise SipParseError(f"invalid IPv6 reference in {text!r}")
    else:
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
        if not _HOSTNAME_RE.fullmatch(host):
            raise SipParseError(f"invalid host in {text!r}")
    if not rest:
        return host, None
    if not rest.startswith(":") or not _DIGITS_RE.fullmatch(rest[1:]) or int(rest[1:]) > 65535:
        raise SipParseError(f"invalid port in {text!r}")
    return host, int(rest[1:])


def _format_host_port(host: str, port: int | None) -> str:
    return host if port is None else f"{host}:{port}"


# SipUri, Address and Via are made for the texts of every message (a Via's branch is new
# each time): compared and hashed by value as frozen dataclasses are (their params dict
# makes a hash fail either way), and never changed once made (the parse caches share
# them), but not frozen: a frozen __init__ sets each field through object.__setattr__.
@dataclass(slots=True, unsafe_hash=True)
class SipUri:
    """A `sip:` or `sips:` URI."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    scheme: str = "sip"
    params: Params = field(default_factory=dict)
    headers: str = ""

    def __str__(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = self.user
            if self.password is not None:
                userinfo += ":" + self.password
            userinfo += "@"
        text = f"{self.scheme}:{userinfo}{_format_host_port(self.host, self.port)}"
        text += format_params(self.params, uri=True)
        return text + (f"?{self.headers}" if self.headers else "")


@functools.lru_cache(maxsize=PARSE_CACHE)
def parse_uri(text: str) -> SipUri:
    """Parse a `sip:`/`sips:` URI; other schemes raise `SipParseError`."""
    fast = _FAST_URI_RE.fullmatch(text)
    if fast is not None:
        scheme, user, host, port_text, param_text = fast.groups()
        port = None if port_text is None else int(port_text)
        if port is None or port <= 65535:
            params = _fast_params(param_text) if param_text else {}
            return SipUri(host, user, None, port, scheme, params, "")
    return _parse_uri_strict(text)


def _parse_uri_strict(text: str) -> SipUri:
    scheme, colon, rest = text.strip().partition(":")
    if not colon or scheme.lower() not in ("sip", "sips"):
        raise SipParseError(f"not a SIP URI: {text!r}")
    rest, _, headers = rest.partition("?")
    rest, semicolon, param_text = rest.partition(";")
    user: str | None = None
    password: str | None = None
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user, colon, secret = userinfo.partition(":")
        password = secret if colon else None
        if not user or _URI_FORBIDDEN_RE.search(userinfo):
            raise SipParseError(f"invalid user part in {text!r}")
    host, port = parse_host_port(rest)
    params = parse_params(param_text, uri=True) if semicolon else {}
    return SipUri(host, user, password, port, scheme.lower(), params, headers)


def uri_matches(first: str, second: str) -> bool:
    """Compare two URIs the RFC 3261 §19.1.4 way (simplified); non-SIP URIs compare as text.

    The same text always matches itself (a refresh from the same contact): it is not
    parsed, nor does it take a place in the cache."""
    return first == second or _uri_matches(first, second)


@functools.lru_cache(maxsize=PARSE_CACHE)
def _uri_matches(first: str, second: str) -> bool:
    try:
        a, b = parse_uri(first), parse_uri(second)
    except SipParseError:
        return first.strip() == second.strip()
    if (a.scheme, a.user, a.password, a.host.lower(), a.port) != (
        b.scheme,
        b.user,
        b.password,
        b.host.lower(),
        b.port,
    ):
        return False
    for name in _URI_PARAMS_COMPARED:
        if name in a.params or name in b.params:
            left, right = a.params.get(name), b.params.get(name)
            if (left or "").lower() != (right or "").lower() or (left is None) != (right is None):
                return False
    for name in a.params.keys() & b.params.keys():
        if (a.params[name] or "").lower() != (b.params[name] or "").lower():
            return False
    return True


@dataclass(slots=True, unsafe_hash=True)  # see SipUri
class Address:
    """A name-addr or addr-spec with header parameters (From, To, Contact, Route)."""

    uri: str
    display_name: str | None = None
    params: Params = field(default_factory=dict)

    @property
    def is_wildcard(self) -> bool:
        return self.uri == "*"

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        if self.is_wildcard:
            return "*"
        name = f"{quote(self.display_name)} " if self.display_name is not None else ""
        return f"{name}<{self.uri}>{format_params(self.params)}"


@functools.lru_cache(maxsize=PARSE_CACHE)
def parse_address(text: str) -> Address:
    """Parse one name-addr, addr-spec or `*`."""
    fast = _FAST_ADDRESS_RE.fullmatch(text)
    if fast is not None and ":" in fast.group(1):
        param_text = fast.group(2)
        return Address(fast.group(1), None, _fast_params(param_text) if param_text else {})
    return _parse_address_strict(text)


def _parse_address_strict(text: str) -> Address:
    text = text.strip()
    if text == "*":
        return Address("*")
    display_name: str | None = None
    if text.startswith('"'):
        end = _scan_quoted(text, 0)
        display_name = unquote(text[:end])
        text = text[end:].lstrip()
        if not text.startswith("<"):
            raise SipParseError("display name without <uri>")
    elif "<" in text:
        words = text[: text.index("<")].strip()
        if words and not all(is_token(word) for word in words.split()):
            raise SipParseError(f"invalid display name {words!r}")
        display_name = " ".join(words.split()) or None
        text = text[text.index("<") :]
    if text.startswith("<"):
        close = text.find(">")
        if close < 0:
            raise SipParseError("unterminated '<' in address")
        uri, rest = text[1:close].strip(), text[close + 1 :]
        if rest.strip() and not rest.lstrip().startswith(";"):
            raise SipParseError("text after '>' in address")
    else:
        uri, semicolon, rest = text.partition(";")
        rest = semicolon + rest
    if ":" not in uri or _URI_FORBIDDEN_RE.search(uri):
        raise SipParseError(f"invalid URI {uri!r} in address")
    return Address(uri, display_name, parse_params(rest))


def parse_address_list(value: str) -> list[Address]:
    """Parse a comma-separated Contact/Route value into addresses."""
    addresses = [parse_address(part) for part in split_list(value)]
    if not addresses:
        raise SipParseError("empty address list")
    return addresses


@dataclass(slots=True, unsafe_hash=True)  # see SipUri
class Via:
    """One Via element: `SIP/2.0/UDP host:port;branch=...;rport;received=...`."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The port the peer saw us send from (RFC 3581), or None."""
        value = self.params.get("rport")
        return int(value) if value is not None and _DIGITS_RE.fullmatch(value) else None

    @property
    def sent_by(self) -> str:
        return _format_host_port(self.host.lower(), self.port)

    def __str__(self) -> str:
        sent_by = _format_host_port(self.host, self.port)
        return f"SIP/2.0/{self.transport} {sent_by}{format_params(self.params)}"


_VIA_RE = re.compile(r"\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+(\S+)\s*", re.IGNORECASE)


def parse_via_list(value: str) -> list[Via]:
    """Parse a (possibly comma-separated) Via header value."""
    return list(_parse_vias(value))


@functools.lru_cache(maxsize=PARSE_CACHE)
def _parse_vias(value: str) -> tuple[Via, ...]:
    fast = _FAST_VIA_RE.fullmatch(value)
    if fast is not None:
        transport, host, port_text, param_text = fast.groups()
        port = None if port_text is None else int(port_text)
        if port is None or port <= 65535:
            params = _fast_params(param_text) if param_text else {}
            return (Via(transport.upper(), host, port, params),)
    return _parse_vias_strict(value)


def _parse_vias_strict(value: str) -> tuple[Via, ...]:
    vias: list[Via] = []
    for element in split_list(value):
        head, _, rest = element.partition(";")
        match = _VIA_RE.fullmatch(head)
        if match is None:
            raise SipParseError(f"invalid Via {element!r}")
        host, port = parse_host_port(match.group(2))
        vias.append(Via(match.group(1).upper(), host, port, parse_params(rest)))
    if not vias:
        raise SipParseError("empty Via")
    return tuple(vias)


@functools.lru_cache(maxsize=PARSE_CACHE)  # "1 REGISTER", "2 REGISTER": shared by every phone
def parse_cseq(value: str) -> tuple[int, str]:
    """Parse `CSeq: 12 REGISTER` into `(12, "REGISTER")`."""
    parts = value.split()
    if len(parts) != 2 or not _DIGITS_RE.fullmatch(parts[0]) or not is_token(parts[1]):
        raise SipParseError(f"invalid CSeq {value!r}")
    number = int(parts[0])
    if number >= 2**31:
        raise SipParseError(f"CSeq number too large in {value!r}")
    return number, parts[1]


def parse_delta_seconds(value: str) -> int:
    """Parse Expires / Min-Expires / Retry-After (ignoring a trailing comment or params)."""
    if value.isdigit() and value.isascii() and len(value) <= 10:  # "3600": the regex's answer
        return int(value)
    return _parse_delta_seconds(value)


_DELTA_RE = re.compile(r"\s*([0-9]{1,10})\s*(?:$|[(;])")


def _parse_delta_seconds(value: str) -> int:
    """`parse_delta_seconds` for any value."""
    match = _DELTA_RE.match(value)
    if match is None:
        raise SipParseError(f"invalid delta-seconds {value!r}")
    return int(match.group(1))
