"""The verbs a first-time user reaches for: user list, portal delete, line add/delete,
app delete, db status/reset, engine status, completion; tables with a header row and no
Python reprs in text output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import run, run_json

VERBS = [
    ["user", "list"],
    ["portal", "delete"],
    ["line", "add"],
    ["line", "delete"],
    ["app", "delete"],
    ["db", "status"],
    ["db", "reset"],
    ["engine", "status"],
    ["completion"],
]


@pytest.mark.parametrize("command", VERBS, ids=" ".join)
def test_new_verbs_have_help(capsys, command) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, *command, "--help")
    assert exit_info.value.code == 0


@pytest.fixture
def portal(capsys, db) -> str:
    run_json(capsys, "portal", "create", "verbs.example", "--database-url", db)
    run_json(capsys, "user", "create", "boss", "--admin", "--id", "1", "--database-url", db)
    return "verbs.example"


def test_user_list_has_a_header_and_no_reprs(capsys, db, portal) -> None:
    run_json(capsys, "user", "create", "clerk", "--name", "Cleo", "--database-url", db)
    code, out, _ = run(capsys, "user", "list", "--database-url", db)
    header, *rows = out.splitlines()
    assert code == 0 and header.split() == [
        "USER_ID", "LOGIN", "NAME", "ADMIN", "LINE_MODIFY", "ACTIVE", "PASSWORD",
    ]  # fmt: skip
    assert [row.split() for row in rows] == [
        ["1", "boss", "-", "yes", "no", "yes", "no"],
        ["2", "clerk", "Cleo", "no", "no", "yes", "no"],
    ]
    listed = run_json(capsys, "user", "list", "--database-url", db)
    assert [(u["user_id"], u["admin"], u["password"]) for u in listed] == [
        (1, True, False),
        (2, False, False),
    ]


def test_line_add_and_delete_follow_the_rest_rules(capsys, db, portal) -> None:
    office = run_json(
        capsys, "line", "add", "--type", "office", "--title", "Desk", "--server", "pbx.local",
        "--login", "desk", "--database-url", db,
    )  # fmt: skip
    assert office["incoming_login"] == f"sip{office['config_id']}"
    assert office["incoming_server"] == "127.0.0.1"
    assert len(office["incoming_password"]) == 32
    cloud = run_json(
        capsys, "line", "add", "--server", "sip.example", "--login", "u1", "--password", "pw",
        "--database-url", db,
    )  # fmt: skip
    assert cloud["type"] == "cloud" and cloud["reg_id"] > 0
    code, _, err = run(
        capsys, "line", "add", "--type", "office", "--title", "Desk", "--server", "x",
        "--login", "y", "--database-url", db,
    )  # fmt: skip
    assert code == 2 and "(TITLE_EXISTS)" in err
    code, _, err = run(capsys, "line", "add", "--server", " ", "--database-url", db)
    assert code == 2 and err.startswith("trunkline: ") and "(CHECK_FIELDS_ERROR)" in err
    assert "<br>" not in err
    deleted = run_json(capsys, "line", "delete", str(office["config_id"]), "--database-url", db)
    assert deleted == {"portal": portal, "config_id": office["config_id"], "deleted": True}
    rows = run_json(capsys, "line", "list", "--database-url", db)
    assert [r["config_id"] for r in rows] == [cloud["config_id"]]
    code, _, err = run(capsys, "line", "delete", "99", "--database-url", db)
    assert (code, err) == (2, f"trunkline: portal {portal} has no line 99\n")


def test_portal_delete_takes_everything_with_it(capsys, db, portal) -> None:
    run_json(capsys, "webhook", "create", "--user", "1", "--database-url", db)
    run_json(capsys, "line", "add", "--server", "s", "--login", "l", "--database-url", db)
    assert run_json(capsys, "portal", "delete", portal, "--database-url", db)["deleted"] is True
    assert run_json(capsys, "portal", "list", "--database-url", db) == []
    rows = run_json(capsys, "db", "status", "--database-url", db)["rows"]
    assert rows["users"] == rows["webhooks"] == rows["lines"] == 0
    code, _, err = run(capsys, "portal", "delete", portal, "--database-url", db)
    assert (code, err) == (2, f"trunkline: no portal '{portal}' to delete\n")


def test_app_delete_removes_its_installs(capsys, db, portal) -> None:
    app = run_json(capsys, "app", "create", "--title", "Gone", "--database-url", db)
    run_json(capsys, "app", "install", app["client_id"], "--user", "1", "--database-url", db)
    gone = run_json(capsys, "app", "delete", app["client_id"], "--database-url", db)
    assert gone == {"client_id": app["client_id"], "deleted": True, "installs": 1}
    assert run_json(capsys, "app", "list", "--database-url", db) == []
    code, _, err = run(capsys, "app", "delete", app["client_id"], "--database-url", db)
    assert code == 2 and "no application" in err


def test_app_create_install_gives_a_password_and_a_sign_in_url(capsys, db, portal) -> None:
    code, out, err = run(
        capsys, "app", "create", "--redirect-uri", "https://app.example/cb", "--install",
        "--user", "1", "--public-url", "https://tl.example", "--database-url", db,
    )  # fmt: skip
    assert code == 0, err
    assert "  sign-in: boss / " in out and "(shown once)" in out
    assert "  open: https://tl.example/oauth/authorize/?client_id=local." in out
    code, _, err = run(capsys, "app", "create", "--install", "--database-url", db)
    assert (code, err) == (
        2,
        "trunkline: --install needs --user: the user who installs the app and signs in\n",
    )
    users = run_json(capsys, "user", "list", "--database-url", db)
    assert users[0]["password"] is True


def test_db_status_and_reset(capsys, db, portal) -> None:
    status = run_json(capsys, "db", "status", "--database-url", db)
    assert status["backend"] == "sqlite" and status["revision"]
    assert status["rows"]["portals"] == 1 and status["servers"] == []
    code, out, _ = run(capsys, "db", "status", "--database-url", db)
    assert code == 0 and "running server: none" in out and "TABLE" in out
    code, _, err = run(capsys, "db", "reset", "--database-url", db)
    assert code == 2 and "add --yes" in err
    assert run_json(capsys, "portal", "list", "--database-url", db) != []
    reset = run_json(capsys, "db", "reset", "--yes", "--database-url", db)
    assert reset["deleted"]["portals"] == 1 and reset["deleted"]["users"] == 1
    assert run_json(capsys, "db", "status", "--database-url", db)["rows"]["portals"] == 0


def test_portal_state_text_has_no_python_values(capsys, db, portal) -> None:
    code, out, _ = run(capsys, "portal", "state", "--database-url", db)
    assert code == 0
    assert out.strip() == (
        f"portal: {portal}, plan: standard, limits: default, blocked: no, closed: no, hold: -"
    )
    for repr_ in ("False", "True", "None", "[]", "{"):
        assert repr_ not in out


def test_engine_status_without_an_engine_exits_1(capsys, db) -> None:
    code, out, _ = run(capsys, "engine", "status", "--database-url", db)
    assert code == 1 and out == "SIP engine: not running (none recorded as live)\n"
    assert run(capsys, "engine", "status", "--json", "--database-url", db)[:2] == (1, "[]\n")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_shell_code(capsys, shell) -> None:
    code, out, _ = run(capsys, "completion", shell)
    assert code == 0 and "trunkline" in out and "_ARGCOMPLETE" in out


def test_the_shell_gets_commands_and_flags(tmp_path: Path) -> None:
    """What bash asks for when the user types `trunkline web<TAB>` (argcomplete's protocol)."""

    def complete(line: str) -> list[str]:
        answer = tmp_path / "answer"
        env = {
            **os.environ,
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_SHELL": "bash",
            "_ARGCOMPLETE_IFS": "\n",
            "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
        }
        subprocess.run(
            [sys.executable, "-m", "trunkline"], env=env, check=True, timeout=60,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return answer.read_text().split()

    assert complete("trunkline web") == ["webhook"]
    assert {"create", "list", "delete"} <= set(complete("trunkline webhook "))
    assert "--expires-in" in complete("trunkline webhook create --e")


def test_json_output_of_every_new_list_is_json(capsys, db, portal) -> None:
    for command in (["user", "list"], ["db", "status"], ["line", "list"], ["portal", "list"]):
        code, out, _ = run(capsys, *command, "--json", "--database-url", db)
        assert code == 0
        json.loads(out)


def test_line_history_bad_input_and_an_empty_history(capsys, db, portal, tmp_path) -> None:
    office = run_json(
        capsys, "line", "add", "--type", "office", "--title", "Desk", "--server", "pbx.local",
        "--login", "desk", "--database-url", db,
    )  # fmt: skip
    line = str(office["config_id"])
    empty = run_json(capsys, "line", "history", line, "--database-url", db)
    assert (empty["total"], empty["entries"]) == (0, [])
    code, _, err = run(capsys, "line", "history", "99", "--database-url", db)
    assert (code, err) == (2, f"trunkline: portal {portal} has no line 99\n")
    code, _, err = run(capsys, "line", "history", line, "--limit", "0", "--database-url", db)
    assert (code, err) == (2, "trunkline: limit must be 1 to 500\n")
    pcap = tmp_path / "x.pcap"
    code, _, err = run(capsys, "line", "history", line, "--pcap", str(pcap), "--database-url", db)
    assert (code, err) == (2, f"trunkline: line {line} has no SIP transaction in its history\n")
    assert not pcap.exists()
