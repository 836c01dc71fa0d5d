"""The ``.xml`` response format: ``<response>`` around the same structure.

List items become ``<item>``; keys that are not XML names become ``<item>`` as
well; booleans are ``1`` or empty; null is empty; text is escaped.
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape

XML_HEADERS = [
    (b"content-type", b"text/xml; charset=utf-8"),
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-headers", b"origin, content-type, accept"),
    (b"x-content-type-options", b"nosniff"),
]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def _scalar(value: Any) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    return escape(str(value))


def _node(tag: str, value: Any, out: list[str]) -> None:
    out.append(f"<{tag}>")
    if isinstance(value, dict):
        for key, item in value.items():
            _node(key if _NAME.fullmatch(str(key)) else "item", item, out)
    elif isinstance(value, list):
        for item in value:
            _node("item", item, out)
    else:
        out.append(_scalar(value))
    out.append(f"</{tag}>")


def encode_xml(payload: dict[str, Any]) -> bytes:
    out = ['<?xml version="1.0" encoding="utf-8"?>']
    _node("response", payload, out)
    return "".join(out).encode("utf-8", errors="replace")
