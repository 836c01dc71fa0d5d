"""domain/history.py and domain/pcap.py: masking, the ladder, pcap frames dpkt reads."""

from __future__ import annotations

import io
import re

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.domain.history import MASKED, HistoryEntry, SipRecord, ladder, mask_header
from trunkline.domain.pcap import pcap_bytes

AUTH = (
    'Digest username="sip7", realm="pbx", nonce="abc", uri="sip:pbx", '
    'response="0123456789abcdef", cnonce="c0ffee", nc=00000001, qop=auth, algorithm=MD5'
)


def test_mask_header_hides_digest_response_and_cnonce_only():
    masked = mask_header("Authorization", AUTH)
    assert "0123456789abcdef" not in masked and "c0ffee" not in masked
    assert 'response="***"' in masked and 'cnonce="***"' in masked
    assert 'username="sip7"' in masked and 'nonce="abc"' in masked
    assert mask_header("Proxy-Authorization", "Digest response=abc") == 'Digest response="***"'
    assert mask_header("Contact", "<sip:a@b>;response=1") == "<sip:a@b>;response=1"


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "response",
                "RESPONSE",
                "Response",
                "cnonce",
                "CNonce",
                "xresponse",
                "_cnonce",
                "ſesponse",
                "=",
                " = ",
                '"',
                '"abc"',
                ",",
                " ",
                "\t",
                "abc",
                "é",
                "r",
                "c",
                "9",
            ]
        )
        | st.text(max_size=3),
        max_size=16,
    ).map("".join)
)
def test_mask_header_matches_the_pattern_without_its_lookahead(value: str) -> None:
    """The lookahead added to the masking pattern changes no match (the pattern before it)."""
    before = re.compile(r"(?i)\b(response|cnonce)\s*=\s*(\"[^\"]*\"|[^,\s]+)")
    expected = before.sub(lambda m: f'{m.group(1)}="{MASKED}"', value)
    assert mask_header("Authorization", value) == expected


def records(transport: str, local: str, remote: str) -> list[SipRecord]:
    request = SipRecord(
        1.5, True, transport, local, remote, "REGISTER sip:pbx SIP/2.0", (("CSeq", "1 REGISTER"),)
    )
    response = SipRecord(
        1.75, False, transport, local, remote, "SIP/2.0 200 OK", (("CSeq", "1 REGISTER"),)
    )
    return [request, response]


@pytest.mark.parametrize(
    ("transport", "local", "remote", "ip", "segment"),
    [
        ("UDP", "127.0.0.1:5062", "127.0.0.1:5060", dpkt.ip.IP, dpkt.udp.UDP),
        ("TCP", "127.0.0.1:40000", "127.0.0.1:5060", dpkt.ip.IP, dpkt.tcp.TCP),
        ("TLS", "[::1]:40000", "[::1]:5061", dpkt.ip6.IP6, dpkt.tcp.TCP),
        ("UDP", "[::1]:5062", "[::1]:5060", dpkt.ip6.IP6, dpkt.udp.UDP),
    ],
)
def test_pcap_frames_are_read_back_by_dpkt(transport, local, remote, ip, segment):
    data = pcap_bytes(records(transport, local, remote))
    reader = dpkt.pcap.Reader(io.BytesIO(data))
    assert reader.datalink() == dpkt.pcap.DLT_NULL
    frames = list(reader)
    assert [t for t, _ in frames] == [1.5, 1.75]
    first, second = (dpkt.loopback.Loopback(f).data for _, f in frames)
    assert isinstance(first, ip) and isinstance(first.data, segment)
    assert first.data.dport == int(remote.rsplit(":", 1)[1])
    assert second.data.sport == int(remote.rsplit(":", 1)[1])
    assert first.data.data.startswith(b"REGISTER sip:pbx SIP/2.0\r\nCSeq: 1 REGISTER\r\n")
    assert first.data.data.endswith(b"Content-Length: 0\r\n\r\n")
    request = dpkt.sip.Request(first.data.data)
    assert request.method == "REGISTER" and request.headers["cseq"] == "1 REGISTER"
    if ip is dpkt.ip.IP:  # header checksums as a capture would have them
        raw = bytes(first)
        assert dpkt.in_cksum(raw[: first.hl * 4]) == 0


def test_ladder_draws_the_change_and_each_message():
    entry = HistoryEntry(
        1,
        3,
        "cloud",
        1_764_835_200.0,
        "error",
        "success",
        408,
        200,
        "",
        tuple(records("UDP", "127.0.0.1:5062", "127.0.0.1:5060")),
    )
    text = ladder(entry)
    assert "line 3  error 408 -> success 200" in text
    assert "--- REGISTER sip:pbx SIP/2.0 -->" in text
    assert "+250ms  <-- SIP/2.0 200 OK ---" in text
    assert "| CSeq: 1 REGISTER" in text
    bare = HistoryEntry(1, 3, "cloud", 0.0, "wait", "in_progress", None, None, "")
    assert "no SIP transaction" in ladder(bare)
    assert bare.change == "wait -> in_progress"


def test_history_values_compare_and_hash_by_value_and_take_no_new_attribute() -> None:
    """SipRecord and HistoryEntry, slotted rather than frozen: equal and hashed by their
    fields as before, copied by dataclasses.replace, and no attribute beyond their fields."""
    import dataclasses

    record = SipRecord(1.5, True, "UDP", "l", "r", "REGISTER sip:pbx SIP/2.0", (("CSeq", "1"),))
    twin = SipRecord(1.5, True, "UDP", "l", "r", "REGISTER sip:pbx SIP/2.0", (("CSeq", "1"),))
    entry = HistoryEntry(1, 2, "phone", 1.5, "unregistered", "registered", None, 200, "", (record,))
    same = HistoryEntry(1, 2, "phone", 1.5, "unregistered", "registered", None, 200, "", (twin,))
    assert record == twin and hash(record) == hash(twin)
    assert entry == same and hash(entry) == hash(same) and len({entry, same}) == 1
    assert dataclasses.replace(entry, reason="x") != entry
    assert dataclasses.replace(record, outgoing=False) != record
    for value in (record, entry):
        with pytest.raises(AttributeError):
            value.extra = 1  # type: ignore[union-attr]
