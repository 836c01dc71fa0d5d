"""``trunkline call ...`` against a real ``serve`` process: a scripted call, the clock
moved, the statistics row; the queued outcome of a built-in call; errors are one line."""

from __future__ import annotations

import json

import httpx
import pytest

from trunkline.cli import main
from trunkline.testing.server import LiveServer

TOKEN = "cli-calls-token"


def test_call_simulate_advance_and_statistics(tmp_path, capsys, monkeypatch):
    env = {"TRUNKLINE_OPERATOR_TOKEN": TOKEN}
    with LiveServer.start(tmp_path, env=env) as server:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("TRUNKLINE_OPERATOR_TOKEN", TOKEN)
        hook = server.webhook_url
        body = {"TYPE": "cloud", "SERVER": "sip.example.com", "LOGIN": "u", "PASSWORD": "p"}
        line = httpx.post(hook + "voximplant.sip.add", json=body).json()["result"]
        key = f"reg{line['REG_ID']}"
        common = ["--json"]
        simulate = ["call", "simulate", "--line", key, "--answer-after", "3", "--duration", "60"]
        assert main([*simulate, *common]) == 0
        started = json.loads(capsys.readouterr().out)
        assert started["end_at"] - started["started_at"] == 63
        assert main(["call", "list", *common]) == 0
        assert [p["step"] for p in json.loads(capsys.readouterr().out)] == ["answer", "end"]
        assert main(["call", "advance", "63", *common]) == 0
        assert json.loads(capsys.readouterr().out)["ran"] == 2
        (row,) = httpx.post(hook + "voximplant.statistic.get").json()["result"]
        assert (row["CALL_ID"], row["CALL_DURATION"]) == (started["call_id"], "60")
        # The next built-in call takes a queued outcome.
        assert main(["call", "outcome", "--no-answer", "--status-code", "486", *common]) == 0
        assert json.loads(capsys.readouterr().out) == {"queued": 1}
        start = {"FROM_LINE": key, "TO_NUMBER": "79780000001", "TEXT_TO_PRONOUNCE": "x"}
        call_id = httpx.post(hook + "voximplant.callback.start", json=start).json()["result"][
            "CALL_ID"
        ]
        assert main(["call", "advance", "60", "--server", server.base_url]) == 0
        capsys.readouterr()
        rows = httpx.post(hook + "voximplant.statistic.get").json()["result"]
        assert {r["CALL_ID"]: r["CALL_FAILED_CODE"] for r in rows}[call_id] == "486"
        # Mistakes are one line and exit status 2.
        assert main(["call", "simulate", "--line", "reg1"]) == 2
        assert "has no line reg1" in capsys.readouterr().err


def test_call_needs_a_token(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TRUNKLINE_OPERATOR_TOKEN", raising=False)
    assert main(["call", "list", "--server", "http://127.0.0.1:9"]) == 2
    assert "needs --token" in capsys.readouterr().err


def test_call_advance_refuses_bad_seconds(capsys):
    server = ["--server", "http://127.0.0.1:9", "--token", "t"]
    assert main(["call", "advance", "-1", *server]) == 2
    assert "between 0 and a year" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["call", "advance", "x", *server])
