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


def test_log_follow_prints_new_lines(capsys, db, workdir):
    import os
    import select
    import signal
    import subprocess
    import sys
    import time

    assert run(capsys, "portal", "create", "acme.bitrix24.com", "--database-url", db)[0] == 0
    command = [sys.executable, "-m", "trunkline", "event", "log", "--follow", "--json"]
    with subprocess.Popen(
        [*command, "--interval", "0.1", "--database-url", db],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TRUNKLINE_SIP_ENGINE": "off"},
    ) as follower:
        try:
            time.sleep(1.5)  # it has started and read the (empty) journal
            for name in ("OnAppTest", "OnAppUpdate"):
                assert run(capsys, "event", "fire", name, "--database-url", db)[0] == 0
            assert follower.stdout is not None
            fd, text = follower.stdout.fileno(), b""
            while text.count(b"\n") < 2:  # raw reads: no buffer hides a line from select
                ready, _, _ = select.select([fd], [], [], 15)
                assert ready, f"only {text!r} from --follow within 15 s"
                text += os.read(fd, 65536)
            lines = [json.loads(line) for line in text.decode().splitlines()[:2]]
        finally:
            follower.send_signal(signal.SIGINT)
            follower.wait(10)
    assert [(r["event"], r["reason"]) for r in lines] == [
        ("ONAPPTEST", "no binding"),
        ("ONAPPUPDATE", "no binding"),
    ]
    assert follower.returncode == 0
