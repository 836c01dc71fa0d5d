"""`trunkline engine` runs on uvloop when it is installed, as the web workers do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.peers import free_port
from trunkline.cli.server import engine_loop_factory
from trunkline.storage import migrate
from trunkline.storage.secrets import new_key
from trunkline.storage.url import DatabaseUrl

OPTIONS = (
    "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-loop-{n}\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:probe@127.0.0.1>\r\n"
    "Call-ID: loop-{n}@127.0.0.1\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
)


def test_the_factory_is_uvloops_and_none_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvloop

    assert engine_loop_factory() is uvloop.new_event_loop
    monkeypatch.setitem(sys.modules, "uvloop", None)  # an import of it raises ImportError
    assert engine_loop_factory() is None


def test_the_engine_process_answers_on_uvloop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'engine.sqlite3'}"
    migrate.upgrade(DatabaseUrl(url))
    port = free_port()
    env = {
        **os.environ,
        "TRUNKLINE_DATABASE_URL": url,
        "TRUNKLINE_SECRET_KEY": new_key(),
        "TRUNKLINE_SIP_HOST": "127.0.0.1",
        "TRUNKLINE_SIP_PORT": str(port),
        "TRUNKLINE_LOG_LEVEL": "warning",
    }
    engine = subprocess.Popen(
        [sys.executable, "-m", "trunkline", "engine"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            probe.settimeout(0.25)
            local = probe.getsockname()[1]
            answer = b""
            deadline = time.monotonic() + 30
            n = 0
            while not answer and time.monotonic() < deadline and engine.poll() is None:
                n += 1
                probe.sendto(
                    OPTIONS.format(port=port, local=local, n=n).encode(), ("127.0.0.1", port)
                )
                try:
                    answer = probe.recv(4096)
                except TimeoutError:
                    continue
        assert answer.startswith(b"SIP/2.0 200 OK\r\n"), answer[:80]
        maps = Path(f"/proc/{engine.pid}/maps").read_text()
        assert "/uvloop/" in maps  # its extension module is loaded: the loop is uvloop's
    finally:
        engine.terminate()
        output = engine.communicate(timeout=30)[0].decode(errors="replace")
    assert engine.returncode == 0, output[-2000:]
