"""What a fresh `serve` loads before it is ready (issue 12: ready in under 1 s): the real
server on a new SQLite file, its imports listed by Python (``-X importtime``), none of the
modules it has no use for yet. Each was once imported on the way and cost start-up time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from trunkline.cli import GROUPS

pytestmark = pytest.mark.e2e

NOT_BEFORE_READY = {
    "sqlalchemy": "a new SQLite file is made by storage/sqlite_schema.sql",
    "alembic": "nor is a migration run",
    "asyncpg": "PostgreSQL's driver (storage/postgres.py)",
    "dns": "the SIP engine's resolver (the engine is off)",
    "trunkline.engine": "the SIP engine (off)",
    "jinja2": "the console's templates, loaded at its first page",
    "cryptography": "the cipher, made at the first value sealed or opened",
    "redis": "only with redis_url",
}


def loaded(lines: list[str]) -> set[str]:
    """The modules named by ``-X importtime``'s lines (``import time: self | total | name``)."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in lines
        if line.startswith("import time:") and line.count("|") == 2
    }


def serve_until_ready(workdir: Path) -> list[str]:
    """Start ``serve -X importtime`` (SIP engine off), wait for ``/health``, stop it; its
    stderr's lines until ready."""
    env = {**os.environ, "TRUNKLINE_SIP_ENGINE": "off", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-X", "importtime", "-m", "trunkline", "serve", "--port", "0"]
    log = workdir / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*command, "--json"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            url = json.loads(process.stdout.readline())["url"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(0.05)
            lines = log.read_text().splitlines()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
            if process.stdout is not None:
                process.stdout.close()
    return lines


def test_a_fresh_serve_loads_no_module_it_has_no_use_for(tmp_path: Path) -> None:
    modules = loaded(serve_until_ready(tmp_path))
    # The list runs to the worker's start-up: the app's modules (uvicorn imports the app
    # itself with importlib, which -X importtime does not list) and what startup imports.
    assert {"uvicorn", "trunkline.methods.catalog", "trunkline.metrics.rest"} <= modules
    for name, why in NOT_BEFORE_READY.items():
        found = sorted(m for m in modules if m == name or m.startswith(name + "."))
        assert not found, f"{name} loaded before ready ({why}): {found}"
    others = {f"trunkline.cli.{module}" for module in GROUPS.values()} - {"trunkline.cli.server"}
    assert not others & modules, "serve parses only its own command group"
