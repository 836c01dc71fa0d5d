"""The Bitrix24 Market review flow end to end, as a reviewer runs it, against a real
``trunkline serve`` with a real handler app on loopback:

1. the app is installed (``trunkline app install``: ONAPPINSTALL reaches its handler);
2. it binds ONEXTERNALCALLSTART with ``event.bind`` and its own token;
3. a user clicks a number in a CRM card (``trunkline call click``);
4. on the event, the app registers the call (the same CALL_ID comes back), finishes it and
   attaches an mp3;
5. ``voximplant.statistic.get`` shows the row with the recording.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from trunkline.testing.server import LiveServer

pytestmark = pytest.mark.e2e

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 300


class PbxApp:
    """A telephony app: its handler keeps the install's tokens and, on a click, does what
    a PBX integration does (register, finish, attach the recording)."""

    def __init__(self) -> None:
        self.auth: dict[str, str] = {}
        self.events: list[dict[str, str]] = []
        self.results: dict[str, Any] = {}
        self.done = threading.Event()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()
                app.received(form)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/handler"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rest(self, method: str, params: dict[str, Any], token: str | None = None) -> Any:
        endpoint = self.auth["auth[client_endpoint]"]
        body = {**params, "auth": token or self.auth["auth[access_token]"]}
        answer = httpx.post(f"{endpoint}{method}", json=body, timeout=10).json()
        assert "result" in answer, answer
        return answer["result"]

    def received(self, form: dict[str, str]) -> None:
        self.events.append(form)
        if form["event"] == "ONAPPINSTALL":
            self.auth = {k: v for k, v in form.items() if k.startswith("auth[")}
        elif form["event"] == "ONEXTERNALCALLSTART":
            threading.Thread(target=self.on_click, args=(form,), daemon=True).start()

    def on_click(self, form: dict[str, str]) -> None:
        try:
            token = form["auth[access_token]"]
            registered = self.rest(
                "telephony.externalcall.register",
                {
                    "USER_ID": form["data[USER_ID]"],
                    "PHONE_NUMBER": form["data[PHONE_NUMBER]"],
                    "TYPE": 1,
                    "LINE_NUMBER": form["data[LINE_NUMBER]"],
                },
                token,
            )
            call_id = form["data[CALL_ID]"]
            self.results["register"] = registered
            self.results["finish"] = self.rest(
                "telephony.externalcall.finish",
                {"CALL_ID": call_id, "USER_ID": form["data[USER_ID]"], "DURATION": 61},
                token,
            )
            self.results["attach"] = self.rest(
                "telephony.externalCall.attachRecord",
                {
                    "CALL_ID": call_id,
                    "FILENAME": "call.mp3",
                    "FILE_CONTENT": base64.b64encode(MP3).decode(),
                },
                token,
            )
        except Exception as exc:  # the test reports it
            self.results["error"] = repr(exc)
        finally:
            self.done.set()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def cli(server: LiveServer, *args: str) -> Any:
    database = f"sqlite:///{server.workdir / 'trunkline.sqlite3'}"
    completed = subprocess.run(
        [sys.executable, "-m", "trunkline", *args, "--json", "--database-url", database],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_market_review_flow(tmp_path: Path) -> None:
    app = PbxApp()
    try:
        with LiveServer.start(tmp_path) as server:
            created = cli(
                server,
                "app",
                "create",
                "--title",
                "Market PBX",
                "--scope",
                "telephony,user",
                "--handler-url",
                app.url,
            )
            # 1. installed: ONAPPINSTALL with the app's tokens reaches the handler
            cli(server, "app", "install", created["client_id"], "--user", "1")
            deadline = threading.Event()
            for _ in range(200):
                if app.auth:
                    break
                deadline.wait(0.05)
            assert app.auth, app.events
            # 2. the app binds ONEXTERNALCALLSTART with its own token
            bound = app.rest("event.bind", {"event": "OnExternalCallStart", "handler": app.url})
            assert bound is True
            contact = cli(
                server, "crm", "add", "--type", "contact", "--name", "Ann", "--phone", "79780001122"
            )
            # 3. a user clicks the contact's number
            clicked = cli(
                server,
                "call",
                "click",
                "--user",
                "1",
                "--phone",
                "+7 978 000-11-22",
                "--crm",
                f"CONTACT:{contact['id']}",
            )
            # 4. the app registers, finishes and attaches the recording
            assert app.done.wait(20), app.events
            assert "error" not in app.results, app.results
            [start] = [e for e in app.events if e["event"] == "ONEXTERNALCALLSTART"]
            assert start["data[CALL_ID]"] == clicked["call_id"]
            assert start["data[CRM_ENTITY_TYPE]"] == "CONTACT"
            assert start["data[CRM_ENTITY_ID]"] == str(contact["id"])
            assert app.results["register"]["CALL_ID"] == clicked["call_id"]  # within 30 min
            assert app.results["finish"]["CALL_DURATION"] == 61
            file_id = app.results["attach"]["FILE_ID"]
            # 5. the statistics show the call with its recording
            rows = app.rest("voximplant.statistic.get", {"FILTER": {"CALL_ID": clicked["call_id"]}})
            assert [(r["CALL_ID"], r["RECORD_FILE_ID"]) for r in rows] == [
                (clicked["call_id"], file_id)
            ]
            row = rows[0]
            assert row["CRM_ENTITY_TYPE"] == "CONTACT" and row["CALL_FAILED_CODE"] == "200"
            assert row["REST_APP_NAME"] == "Market PBX" and row["PHONE_NUMBER"] == "79780001122"
    finally:
        app.close()
