"""trunkline webhook list|disable|enable|delete, alone and against a running server."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.cli.test_cli import run, run_json
from trunkline.cli import main
from trunkline.testing.server import LiveServer


def test_list_disable_enable_delete(capsys, db):
    run_json(capsys, "portal", "create", "a.example", "--database-url", db)
    run_json(capsys, "portal", "create", "b.example", "--database-url", db)
    run_json(capsys, "user", "create", "admin", "--id", "1", "--admin", "--database-url", db)
    run_json(
        capsys,
        "user",
        "create",
        "admin",
        "--id",
        "1",
        "--portal",
        "b.example",
        "--database-url",
        db,
    )
    first = run_json(
        capsys, "webhook", "create", "--user", "1", "--title", "CI", "--database-url", db
    )
    other = run_json(
        capsys, "webhook", "create", "--user", "1", "--portal", "b.example", "--database-url", db
    )
    listed = run_json(capsys, "webhook", "list", "--database-url", db)
    assert [(h["id"], h["title"], h["active"]) for h in listed] == [(first["id"], "CI", True)]
    assert "code" not in listed[0]  # only hashes are stored

    hook = str(first["id"])
    assert run_json(capsys, "webhook", "disable", hook, "--database-url", db)["active"] is False
    assert run_json(capsys, "webhook", "list", "--database-url", db)[0]["active"] is False
    code, out, _ = run(capsys, "webhook", "list", "--database-url", db)
    header, row = out.splitlines()
    assert header.split() == ["ID", "USER_ID", "STATE", "SCOPES", "EXPIRES", "TITLE"]
    assert code == 0 and row.split()[2:5] == ["disabled", "telephony", "never"]
    assert run_json(capsys, "webhook", "enable", hook, "--database-url", db)["active"] is True

    # Another portal's webhook is not reachable through this portal, and unknown ids fail.
    code, _, err = run(capsys, "webhook", "delete", str(other["id"]), "--database-url", db)
    assert code == 2 and f"has no webhook {other['id']}" in err
    code, _, err = run(capsys, "webhook", "disable", "999", "--database-url", db)
    assert code == 2 and "has no webhook 999" in err
    code, _, err = run(capsys, "webhook", "list", "--portal", "nope.example", "--database-url", db)
    assert code == 2 and "no portal 'nope.example'" in err
    with pytest.raises(SystemExit):
        main(["webhook", "delete", "one", "--database-url", db])  # not an id: argparse refuses
    capsys.readouterr()

    assert run_json(capsys, "webhook", "delete", hook, "--database-url", db)["deleted"] is True
    assert run_json(capsys, "webhook", "list", "--database-url", db) == []
    others = run_json(capsys, "webhook", "list", "--portal", "b.example", "--database-url", db)
    assert [h["id"] for h in others] == [other["id"]]


def call(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, data=b"", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def cli(workdir: Path, *argv: str) -> None:
    """The command as an operator runs it: another process beside the server."""
    subprocess.run(
        [sys.executable, "-m", "trunkline", *argv, "--database-url", "sqlite:///trunkline.sqlite3"],
        cwd=workdir,
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.e2e
def test_a_running_server_sees_each_change_at_once(tmp_path: Path) -> None:
    """The server answers webhook calls from a cache; a CLI change in another process must
    still take effect on the very next call (no waiting, no restart)."""
    with LiveServer.start(tmp_path) as server:
        url = server.webhook_url + "voximplant.sip.get.json"
        for _ in range(3):  # warm the server's cache
            assert call(url)[0] == 200
        cli(tmp_path, "webhook", "disable", "1")
        status, body = call(url)
        assert (status, body["error"]) == (401, "INVALID_CREDENTIALS")
        cli(tmp_path, "webhook", "enable", "1")
        assert call(url)[0] == 200
        cli(tmp_path, "webhook", "delete", "1")
        status, body = call(url)
        assert (status, body["error"]) == (401, "INVALID_CREDENTIALS")
