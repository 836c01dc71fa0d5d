"""Envelopes, the ``time`` block and JSON as Bitrix's ``Json::encode`` writes it.

This is the ONE place where an error becomes a response (:func:`error_body`):
a :class:`~trunkline.errors.RestError` renders its code, description and status;
anything else is logged with its traceback and rendered as 500
``INTERNAL_SERVER_ERROR``, never as a traceback on the wire.

JSON rules (``rest-protocol.md`` §2): ``<`` ``>`` ``&`` ``'`` ``"`` inside strings
become ``\\u003C`` ``\\u003E`` ``\\u0026`` ``\\u0027`` ``\\u0022``, ``/`` becomes
``\\/``, non-ASCII stays literal UTF-8, an empty array is ``[]``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson

from trunkline.domain.dates import iso_date
from trunkline.errors import InternalServerError, RestError, WrongEncodingError

log = logging.getLogger("trunkline.rest")

JSON_HEADERS = [
    (b"content-type", b"application/json; charset=utf-8"),
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-headers", b"origin, content-type, accept"),
    (b"x-content-type-options", b"nosniff"),
]

# (the byte as an int, the byte, its escape): ``int in bytes`` is a plain memchr, where
# ``bytes in bytes`` first tries the needle as an int and formats and clears a TypeError
# (about 0.4 µs; six a response)
_PLAIN_ESCAPES = tuple(
    (plain[0], plain, escaped)
    for plain, escaped in (
        (b"<", b"\\u003C"),
        (b">", b"\\u003E"),
        (b"&", b"\\u0026"),
        (b"'", b"\\u0027"),
        (b"/", b"\\/"),
    )
)
_BACKSLASH = ord("\\")
# A quote escaped by orjson: a backslash-quote preceded by an even run of backslashes.
_ESCAPED_QUOTE = re.compile(rb'(?<!\\)((?:\\\\)*)\\"')


class FrozenItem(dict[str, Any]):
    """A result dict that is never mutated once built, so its JSON is made once.

    A handler that hands out the same item many times (``sip.get`` rows of unchanged
    lines) returns it as a FrozenItem: :func:`encode_json` serialises it on first use and
    splices the kept bytes in afterwards. Everything else (XML, ``batch`` references)
    sees a plain dict. The kept bytes are orjson's, before the Bitrix escapes, which are
    applied to the whole response as usual.
    """

    __slots__ = ("_json",)

    def json(self) -> bytes:
        try:
            return self._json
        except AttributeError:
            # Copied to a bytes object of its own size: orjson's result keeps its whole
            # output buffer (about 16 KiB for a 1 KiB row, measured with tracemalloc on
            # orjson 3.13), which a cache of thousands of items would hold on to.
            self._json: bytes = memoryview(orjson.dumps(dict(self))).tobytes()
            return self._json


class FrozenList(list[Any]):
    """A result list that is never mutated once built (of FrozenItems, say): its JSON is
    made once and spliced in, as a FrozenItem's is. A handler that hands out the same
    page many times (``voximplant.statistic.get`` of unchanged data) keeps it as one;
    everything else sees a plain list. The kept bytes are those the list would encode to
    inside a response, before the Bitrix escapes."""

    __slots__ = ("_json",)

    def json(self) -> bytes:
        try:
            return self._json
        except AttributeError:
            out = orjson.dumps(list(self), default=_subclass, option=_PASSTHROUGH)
            self._json: bytes = memoryview(out).tobytes()  # its own size (FrozenItem)
            return self._json


_PASSTHROUGH = orjson.OPT_PASSTHROUGH_SUBCLASS


def _subclass(value: Any) -> Any:
    # OPT_PASSTHROUGH_SUBCLASS sends every subclass of dict, list, str and int here.
    if type(value) is FrozenItem or type(value) is FrozenList:
        return orjson.Fragment(value.json())
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    raise TypeError(type(value).__name__)


def encode_json(value: Any) -> bytes:
    """Serialise like Bitrix; raises WrongEncodingError when the value cannot be."""
    try:
        out = orjson.dumps(value, default=_subclass, option=orjson.OPT_PASSTHROUGH_SUBCLASS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise WrongEncodingError() from exc
    # Escaped quotes are looked for before "/" becomes "\\/" (which adds no quotes), and a
    # backslash first: a one-byte search is a memchr, the two-byte one costs ~17 µs a page.
    quoted = _BACKSLASH in out and out.find(b'\\"') >= 0
    for byte, plain, escaped in _PLAIN_ESCAPES:
        if byte in out:
            out = out.replace(plain, escaped)
    if quoted:
        out = _ESCAPED_QUOTE.sub(rb"\1\\u0022", out)
    return out


def time_block(
    *,
    start: float,
    finish: float,
    method_start: float,
    method_end: float,
    timezone: str,
    operating: float = 0,
    operating_reset_at: int | None = None,
) -> dict[str, Any]:
    """The ``time`` object of every success envelope (``rest-protocol.md`` §4.2)."""
    start_int = int(start)
    return {
        "start": start_int,
        "finish": finish,
        "duration": finish - start_int,
        "processing": int(method_end) - int(method_start),
        "date_start": iso_date(start_int, timezone),
        "date_finish": iso_date(finish, timezone),
        "operating_reset_at": start_int + 600 if operating_reset_at is None else operating_reset_at,
        "operating": operating,
    }


def error_status(exc: BaseException) -> tuple[int, str]:
    """(status, error code) that :func:`error_body` gives ``exc``, without rendering or
    logging it (for the call observers)."""
    if isinstance(exc, RestError):
        return exc.http_status, exc.error_code
    return InternalServerError.default_status, InternalServerError.error_code


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """(status, envelope) for any exception: the one error renderer."""
    if not isinstance(exc, RestError):
        log.error("unexpected error while serving a REST call", exc_info=exc)
        exc = InternalServerError()
    elif exc.http_status >= 500 and not exc.expected:
        log.error("%s", exc, exc_info=exc.__cause__ or exc)
    return exc.http_status, exc.to_wire()
