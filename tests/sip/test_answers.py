"""The answer's Via values: the fast stamping in the text gives what the general path gives."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trunkline.sip.answers import Source, stamped_vias, stamped_vias_general
from trunkline.sip.errors import SipParseError
from trunkline.sip.headers import parse_via_list

_TRANSPORTS = st.sampled_from(["UDP", "TCP", "TLS", "udp", "Tcp", "WS", "SCTP"])
_HOSTS = st.sampled_from(
    ["127.0.0.1", "192.0.2.9", "pbx.example.com", "PBX.example.com", "[2001:db8::1]", "h."]
)
_PORTS = st.sampled_from(["", ":5060", ":5099", ":05060", ":1", ":65535", ":65536", ":0"])
_NAMES = st.sampled_from(["branch", "rport", "received", "x", "RPort", "Received", "maddr", "ttl"])
_VALUES = st.sampled_from(
    [None, "z9hG4bK-1-2", "5060", "1.2.3.4", "", '"a b"', "a/b", "[::1]", "x@y", "A"]
)
_PARAMS = st.lists(st.tuples(_NAMES, _VALUES), max_size=5).map(
    lambda pairs: "".join(f";{n}" if v is None else f";{n}={v}" for n, v in pairs)
)
_VIAS = st.builds(
    lambda transport, host, port, params, space: f"SIP/2.0/{transport}{space}{host}{port}{params}",
    _TRANSPORTS,
    _HOSTS,
    _PORTS,
    _PARAMS,
    st.sampled_from([" ", "  "]),
)
_SOURCES = st.builds(
    Source,
    st.sampled_from(["127.0.0.1", "192.0.2.9", "2001:db8::1", "pbx.example.com", "a b", 'x"y']),
    st.sampled_from([5060, 5099, 1, 65535]),
)


@settings(max_examples=1500)
@given(
    first=_VIAS,
    more=st.lists(_VIAS, max_size=2),
    rest=st.lists(_VIAS, max_size=2),
    source=_SOURCES,
)
@example(
    first="SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-1;rport",
    more=[],
    rest=[],
    source=Source("127.0.0.1", 5099),
)
@example(
    first="SIP/2.0/UDP 127.0.0.1:5099;rport;branch=b;rport=7",
    more=[],
    rest=[],
    source=Source("127.0.0.1", 5099),
)
@example(
    first="SIP/2.0/UDP 127.0.0.1;received=9.9.9.9;branch=b",
    more=[],
    rest=[],
    source=Source("192.0.2.9", 5099),
)
@example(
    first="SIP/2.0/UDP 127.0.0.1:5099;branch=b", more=[], rest=[], source=Source("127.0.0.1", 5099)
)
def test_stamped_vias_is_the_general_stamping(
    first: str, more: list[str], rest: list[str], source: Source
) -> None:
    top = ", ".join([first, *more])
    try:
        via = parse_via_list(top)[0]
    except SipParseError:
        return  # the registrar answers 400 without stamping
    values = [top, *rest]
    assert stamped_vias(values, via, source) == stamped_vias_general(values, via, source)


def test_sources_compare_and_hash_by_value() -> None:
    # slotted, not frozen: equal and hashed by their fields, and no attribute added
    first, second = Source("192.0.2.9", 5060), Source("192.0.2.9", 5060, "UDP")
    assert first == second and hash(first) == hash(second) and {first: 1}[second] == 1
    assert first != Source("192.0.2.9", 5060, "TCP")
    with pytest.raises(AttributeError):
        first.extra = 1  # type: ignore[attr-defined]
