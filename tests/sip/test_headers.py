"""Header grammar: names, lists, params, URIs, addresses, Via, CSeq, delta-seconds."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.sip.errors import SipParseError
from trunkline.sip.headers import (
    Address,
    SipUri,
    Via,
    canonical_name,
    format_params,
    parse_address,
    parse_address_list,
    parse_cseq,
    parse_delta_seconds,
    parse_host_port,
    parse_params,
    parse_uri,
    parse_via_list,
    quote,
    split_list,
    unquote,
    uri_matches,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("v", "Via"),
        ("F", "From"),
        ("t", "To"),
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("l", "Content-Length"),
        ("k", "Supported"),
        ("s", "Subject"),
        ("e", "Content-Encoding"),
        ("c", "Content-Type"),
        ("call-id", "Call-ID"),
        ("CSEQ", "CSeq"),
        ("www-authenticate", "WWW-Authenticate"),
        ("proxy-authenticate", "Proxy-Authenticate"),
        ("min-expires", "Min-Expires"),
        ("X-Custom-thing", "X-Custom-Thing"),
    ],
)
def test_canonical_name_expands_and_normalises(name: str, expected: str) -> None:
    assert canonical_name(name) == expected


@pytest.mark.parametrize("name", ["", "Bad Name", "Na:me", "é"])
def test_canonical_name_invalid_raises(name: str) -> None:
    with pytest.raises(SipParseError):
        canonical_name(name)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a, b,c", ["a", "b", "c"]),
        ('"Doe, John" <sip:a@b>, <sip:c@d>', ['"Doe, John" <sip:a@b>', "<sip:c@d>"]),
        ("<sip:a@b;x=1,2>, <sip:c@d>", ["<sip:a@b;x=1,2>", "<sip:c@d>"]),
        ('"a \\" , b" <sip:x@y>', ['"a \\" , b" <sip:x@y>']),
        (" , a,, ", ["a"]),
        ("", []),
    ],
)
def test_split_list_respects_quotes_and_brackets(value: str, expected: list[str]) -> None:
    assert split_list(value) == expected


@pytest.mark.parametrize("value", ['"unterminated, x', "<sip:a@b, c"])
def test_split_list_unterminated_raises(value: str) -> None:
    with pytest.raises(SipParseError):
        split_list(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (";branch=z9hG4bK1;rport", {"branch": "z9hG4bK1", "rport": None}),
        ("tag=abc ; Expires = 60", {"tag": "abc", "expires": "60"}),
        (';+sip.instance="<urn:uuid:1;2>"', {"+sip.instance": "<urn:uuid:1;2>"}),
        (";received=[2001:db8::1]", {"received": "[2001:db8::1]"}),
        ("", {}),
        ("  ", {}),
    ],
)
def test_parse_params_valid(text: str, expected: dict[str, str | None]) -> None:
    assert parse_params(text) == expected


@pytest.mark.parametrize("text", [";=x", ";a b=1", ";a=<x>", ';a="open', ";a=1 2"])
def test_parse_params_invalid_raises(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_params(text)


def test_parse_params_uri_mode_keeps_quotes_raw() -> None:
    with pytest.raises(SipParseError):
        parse_params(';a="x"', uri=True)
    assert parse_params(";maddr=1.2.3.4;lr", uri=True) == {"maddr": "1.2.3.4", "lr": None}


def test_format_params_quotes_only_when_needed() -> None:
    params = {"a": "token", "b": None, "c": "needs space", "d": "[::1]"}
    assert format_params(params) == ';a=token;b;c="needs space";d=[::1]'
    assert format_params({"x": "a b"}, uri=True) == ";x=a b"


def test_quote_escapes_and_unquote_reverses() -> None:
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert unquote(quote('a"b\\c')) == 'a"b\\c'
    assert quote("line\r\nbreak") == '"line  break"'
    assert unquote("token") == "token"


@pytest.mark.parametrize("text", ['"abc" x', '"abc'])
def test_unquote_invalid_raises(text: str) -> None:
    with pytest.raises(SipParseError):
        unquote(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", ("example.com", None)),
        ("10.0.0.1:5060", ("10.0.0.1", 5060)),
        ("[2001:db8::1]:5061", ("[2001:db8::1]", 5061)),
        ("[::1]", ("[::1]", None)),
        ("a", ("a", None)),
        ("host.example.", ("host.example.", None)),
    ],
)
def test_parse_host_port_valid(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize(
    "text", ["", "[::1", "[zz]", "host:", "host:abc", "host:70000", "-bad", "[::1]x", "a b"]
)
def test_parse_host_port_invalid_raises(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_host_port(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:example.com", SipUri("example.com")),
        (
            "SIP:alice:pw@Example.com:5070;transport=TCP;lr?subject=x",
            SipUri(
                "Example.com",
                "alice",
                "pw",
                5070,
                "sip",
                {"transport": "TCP", "lr": None},
                "subject=x",
            ),
        ),
        ("sips:bob@[::1]", SipUri("[::1]", "bob", scheme="sips")),
        ("sip:a%40b@host", SipUri("host", "a%40b")),
    ],
)
def test_parse_uri_valid(text: str, expected: SipUri) -> None:
    assert parse_uri(text) == expected


@pytest.mark.parametrize(
    "text", ["tel:+123", "example.com", "sip:", "sip:@host", "sip:a b@host", "sip:host:x"]
)
def test_parse_uri_invalid_raises(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_uri(text)


def test_sip_uri_str_round_trips() -> None:
    text = "sip:alice:pw@example.com:5070;transport=tcp;lr?h=1"
    assert str(parse_uri(text)) == text
    assert str(SipUri("host")) == "sip:host"


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("sip:a@Host.COM", "SIP:a@host.com", True),
        ("sip:A@host", "sip:a@host", False),
        ("sip:a@host", "sip:a@host:5060", False),
        ("sip:a@host;transport=TCP", "sip:a@host;transport=tcp", True),
        ("sip:a@host;transport=tcp", "sip:a@host", False),
        ("sip:a@host", "sip:a@host;transport=udp", False),
        ("sip:a@host;lr", "sip:a@host;transport=", False),
        ("sip:a@host;foo=1", "sip:a@host;bar=2", True),
        ("sip:a@host;foo=1", "sip:a@host;foo=2", False),
        ("sip:a@host;foo=X", "sip:a@host;foo=x", True),
        ("sip:a@host;lr", "sip:a@host;lr", True),
        ("tel:+1", " tel:+1 ", True),
        ("tel:+1", "sip:a@host", False),
        ("sip:a:p@host", "sip:a:q@host", False),
    ],
)
def test_uri_matches_rfc3261_rules(first: str, second: str, expected: bool) -> None:
    assert uri_matches(first, second) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*", Address("*")),
        ("<sip:a@b>", Address("sip:a@b")),
        (
            '"Alice, A." <sip:a@b;transport=tcp>;tag=1',
            Address("sip:a@b;transport=tcp", "Alice, A.", {"tag": "1"}),
        ),
        ("Bob  Smith <sip:b@c> ;expires=60", Address("sip:b@c", "Bob Smith", {"expires": "60"})),
        ("sip:a@b;expires=60;q=0.5", Address("sip:a@b", None, {"expires": "60", "q": "0.5"})),
        ('"" <sip:a@b>', Address("sip:a@b", "")),
        ("<tel:+123>", Address("tel:+123")),
        ("< sip:a@b >", Address("sip:a@b")),
    ],
)
def test_parse_address_valid(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        '"x" sip:a@b',
        "<sip:a@b",
        "<sip:a@b> junk",
        "bad@name <sip:a@b>",
        "noscheme",
        "<sip:a b@c>",
        "",
        '"open <sip:a@b>',
    ],
)
def test_parse_address_invalid_raises(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_address(text)


def test_address_str_and_properties() -> None:
    address = Address("sip:a@b", 'Al "x"', {"tag": "t1", "lr": None})
    assert str(address) == '"Al \\"x\\"" <sip:a@b>;tag=t1;lr'
    assert address.tag == "t1"
    assert not address.is_wildcard
    assert str(Address("*")) == "*"
    assert Address("*").is_wildcard


def test_parse_address_list_splits_and_rejects_empty() -> None:
    assert [a.uri for a in parse_address_list("<sip:a@b>, sip:c@d")] == ["sip:a@b", "sip:c@d"]
    with pytest.raises(SipParseError):
        parse_address_list(" , ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport",
            [Via("UDP", "10.0.0.1", 5060, {"branch": "z9hG4bK1", "rport": None})],
        ),
        (
            "SIP / 2.0 / tcp host ;received=1.2.3.4;rport=9, SIP/2.0/TLS [::1]:5061",
            [
                Via("TCP", "host", None, {"received": "1.2.3.4", "rport": "9"}),
                Via("TLS", "[::1]", 5061),
            ],
        ),
    ],
)
def test_parse_via_list_valid(value: str, expected: list[Via]) -> None:
    assert parse_via_list(value) == expected


@pytest.mark.parametrize(
    "value", ["", "SIP/2.0 host", "SIP/3.0/UDP host", "SIP/2.0/UDP", "SIP/2.0/UDP host:x"]
)
def test_parse_via_list_invalid_raises(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_via_list(value)


def test_via_properties() -> None:
    via = Via("UDP", "Host", 5060, {"branch": "z9hG4bKx", "received": "1.1.1.1", "rport": "7"})
    assert (via.branch, via.received, via.rport, via.sent_by) == (
        "z9hG4bKx",
        "1.1.1.1",
        7,
        "host:5060",
    )
    assert Via("UDP", "h", None, {"rport": None}).rport is None
    assert Via("UDP", "h", None, {"rport": "²"}).rport is None
    assert Via("UDP", "h").sent_by == "h"
    assert str(via) == "SIP/2.0/UDP Host:5060;branch=z9hG4bKx;received=1.1.1.1;rport=7"


@pytest.mark.parametrize(
    ("value", "expected"), [("1 REGISTER", (1, "REGISTER")), (" 42   OPTIONS ", (42, "OPTIONS"))]
)
def test_parse_cseq_valid(value: str, expected: tuple[int, str]) -> None:
    assert parse_cseq(value) == expected


@pytest.mark.parametrize(
    "value", ["", "REGISTER", "x REGISTER", "1 2 3", "²  REGISTER", "2147483648 R", "1 RE;G"]
)
def test_parse_cseq_invalid_raises(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_cseq(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3600", 3600), (" 0 ", 0), ("120 (in a meeting);duration=60", 120), ("30;x=1", 30)],
)
def test_parse_delta_seconds_valid(value: str, expected: int) -> None:
    assert parse_delta_seconds(value) == expected


@pytest.mark.parametrize("value", ["", "abc", "-1", "1.5", "12345678901"])
def test_parse_delta_seconds_invalid_raises(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_delta_seconds(value)


# -- property round trips ----------------------------------------------------------------

_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789-.!%*_+`'~", min_size=1, max_size=8
)
_host = st.one_of(
    st.from_regex(r"[a-z][a-z0-9]{0,6}(\.[a-z][a-z0-9]{0,6}){0,2}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
)
_port = st.one_of(st.none(), st.integers(1, 65535))
_value = st.one_of(
    st.none(),
    _token,
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=10),
)
_params = st.dictionaries(_token.map(str.lower), _value, max_size=3)
_uri_params = st.dictionaries(_token.map(str.lower), st.one_of(st.none(), _token), max_size=3)


@st.composite
def _uris(draw: st.DrawFn) -> SipUri:
    return SipUri(
        host=draw(_host),
        user=draw(st.one_of(st.none(), _token)),
        port=draw(_port),
        scheme=draw(st.sampled_from(["sip", "sips"])),
        params=draw(_uri_params),
    )


@settings(max_examples=200, deadline=None)
@given(_uris())
def test_sip_uri_round_trips(uri: SipUri) -> None:
    assert parse_uri(str(uri)) == uri
    assert uri_matches(str(uri), str(uri))


@settings(max_examples=200, deadline=None)
@given(
    _uris(),
    st.one_of(
        st.none(), st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=12)
    ),
    _params,
)
def test_address_round_trips(
    uri: SipUri, display_name: str | None, params: dict[str, str | None]
) -> None:
    address = Address(str(uri), display_name, params)
    assert parse_address(str(address)) == address


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["UDP", "TCP", "TLS"]), _host, _port, _params),
        min_size=1,
        max_size=3,
    )
)
def test_via_list_round_trips(
    items: list[tuple[str, str, int | None, dict[str, str | None]]],
) -> None:
    vias = [Via(*item) for item in items]
    assert parse_via_list(", ".join(str(via) for via in vias)) == vias


_PARSERS: list[Callable[[str], object]] = [
    split_list,
    parse_params,
    parse_uri,
    parse_address,
    parse_address_list,
    parse_via_list,
    parse_cseq,
    parse_delta_seconds,
    parse_host_port,
    unquote,
]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_header_parsers_fuzz_raise_only_parse_errors(text: str) -> None:
    for parser in _PARSERS:
        with contextlib.suppress(SipParseError):
            parser(text)


def test_parsed_values_compare_by_value_and_take_no_new_attribute() -> None:
    # slotted, not frozen: equal by their fields, unhashable for their params dict as the
    # frozen ones were, shared by the parse caches and never given another attribute
    uri, address = parse_uri("sip:u@h:5060;transport=udp"), parse_address("<sip:u@h>;tag=1")
    (via,) = parse_via_list("SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport")
    assert uri == SipUri("h", "u", None, 5060, "sip", {"transport": "udp"}, "")
    assert address == Address("sip:u@h", None, {"tag": "1"})
    assert via == Via("UDP", "h", 5060, {"branch": "z9hG4bK1", "rport": None})
    assert dataclasses.replace(via, port=5070).port == 5070 and via.port == 5060
    assert parse_uri("sip:u@h:5060;transport=udp") is uri  # the cache's own
    for value in (uri, address, via):
        with pytest.raises(TypeError):
            hash(value)
        with pytest.raises(AttributeError):
            value.extra = 1  # type: ignore[union-attr]
