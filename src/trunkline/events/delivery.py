"""Delivery of events to an application's handler URL (``rest-protocol.md`` §9.4).

Rules:

* The body is a PHP-style form (``event=ONAPPINSTALL&data[VERSION]=1&auth[access_token]=...``),
  as Bitrix24 sends it.
* Delivery never blocks what caused the event: :meth:`EventSender.send` schedules
  it and returns at once; the install is already stored.
* Each attempt waits at most ``event_timeout`` seconds; at most ``event_attempts``
  attempts, ``1, 2, 4, ...`` seconds apart. A 2xx answer is success; anything
  else (another status, a redirect, a refused connection, a timeout) is a failed
  attempt. Failures are logged with the URL but never with the tokens.
* Only ``http`` and ``https`` URLs are called, and redirects are not followed.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from trunkline.metrics import families

log = logging.getLogger("trunkline.events")

Post = Callable[[str, bytes, float], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Delivery:
    url: str
    delivered: bool
    attempts: int
    error: str | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _post_blocking(url: str, body: bytes, timeout: float) -> int:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Bitrix24 Webhook Engine (Trunkline)",
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(65536)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def http_post(url: str, body: bytes, timeout: float) -> int:
    """POST a form; the status code (raises OSError on network failures)."""
    return await asyncio.to_thread(_post_blocking, url, body, timeout)


def encode_form(pairs: Sequence[tuple[str, str]]) -> bytes:
    return urlencode(list(pairs)).encode()


class EventSender:
    def __init__(
        self,
        *,
        timeout: float,
        attempts: int,
        post: Post = http_post,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.post = post
        self.sleep = sleep
        self._pending: set[asyncio.Task[Delivery]] = set()
        self._finished: list[Delivery] = []  # deliveries done since the last drain()

    def send(self, url: str, form: Sequence[tuple[str, str]]) -> asyncio.Task[Delivery]:
        """Start delivering in the background; the task's result says how it went."""
        task = asyncio.get_running_loop().create_task(self.deliver(url, form))
        self._pending.add(task)
        task.add_done_callback(self._finish)
        return task

    def _finish(self, task: asyncio.Task[Delivery]) -> None:
        self._pending.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("event delivery crashed", exc_info=error)
        else:
            self._finished.append(task.result())

    async def deliver(self, url: str, form: Sequence[tuple[str, str]]) -> Delivery:
        if urlsplit(url).scheme not in ("http", "https"):
            log.warning("event not sent: %s is not an http(s) URL", url)
            return Delivery(url, False, 0, "not an http(s) URL")
        body = encode_form(form)
        error = ""
        for attempt in range(1, self.attempts + 1):
            try:
                status = await asyncio.wait_for(
                    self.post(url, body, self.timeout), self.timeout + 1
                )
            except (OSError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= status < 300:
                    families.event_deliveries.labels("delivered").inc()
                    return Delivery(url, True, attempt)
                error = f"HTTP {status}"
            families.event_deliveries.labels("failed").inc()
            log.warning(
                "event to %s failed (attempt %d of %d): %s", url, attempt, self.attempts, error
            )
            if attempt < self.attempts:
                await self.sleep(2 ** (attempt - 1))
        families.event_deliveries.labels("given_up").inc()
        return Delivery(url, False, self.attempts, error)

    async def drain(self) -> list[Delivery]:
        """Wait for every event still being delivered (the CLI, before it exits); returns
        every delivery finished since the last drain, however fast it was."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        finished, self._finished = self._finished, []
        return finished
