"""The console in a real browser: Debian's chromium driven headless by Playwright for
Python (never a downloaded browser), against a real `trunkline serve` with its SIP engine.

It signs in with the operator token, watches a cloud line fail with 408 while its
registrar is down and turn to 200 once Kamailio comes up, sets a fault and clears it,
and reads an event delivery. Screenshots go to the test's directory, or to docs/console/
(the README shows one) with TRUNKLINE_CONSOLE_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.engine import peers
from trunkline.testing.handler import EventReceiver
from trunkline.testing.server import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
TOKEN = "console-browser-token"


def rest(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.load(response))
    except urllib.error.HTTPError as exc:
        return dict(json.load(exc))


@pytest.fixture
def browser() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


def test_console_in_chromium(tmp_path: Path, browser: Any) -> None:
    peers.require("kamailio")
    shots = DOCS_SHOTS if os.environ.get("TRUNKLINE_CONSOLE_SCREENSHOTS") else tmp_path
    registrar_port = peers.free_port()
    env = {
        "TRUNKLINE_SIP_ENGINE": "inprocess",
        "TRUNKLINE_SIP_PORT": "0",
        "TRUNKLINE_SIP_T1_MS": "50",
        "TRUNKLINE_SIP_POLL_SECONDS": "1",
        "TRUNKLINE_EVENT_TIMEOUT": "2",
    }
    args = ("--operator-token", TOKEN)
    kamailio = None
    with LiveServer.start(tmp_path, args=args, env=env) as server, EventReceiver() as handler:
        try:
            line = rest(
                server.webhook_url + "voximplant.sip.add",
                {
                    "TYPE": "cloud",
                    "TITLE": "Carrier",
                    "SERVER": f"127.0.0.1:{registrar_port}",
                    "LOGIN": "alice",
                    "PASSWORD": "secret",
                },
            )["result"]
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(30_000)

            # Sign in with the operator token.
            page.goto(server.base_url + "/console/")
            assert page.url.endswith("/console/login")
            page.fill("#token", TOKEN)
            page.click("#sign-in-token")
            page.wait_for_url("**/console/")
            page.click(f"text={server.info['portal']}")

            # The registrar is down: the line fails with 408 (Timer F at 64*T1).
            page.click(f"a[href$='/lines/{line['CONFIG_ID']}']")
            page.wait_for_function(
                "document.getElementById('state-code').textContent.trim() === '408'"
            )
            assert page.text_content("#state-result") == "error"
            page.screenshot(path=str(shots / "line-408.png"), full_page=True)

            # Kamailio comes up where the line registers; the next attempt gets 200.
            kamailio = peers.kamailio_registrar(tmp_path / "kamailio", registrar_port)
            page.click("#register-now")
            page.wait_for_function(
                "document.getElementById('state-code').textContent.trim() === '200'"
            )
            assert page.text_content("#state-result") == "success"
            page.wait_for_selector("details.entry summary:has-text('error 408 -> success 200')")
            assert "SIP/2.0 200 OK" in page.text_content("#history")
            page.screenshot(path=str(shots / "line.png"), full_page=True)

            # Set a fault, see the REST call refused, clear it.
            page.click("text=faults and portal state")
            page.select_option("#kind", "query-limit")
            page.fill("#method", "voximplant.sip.get")
            page.click("#set-fault")
            page.wait_for_selector("tr.fault td.kind:has-text('query-limit')")
            refused = rest(server.webhook_url + "voximplant.sip.get", {})
            assert refused["error"] == "QUERY_LIMIT_EXCEEDED"
            page.screenshot(path=str(shots / "faults.png"), full_page=True)
            page.click("tr.fault button.clear")
            page.wait_for_selector("text=No fault is set.")
            assert "result" in rest(server.webhook_url + "voximplant.sip.get", {})

            # An event delivery: installing an app POSTs ONAPPINSTALL to its handler.
            database = f"sqlite:///{server.workdir / 'trunkline.sqlite3'}"
            created = subprocess.run(
                [sys.executable, "-m", "trunkline", "app", "create", "--install", "--json",
                 "--handler-url", handler.url, "--database-url", database,
                 "--public-url", server.base_url, "--user", "1"],
                capture_output=True, text=True, timeout=60, cwd=server.workdir,
            )  # fmt: skip
            assert created.returncode == 0, created.stderr
            handler.wait(1, timeout=20)
            page.goto(server.base_url + "/console/events")
            page.wait_for_selector("tr.outcome-delivered td.event:has-text('ONAPPINSTALL')")
            page.screenshot(path=str(shots / "events.png"), full_page=True)

            # Readable on a phone.
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{server.base_url}/console/portals/{server.info['portal']}")
            phone.wait_for_selector("text=Carrier")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, width  # tables scroll inside their box, not the page
            phone.screenshot(path=str(shots / "portal-phone.png"), full_page=True)
        finally:
            if kamailio is not None:
                kamailio.stop()
    assert shutil.which("chromium") or Path(CHROMIUM).exists()
