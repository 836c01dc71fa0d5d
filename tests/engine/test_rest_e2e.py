"""Through the REST API to a loopback Kamailio and back (issue 4 "must show").

sip.add of a cloud line -> sip.status goes wait/in_progress -> success 200 and sip.get shows
"200"; a wrong password shows error 401; sip.update with the right one recovers; sip.delete
sends Expires: 0. Once with the engine inside the app (both backends), once with
`trunkline serve` running the engine in its own process that finds changes by polling.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

from tests.engine import peers
from trunkline.engine.runtime import Engine
from trunkline.testing.server import LiveServer

DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def wait_status(call: Any, reg_id: int, result: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = call("voximplant.sip.status", {"REG_ID": reg_id})["result"]
        if status["STATUS_RESULT"] == result:
            return status
        time.sleep(0.05)
    raise AssertionError(f"REG_ID {reg_id} still {status}")


def test_cloud_line_registers_fails_recovers_and_unregisters(env, kamailio):
    settings = env.app.settings.replace(sip_port=0, sip_t1_ms=50, sip_poll_seconds=60)
    engine = Engine(env.app.store, settings, secret=b"e" * 32)
    env.run(engine.start)
    env.app.services.lines.observers.append(engine)
    shown: list[tuple[tuple[int, int], str]] = []  # every result the engine wrote
    write = engine.supervisor._on_status

    def record(runner: Any) -> None:
        shown.append((runner.key, runner.status.result))
        write(runner)

    engine.supervisor._on_status = record
    try:
        line = env.ok(
            "voximplant.sip.add",
            {"TYPE": "cloud", "SERVER": kamailio.server, "LOGIN": "alice", "PASSWORD": "secret"},
        )["result"]
        assert line["REGISTRATION_STATUS_CODE"] is None
        first = env.ok("voximplant.sip.status", {"REG_ID": line["REG_ID"]})["result"]
        assert list(first) == [
            "REG_ID",
            "LAST_UPDATED",
            "ERROR_MESSAGE",
            "STATUS_CODE",
            "STATUS_RESULT",
        ]
        assert first["STATUS_RESULT"] in ("wait", "in_progress", "success")  # loopback is fast
        assert first["STATUS_CODE"] in (0, 200) and first["ERROR_MESSAGE"] == ""
        status = wait_status(env.ok, line["REG_ID"], "success")
        key = (env.portal.id, int(line["CONFIG_ID"]))
        assert [result for k, result in shown if k == key] == ["in_progress", "success"]
        assert status["REG_ID"] == line["REG_ID"] and isinstance(status["REG_ID"], int)
        assert status["STATUS_CODE"] == 200 and status["ERROR_MESSAGE"] == ""
        assert DATE.fullmatch(status["LAST_UPDATED"])
        (row,) = env.ok("voximplant.sip.get", {"FILTER": {"CONFIG_ID": line["CONFIG_ID"]}})[
            "result"
        ]
        assert row["REGISTRATION_STATUS_CODE"] == "200"
        assert row["REGISTRATION_ERROR_MESSAGE"] == ""

        wrong = env.ok(
            "voximplant.sip.add",
            {"TYPE": "cloud", "SERVER": kamailio.server, "LOGIN": "alice", "PASSWORD": "bad"},
        )["result"]
        status = wait_status(env.ok, wrong["REG_ID"], "error")
        assert (status["STATUS_CODE"], status["ERROR_MESSAGE"]) == (401, "Unauthorized")
        (row,) = env.ok("voximplant.sip.get", {"FILTER": {"CONFIG_ID": wrong["CONFIG_ID"]}})[
            "result"
        ]
        assert row["REGISTRATION_STATUS_CODE"] == "401"

        env.ok("voximplant.sip.update", {"CONFIG_ID": wrong["CONFIG_ID"], "PASSWORD": "secret"})
        reset = env.ok("voximplant.sip.status", {"REG_ID": wrong["REG_ID"]})["result"]
        assert reset["STATUS_CODE"] in (0, 200) and reset["STATUS_RESULT"] != "error"
        status = wait_status(env.ok, wrong["REG_ID"], "success")
        assert status["STATUS_CODE"] == 200

        call_id = engine.supervisor.runners[key].registration.call_id
        env.ok("voximplant.sip.delete", {"CONFIG_ID": line["CONFIG_ID"]})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            ours = [r for r in kamailio.registers("alice") if r["ci"] == call_id]
            if ours and ours[-1]["expires"] == "0":
                break
            time.sleep(0.05)
        assert ours[-1]["expires"] == "0"
        assert key not in engine.supervisor.runners
    finally:
        env.run(engine.stop)


def test_status_of_unknown_or_office_lines_is_reg_id_not_found(sqlite_env):
    office = sqlite_env.add_line(TYPE="office")
    for reg_id in (0, 999999, "abc", office.get("REG_ID", 0)):
        response = sqlite_env.call("voximplant.sip.status", {"REG_ID": reg_id})
        assert response.status_code == 400
        assert response.json()["error"] == "REG_ID_NOT_FOUND"
        assert response.json()["error_description"] == "Settings not found"


def test_status_checks_the_permission_first(sqlite_env):
    user = sqlite_env.user("clerk")
    hook = sqlite_env.webhook(user)
    response = sqlite_env.call("voximplant.sip.status", {"REG_ID": 1}, hook=hook)
    assert response.status_code == 403 and response.json()["error"] == "ACCESS_DENIED"


def test_status_without_engine_is_wait_with_exact_types(sqlite_env):
    line = sqlite_env.add_line(TYPE="cloud", SERVER="sip.example.com")
    status = sqlite_env.ok("voximplant.sip.status", {"reg_id": str(line["REG_ID"])})["result"]
    assert status == {
        "REG_ID": line["REG_ID"],
        "LAST_UPDATED": status["LAST_UPDATED"],
        "ERROR_MESSAGE": "",
        "STATUS_CODE": 0,
        "STATUS_RESULT": "wait",
    }
    assert DATE.fullmatch(status["LAST_UPDATED"])


def _post(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def test_engine_in_its_own_process_finds_new_lines_by_polling(tmp_path, kamailio):
    env = {
        "TRUNKLINE_SIP_ENGINE": "process",
        "TRUNKLINE_SIP_PORT": str(peers.free_port()),
        "TRUNKLINE_SIP_T1_MS": "50",
        "TRUNKLINE_SIP_POLL_SECONDS": "1",
    }
    with LiveServer.start(tmp_path, env=env) as server:
        hook = server.webhook_url

        def call(method: str, payload: dict[str, Any]) -> dict[str, Any]:
            return _post(hook + method, payload)

        line = call(
            "voximplant.sip.add",
            {"TYPE": "cloud", "SERVER": kamailio.server, "LOGIN": "alice", "PASSWORD": "secret"},
        )["result"]
        status = wait_status(call, line["REG_ID"], "success", timeout=15)
        assert status["STATUS_CODE"] == 200
        call("voximplant.sip.update", {"CONFIG_ID": line["CONFIG_ID"], "PASSWORD": "bad"})
        status = wait_status(call, line["REG_ID"], "error", timeout=15)
        assert status["STATUS_CODE"] == 401
        assert server.info["sip_engine"] == "process" and server.info["engine_pid"]
