"""The delivery HTTP client (events/http.py) against loopback servers: kept-alive
connections are reused, one the handler closed is replaced without losing the POST,
answers without a length end with the connection, the timeout bounds a silent handler;
and the form encoder gives urlencode's bytes."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.events.delivery import attempt, encode_form
from trunkline.events.http import FormPoster, NotCalledError


class Served:
    """A loopback server's counts and its open connections (closed by :meth:`close`)."""

    def __init__(self, server: asyncio.Server) -> None:
        self.server = server
        self.writers: list[asyncio.StreamWriter] = []

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        self.server.close()
        await self.server.wait_closed()
        await asyncio.sleep(0)


async def serve(answer: bytes, *, close_after: int = 0, silent: bool = False):
    """A loopback server: (the server, its url, connections and requests seen)."""
    seen = {"connections": 0, "requests": 0}
    served_by: list[Served] = []

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        served_by[0].writers.append(writer)
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                seen["requests"] += 1
                if silent:
                    await asyncio.sleep(10)
                writer.write(answer)
                await writer.drain()
                served += 1
                if close_after and served >= close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    served_by.append(Served(server))
    port = server.sockets[0].getsockname()[1]
    return served_by[0], f"http://127.0.0.1:{port}/h?x=1", seen


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_connections_are_kept_and_reused() -> None:
    async def scenario() -> None:
        server, url, seen = await serve(OK)
        poster = FormPoster()
        for _ in range(5):
            assert await poster.post(url, b"a=1", 2) == 200
        assert seen == {"connections": 1, "requests": 5}
        await poster.close()
        await server.close()

    asyncio.run(scenario())


def test_a_connection_the_handler_closed_is_replaced() -> None:
    async def scenario() -> None:
        server, url, seen = await serve(OK, close_after=1)
        poster = FormPoster()
        for _ in range(3):
            assert await poster.post(url, b"a=1", 2) == 200
            await asyncio.sleep(0.05)  # the handler has closed it by now
        assert seen == {"connections": 3, "requests": 3}
        await poster.close()
        await server.close()

    asyncio.run(scenario())


def test_an_answer_that_ends_with_the_connection() -> None:
    async def scenario() -> None:
        server, url, _ = await serve(b"HTTP/1.0 500 Oops\r\n\r\nbody", close_after=1)
        poster = FormPoster()
        assert await poster.post(url, b"a=1", 2) == 500
        assert not any(poster._idle.values())  # not kept: the answer ended with it
        await poster.close()
        await server.close()

    asyncio.run(scenario())


def test_a_silent_handler_times_out() -> None:
    async def scenario() -> None:
        server, url, _ = await serve(OK, silent=True)
        poster = FormPoster()
        result = await attempt(poster.post, url, b"a=1", 0.2)
        await poster.close()
        assert (result.outcome, result.status, result.reason) == ("failed", None, "handler timeout")
        await server.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http:///nohost", "mailto:a@b"])
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(NotCalledError):
        FormPoster.target(url)


texts = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=20)


@settings(deadline=None)  # the machine is shared: no per-example time limit
@given(st.lists(st.tuples(texts, texts), max_size=8))
def test_encode_form_is_urlencode(pairs: list[tuple[str, str]]) -> None:
    assert encode_form(pairs) == urlencode(pairs).encode()
