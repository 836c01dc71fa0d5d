"""Run a real Trunkline server process for tests, as a user would start it.

    with LiveServer.start(tmp_path) as server:
        requests.get(server.webhook_url + "voximplant.sip.get.json")

The server gets a free loopback port, its own working directory (SQLite file and
key there unless ``database_url`` says otherwise), and is stopped by its PID. Its SIP
engine is off unless ``TRUNKLINE_SIP_ENGINE`` says otherwise (in the environment or ``env``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

_WEBHOOK = re.compile(r"webhook URL: (http://\S+/rest/(\d+)/([a-z0-9]+)/)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    process: subprocess.Popen[str]
    port: int
    workdir: Path
    output: list[str] = field(default_factory=list)
    webhook_url: str = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_code(self) -> str:
        return self.webhook_url.rstrip("/").rsplit("/", 1)[-1]

    @classmethod
    @contextmanager
    def start(
        cls,
        workdir: Path,
        *,
        args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Iterator[LiveServer]:
        server = cls.launch(workdir, args=args, env=env, timeout=timeout)
        try:
            yield server
        finally:
            server.stop()

    @classmethod
    def launch(
        cls,
        workdir: Path,
        *,
        args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> LiveServer:
        port = free_port()
        # The SIP engine stays off unless asked for: wire tests must not race real registrations.
        full_env = {
            "TRUNKLINE_SIP_ENGINE": "off",
            **os.environ,
            **(env or {}),
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "trunkline", "serve", "--port", str(port), *args]
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        server = cls(process, port, workdir)
        server._wait_ready(timeout)
        return server

    def _wait_ready(self, timeout: float) -> None:
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._drain()
            if self.process.poll() is not None:
                self._drain()
                raise RuntimeError("trunkline serve exited:\n" + "".join(self.output))
            if any("Application startup complete" in line for line in self.output):
                for line in self.output:
                    match = _WEBHOOK.search(line)
                    if match:
                        self.webhook_url = match.group(1)
                if self._answers():
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("trunkline serve did not start in time:\n" + "".join(self.output))

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def _drain(self) -> None:
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                return
            self.output.append(line)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        if self.process.stdout is not None:
            with suppress(ValueError, OSError):
                self._drain()
            self.process.stdout.close()
