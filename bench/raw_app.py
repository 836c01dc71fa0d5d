"""The HTTP server's own share of a request: a raw ASGI app with Trunkline's headers.

    cd bench && ../.venv/bin/uvicorn raw_app:app --port 18801 --no-access-log --proxy-headers

It reads the body and answers a canned 685-byte JSON body (the size of a single-line
``sip.get`` answer) with the headers ``trunkline.rest.responses`` sends, and does nothing
else. Loaded with ``lua/trunkline.lua one`` as in ``bench/run``, its server CPU per request
is what uvicorn, httptools and the kernel cost Trunkline; the rest of Trunkline's figure is
the application (``profile_path.py`` measures that part alone). See bench/README.md.
"""

from __future__ import annotations

from typing import Any

from trunkline.rest.responses import JSON_HEADERS

BODY = b'{"result":[{"TYPE":"office","x":"' + b"x" * 640 + b'"}],"total":1}'
HEADERS = [*JSON_HEADERS, (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
