"""A libpcap file of SIP messages, for Wireshark (``trunkline line history --pcap``).

Rules:

* The classic pcap format (magic ``a1b2c3d4``, version 2.4, microsecond stamps) with link
  type 0, BSD loopback: each frame is a 4-byte address family in little-endian order, then
  an IPv4 or IPv6 header, then UDP (a UDP message) or TCP (a TCP or TLS message: one segment
  with PSH+ACK, sequence numbers counted per direction; TLS is shown as the plain SIP it
  carried).
* Addresses are the ones the history recorded; one that is not an IP address is written
  as 0.0.0.0. Checksums are computed (UDP over IPv6 requires one).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable

from trunkline.domain.history import SipRecord

__all__ = ["pcap_bytes"]

LINKTYPE_NULL = 0
AF_INET, AF_INET6 = 2, 30  # BSD loopback families (Wireshark reads 24, 28 and 30 as IPv6)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _split(address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
    except ValueError:
        ip = ipaddress.IPv4Address("0.0.0.0")
    return ip, int(port) if port.isdigit() else 5060


def _frame(record: SipRecord, seq: dict[tuple[str, str], int]) -> bytes:
    payload = record.text().encode()
    src, dst = (record.local, record.remote) if record.outgoing else (record.remote, record.local)
    (src_ip, src_port), (dst_ip, dst_port) = _split(src), _split(dst)
    if src_ip.version != dst_ip.version:
        src_ip = dst_ip = ipaddress.IPv4Address("0.0.0.0")
    udp = record.transport.upper() == "UDP"
    proto = 17 if udp else 6
    if udp:
        header = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0)
    else:
        number = seq.get((src, dst), 1)
        seq[(src, dst)] = number + len(payload)
        ack = seq.get((dst, src), 1)
        header = struct.pack(
            "!HHIIBBHHH", src_port, dst_port, number, ack, 5 << 4, 0x18, 65535, 0, 0
        )
    segment = header + payload
    pseudo_len = len(segment)
    if src_ip.version == 4:
        pseudo = src_ip.packed + dst_ip.packed + struct.pack("!BBH", 0, proto, pseudo_len)
    else:
        pseudo = src_ip.packed + dst_ip.packed + struct.pack("!IxxxB", pseudo_len, proto)
    check = _checksum(pseudo + segment) or 0xFFFF
    at = 6 if udp else 16
    segment = segment[:at] + struct.pack("!H", check) + segment[at + 2 :]
    if src_ip.version == 4:
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(segment),
            0,
            0x4000,
            64,
            proto,
            0,
            src_ip.packed,
            dst_ip.packed,
        )
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        family = AF_INET
    else:
        ip = struct.pack(
            "!IHBB16s16s", 6 << 28, len(segment), proto, 64, src_ip.packed, dst_ip.packed
        )
        family = AF_INET6
    return struct.pack("<I", family) + ip + segment


def pcap_bytes(records: Iterable[SipRecord]) -> bytes:
    """The pcap file of ``records``, in order."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_NULL)]
    seq: dict[tuple[str, str], int] = {}
    for record in records:
        frame = _frame(record, seq)
        seconds = int(record.at)
        micros = round((record.at - seconds) * 1_000_000) % 1_000_000
        out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
    return b"".join(out)
