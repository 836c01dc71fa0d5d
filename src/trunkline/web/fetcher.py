"""The HTTP client that reads RECORD_URLs (``services/recordings.py`` ``RecordSource``).

Rules: no redirects (a 3xx is answered as its status, so an allowed host cannot hand
the request on to another), no proxies from the environment, each socket operation
waits at most the timeout, and the body is read in chunks as the caller consumes it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from trunkline.services.recordings import FetchFailedError

_CHUNK = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _empty() -> Iterator[bytes]:
    yield from ()


class UrlFetcher:
    @contextmanager
    def open(self, url: str, timeout: float) -> Iterator[tuple[int, Iterator[bytes]]]:
        request = urllib.request.Request(url, headers={"User-Agent": "Trunkline"})
        try:
            response = _OPENER.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            yield exc.code, _empty()
            return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FetchFailedError(f"SERVER_NOT_AVAILABLE: {reason}") from exc
        with response:

            def chunks() -> Iterator[bytes]:
                try:
                    while chunk := response.read(_CHUNK):
                        yield chunk
                except OSError as exc:
                    raise FetchFailedError(f"SERVER_NOT_AVAILABLE: {exc}") from exc

            yield response.status, chunks()
