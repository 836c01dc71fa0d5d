"""The UDP endpoint on a real loopback socket: one wake-up drains every datagram waiting."""

from __future__ import annotations

import asyncio
import socket

from trunkline.engine import transport as transport_module
from trunkline.engine.transport import DatagramEndpoint
from trunkline.sip.message import Request, Response

OPTIONS = (
    "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{n}\r\n"
    "From: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: c{n}\r\nCSeq: {n} OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n"
)


def test_one_read_drains_waiting_datagrams_and_skips_junk(monkeypatch):
    monkeypatch.setattr(transport_module, "READ_BATCH", 4)
    received: list[tuple[Request | Response, tuple[str, int]]] = []

    async def go() -> None:
        endpoint = await DatagramEndpoint.open(
            lambda message, addr: received.append((message, addr)), "127.0.0.1", 0
        )
        loop = asyncio.get_running_loop()
        loop.remove_reader(endpoint.sock.fileno())  # type: ignore[union-attr]  # read by hand
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.sendto(OPTIONS.format(n=1).encode(), endpoint.local)
            peer.sendto(b"\r\n\r\n", endpoint.local)  # keep-alive
            peer.sendto(b"\x00junk", endpoint.local)
            peer.sendto(b"x" * 65_000, endpoint.local)  # the largest datagrams, not SIP
            for n in range(2, 5):
                peer.sendto(OPTIONS.format(n=n).encode(), endpoint.local)
            await asyncio.sleep(0.05)
            endpoint.read_ready()  # four datagrams: one message and three dropped
            assert [m.call_id for m, _ in received] == ["c1"]
            assert received[0][1] == peer.getsockname()
            endpoint.read_ready()
            endpoint.read_ready()  # nothing left: returns at once
            assert [m.call_id for m, _ in received] == ["c1", "c2", "c3", "c4"]
            endpoint.send(b"answer", peer.getsockname())
            assert peer.recv(100) == b"answer"
            endpoint.send(b"x" * 70_000, peer.getsockname())  # refused by the kernel: dropped
        endpoint.close()
        endpoint.close()
        endpoint.read_ready()
        endpoint.send(b"late", ("127.0.0.1", 9))  # closed: nothing happens

    asyncio.run(go())


def test_handler_errors_do_not_stop_the_socket():
    seen: list[str] = []

    def handler(message: Request | Response, addr: tuple[str, int]) -> None:
        seen.append(message.call_id)
        raise RuntimeError("bug in a handler")

    async def go() -> None:
        endpoint = await DatagramEndpoint.open(handler, "127.0.0.1", 0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            for n in (1, 2):
                peer.sendto(OPTIONS.format(n=n).encode(), endpoint.local)
            for _ in range(100):
                if len(seen) == 2:
                    break
                await asyncio.sleep(0.01)
        endpoint.close()

    asyncio.run(go())
    assert seen == ["c1", "c2"]


def test_pause_only_after_a_read_that_drained_the_socket(monkeypatch):
    """With a pause, a read that took `READ_BATCH` datagrams leaves the socket watched (more
    may wait: no cap on the rate); one that drained it pauses; `after_read` follows every
    read that read something."""
    monkeypatch.setattr(transport_module, "READ_BATCH", 4)
    received: list[str] = []
    reads: list[int] = []

    async def go() -> None:
        endpoint = await DatagramEndpoint.open(
            lambda message, addr: received.append(message.call_id), "127.0.0.1", 0
        )
        endpoint.pause = 60.0
        endpoint.after_read = lambda: reads.append(len(received))
        loop = asyncio.get_running_loop()
        loop.remove_reader(endpoint.sock.fileno())  # type: ignore[union-attr]  # read by hand
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            for n in range(1, 7):
                peer.sendto(OPTIONS.format(n=n).encode(), endpoint.local)
            await asyncio.sleep(0.05)
            endpoint.read_ready()  # four of six
            assert endpoint._paused is None
            endpoint.read_ready()  # the last two: drained
            assert endpoint._paused is not None
        endpoint.close()
        assert endpoint._paused is None

    asyncio.run(go())
    assert received == ["c1", "c2", "c3", "c4", "c5", "c6"]
    assert reads == [4, 6]
