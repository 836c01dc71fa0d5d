"""The parsers' fast paths give exactly what the strict parsers give, errors included.

Each fast path handles the common well-formed shape and hands anything else to the strict
parser; these properties feed both the same generated, mutated and malformed input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from trunkline.sip.errors import SipParseError
from trunkline.sip.headers import _uri_matches, uri_matches
from trunkline.sip.message import (
    Headers,
    Request,
    Response,
    _parse_head_strict,
    is_keepalive,
    parse_head,
)

from .test_message import GOLDEN

_REGISTER = (
    b"REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-1-7-2;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:phone7@127.0.0.1:5060>;tag=1SIPpTag007\r\n"
    b"To: <sip:phone7@127.0.0.1:5060>\r\n"
    b"Call-ID: 1-7@127.0.0.1\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Contact: <sip:phone7@127.0.0.1:5099;transport=UDP>\r\n"
    b"Expires: 3600\r\n"
    b'Authorization: Digest username="phone7", realm="r", nonce="n", uri="sip:h",'
    b' response="0123", qop=auth, nc=00000001, cnonce="c"\r\n'
    b"Content-Length: 0"
)
_SEEDS = [
    _REGISTER,
    _REGISTER.rpartition(b"\r\n")[0],
    *(g.raw.split(b"\r\n\r\n")[0].split(b"\n\n")[0] for g in GOLDEN),
]
# Bytes that steer the parsers into their corners: line ends, folding, colons, controls,
# digits (Content-Length), non-ASCII and bytes that are not UTF-8.
_NASTY = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\r\n ",
    b"\n\t",
    b"\t",
    b" ",
    b":",
    b"\x00",
    b"\x7f",
    b"\x1b",
    b"0",
    b"9",
    b"\xc2\xa0",
    b"\xe2\x80\xa8",
    b"\xff",
    b"\r\nl: 5",
    b"\r\nContent-Length: 12345678901",
    b"\r\nContent-Length: 3",
    b"SIP/2.0 ",
    b";",
    b",",
]

# Whole header lines, put at a line end: Content-Length in its odd spellings among them.
_LINES = [
    b"l: 7",
    b"Content-Length: \xd9\xa3",
    b"l: \xc2\xb2",
    b"l:",
    b"l: 00000000001",
    b"l: +1",
    b"l: 1 ",
    b"l:\t2",
    b"Content-Length : 0",
    b"X-A: \xc2\xa0v\xc2\xa0",
    b"v : SIP/2.0/UDP h",
    b"Bad Name: x",
    b": x",
    b"x",
]


@st.composite
def _heads(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        action = draw(
            st.sampled_from(["insert", "nasty", "line", "line", "flip", "delete", "truncate"])
        )
        position = draw(st.integers(0, len(raw)))
        if action == "insert":
            raw[position:position] = draw(st.binary(min_size=1, max_size=6))
        elif action == "line":
            ends = [i for i in range(len(raw) + 1) if raw[i : i + 2] in (b"\r\n", b"")]
            end = draw(st.sampled_from(ends))
            raw[end:end] = b"\r\n" + draw(st.sampled_from(_LINES))
        elif action == "nasty":
            raw[position:position] = draw(st.sampled_from(_NASTY))
        elif action == "flip" and position < len(raw):
            raw[position] = draw(st.integers(0, 255))
        elif action == "delete":
            del raw[position : position + draw(st.integers(1, 8))]
        elif action == "truncate":
            del raw[position:]
    if draw(st.booleans()):
        raw[0:0] = draw(st.sampled_from([b"\r\n", b"\n", b"\r\n\r\n"]))
    return bytes(raw)


def _outcome(parse: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    try:
        return ("parsed", parse(*args))
    except SipParseError as exc:
        return ("error", type(exc), str(exc))


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_heads(), st.binary(max_size=120)))
@example(b"REGISTER sip:h SIP/2.0\r\nContent-Length: \xd9\xa3")  # a digit, not ASCII
@example(b"SIP/2.0 200 OK\r\nl: 12345678901")
@example(b"SIP/2.0 200 \x1bOK\r\nl: 0")
@example(b"OPTIONS sip:\x01 SIP/2.0\nl: 0")
@example(b"\r\nOPTIONS sip:h SIP/2.0\r\nl: 0\r\n l: 1")
@example(b"OPTIONS sip:h SIP/2.0\r\nBad Name: x\r\nnocolon\r\nX: a\r\n b")  # errors' order
@example(b"OPTIONS sip:h SIP/2.0\r\n\tX: a")  # a continuation before the first field
def test_parse_head_equals_the_strict_parser(head: bytes) -> None:
    fast = _outcome(parse_head, head)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        assert fast == ("error", SipParseError, "header block is not UTF-8")
        return
    assert fast == _outcome(_parse_head_strict, text)
    if fast[0] == "parsed":  # the index built while parsing is the one lookups would build
        headers = fast[1][0].headers
        assert headers._index == Headers(list(headers))._indexed()


# Pieces of URIs, addresses and Vias: the common shapes and their near misses.
_piece = st.sampled_from
_hosts = _piece(
    [
        "h",
        "127.0.0.1",
        "example.com.",
        "a-b.c",
        "-a",
        "a-",
        "[::1]",
        "[::1",
        "[x]",
        "",
        "h h",
        "H",
        "\xa0h",
        "a..b",
        "1.2.3.4\n",
    ]
)
_ports = _piece(["", ":5060", ":0", ":65535", ":65536", ":99999", ":123456", ":", ":x", ":05060"])
_users = _piece(["", "phone7@", "a b@", "a:pw@", "@", "a@b@", "a;x=1@", "a?b@", "é@", "a\tb@"])
_params = st.lists(
    st.tuples(
        _piece(["branch", "rport", "tag", "Tag", "expires", "transport", "lr", "", "a b", "x,y"]),
        _piece(
            [
                None,
                "",
                "z9hG4bK-1",
                "UDP",
                "60",
                "a,b",
                "a?b",
                "a=b",
                '"q"',
                '"a b"',
                " x",
                "x ",
                "\xa0",
                "[::1]",
                "a;b",
                "<x>",
                "é",
            ]
        ),
    ),
    max_size=3,
).map(lambda ps: "".join(f";{n}" if v is None else f";{n}={v}" for n, v in ps))
_tails = _piece(["", "", "", " ", ";", ",", "?h=1", ">", ", SIP/2.0/UDP b", "\t", "\xa0"])


def _strict_and_fast(name: str) -> tuple[Callable[[str], Any], Callable[[str], Any]]:
    from trunkline.sip import headers

    cached = getattr(headers, name)
    return cached.__wrapped__, getattr(headers, f"_{name.lstrip('_')}_strict")


@settings(max_examples=1500, deadline=None)
@given(
    _piece(["sip:", "sips:", "SIP:", "tel:", "sip", " sip:"]),
    _users,
    _hosts,
    _ports,
    _params,
    _tails,
)
@example("sip:", "", "h", ":99999", "", "")
@example("sip:", "a?b@", "h", "", ";transport=a?b", "")
def test_parse_uri_fast_path_equals_the_strict_parser(
    scheme: str, user: str, host: str, port: str, params: str, tail: str
) -> None:
    fast, strict = _strict_and_fast("parse_uri")
    text = scheme + user + host + port + params + tail
    assert _outcome(fast, text) == _outcome(strict, text)


@settings(max_examples=1500, deadline=None)
@given(
    _piece(["<", '"A" <', "A <", " <", "<\xa0", ""]),
    _users,
    _hosts,
    _ports,
    _params,
    _piece([">", "> ", "", ">>", ' >"', "\xa0>"]),
    _params,
    _tails,
)
@example("<\xa0", "", "h", "", "", ">", "", "")
@example("<", "", "h", "", "", ">", ";tag=a?b,c", "")
def test_parse_address_fast_path_equals_the_strict_parser(
    opening: str,
    user: str,
    host: str,
    port: str,
    uri_params: str,
    closing: str,
    params: str,
    tail: str,
) -> None:
    fast, strict = _strict_and_fast("parse_address")
    text = f"{opening}sip:{user}{host}{port}{uri_params}{closing}{params}{tail}"
    assert _outcome(fast, text) == _outcome(strict, text)


@settings(max_examples=1500, deadline=None)
@given(
    _piece(
        [
            "SIP/2.0/UDP ",
            "SIP/2.0/tcp ",
            "sip/2.0/UDP ",
            "SIP/2.0/UDP  ",
            "SIP/2.0 /UDP ",
            "SIP/2.0/ ",
            "SIP/2.0/UDP\t",
            " SIP/2.0/UDP ",
        ]
    ),
    _hosts,
    _ports,
    _params,
    _tails,
)
@example("SIP/2.0/UDP ", "h", "", ";branch=a,b", "")
@example("SIP/2.0/UDP ", "h", ":70000", "", "")
def test_parse_vias_fast_path_equals_the_strict_parser(
    protocol: str, host: str, port: str, params: str, tail: str
) -> None:
    fast, strict = _strict_and_fast("_parse_vias")
    text = protocol + host + port + params + tail
    assert _outcome(fast, text) == _outcome(strict, text)


def _serialised_by_the_book(message: Request | Response) -> bytes:
    """What to_bytes writes, field by field: every field, the first Content-Length
    replaced by the true one and the others dropped, or the true one appended."""
    if isinstance(message, Request):
        lines = [f"{message.method} {message.uri} SIP/2.0"]
    else:
        lines = [f"SIP/2.0 {message.status_code} {message.reason}"]
    written = False
    for name, value in message.headers:
        if name == "Content-Length":
            if written:
                continue
            value, written = str(len(message.body)), True
        lines.append(f"{name}: {value}")
    if not written:
        lines.append(f"Content-Length: {len(message.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + message.body


_field_values = st.sampled_from(["0", "12", "x", "", "Content-Length: 5", "a: b", "é"])


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["Via", "l", "Content-Length", "X-A"]), _field_values)),
    st.binary(max_size=20),
    st.booleans(),
)
def test_to_bytes_writes_every_field_and_the_true_content_length(
    fields: list[tuple[str, str]], body: bytes, request: bool
) -> None:
    headers = Headers(fields)
    message: Request | Response
    message = (
        Request("OPTIONS", "sip:h", headers, body)
        if request
        else Response(200, "OK", headers, body)
    )
    assert message.to_bytes() == _serialised_by_the_book(message)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=12).map(lambda b: b.replace(b"x", b"\r")))
@example(b"")
@example(b"\r\n\x00 \tx")
def test_is_keepalive_is_a_datagram_of_crlf_nul_space_tab_only(data: bytes) -> None:
    assert is_keepalive(data) == (not data.strip(b"\r\n\x00 \t"))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["sip:a@h", "SIP:a@H", "sip:a@h;transport=udp", "tel:1", " sip:a@h", "<x"]))
def test_a_uri_matches_its_own_text(text: str) -> None:
    assert uri_matches(text, text)
    assert _uri_matches(text, text)  # what the parse would say


@settings(max_examples=500)
@given(
    st.one_of(
        st.text(alphabet="0123456789", max_size=12),
        st.text(alphabet="0123456789 \t;(x\u0663\u00b2\n", max_size=14),
        st.text(max_size=8),
    )
)
@example("3600")
@example("0000000000")
@example("12345678901")
@example("\u0663")  # a digit, not ASCII
@example("\u00b2")  # isdigit, not a decimal
@example("60\n")
def test_parse_delta_seconds_fast_path_equals_the_regex(value: str) -> None:
    from trunkline.sip.headers import _parse_delta_seconds, parse_delta_seconds

    assert _outcome(parse_delta_seconds, value) == _outcome(_parse_delta_seconds, value)
