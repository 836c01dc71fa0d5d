"""The Bitrix24 REST wire as a plain ASGI application.

Routes (``rest-protocol.md`` §1, ``clients.md`` §7): ``/rest/{method}`` and
``/rest/{user}/{code}/{method}``, with an optional ``.json``/``.xml`` suffix, an
optional trailing slash, repeated slashes treated as one, method names in any
case, and never a redirect. GET, POST and every other verb are served alike
(a body is read only for POST); OPTIONS answers 200 with the CORS headers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from trunkline.domain.principal import Credentials
from trunkline.errors import ArgumentError, RequestTooLargeError
from trunkline.rest import params as php_params
from trunkline.rest.dispatch import Dispatcher, Trace
from trunkline.rest.record import CallRecord
from trunkline.rest.responses import JSON_HEADERS, encode_json, error_body, error_status
from trunkline.rest.xml import XML_HEADERS, encode_xml

Scope = dict[str, Any]


def parse_route(path: str) -> tuple[str, str, str | None, str | None]:
    """``/rest//1/code/voximplant.sip.get.json/`` -> (method, format, user, code).

    An empty method name means no route matched (answered as an unknown method).
    """
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] != "rest":
        return "", "json", None, None
    rest = parts[1:]
    if len(rest) == 1:
        name, user, code = rest[0], None, None
    elif len(rest) == 3:
        user, code, name = rest
    else:
        return "", "json", None, None
    name = name.lower()
    fmt = "json"
    head, dot, suffix = name.rpartition(".")
    if dot and suffix in ("json", "xml"):
        name, fmt = head, suffix
    return name, fmt, user, code


class RestApp:
    def __init__(
        self, dispatcher: Dispatcher, *, max_body: int, max_nesting: int, max_vars: int
    ) -> None:
        self.dispatcher = dispatcher
        self.max_body = max_body
        self.max_nesting = max_nesting
        self.max_vars = max_vars

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        started = self.dispatcher.clock.now()
        verb = scope["method"]
        name, fmt, user, code = parse_route(scope["path"])
        if verb == "OPTIONS":
            await _send(send, 200, JSON_HEADERS, b"")
            return
        dispatcher = self.dispatcher
        trace = Trace() if dispatcher.observers else None
        begin = dispatcher.clock.monotonic() if trace is not None else 0.0
        params: dict[str, Any] = {}
        headers: dict[str, str] = {}
        error_code: str | None = None
        try:
            method = dispatcher.lookup(name)
            body = await self._read_body(receive) if verb == "POST" else b""
            headers = _headers(scope)
            params = await self._params(scope, headers, body)
            creds = _credentials(scope, headers, params, user, code)
            status, payload = 200, await dispatcher.handle(method, params, creds, started, trace)
        except Exception as exc:
            status, payload = error_body(exc)
            if trace is not None:
                error_code = error_status(exc)[1]
        try:
            encoded = encode_xml(payload) if fmt == "xml" else encode_json(payload)
        except Exception as exc:  # WRONG_ENCODING: the body could not be serialised
            status, payload = error_body(exc)
            encoded = encode_json(payload)
            fmt = "json"
        await _send(send, status, XML_HEADERS if fmt == "xml" else JSON_HEADERS, encoded)
        if trace is not None:
            if status != 200 and error_code is None:  # the answer could not be encoded
                error_code = str(payload.get("error", ""))
            seconds = dispatcher.clock.monotonic() - begin
            host = headers.get("host") or _headers(scope).get("host")
            dispatcher.observe(
                CallRecord(name, params, trace.principal, host, status, error_code, seconds, False)
            )

    async def _read_body(self, receive: Any) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise RequestTooLargeError(self.max_body)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _params(self, scope: Scope, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        limits = {"max_nesting": self.max_nesting, "max_vars": self.max_vars}
        query = scope.get("query_string", b"")
        layers = [php_params.parse_query(query, **limits)] if query else []
        if body:
            content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if content_type == "application/json":
                layers.append(php_params.parse_json_body(body, max_nesting=self.max_nesting))
            elif content_type == "multipart/form-data":
                layers.append(await self._multipart(Headers(scope=scope), body))
            elif content_type == "application/x-www-form-urlencoded" and body[:1] == b"{":
                # curl -d '{...}' without a Content-Type: read it as JSON if it is JSON.
                decoded = php_params.parse_json_body(body, max_nesting=self.max_nesting)
                layers.append(decoded or php_params.parse_query(body, **limits))
            else:
                layers.append(php_params.parse_query(body, **limits))
        if not layers:
            return {}
        return php_params.merge(*layers)

    async def _multipart(self, headers: Headers, body: bytes) -> dict[str, Any]:
        async def stream() -> AsyncGenerator[bytes, None]:
            yield body

        try:
            form = await MultiPartParser(
                headers, stream(), max_files=100, max_fields=self.max_vars
            ).parse()
        except MultiPartException as exc:
            raise ArgumentError(f"Malformed multipart body: {exc.message}") from exc
        pairs = [
            (k, v if isinstance(v, str) else (v.filename or "")) for k, v in form.multi_items()
        ]
        await form.close()
        return php_params.parse_pairs(pairs, max_nesting=self.max_nesting, max_vars=self.max_vars)


_WANTED = {b"content-type": "content-type", b"authorization": "authorization", b"host": "host"}


def _headers(scope: Scope) -> dict[str, str]:
    """The three request headers the wire reads (cheaper than a full Headers object)."""
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = _WANTED.get(name.lower())
        if key is not None and key not in out:
            out[key] = value.decode("latin-1")
    return out


def _credentials(
    scope: Scope,
    headers: dict[str, str],
    params: dict[str, Any],
    user: str | None,
    code: str | None,
) -> Credentials:
    token = None
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        token = authorization[7:].strip() or None
    if token is None:
        for key in ("auth", "access_token"):
            value = params.get(key)
            if isinstance(value, str) and value:
                token = value
                break
    if user is None:
        raw_user, raw_code = params.get("aplogin"), params.get("ap")
        user = raw_user if isinstance(raw_user, str) else None
        code = raw_code if isinstance(raw_code, str) else None
    return Credentials(
        aplogin=user,
        ap=code,
        token=token,
        secure=scope.get("scheme") == "https",
        host=headers.get("host"),
    )


async def _send(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
