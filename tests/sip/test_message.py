"""Message parsing and serialising: golden cases fed whole, byte by byte and with trailing data."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.sip.errors import SipMessageTooLargeError, SipParseError
from trunkline.sip.headers import Address, Via, canonical_name
from trunkline.sip.message import (
    MAX_MESSAGE_SIZE,
    Headers,
    Request,
    Response,
    is_keepalive,
    parse_datagram,
)
from trunkline.sip.stream import StreamReader


@dataclass
class Golden:
    name: str
    raw: bytes
    start: tuple[str | int, str]
    headers: list[tuple[str, str]]
    body: bytes = b""
    vias: list[Via] = field(default_factory=list)
    contacts: list[Address] = field(default_factory=list)


GOLDEN = [
    Golden(
        "compact forms",
        b"REGISTER sip:example.com SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1;rport\r\n"
        b"f: <sip:alice@example.com>;tag=ft\r\n"
        b"t: <sip:alice@example.com>\r\n"
        b"i: call-1@host\r\n"
        b"CSeq: 7 REGISTER\r\n"
        b"m: <sip:alice@10.0.0.1:5060>;expires=120\r\n"
        b"k: path, outbound\r\n"
        b"s: hello\r\n"
        b"e: gzip\r\n"
        b"c: text/plain\r\n"
        b"l: 0\r\n\r\n",
        ("REGISTER", "sip:example.com"),
        [
            ("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1;rport"),
            ("From", "<sip:alice@example.com>;tag=ft"),
            ("To", "<sip:alice@example.com>"),
            ("Call-ID", "call-1@host"),
            ("CSeq", "7 REGISTER"),
            ("Contact", "<sip:alice@10.0.0.1:5060>;expires=120"),
            ("Supported", "path, outbound"),
            ("Subject", "hello"),
            ("Content-Encoding", "gzip"),
            ("Content-Type", "text/plain"),
            ("Content-Length", "0"),
        ],
        vias=[Via("UDP", "10.0.0.1", 5060, {"branch": "z9hG4bKa1", "rport": None})],
        contacts=[Address("sip:alice@10.0.0.1:5060", None, {"expires": "120"})],
    ),
    Golden(
        "folded challenge",
        b"SIP/2.0 401 Unauthorized\r\n"
        b"Via: SIP/2.0/UDP h:5060;branch=z9hG4bKb;received=1.2.3.4;rport=4000\r\n"
        b'WWW-Authenticate: Digest realm="r",\r\n'
        b'   nonce="n",\r\n'
        b'\tqop="auth"\r\n'
        b"Content-Length: 0\r\n\r\n",
        (401, "Unauthorized"),
        [
            ("Via", "SIP/2.0/UDP h:5060;branch=z9hG4bKb;received=1.2.3.4;rport=4000"),
            ("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth"'),
            ("Content-Length", "0"),
        ],
        vias=[
            Via("UDP", "h", 5060, {"branch": "z9hG4bKb", "received": "1.2.3.4", "rport": "4000"})
        ],
    ),
    Golden(
        "multi contact and via",
        b"SIP/2.0 200 OK\r\n"
        b"Via: SIP/2.0/TCP a:1;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\n"
        b"VIA: SIP/2.0/TLS [::1]:5061;branch=z9hG4bK3\r\n"
        b'Contact: "Doe, J" <sip:j@h;transport=tcp>;expires=60, <sip:k@h>;expires=30\r\n'
        b"m: sip:z@h;expires=0\r\n"
        b"Content-Length: 0\r\n\r\n",
        (200, "OK"),
        [
            ("Via", "SIP/2.0/TCP a:1;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"),
            ("Via", "SIP/2.0/TLS [::1]:5061;branch=z9hG4bK3"),
            ("Contact", '"Doe, J" <sip:j@h;transport=tcp>;expires=60, <sip:k@h>;expires=30'),
            ("Contact", "sip:z@h;expires=0"),
            ("Content-Length", "0"),
        ],
        vias=[
            Via("TCP", "a", 1, {"branch": "z9hG4bK1"}),
            Via("UDP", "b", None, {"branch": "z9hG4bK2"}),
            Via("TLS", "[::1]", 5061, {"branch": "z9hG4bK3"}),
        ],
        contacts=[
            Address("sip:j@h;transport=tcp", "Doe, J", {"expires": "60"}),
            Address("sip:k@h", None, {"expires": "30"}),
            Address("sip:z@h", None, {"expires": "0"}),
        ],
    ),
    Golden(
        "wildcard contact",
        b"REGISTER sip:h SIP/2.0\r\nContact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n",
        ("REGISTER", "sip:h"),
        [("Contact", "*"), ("Expires", "0"), ("Content-Length", "0")],
        contacts=[Address("*")],
    ),
    Golden(
        "bare LF, leading CRLF, spaces before colon, empty reason",
        b"\r\n\r\nSIP/2.0 200\nCall-ID   : x\nSubject:\nContent-Length: 2\n\nhi",
        (200, ""),
        [("Call-ID", "x"), ("Subject", ""), ("Content-Length", "2")],
        body=b"hi",
    ),
    Golden(
        "body",
        b"OPTIONS sip:h SIP/2.0\r\nc: application/sdp\r\nl: 12\r\n\r\nv=0\r\no=- 1\r\n",
        ("OPTIONS", "sip:h"),
        [("Content-Type", "application/sdp"), ("Content-Length", "12")],
        body=b"v=0\r\no=- 1\r\n",
    ),
    Golden(
        "utf-8 reason",
        "SIP/2.0 403 Запрещено - bad password\r\nl: 0\r\n\r\n".encode(),
        (403, "Запрещено - bad password"),
        [("Content-Length", "0")],
    ),
]


def _check(message: Request | Response, golden: Golden) -> None:
    if isinstance(message, Request):
        assert (message.method, message.uri) == golden.start
    else:
        assert (message.status_code, message.reason) == golden.start
    assert list(message.headers) == golden.headers
    assert message.body == golden.body
    if golden.vias:
        assert message.vias == golden.vias
    assert message.contacts == golden.contacts


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda g: g.name)
def test_parse_datagram_golden(golden: Golden) -> None:
    _check(parse_datagram(golden.raw), golden)


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda g: g.name)
def test_stream_feed_golden_whole(golden: Golden) -> None:
    reader = StreamReader()
    messages = [e for e in reader.feed(golden.raw) if isinstance(e, Request | Response)]
    assert len(messages) == 1
    _check(messages[0], golden)
    assert reader.buffered == 0


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda g: g.name)
def test_stream_feed_golden_byte_by_byte(golden: Golden) -> None:
    reader = StreamReader()
    events = [e for byte in golden.raw for e in reader.feed(bytes([byte]))]
    messages = [e for e in events if isinstance(e, Request | Response)]
    assert len(messages) == 1
    _check(messages[0], golden)


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda g: g.name)
def test_stream_feed_golden_with_trailing_data(golden: Golden) -> None:
    reader = StreamReader()
    trailing = b"OPTIONS sip:next SIP/2.0\r\nContent-Le"
    events = reader.feed(golden.raw + trailing)
    messages = [e for e in events if isinstance(e, Request | Response)]
    assert len(messages) == 1
    _check(messages[0], golden)
    assert reader.buffered == len(trailing)
    (follow_up,) = reader.feed(b"ngth: 0\r\n\r\n")
    assert isinstance(follow_up, Request)
    assert follow_up.uri == "sip:next"


def test_parse_datagram_extra_bytes_after_content_length_dropped() -> None:
    message = parse_datagram(b"OPTIONS sip:h SIP/2.0\r\nl: 2\r\n\r\nabcdef")
    assert message.body == b"ab"


def test_parse_datagram_without_content_length_takes_rest() -> None:
    message = parse_datagram(b"OPTIONS sip:h SIP/2.0\r\nCall-ID: x\r\n\r\nrest")
    assert message.body == b"rest"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"garbage", id="no blank line"),
        pytest.param(b"\r\n\r\n", id="only CRLF"),
        pytest.param(b"REGISTER sip:x SIP/3.0\r\n\r\n", id="bad version"),
        pytest.param(b"REGISTER  sip:x SIP/2.0\r\n\r\n", id="double space"),
        pytest.param(b"SIP/2.0 99 Low\r\n\r\n", id="two digit status"),
        pytest.param(b"SIP/2.0 700 High\r\n\r\n", id="status 700"),
        pytest.param(b"SIP/2.0 200 O\x01K\r\n\r\n", id="control char in reason"),
        pytest.param(b"OPTIONS sip:h SIP/2.0\r\nX: \xff\r\n\r\n", id="not utf-8"),
        pytest.param(b"OPTIONS sip:h SIP/2.0\r\nX: a\x00b\r\n\r\n", id="NUL in header"),
        pytest.param(b"OPTIONS sip:h SIP/2.0\r\nNoColon\r\n\r\n", id="no colon"),
        pytest.param(
            b"OPTIONS sip:h SIP/2.0\r\nA: b\r\n c\r\nNoColon\r\n\r\n", id="no colon, folded"
        ),
        pytest.param(b"OPTIONS sip:h SIP/2.0\r\n folded\r\n\r\n", id="fold first"),
        pytest.param(b"OPTIONS sip:h SIP/2.0\r\nBad Name: x\r\n\r\n", id="bad name"),
        pytest.param(b"OPTIONS sip:h SIP/2.0\r\nl: x\r\n\r\n", id="bad length"),
        pytest.param(b"OPTIONS sip:h SIP/2.0\r\nl: -1\r\n\r\n", id="negative length"),
        pytest.param(b"OPTIONS sip:h SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nab", id="two lengths"),
        pytest.param(b"OPTIONS sip:h SIP/2.0\r\nl: 5\r\n\r\nab", id="short body"),
        pytest.param(b"OPTIONS sip:h SIP/2.0\rX: y\r\n\r\n", id="bare CR"),
    ],
)
def test_parse_datagram_malformed_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_datagram(raw)


def test_parse_datagram_same_lengths_accepted() -> None:
    assert parse_datagram(b"OPTIONS sip:h SIP/2.0\r\nl: 2\r\nl: 2\r\n\r\nab").body == b"ab"


def test_parse_datagram_oversized_raises_too_large() -> None:
    raw = b"OPTIONS sip:h SIP/2.0\r\nX: " + b"a" * MAX_MESSAGE_SIZE + b"\r\n\r\n"
    with pytest.raises(SipMessageTooLargeError):
        parse_datagram(raw)
    with pytest.raises(SipMessageTooLargeError):
        parse_datagram(b"OPTIONS sip:h SIP/2.0\r\n\r\n", max_size=10)


@pytest.mark.parametrize(
    ("raw", "accessor"),
    [
        (b"OPTIONS sip:h SIP/2.0\r\n\r\n", "call_id"),
        (b"OPTIONS sip:h SIP/2.0\r\ni: a b\r\n\r\n", "call_id"),
        (b"OPTIONS sip:h SIP/2.0\r\ni:\r\n\r\n", "call_id"),
        (b"OPTIONS sip:h SIP/2.0\r\n\r\n", "cseq"),
        (b"OPTIONS sip:h SIP/2.0\r\nCSeq: x\r\n\r\n", "cseq"),
        (b"OPTIONS sip:h SIP/2.0\r\n\r\n", "vias"),
        (b"OPTIONS sip:h SIP/2.0\r\nv: junk\r\n\r\n", "vias"),
        (b"OPTIONS sip:h SIP/2.0\r\n\r\n", "from_address"),
        (b"OPTIONS sip:h SIP/2.0\r\nt: <sip:a\r\n\r\n", "to_address"),
        (b"OPTIONS sip:h SIP/2.0\r\nm: <sip:a\r\n\r\n", "contacts"),
    ],
)
def test_message_accessor_missing_or_malformed_raises(raw: bytes, accessor: str) -> None:
    message = parse_datagram(raw)
    with pytest.raises(SipParseError):
        getattr(message, accessor)


def test_message_accessors_valid() -> None:
    message = parse_datagram(GOLDEN[0].raw)
    assert message.call_id == "call-1@host"
    assert message.cseq == (7, "REGISTER")
    assert message.from_address.tag == "ft"
    assert message.to_address.uri == "sip:alice@example.com"
    assert Request("OPTIONS", "sip:h").contacts == []


def test_headers_operations() -> None:
    headers = Headers([("v", "a"), ("Via", "b"), ("To", "t")])
    assert headers.get("VIA") == "a"
    assert headers.get("Nope") is None
    assert headers.get_all("via") == ["a", "b"]
    assert "to" in headers
    assert "from" not in headers
    assert 3 not in headers
    assert len(headers) == 3
    headers.set("Via", "c")
    assert list(headers) == [("Via", "c"), ("To", "t")]
    headers.set("New", "n")
    assert list(headers)[-1] == ("New", "n")
    headers.remove("to")
    assert headers.get_all("To") == []
    assert headers == Headers([("Via", "c"), ("New", "n")])
    assert headers != [("Via", "c")]
    assert repr(headers) == "Headers([('Via', 'c'), ('New', 'n')])"
    headers.add("Route", "<sip:a;lr>, <sip:b;lr>")
    headers.add("Route", "<sip:c>")
    assert headers.get_list("Route") == ["<sip:a;lr>", "<sip:b;lr>", "<sip:c>"]


_names = st.sampled_from(["Via", "v", "To", "t", "Contact", "m", "X-Other"])
_operations = st.lists(
    st.tuples(st.sampled_from(["add", "set", "remove", "get", "get_all"]), _names, st.text("ab")),
    max_size=30,
)


@given(_operations)
def test_headers_lookups_follow_every_change(operations: list[tuple[str, str, str]]) -> None:
    """Lookups go through an index: after any sequence of changes they answer as a scan of
    the fields would, and a list handed out is not changed by later changes."""
    headers = Headers([("v", "first")])
    handed: list[tuple[list[str], list[str]]] = []
    for operation, name, value in operations:
        if operation in ("add", "set"):
            getattr(headers, operation)(name, value)
        elif operation == "remove":
            headers.remove(name)
        else:
            got = headers.get_all(name)
            handed.append((got, list(got)))
        key = canonical_name(name)
        scanned = [v for n, v in headers if n == key]
        assert headers.get_all(name) == scanned
        assert headers.get(name) == (scanned[0] if scanned else None)
        assert (name in headers) == bool(scanned)
    for got, then in handed:
        assert got == then


@pytest.mark.parametrize("value", ["a\r\nX: injected", "a\nb", "a\rb"])
def test_headers_add_cr_or_lf_raises(value: str) -> None:
    with pytest.raises(SipParseError):
        Headers().add("Subject", value)


def test_to_bytes_writes_true_content_length_in_place() -> None:
    request = Request(
        "OPTIONS", "sip:h", Headers([("Content-Length", "99"), ("Foo", "1"), ("l", "5")]), b"abc"
    )
    assert request.to_bytes() == b"OPTIONS sip:h SIP/2.0\r\nContent-Length: 3\r\nFoo: 1\r\n\r\nabc"


def test_to_bytes_appends_missing_content_length() -> None:
    response = Response(180, "Ringing", Headers([("Call-ID", "x")]))
    assert response.to_bytes() == b"SIP/2.0 180 Ringing\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"\r\n\r\n", True), (b"\r\n", True), (b"\x00\x00\x00\x00", True), (b"", True), (b"O", False)],
)
def test_is_keepalive(data: bytes, expected: bool) -> None:
    assert is_keepalive(data) is expected


# -- properties ---------------------------------------------------------------------------

_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789-.!%*_+`'~", min_size=1, max_size=10
)
_value = st.text(
    st.characters(
        codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="\x85\u2028\u2029"
    ),
    max_size=30,
).map(str.strip)
_header_names = st.sampled_from(
    [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Expires",
        "User-Agent",
        "X-Test",
        "Subject",
    ]
)
_headers = st.lists(st.tuples(_header_names, _value), max_size=8)


@st.composite
def _messages(draw: st.DrawFn) -> Request | Response:
    headers = Headers(draw(_headers))
    body = draw(st.binary(max_size=40))
    if draw(st.booleans()):
        return Request(draw(_token), "sip:" + draw(_token), headers, body)
    return Response(draw(st.integers(100, 699)), draw(_value), headers, body)


def _normalised(message: Request | Response) -> Request | Response:
    message.headers.remove("Content-Length")
    message.headers.add("Content-Length", str(len(message.body)))
    return message


@settings(max_examples=200, deadline=None)
@given(_messages())
def test_message_round_trips_through_datagram(message: Request | Response) -> None:
    assert parse_datagram(message.to_bytes()) == _normalised(message)


@settings(max_examples=150, deadline=None)
@given(st.lists(_messages(), min_size=1, max_size=4), st.data())
def test_message_round_trips_through_stream_in_any_chunking(
    messages: list[Request | Response], data: st.DataObject
) -> None:
    wire = b"".join(m.to_bytes() for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    reader = StreamReader()
    received = []
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        received.extend(reader.feed(wire[start:end]))
    assert received == [_normalised(m) for m in messages]


_golden_raw = st.sampled_from([g.raw for g in GOLDEN])


@st.composite
def _mutations(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(_golden_raw))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        position = draw(st.integers(0, max(0, len(raw) - 1)))
        if action == "truncate":
            del raw[position:]
        elif action == "flip" and raw:
            raw[position] = draw(st.integers(0, 255))
        elif action == "insert":
            raw[position:position] = draw(st.binary(min_size=1, max_size=8))
        else:
            del raw[position : position + draw(st.integers(1, 8))]
    return bytes(raw)


def _touch_every_accessor(message: Request | Response) -> None:
    for accessor in ("call_id", "cseq", "vias", "from_address", "to_address", "contacts"):
        with contextlib.suppress(SipParseError):
            getattr(message, accessor)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_mutations(), st.binary(max_size=200)))
def test_parse_datagram_fuzz_raises_only_parse_errors(raw: bytes) -> None:
    try:
        message = parse_datagram(raw)
    except SipParseError:
        return
    _touch_every_accessor(message)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_mutations(), st.binary(max_size=100)), max_size=5))
def test_stream_reader_fuzz_raises_only_parse_errors_and_stays_bounded(chunks: list[bytes]) -> None:
    reader = StreamReader(max_size=512)
    for chunk in chunks:
        try:
            events = reader.feed(chunk)
        except SipParseError:
            return
        assert reader.buffered <= 512 + len(chunk)
        for event in events:
            if isinstance(event, Request | Response):
                _touch_every_accessor(event)


@settings(max_examples=300)
@given(
    fields=st.lists(
        st.tuples(
            st.sampled_from(["Call-ID", "i", "call-id", "To", "t", "CSeq", "X-A", "From"]),
            st.sampled_from(["a", "b c", ""]),
        ),
        max_size=5,
    ),
    name=st.sampled_from(["Call-ID", "To", "CSeq", "From", "X-A", "x-a", "i", "Nope"]),
    indexed=st.booleans(),
)
def test_required_and_contains_read_as_get(
    fields: list[tuple[str, str]], name: str, indexed: bool
) -> None:
    # the index read directly: what Headers.get finds (or its absence), either way indexed
    request = Request("REGISTER", "sip:h", Headers(fields))
    if indexed:
        request.headers.get("Via")
    expected = request.headers.get(name)
    assert (name in request.headers) == (expected is not None)
    if expected is None:
        with pytest.raises(SipParseError, match=f"missing {name} header"):
            request._required(name)
    else:
        assert request._required(name) == expected
