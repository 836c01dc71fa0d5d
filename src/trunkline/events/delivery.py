"""One delivery attempt of an event to a handler URL, and how it went (``docs/events.md``).

Rules:

* The body is a PHP-style form (``event=ONAPPINSTALL&data[VERSION]=1&auth[access_token]=...``),
  as Bitrix24 sends it (``events/forms.py`` builds it).
* An attempt waits at most ``timeout`` seconds. A 2xx answer is success; anything else
  (another status, a redirect, a refused connection, a timeout) is a failure with its
  reason: ``HTTP 500``, ``handler timeout``, ``connection refused``, ``network error:
  ...``. A URL that is not http(s) is refused without any I/O (``not an http(s) URL``).
* Failures are logged with the URL, never with the tokens.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote_plus

from trunkline.events.http import NotCalledError
from trunkline.metrics import families

log = logging.getLogger("trunkline.events")

Post = Callable[[str, bytes, float], Awaitable[int]]

DELIVERED = "delivered"
FAILED = "failed"
REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Delivery:
    """How an event's delivery ended (what ``trunkline app install`` reports)."""

    url: str
    delivered: bool
    attempts: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: str  # delivered | failed | refused
    status: int | None
    reason: str


_PLAIN = re.compile(r"[A-Za-z0-9_.\-~]*")
_KEYS: dict[str, str] = {}  # encoded field names (a few dozen distinct ones)


def _quoted(text: str) -> str:
    return text if _PLAIN.fullmatch(text) else quote_plus(text)


def encode_form(pairs: Sequence[tuple[str, str]]) -> bytes:
    """``urlencode`` of the pairs (the same bytes), with the field names' encodings kept
    and plain values (tokens, ids) passed through: most of a delivery's CPU otherwise."""
    parts = []
    for key, value in pairs:
        name = _KEYS.get(key)
        if name is None:
            name = quote_plus(key)
            if len(_KEYS) < 4096:
                _KEYS[key] = name
        parts.append(f"{name}={_quoted(value)}")
    return "&".join(parts).encode()


async def attempt(post: Post, url: str, body: bytes, timeout: float) -> Attempt:
    """POST ``body`` to ``url`` once and say how it went (never raises for the handler's
    faults)."""
    try:
        status = await post(url, body, timeout)
    except NotCalledError:
        log.warning("event not sent: %s is not an http(s) URL", url)
        return Attempt(REFUSED, None, "not an http(s) URL")
    except TimeoutError:
        reason = "handler timeout"
    except ConnectionRefusedError:
        reason = "connection refused"
    except OSError as exc:
        reason = f"network error: {exc.strerror or exc}"
    except ValueError as exc:  # a malformed or oversized answer
        reason = str(exc)
    else:
        if 200 <= status < 300:
            families.event_deliveries.labels("delivered").inc()
            return Attempt(DELIVERED, status, "")
        families.event_deliveries.labels("failed").inc()
        log.warning("event to %s failed: HTTP %d", url, status)
        return Attempt(FAILED, status, f"HTTP {status}")
    families.event_deliveries.labels("failed").inc()
    log.warning("event to %s failed: %s", url, reason)
    return Attempt(FAILED, None, reason)


def give_up() -> None:
    """Count a delivery whose last attempt failed (no retry left)."""
    families.event_deliveries.labels("given_up").inc()
