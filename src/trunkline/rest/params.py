"""Request parameters as the PHP core sees them (``rest-protocol.md`` §2).

Rules:

1. The query string and urlencoded forms are read with PHP ``parse_str`` rules:
   pairs split on ``&`` (empty pairs skipped, so a trailing ``&`` is harmless),
   ``+`` and ``%XX`` decoded, a pair without ``=`` has the value ``""``; in the
   base name spaces and dots become ``_``; ``a[b][c]`` nests, ``a[]`` appends
   after the largest integer key, an unclosed first ``[`` becomes ``_``, text
   after a closing ``]`` that is not ``[`` is ignored; a later pair replaces an
   earlier one; every leaf is a string.
2. PHP arrays whose keys are exactly 0..n-1 in order become lists, every other
   array a dict, so form input and JSON input reach the handlers alike.
3. Parameters are the query string, then the form fields over it; a POST body
   that is not a form is read as JSON when its Content-Type says so (invalid JSON
   counts as no parameters, as in PHP) and as a query string otherwise, and its
   top-level keys replace the earlier ones (``array_replace``).
4. At most ``max_input_vars`` pairs are read (the rest are dropped, as PHP does);
   nesting deeper than ``max_nesting`` is refused with a clear ``ERROR_ARGUMENT``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

import orjson

from trunkline.errors import ArgumentError

Params = dict[str, Any]


class NestingTooDeepError(ArgumentError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"Parameters are nested deeper than {limit} levels", "")


def _base_name(raw: str) -> tuple[str, str]:
    """Split ``name[...]`` into the cleaned base name and the bracket tail."""
    raw = raw.lstrip(" ")
    cut = raw.find("[")
    if cut == -1:
        return raw.replace(" ", "_").replace(".", "_"), ""
    base, tail = raw[:cut], raw[cut:]
    if "]" not in tail:
        # An unclosed first bracket is no index: PHP turns "[" into "_".
        return (base.replace(" ", "_").replace(".", "_") + "_" + tail[1:]), ""
    return base.replace(" ", "_").replace(".", "_"), tail


def _indices(tail: str) -> list[str | None]:
    """``[a][][b]x`` -> ``["a", None, "b"]`` (None appends); stops at junk."""
    out: list[str | None] = []
    pos = 0
    while pos < len(tail) and tail[pos] == "[":
        close = tail.find("]", pos + 1)
        if close == -1:
            break
        index = tail[pos + 1 : close]
        out.append(None if index == "" else index)
        pos = close + 1
    return out


def _next_index(array: dict[str, Any]) -> str:
    largest = -1
    for key in array:
        if _is_int_key(key):
            largest = max(largest, int(key))
    return str(largest + 1)


def _is_int_key(key: str) -> bool:
    if key == "0":
        return True
    digits = key[1:] if key.startswith("-") else key
    return digits.isdigit() and digits.isascii() and not digits.startswith("0")


def assign(target: Params, name: str, value: Any, *, max_nesting: int) -> None:
    """Store ``value`` under a PHP-style ``name`` (``a[b][]``) in ``target``."""
    base, tail = _base_name(name)
    if base == "":
        return
    path: list[str | None] = [base, *_indices(tail)]
    if len(path) > max_nesting:
        raise NestingTooDeepError(max_nesting)
    node: dict[str, Any] = target
    for depth, key in enumerate(path):
        if key is None:
            key = _next_index(node)
        elif _is_int_key(key):
            key = str(int(key))
        if depth == len(path) - 1:
            node[key] = value
            return
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child


def listify(value: Any) -> Any:
    """Turn PHP arrays with keys 0..n-1 (in order) into lists, recursively."""
    if not isinstance(value, dict):
        return value
    converted = {k: listify(v) for k, v in value.items()}
    if converted and all(k == str(i) for i, k in enumerate(converted)):
        return list(converted.values())
    return converted


def parse_pairs(
    pairs: Iterable[tuple[str, Any]], *, max_nesting: int = 64, max_vars: int = 10000
) -> Params:
    out: Params = {}
    for count, (name, value) in enumerate(pairs):
        if count >= max_vars:
            break
        assign(out, name, value, max_nesting=max_nesting)
    return {name: listify(value) for name, value in out.items()}


def split_query(raw: str) -> Iterable[tuple[str, str]]:
    for pair in raw.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        yield unquote_plus(name, errors="replace"), unquote_plus(value, errors="replace")


def parse_query(raw: str | bytes, *, max_nesting: int = 64, max_vars: int = 10000) -> Params:
    """PHP ``parse_str``: nested dicts/lists with string leaves."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return parse_pairs(split_query(raw), max_nesting=max_nesting, max_vars=max_vars)


def check_depth(value: Any, limit: int) -> None:
    """Refuse JSON nested deeper than ``limit`` (iteratively: no recursion to blow)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            raise NestingTooDeepError(limit)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def parse_json_body(body: bytes, *, max_nesting: int = 64) -> Params:
    """A JSON body's parameters; invalid JSON or a non-object is no parameters."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(decoded, dict):
        return {}
    if body.count(b"{") + body.count(b"[") > max_nesting:  # else it cannot be too deep
        check_depth(decoded, max_nesting + 1)
    return decoded


def merge(*layers: Params) -> Params:
    """Later layers replace earlier ones key by key at the top level."""
    if len(layers) == 1:
        return layers[0]
    out: Params = {}
    for layer in layers:
        out.update(layer)
    return out
