"""A first run as a new user meets it (issue 16): `serve` logs in one format, the CLI prints
the running server's URLs, the printed password signs in, a misconfiguration is one line.

Each test starts the real `trunkline serve` (LiveServer: `serve --port 0 --json`) or runs the
real command in a subprocess, on loopback only.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import POSTGRES_URL, require_postgres
from tests.engine import peers
from trunkline.testing.server import LiveServer

pytestmark = pytest.mark.e2e

# The one format of every log line: time, level, logger[pid]: message.
LOG_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
    r"[a-z][\w.]*\[\d+\]: .+"
)


def trunkline(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "trunkline", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def database(server: LiveServer) -> str:
    return f"sqlite:///{server.workdir / 'trunkline.sqlite3'}"


def get(url: str, **headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def log_lines(server: LiveServer) -> list[str]:
    """Everything the server wrote but its one JSON object, line by line."""
    return [line.rstrip("\n") for line in server.output if not line.startswith("{")]


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_at_debug_logs_registrar_access_and_not_emulated_in_one_format(
    tmp_path: Path, workers: int
) -> None:
    sip_port = peers.free_port()
    env = {
        "TRUNKLINE_LOG_LEVEL": "debug",
        "TRUNKLINE_SIP_ENGINE": "auto",  # in the worker with one, its own process with two
        "TRUNKLINE_SIP_PORT": str(sip_port),
        "TRUNKLINE_SIP_POLL_SECONDS": "1",
    }
    args = ("--workers", str(workers))
    with LiveServer.start(tmp_path, env=env, args=args) as server:
        info = server.info
        assert info["registrar"] == {
            "udp": f"127.0.0.1:{sip_port}",
            "tcp": f"127.0.0.1:{sip_port}",
        }
        assert info["sip_engine"] == ("inprocess" if workers == 1 else "process")
        assert get(server.webhook_url + "voximplant.sip.get.json")[0] == 200
        assert get(server.webhook_url + "crm.lead.list")[0] == 404
        registrar = f"SIP registrar listening on udp+tcp 127.0.0.1:{sip_port}"
        wait_for(lambda: any(registrar in line for line in server.read_output()))
        wait_for(lambda: get(server.base_url + "/health")[1]["engine"].get("running"))
        engine = get(server.base_url + "/health")[1]["engine"]
        assert engine["registrar"] == info["registrar"]
    lines = log_lines(server)
    assert [line for line in lines if not LOG_LINE.fullmatch(line)] == []
    access = [line for line in lines if " trunkline.access[" in line]
    assert any("method=voximplant.sip.get status=200 error=-" in line for line in access)
    assert any(
        " WARNING trunkline.rest[" in line
        and "crm.lead.list is a Bitrix24 method not emulated by Trunkline yet" in line
        for line in lines
    )
    assert any(registrar in line for line in lines)
    assert not [line for line in lines if "alembic" in line or "Context impl" in line]
    if workers == 2:  # the parent, the workers and the engine process: several pids
        assert len({re.search(r"\[(\d+)\]:", line).group(1) for line in lines}) >= 3


def test_webhook_create_and_app_install_print_the_running_servers_url(tmp_path: Path) -> None:
    with LiveServer.start(tmp_path) as server:
        db = database(server)
        created = trunkline("webhook", "create", "--user", "1", "--database-url", db, cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        url = created.stdout.strip()
        assert url.startswith(f"http://127.0.0.1:{server.port}/rest/1/")
        status, body = get(url + "voximplant.sip.get.json")
        assert (status, body["result"]) == (200, [])

        app = trunkline("app", "create", "--json", "--database-url", db, cwd=tmp_path)
        client_id = json.loads(app.stdout)["client_id"]
        installed = trunkline(
            "app", "install", client_id, "--user", "1", "--json", "--database-url", db,
            cwd=tmp_path,
        )  # fmt: skip
        assert installed.returncode == 0, installed.stderr
        auth = json.loads(installed.stdout)
        assert auth["client_endpoint"] == f"http://127.0.0.1:{server.port}/rest/"
        status, _ = get(
            auth["client_endpoint"] + "app.info", authorization=f"Bearer {auth['access_token']}"
        )
        assert status == 200
        chosen = trunkline(
            "webhook", "create", "--user", "1", "--public-url", "https://hooks.example",
            "--database-url", db, cwd=tmp_path,
        )  # fmt: skip
        assert chosen.stdout.startswith("https://hooks.example/rest/1/")

    # A clean stop removes the record: the CLI falls back to the settings' address.
    status = json.loads(
        trunkline("db", "status", "--json", "--database-url", db, cwd=tmp_path).stdout
    )
    assert status["servers"] == []
    after = trunkline("webhook", "create", "--user", "1", "--database-url", db, cwd=tmp_path)
    assert after.stdout.startswith("http://127.0.0.1:8080/rest/1/")


def test_a_server_killed_without_stopping_leaves_no_live_record(tmp_path: Path) -> None:
    server = LiveServer.launch(tmp_path)
    try:
        server.process.kill()  # the group leader only: no clean stop
        server.process.wait(10)
    finally:
        server.stop()
    db = database(server)
    status = json.loads(
        trunkline("db", "status", "--json", "--database-url", db, cwd=tmp_path).stdout
    )
    assert status["servers"] == []


# -- misconfigurations: one line, exit status 2, no traceback ---------------------------


def _missing_database() -> tuple[list[str], dict[str, str], str]:
    require_postgres()
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/trunkline_missing_{secrets.token_hex(4)}"
    return ["serve", "--database-url", url], {}, "does not exist)"


def _refused() -> tuple[list[str], dict[str, str], str]:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://postgres@127.0.0.1:{port}/test"
    return ["serve", "--database-url", url], {}, "(connection refused)"


MISCONFIGURATIONS = {
    "missing PostgreSQL database": _missing_database,
    "refused connection": _refused,
    "SQLite directory that cannot exist": lambda: (
        ["serve", "--database-url", "sqlite:////proc/no/such/dir/db.sqlite3"],
        {},
        "cannot open database sqlite:////proc/no/such/dir/db.sqlite3 (",
    ),
    "unsupported database URL": lambda: (
        ["portal", "list", "--database-url", "mysql://x/y"],
        {},
        "unsupported database URL",
    ),
    "log level": lambda: (
        ["serve"],
        {"TRUNKLINE_LOG_LEVEL": "loud"},
        "bad setting log_level='loud' (allowed: critical, error, warning, info, debug)",
    ),
    "error texts": lambda: (
        ["serve"],
        {"TRUNKLINE_ERROR_TEXTS": "bogus"},
        "bad setting error_texts='bogus' (allowed: doc, core)",
    ),
    "engine mode": lambda: (
        ["engine"],
        {"TRUNKLINE_SIP_ENGINE": "sometimes"},
        "bad setting sip_engine='sometimes' (allowed: auto, inprocess, process, off)",
    ),
    "not an integer": lambda: (
        ["serve"],
        {"TRUNKLINE_WORKERS": "two"},
        "bad setting TRUNKLINE_WORKERS='two' (not an integer)",
    ),
    "port out of range": lambda: (
        ["serve", "--port", "70000"],
        {},
        "bad setting port=70000 (allowed: 0 to 65535)",
    ),
    "not a boolean": lambda: (
        ["serve"],
        {"TRUNKLINE_LIMITS": "maybe"},
        "bad setting TRUNKLINE_LIMITS='maybe' (not a boolean: use 1 or 0)",
    ),
    "bad time zone": lambda: (
        ["portal", "create", "mars.example", "--timezone", "Mars/Olympus"],
        {},
        "unknown time zone 'Mars/Olympus'",
    ),
    "short admin password": lambda: (
        ["serve", "--admin-password", "short"],
        {},
        "bad setting admin_password='(hidden)' (a password needs at least 8 characters)",
    ),
    "unusable secret key": lambda: (
        ["serve"],
        {"TRUNKLINE_SECRET_KEY": "not-a-key"},
        "the secret key",
    ),
}


@pytest.mark.parametrize("case", MISCONFIGURATIONS, ids=str)
def test_misconfiguration_is_one_line_and_exit_status_2(tmp_path: Path, case: str) -> None:
    args, env, expected = MISCONFIGURATIONS[case]()
    import os

    done = trunkline(*args, cwd=tmp_path, env={**os.environ, **env})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("trunkline: ") and expected in line, line
    assert done.stdout == ""


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = trunkline("serve", "--port", str(port), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"trunkline: cannot listen on 127.0.0.1:{port} (address already in use)\n"


def test_debug_flag_shows_the_traceback(tmp_path: Path) -> None:
    done = trunkline("--debug", "serve", "--port", "70000", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "SettingsError" in done.stderr


# -- the first sign-in -----------------------------------------------------------------


def test_sign_in_with_the_printed_password_and_deny(tmp_path: Path) -> None:
    """`serve` prints the administrator's password once; `app create --install` does the three
    OAuth steps; the real sign-in page accepts the printed password, and Deny refuses."""
    with LiveServer.start(tmp_path) as server:
        password = server.admin_password
        assert password and server.info["sign_in"]["login"] == "admin"
        created = trunkline(
            "app", "create", "--redirect-uri", "http://127.0.0.1:9/callback", "--install",
            "--user", "1", "--json", "--database-url", database(server), cwd=tmp_path,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        app = json.loads(created.stdout)
        install = app["install"]
        assert install["password"] is None  # admin already has the printed one
        sign_in = install["sign_in_url"]
        assert sign_in.startswith(f"http://127.0.0.1:{server.port}/oauth/authorize/?client_id=")

        with httpx.Client() as browser:
            page = browser.get(sign_in)
            assert page.status_code == 200 and "Deny" in page.text
            form = hidden_fields(page.text)
            wrong = browser.post(
                server.base_url + "/oauth/authorize/",
                data={**form, "login": "admin", "password": "not-it-at-all"},
            )
            assert wrong.status_code == 401 and "Wrong login or password." in wrong.text
            form = hidden_fields(wrong.text)
            allowed = browser.post(
                server.base_url + "/oauth/authorize/",
                data={**form, "login": "admin", "password": password, "decision": "allow"},
            )
            assert allowed.status_code == 302, allowed.text
            query = parse_qs(urlsplit(allowed.headers["location"]).query)
            assert query["state"] == ["trunkline"] and query["code"]

            form = hidden_fields(browser.get(sign_in).text)
            denied = browser.post(
                server.base_url + "/oauth/authorize/", data={**form, "decision": "deny"}
            )
        assert denied.status_code == 302
        location = urlsplit(denied.headers["location"])
        assert (location.netloc, location.path) == ("127.0.0.1:9", "/callback")
        refused = parse_qs(location.query)
        assert refused["error"] == ["access_denied"] and refused["state"] == ["trunkline"]
        assert "code" not in refused
        token = httpx.post(
            server.base_url + "/oauth/token/",
            data={
                "grant_type": "authorization_code",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "code": query["code"][0],
            },
        )
        assert token.status_code == 200 and token.json()["user_id"] == 1


def hidden_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
