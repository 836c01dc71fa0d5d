"""Stream framing: keep-alives, size caps, broken state."""

from __future__ import annotations

import pytest

from trunkline.sip.errors import SipMessageTooLargeError, SipParseError
from trunkline.sip.message import Request
from trunkline.sip.stream import KeepAlivePing, KeepAlivePong, StreamEvent, StreamReader

OPTIONS = b"OPTIONS sip:h SIP/2.0\r\nContent-Length: 0\r\n\r\n"


def _kinds(events: list[StreamEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\r\n", ["KeepAlivePong"]),
        (b"\r\n\r\n", ["KeepAlivePong", "KeepAlivePing"]),
        (b"\r\n\r\n\r\n", ["KeepAlivePong", "KeepAlivePing", "KeepAlivePong"]),
        (
            b"\r\n" + OPTIONS + b"\r\n\r\n",
            ["KeepAlivePong", "Request", "KeepAlivePong", "KeepAlivePing"],
        ),
        (b"\n\n" + OPTIONS, ["Request"]),
        (b"\r", []),
    ],
)
def test_feed_keepalives_whole_and_byte_by_byte(data: bytes, expected: list[str]) -> None:
    assert _kinds(StreamReader().feed(data)) == expected
    reader = StreamReader()
    assert _kinds([e for byte in data for e in reader.feed(bytes([byte]))]) == expected


def test_feed_keepalive_events_are_values() -> None:
    assert KeepAlivePing() == KeepAlivePing()
    assert KeepAlivePong() != KeepAlivePing()


def test_feed_cr_without_lf_raises_and_breaks_reader() -> None:
    reader = StreamReader()
    with pytest.raises(SipParseError):
        reader.feed(b"\rX")
    assert reader.buffered == 0
    with pytest.raises(SipParseError, match="broken"):
        reader.feed(OPTIONS)


def test_feed_oversized_header_block_raises_before_end() -> None:
    reader = StreamReader(max_size=100)
    reader.feed(b"OPTIONS sip:h SIP/2.0\r\nX-Pad: " + b"a" * 60)
    with pytest.raises(SipMessageTooLargeError):
        reader.feed(b"a" * 60)


def test_feed_oversized_complete_header_block_raises() -> None:
    reader = StreamReader(max_size=40)
    with pytest.raises(SipMessageTooLargeError):
        reader.feed(b"OPTIONS sip:h SIP/2.0\r\nX-Pad: " + b"a" * 30 + b"\r\n\r\n")


def test_feed_oversized_content_length_raises_without_waiting_for_body() -> None:
    reader = StreamReader(max_size=100)
    with pytest.raises(SipMessageTooLargeError):
        reader.feed(b"OPTIONS sip:h SIP/2.0\r\nContent-Length: 1000000\r\n\r\n")


def test_feed_missing_content_length_means_empty_body() -> None:
    reader = StreamReader()
    (message,) = reader.feed(b"OPTIONS sip:h SIP/2.0\r\n\r\n")
    assert isinstance(message, Request)
    assert message.body == b""


def test_feed_body_split_across_chunks() -> None:
    reader = StreamReader()
    assert reader.feed(b"OPTIONS sip:h SIP/2.0\r\nl: 4\r\n\r\nab") == []
    assert reader.in_message
    (message,) = reader.feed(b"cdOPT")
    assert isinstance(message, Request)
    assert message.body == b"abcd"
    assert reader.buffered == 3
    assert reader.in_message


def test_in_message_false_between_messages() -> None:
    reader = StreamReader()
    assert not reader.in_message
    reader.feed(OPTIONS + b"\r")
    assert not reader.in_message


def test_feed_malformed_head_raises_and_breaks_reader() -> None:
    reader = StreamReader()
    with pytest.raises(SipParseError):
        reader.feed(b"NOT A SIP LINE\r\n\r\n")
    with pytest.raises(SipParseError):
        reader.feed(b"")


def test_feed_separator_found_across_chunk_boundary() -> None:
    reader = StreamReader()
    assert reader.feed(b"OPTIONS sip:h SIP/2.0\r\nl: 0\r\n\r") == []
    assert _kinds(reader.feed(b"\n")) == ["Request"]
