"""A loopback event handler for tests: an HTTP server in a thread that records every POST.

    with EventReceiver() as receiver:          # answers 200 unless told otherwise
        ...bind receiver.url, cause an event...
        [body] = receiver.wait(1)               # the forms received, each as (name, value) pairs

``statuses`` are answered in turn (then 200); ``delay`` makes each answer wait that many
seconds (or until the receiver closes), to play a handler that hangs.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

Form = list[tuple[str, str]]


class EventReceiver:
    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.delay = delay
        self.forms: list[Form] = []
        self.raw: list[bytes] = []
        self.release = threading.Event()
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                with receiver._arrived:
                    receiver.raw.append(raw)
                    receiver.forms.append(parse_qsl(raw.decode(), keep_blank_values=True))
                    receiver._arrived.notify_all()
                if receiver.delay:
                    receiver.release.wait(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/handler?app=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def bodies(self) -> list[dict[str, list[str]]]:
        """Each form as a dict of lists (``parse_qs`` shape)."""
        found = []
        for form in self.forms:
            values: dict[str, list[str]] = {}
            for name, value in form:
                values.setdefault(name, []).append(value)
            found.append(values)
        return found

    def wait(self, count: int, timeout: float = 10.0) -> list[Form]:
        """The forms received, once there are at least ``count`` (AssertionError after
        ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.forms) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.forms)} of {count} events arrived in {timeout} s"
                self._arrived.wait(left)
            return list(self.forms)

    def __enter__(self) -> EventReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
