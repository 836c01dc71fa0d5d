"""The quick start, as a user runs it: ``python -m trunkline serve --port N`` in an
empty directory prints a webhook URL and a curl line that work; a second start in
the same directory prints the same URL and still has the data of the first run.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from trunkline.testing import server as live
from trunkline.testing.server import LiveServer

pytestmark = pytest.mark.e2e

WEBHOOK_LINE = re.compile(r"^\s*webhook URL: (\S+)$", re.MULTILINE)
CURL_LINE = re.compile(r"^\s*try: curl -s '([^']+)'$", re.MULTILINE)


def printed(server: LiveServer, pattern: re.Pattern[str]) -> str:
    output = "".join(server.output)
    match = pattern.search(output)
    assert match, output
    return match.group(1)


def fetch(url: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    data = urlencode(form).encode() if form is not None else None
    with urllib.request.urlopen(url, data=data, timeout=10) as response:
        assert response.status == 200
        body: dict[str, Any] = json.loads(response.read())
        return body


def test_serve_prints_a_working_webhook_that_survives_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LiveServer.start(tmp_path) as first:
        url = printed(first, WEBHOOK_LINE)
        assert re.fullmatch(rf"http://127\.0\.0\.1:{first.port}/rest/1/[a-z0-9]+/", url)
        assert url == first.webhook_url
        assert printed(first, CURL_LINE) == f"{url}voximplant.sip.get.json"
        assert fetch(printed(first, CURL_LINE))["result"] == []
        added = fetch(
            f"{url}voximplant.sip.add.json",
            {"TYPE": "office", "TITLE": "Front desk", "SERVER": "pbx.example.com", "LOGIN": "a"},
        )["result"]
        port = first.port
    assert (tmp_path / "trunkline.sqlite3").is_file()

    # The user starts it again on the same port.
    monkeypatch.setattr(live, "free_port", lambda: port)
    with LiveServer.start(tmp_path) as second:
        assert printed(second, WEBHOOK_LINE) == url
        rows = fetch(f"{url}voximplant.sip.get.json")["result"]

    assert [(row["CONFIG_ID"], row["TITLE"]) for row in rows] == [
        (added["CONFIG_ID"], "Front desk")
    ]
