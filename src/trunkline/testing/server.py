"""Run a real Trunkline server process for tests, as a user would start it.

    with LiveServer.start(tmp_path) as server:
        requests.get(server.webhook_url + "voximplant.sip.get.json")

The server runs ``trunkline serve --port 0 --json``: it binds a free loopback port itself
and prints one JSON object (its URLs, port, pid, the seeded webhook, the administrator's
sign-in, the registrar), which :attr:`LiveServer.info` holds. It has its own working
directory (SQLite file and key there unless ``database_url`` says otherwise) and is
stopped by its PID. Its SIP engine is off unless ``TRUNKLINE_SIP_ENGINE`` says otherwise
(in the environment or ``env``).
"""

from __future__ import annotations

import json
import os
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
from typing import Any

from trunkline.testing.control import Control


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
    info: dict[str, Any] = field(default_factory=dict)  # what `serve --json` printed

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, or ``https://`` with ``--tls``."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def tls(self) -> dict[str, Any] | None:
        """What ``--tls`` printed: ``ca_file``, ``env`` (the trust lines), ``curl``."""
        found = self.info.get("tls")
        return found if isinstance(found, dict) else None

    @property
    def ca_file(self) -> str | None:
        """The local CA's certificate with ``--tls`` (trust it: ``verify=server.ca_file``)."""
        return None if self.tls is None else str(self.tls["ca_file"])

    @property
    def admin_password(self) -> str | None:
        """The administrator's sign-in password, when this start seeded the database."""
        sign_in = self.info.get("sign_in") or {}
        password = sign_in.get("password")
        return password if isinstance(password, str) else None

    @property
    def operator_token(self) -> str | None:
        """The bearer token of ``/operator/`` (``--operator-token``; ``auto``: derived)."""
        token = self.info.get("operator_token")
        return token if isinstance(token, str) else None

    @property
    def control(self) -> Control:
        """The operator API as Python methods (the server needs ``--operator-token``)."""
        if self.operator_token is None:
            raise LookupError("start the server with --operator-token to use its operator API")
        return Control(self.base_url, self.operator_token, ca_file=self.ca_file)

    @property
    def scenario(self) -> dict[str, Any] | None:
        """What ``--seed FILE`` made (its webhooks, apps with tokens, lines)."""
        made = self.info.get("scenario")
        return made if isinstance(made, dict) else None

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
        port: int = 0,
    ) -> Iterator[LiveServer]:
        server = cls.launch(workdir, args=args, env=env, timeout=timeout, port=port)
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
        port: int = 0,
    ) -> LiveServer:
        """Start ``trunkline serve`` on ``port`` (0: one the server picks) and wait until
        it answers ``/health``."""
        # The SIP engine stays off unless asked for: wire tests must not race real registrations.
        full_env = {
            "TRUNKLINE_SIP_ENGINE": "off",
            **os.environ,
            **(env or {}),
            "PYTHONUNBUFFERED": "1",
        }
        command = [
            *(sys.executable, "-m", "trunkline", "serve", "--port", str(port), "--json"),
            *args,
        ]
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
            if not self.info:
                self._read_info()
            if self.info and self._answers():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("trunkline serve did not start in time:\n" + "".join(self.output))

    def _read_info(self) -> None:
        """The JSON object ``serve --json`` prints before it serves (log lines are not JSON)."""
        for line in self.output:
            if not line.startswith("{"):
                continue
            try:
                info = json.loads(line)
            except ValueError:
                continue
            if isinstance(info, dict) and "url" in info:
                self.info = info
                self.port = int(info["port"])
                self.webhook_url = info.get("webhook_url") or ""
                return

    def _answers(self) -> bool:
        context = None
        if self.ca_file is not None:
            import ssl

            context = ssl.create_default_context(cafile=self.ca_file)
        try:
            with urllib.request.urlopen(
                self.base_url + "/health", timeout=2, context=context
            ) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def read_output(self) -> list[str]:
        """Every line the server has written so far (stdout and stderr, in order)."""
        if self.process.stdout is not None and not self.process.stdout.closed:
            self._drain()
        return self.output

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
