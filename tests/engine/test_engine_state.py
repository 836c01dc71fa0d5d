"""The SIP engine is visible: `/health` and `trunkline engine status` show its registrar
listeners and its cloud lines registered, failed and waiting, and the counts move when a
cloud line registers to Kamailio (issue 16)."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.engine import peers
from trunkline.cli import main
from trunkline.engine.runtime import Engine


def health(env: Any) -> dict[str, Any]:
    response = env.client.get("/health")
    assert response.status_code == 200
    engine: dict[str, Any] = response.json()["engine"]
    return engine


def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_health_and_engine_status_show_the_counts_moving(
    env, kamailio, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("TRUNKLINE_SECRET_KEY", env.app.settings.secret_key)  # the CLI's
    assert health(env) == {"mode": "off", "running": False}
    sip_port = peers.free_port()
    settings = env.app.settings.replace(sip_port=sip_port, sip_t1_ms=50, sip_poll_seconds=1)
    engine = Engine(env.app.store, settings, secret=b"e" * 32)
    env.run(engine.start)
    env.app.engine = engine  # as startup does when the engine runs in the worker
    env.app.services.lines.observers.append(engine)
    try:
        before = health(env)
        listening = {"udp": f"127.0.0.1:{sip_port}", "tcp": f"127.0.0.1:{sip_port}"}
        assert before["running"] is True and before["registrar"] == listening
        assert before["cloud_lines"] == {"registered": 0, "failed": 0, "waiting": 0}

        env.ok(
            "voximplant.sip.add",
            {"TYPE": "cloud", "SERVER": kamailio.server, "LOGIN": "alice", "PASSWORD": "secret"},
        )
        env.ok(
            "voximplant.sip.add",
            {"TYPE": "cloud", "SERVER": kamailio.server, "LOGIN": "alice", "PASSWORD": "bad"},
        )
        wait_for(lambda: health(env)["cloud_lines"] == {"registered": 1, "failed": 1, "waiting": 0})
        after = health(env)
        assert after["client"]["registered"] >= 1 and after["client"]["sent"] >= 2

        # The engine's row in the processes table, as `trunkline engine status` reads it.
        env.run(engine.poll)
        url = env.app.settings.database_url
        assert main(["engine", "status", "--json", "--database-url", url]) == 0
        (recorded,) = json.loads(capsys.readouterr().out)
        assert recorded["registrar"] == listening
        assert recorded["cloud_lines"] == {"registered": 1, "failed": 1, "waiting": 0}
        assert main(["engine", "status", "--database-url", url]) == 0
        text = capsys.readouterr().out
        assert f"registrar: udp+tcp 127.0.0.1:{sip_port}" in text
        assert "cloud lines: 1 registered, 1 failed, 0 waiting" in text
    finally:
        env.app.engine = None
        env.run(engine.stop)
    assert main(["engine", "status", "--database-url", url]) == 1
    assert "SIP engine: not running" in capsys.readouterr().out
