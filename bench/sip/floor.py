"""The floor of a registrar in Python: the least a CPython process on uvloop does for the
exchange `registrar.py` measures, to put Trunkline's and Kamailio's figures in proportion.

    python bench/sip/floor.py PORT USERS      # serves 127.0.0.1:PORT until killed

It answers sipp's REGISTERs as a registrar whose state is all in memory, like Kamailio's
usrloc: a REGISTER without credentials gets a 401 with a fresh MD5 qop=auth challenge; one
with credentials is checked (user known, nonce one we gave, response = MD5 digest of the
password `pNNNNN` of `phoneN`), its contact kept in a dict, and answered 200 with the contact
and its expiry. Nothing else: no full parse (headers are found by their line prefix), no
replay guard, no throttling, no history, no database, no retransmission table. It is a
yardstick for the bench, not a registrar: do not serve phones with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys

REALM = "floor.bench"
COPIED = (b"via:", b"from", b"call", b"cseq")  # Via, From, Call-ID, CSeq: line prefixes


def header(lines: list[bytes], name: bytes) -> bytes:
    for line in lines:
        if line[: len(name)].lower() == name:
            return line[len(name) :].strip()
    return b""


def params(value: str) -> dict[str, str]:
    out = {}
    for part in value.split(","):
        key, _, raw = part.strip().partition("=")
        out[key.strip().lower()] = raw.strip().strip('"')
    return out


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class Floor(asyncio.DatagramProtocol):
    def __init__(self, users: int) -> None:
        self.passwords = {f"phone{i}": f"p{i:05d}" for i in range(1, users + 1)}
        self.nonces: set[str] = set()
        self.bindings: dict[str, tuple[bytes, int]] = {}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's UDPTransport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head, _, _ = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"REGISTER "):
            return
        copied = [line for line in lines if line[:4].lower() in COPIED]
        to = header(lines, b"to:")
        answer = [b"SIP/2.0 ", *(line + b"\r\n" for line in copied)]
        credentials = header(lines, b"authorization:")
        if not credentials.startswith(b"Digest "):
            nonce = os.urandom(12).hex()
            self.nonces.add(nonce)
            answer[0] += b"401 Unauthorized\r\n"
            challenge = f'Digest realm="{REALM}", nonce="{nonce}", qop="auth", algorithm=MD5'
            answer.append(b"To: " + to + b";tag=floor\r\n")
            answer.append(b"WWW-Authenticate: " + challenge.encode() + b"\r\n")
        else:
            d = params(credentials[7:].decode())
            password = self.passwords.get(d.get("username", ""))
            ha1 = md5(f"{d.get('username')}:{REALM}:{password}")
            ha2 = md5(f"REGISTER:{d.get('uri')}")
            expected = md5(f"{ha1}:{d.get('nonce')}:{d.get('nc')}:{d.get('cnonce')}:auth:{ha2}")
            known = password is not None and d.get("nonce") in self.nonces
            if not known or d.get("response") != expected:
                answer[0] += b"403 Forbidden\r\n"
                answer.append(b"To: " + to + b";tag=floor\r\n")
            else:
                self.nonces.discard(d["nonce"])
                contact = header(lines, b"contact:")
                expires = int(header(lines, b"expires:") or b"3600")
                self.bindings[d["username"]] = (contact, expires)
                answer[0] += b"200 OK\r\n"
                answer.append(b"To: " + to + b";tag=floor\r\n")
                answer.append(b"Contact: " + contact + b";expires=%d\r\n" % expires)
        answer.append(b"Content-Length: 0\r\n\r\n")
        assert self.transport is not None
        self.transport.sendto(b"".join(answer), addr)


async def serve(port: int, users: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: Floor(users), local_addr=("127.0.0.1", port))
    await asyncio.Event().wait()


def main() -> None:
    import uvloop

    uvloop.run(serve(int(sys.argv[1]), int(sys.argv[2])))


if __name__ == "__main__":
    main()
