"""PHP's value conversions, which the real handlers apply to every parameter.

Values arrive as JSON types or as strings from forms; the PHP core coerces them
with ``intval``, ``(bool)`` and ``(string)``. These functions give the same
answers for every JSON-like input (no exceptions for odd types).
"""

from __future__ import annotations

import math
import re
from typing import Any

_LEADING_INT = re.compile(r"[ \t\n\r\v\f]*([+-]?\d+)")
_LEADING_NUMBER = re.compile(r"[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INT_MAX = 2**63 - 1
_INT_MIN = -(2**63)


def intval(value: Any) -> int:
    """PHP ``intval``: ``"3abc"`` is 3, ``"abc"`` 0, ``[]`` 0, ``[x]`` 1, ``true`` 1."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return max(_INT_MIN, min(_INT_MAX, value))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return 0
        return max(_INT_MIN, min(_INT_MAX, int(value)))
    if isinstance(value, str):
        if value.isdigit() and value.isascii():  # plain digits, the usual case: no regex
            return min(_INT_MAX, int(value))
        number = _LEADING_NUMBER.match(value)
        if number and (number.group(2) or number.group(3)):
            # "1e3" and "1.5" are numeric strings: PHP converts through float.
            try:
                return intval(float(number.group(0)))
            except (ValueError, OverflowError):
                return 0
        match = _LEADING_INT.match(value)
        return max(_INT_MIN, min(_INT_MAX, int(match.group(1)))) if match else 0
    if isinstance(value, list | dict):
        return 1 if value else 0
    return 0


def boolval(value: Any) -> bool:
    """PHP truthiness: ``"0"`` and ``""`` are false, ``"false"`` is true."""
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, list | dict):
        return bool(value)
    return bool(value)


def strval(value: Any) -> str | None:
    """PHP string conversion of a scalar; None for arrays (which PHP cannot convert)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return None
