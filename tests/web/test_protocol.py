"""The corked HTTP protocol (web/protocol.py): one send per loop callback."""

from __future__ import annotations

import asyncio

import httpx
import uvicorn

from trunkline.web.protocol import CorkedHttpToolsProtocol, CorkedTransport


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.events.append("write")

    def write_eof(self) -> None:
        self.events.append("eof")

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


def test_writes_of_one_callback_leave_as_one_write_at_its_end():
    async def scenario() -> FakeTransport:
        fake = FakeTransport()
        corked = CorkedTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
        corked.write(memoryview(b"body"))
        assert fake.writes == []  # nothing before the callback ends
        await asyncio.sleep(0)
        corked.write(b"next")
        await asyncio.sleep(0)
        assert corked.get_extra_info("peername") == "extra peername"  # the transport's
        return fake

    assert asyncio.run(scenario()).writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"next"]


def test_close_and_write_eof_send_what_is_held_first():
    async def scenario() -> tuple[FakeTransport, FakeTransport]:
        loop = asyncio.get_running_loop()
        closed, ended = FakeTransport(), FakeTransport()
        first = CorkedTransport(closed, loop)  # type: ignore[arg-type]
        first.write(b"last words")
        first.close()
        second = CorkedTransport(ended, loop)  # type: ignore[arg-type]
        second.write(b"tail")
        second.write_eof()
        await asyncio.sleep(0)  # the scheduled flush finds nothing left
        return closed, ended

    closed, ended = asyncio.run(scenario())
    assert closed.events == ["write", "close"] and closed.writes == [b"last words"]
    assert ended.events == ["write", "eof"] and ended.writes == [b"tail"]


def test_nothing_is_written_to_a_closing_transport():
    async def scenario() -> FakeTransport:
        fake = FakeTransport()
        corked = CorkedTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        corked.write(b"late")
        fake.closing = True  # the peer went away meanwhile
        await asyncio.sleep(0)
        return fake

    assert asyncio.run(scenario()).writes == []


def test_uvicorn_serves_keep_alive_requests_through_the_corked_protocol():
    async def app(scope, receive, send):  # a plain ASGI app: head, then body
        assert scope["type"] == "http"
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    async def scenario() -> list[str]:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, http=CorkedHttpToolsProtocol, log_level="error"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            texts = [(await client.get(f"/r{n}")).text for n in range(3)]
        server.should_exit = True
        await task
        return texts

    assert asyncio.run(scenario()) == ["/r0", "/r1", "/r2"]
