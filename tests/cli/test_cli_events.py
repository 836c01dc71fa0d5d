"""trunkline event fire|log: raising an event into the outbox of the database, and the
delivery journal as text and JSON."""

from __future__ import annotations

import json

import pytest

from trunkline.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("command", [["event", "log"], ["event", "fire"]], ids=" ".join)
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: trunkline" in capsys.readouterr().out


def test_fire_and_log(capsys, db):
    assert run(capsys, "portal", "create", "acme.bitrix24.com", "--database-url", db)[0] == 0
    code, out, err = run(
        capsys,
        "event",
        "fire",
        "OnAppTest",
        "--data",
        '{"A": {"B": 1}}',
        "--json",
        "--database-url",
        db,
    )
    assert code == 0, err
    assert json.loads(out) == {
        "event": "ONAPPTEST",
        "portal": "acme.bitrix24.com",
        "queued": 0,
        "served": False,
    }
    code, out, err = run(capsys, "event", "log", "--json", "--database-url", db)
    assert code == 0, err
    [row] = json.loads(out)
    assert (row["event"], row["outcome"], row["reason"]) == ("ONAPPTEST", "refused", "no binding")
    code, out, _ = run(capsys, "event", "log", "--outcome", "refused", "--database-url", db)
    assert "ONAPPTEST" in out and "no binding" in out and out.startswith("ID")
    code, out, _ = run(capsys, "event", "log", "--event", "OnAppUpdate", "--database-url", db)
    assert out.strip() == "no event deliveries journaled"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "{nope"], "--data is not JSON"),
        (["--data", "[1]"], "--data must be a JSON object"),
        (["--app", "local.no.app"], "local.no.app"),
    ],
)
def test_fire_refuses_bad_input(capsys, db, argv, message):
    assert run(capsys, "portal", "create", "acme.bitrix24.com", "--database-url", db)[0] == 0
    code, _, err = run(capsys, "event", "fire", "OnAppTest", *argv, "--database-url", db)
    assert code == 2 and message in err
    _, out, _ = run(capsys, "event", "log", "--json", "--database-url", db)
    assert json.loads(out) == []
