"""``trunkline fault ...`` and ``trunkline portal state``: against the database and a server."""

from __future__ import annotations

import json

import pytest

from trunkline.cli import build_parser, main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def db(workdir, capsys):
    url = f"sqlite:///{workdir / 'cli.sqlite3'}"
    assert main(["portal", "create", "limits.example", "--database-url", url]) == 0
    capsys.readouterr()
    return url


@pytest.mark.parametrize(
    "command",
    [["fault", "add"], ["fault", "list"], ["fault", "clear"], ["portal", "state"]],
    ids=" ".join,
)
def test_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*command, "--help"])
    assert exited.value.code == 0
    assert "usage: trunkline" in capsys.readouterr().out


def test_fault_add_list_clear(db, capsys):
    code, out, err = run(
        capsys, "fault", "add", "--kind", "query-limit", "--method", "voximplant.sip.get",
        "--count", "3", "--portal", "limits.example", "--database-url", db, "--json",
    )  # fmt: skip
    assert code == 0, err
    added = json.loads(out)
    assert (added["kind"], added["remaining"], added["method"]) == (
        "query-limit",
        3,
        "voximplant.sip.get",
    )
    code, out, _ = run(capsys, "fault", "list", "--database-url", db)
    header, row = out.splitlines()
    assert header.split() == ["ID", "KIND", "METHOD", "PORTAL", "APPLIES"]
    assert row.split(None, 4)[1:] == [
        "query-limit",
        "voximplant.sip.get",
        "limits.example",
        "3 call(s) left",
    ]
    assert run(capsys, "fault", "clear", "--database-url", db)[1].strip() == "1 fault(s) cleared"
    assert run(capsys, "fault", "list", "--database-url", db)[1].strip() == "(no faults)"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kind", "explode"], "unknown fault kind 'explode'"),
        (["--kind", "drop", "--count", "-2"], "count must be a positive whole number, got -2"),
        (["--kind", "drop", "--count", "0"], "count must be a positive whole number, got 0"),
        (["--kind", "drop", "--share", "1.5"], "share must be above 0 and at most 1"),
        (["--kind", "latency"], "a latency fault needs latency_ms"),
        (["--kind", "drop", "--method", "nope"], "unknown method 'nope'"),
        (["--kind", "drop", "--portal", "nowhere"], "no portal 'nowhere'"),
    ],
)
def test_fault_add_rejects_bad_input(db, capsys, argv, message):
    code, _, err = run(capsys, "fault", "add", *argv, "--database-url", db)
    assert code == 2
    assert err.startswith("trunkline: " + message)


def test_fault_clear_unknown_id(db, capsys):
    assert run(capsys, "fault", "clear", "--id", "42", "--database-url", db)[2] == (
        "trunkline: no fault 42\n"
    )
    assert "--id must be a fault id" in run(capsys, "fault", "clear", "--id", "-1")[2]


def test_fault_server_needs_a_token(db, capsys, monkeypatch):
    monkeypatch.delenv("TRUNKLINE_OPERATOR_TOKEN", raising=False)
    code, _, err = run(capsys, "fault", "list", "--server", "http://127.0.0.1:9")
    assert (code, err) == (2, "trunkline: --server needs --token (or TRUNKLINE_OPERATOR_TOKEN)\n")
    code, _, err = run(capsys, "fault", "list", "--server", "http://127.0.0.1:9", "--token", "t")
    assert code == 2 and err.startswith("trunkline: cannot reach http://127.0.0.1:9")


def test_portal_state_show_and_set(db, capsys):
    code, out, _ = run(capsys, "portal", "state", "--database-url", db, "--json")
    assert json.loads(out) == {
        "portal": "limits.example",
        "plan": "standard",
        "limits": "default",
        "blocked": False,
        "closed": False,
        "hold": [],
    }
    code, out, err = run(
        capsys, "portal", "state", "--plan", "enterprise", "--limits", "on", "--block",
        "--hold", "webhooks", "--hold", "app:local.abc", "--database-url", db, "--json",
    )  # fmt: skip
    assert code == 0, err
    state = json.loads(out)
    assert (state["plan"], state["limits"], state["blocked"]) == ("enterprise", "on", True)
    assert state["hold"] == ["webhooks", "app:local.abc"]
    code, out, _ = run(
        capsys, "portal", "state", "--unblock", "--release", "webhooks", "--database-url", db,
        "--json",
    )  # fmt: skip
    assert json.loads(out)["hold"] == ["app:local.abc"] and not json.loads(out)["blocked"]


def test_portal_state_rejects_bad_input(db, capsys):
    code, _, err = run(capsys, "portal", "state", "--hold", "robots", "--database-url", db)
    assert code == 2 and "cannot hold 'robots'" in err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["portal", "state", "--plan", "gold"])
    assert "invalid choice: 'gold'" in capsys.readouterr().err
