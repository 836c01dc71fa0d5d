"""`trunkline serve --seed FILE` builds a scenario's portal at start; `--operator-token auto`
prints a token derived from the secret key (the local mode of scripts/serve)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from trunkline.testing.server import LiveServer

pytestmark = pytest.mark.e2e

SCENARIO = {
    "domain": "acme.example",
    "users": [{"login": "admin", "admin": True}, {"login": "op", "phone_inner": "101"}],
    "webhooks": [{"user": 1, "code": "acmehook12345678"}],
    "apps": [{"title": "Dialer"}],
    "lines": [{"type": "office", "title": "PBX", "server": "pbx.example", "login": "u"}],
}


def test_serve_seed_builds_the_scenario_once(tmp_path: Path):
    (tmp_path / "scenario.json").write_text(json.dumps(SCENARIO))
    args = ("--seed", "scenario.json", "--operator-token", "auto")
    with LiveServer.start(tmp_path, args=args) as server:
        made = server.scenario
        assert made is not None and made["portal"]["domain"] == "acme.example"
        hook = made["webhooks"][0]["url"]
        assert hook == f"{server.base_url}/rest/1/acmehook12345678/"
        answer = httpx.post(hook + "voximplant.sip.get.json", headers={"host": "acme.example"})
        assert [line["TITLE"] for line in answer.json()["result"]] == ["PBX"]
        token = server.operator_token
        assert token and len(token) == 32
        users = httpx.get(
            f"{server.base_url}/operator/portals/acme.example/users",
            headers={"authorization": f"Bearer {token}"},
        ).json()["users"]
        assert [(u["login"], u["phone_inner"]) for u in users] == [("admin", None), ("op", "101")]
    with LiveServer.start(tmp_path, args=args) as again:  # the same file, the same database
        assert again.scenario == {"portal": made["portal"], "existing": True}
        assert again.operator_token == token  # derived from the key beside the database


def test_serve_seed_refuses_a_bad_document(tmp_path: Path):
    (tmp_path / "bad.json").write_text(json.dumps({"domain": "x.example", "users": [{}]}))
    done = subprocess.run(
        [sys.executable, "-m", "trunkline", "serve", "--port", "0", "--seed", "bad.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env={"TRUNKLINE_SIP_ENGINE": "off", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "trunkline: bad setting seed_file='bad.json' (users[0].login is required)"
    )
