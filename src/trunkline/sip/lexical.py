"""The lexical layer of SIP header text: names, tokens, quoted strings, lists (RFC 3261 §25).

Rules (the rest of the header grammar is in `headers.py`, which re-exports these):

* Header names are case-insensitive; compact forms (`v f t i m l k s e c o r b u x`) expand to
  their full names and every name is stored in one canonical spelling (`Call-ID`, `CSeq`,
  `WWW-Authenticate`).
* A comma separates list elements only outside a quoted string and outside `<...>`; a quoted
  string may contain `\\"` and `\\\\`.
* Anything that breaks these rules raises `SipParseError`.
"""

from __future__ import annotations

import functools
import re

from trunkline.sip.errors import SipParseError

__all__ = ["COMPACT_FORMS", "canonical_name", "is_token", "quote", "split_list", "unquote"]

COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_SPECIAL_SPELLINGS: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


@functools.lru_cache(maxsize=1024)
def canonical_name(name: str) -> str:
    """Return the canonical spelling of a header name, expanding compact forms."""
    if not _TOKEN_RE.fullmatch(name):
        raise SipParseError(f"invalid header name {name!r}")
    lowered = name.lower()
    if lowered in COMPACT_FORMS:
        return COMPACT_FORMS[lowered]
    if lowered in _SPECIAL_SPELLINGS:
        return _SPECIAL_SPELLINGS[lowered]
    return "-".join(part.capitalize() for part in lowered.split("-"))


def is_token(text: str) -> bool:
    """True when `text` is a non-empty RFC 3261 token."""
    return _TOKEN_RE.fullmatch(text) is not None


def quote(text: str) -> str:
    """Quote `text` as a quoted-string; CR and LF (not representable) become spaces."""
    text = text.replace("\r", " ").replace("\n", " ")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def unquote(text: str) -> str:
    """Undo `quote` for a whole quoted-string; a bare token is returned unchanged."""
    if not text.startswith('"'):
        return text
    inner = text[1:-1]
    if len(text) > 1 and text[-1] == '"' and "\\" not in inner and '"' not in inner:
        return inner  # the common case: no escapes, one string (no scan needed)
    end = _scan_quoted(text, 0)
    if end != len(text):
        raise SipParseError(f"text after quoted string in {text!r}")
    return _ESCAPED.sub(r"\1", text[1 : end - 1])


def _scan_quoted(text: str, start: int) -> int:
    """Return the index just past the quoted string starting at `text[start] == '"'`."""
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            return index + 1
        index += 1
    raise SipParseError(f"unterminated quoted string in {text!r}")


def _split_outside(text: str, separator: str, *, brackets: bool) -> list[str]:
    """Split on `separator` outside quoted strings (and outside `<...>` when `brackets`)."""
    if '"' not in text:  # nothing to skip over but <...>: the common cases, done fast
        if not brackets or "<" not in text:
            return text.split(separator)
        if separator not in text:
            if text.rfind("<") > text.rfind(">"):
                raise SipParseError(f"unterminated '<' in {text!r}")
            return [text]
    parts: list[str] = []
    start = 0
    index = 0
    in_angle = False
    while index < len(text):
        char = text[index]
        if char == '"' and not in_angle:
            index = _scan_quoted(text, index)
            continue
        if brackets and char == "<":
            in_angle = True
        elif brackets and char == ">":
            in_angle = False
        elif char == separator and not in_angle:
            parts.append(text[start:index])
            start = index + 1
        index += 1
    if in_angle:
        raise SipParseError(f"unterminated '<' in {text!r}")
    parts.append(text[start:])
    return parts


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value into its stripped, non-empty elements."""
    return [part.strip() for part in _split_outside(value, ",", brackets=True) if part.strip()]
