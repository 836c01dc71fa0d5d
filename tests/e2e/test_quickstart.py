"""The quick start, as a user runs it: ``python -m trunkline serve --port N`` in an
empty directory prints a banner with a webhook URL and a curl line that work; a second
start in the same directory prints the same URL and still has the data of the first run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.e2e

LISTENING_LINE = re.compile(r"^\s*listening: http://127\.0\.0\.1:(\d+)/rest/", re.MULTILINE)
WEBHOOK_LINE = re.compile(r"^\s*webhook URL: (\S+)$", re.MULTILINE)
CURL_LINE = re.compile(r"^\s*try: curl -s '([^']+)'$", re.MULTILINE)
SIGN_IN_LINE = re.compile(r"^\s*sign-in: admin / (\S+)  \(shown once; ", re.MULTILINE)


@contextmanager
def serve(workdir: Path, port: int = 0) -> Iterator[str]:
    """``trunkline serve --port N`` as typed in a terminal; yields its banner (printed once
    the socket listens, so its URLs answer at once)."""
    env = {**os.environ, "TRUNKLINE_SIP_ENGINE": "off", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "trunkline", "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        banner: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "SIP engine:" not in "".join(banner):
            line = process.stdout.readline()
            if not line:
                break
            banner.append(line)
        assert CURL_LINE.search("".join(banner)), "".join(banner)
        yield "".join(banner)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
        if process.stdout is not None:
            process.stdout.close()


def printed(banner: str, pattern: re.Pattern[str]) -> str:
    match = pattern.search(banner)
    assert match, banner
    return match.group(1)


def fetch(url: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    data = urlencode(form).encode() if form is not None else None
    with urllib.request.urlopen(url, data=data, timeout=10) as response:
        assert response.status == 200
        body: dict[str, Any] = json.loads(response.read())
        return body


def test_serve_prints_a_working_webhook_that_survives_a_restart(tmp_path: Path) -> None:
    with serve(tmp_path) as first:
        port = int(printed(first, LISTENING_LINE))
        url = printed(first, WEBHOOK_LINE)
        assert re.fullmatch(rf"http://127\.0\.0\.1:{port}/rest/1/[a-z0-9]+/", url)
        assert printed(first, CURL_LINE) == f"{url}voximplant.sip.get.json"
        assert printed(first, SIGN_IN_LINE)
        assert fetch(printed(first, CURL_LINE))["result"] == []
        added = fetch(
            f"{url}voximplant.sip.add.json",
            {"TYPE": "office", "TITLE": "Front desk", "SERVER": "pbx.example.com", "LOGIN": "a"},
        )["result"]
    assert (tmp_path / "trunkline.sqlite3").is_file()

    # The user starts it again on the same port: same URL, same data, no new password.
    with serve(tmp_path, port) as second:
        assert printed(second, WEBHOOK_LINE) == url
        assert not SIGN_IN_LINE.search(second) and "sign-in: admin  (password shown" in second
        rows = fetch(f"{url}voximplant.sip.get.json")["result"]

    assert [(row["CONFIG_ID"], row["TITLE"]) for row in rows] == [
        (added["CONFIG_ID"], "Front desk")
    ]
