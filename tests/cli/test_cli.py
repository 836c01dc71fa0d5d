"""The trunkline command: every command has help text and works."""

from __future__ import annotations

import argparse
import json

import pytest

from trunkline.cli import GROUPS, _command, build_parser, main

COMMANDS = [
    ["serve"],
    ["db", "upgrade"],
    ["portal", "create"],
    ["portal", "list"],
    ["user", "create"],
    ["webhook", "create"],
    ["webhook", "list"],
    ["webhook", "disable"],
    ["webhook", "enable"],
    ["webhook", "delete"],
    ["line", "list"],
    ["docs", "settings"],
]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: trunkline" in out and len(out.splitlines()) > 3


def test_parser_lists_every_command():
    help_text = build_parser().format_help()
    for top in {c[0] for c in COMMANDS}:
        assert top in help_text


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices)


def test_groups_name_every_command_in_order():
    assert list(subcommands(build_parser())) == list(GROUPS)


@pytest.mark.parametrize("command", list(GROUPS))
def test_a_group_parser_has_its_commands_as_the_whole_one(command):
    whole, only = subcommands(build_parser()), subcommands(build_parser(command))
    assert set(only) == {name for name, module in GROUPS.items() if module == GROUPS[command]}
    assert only[command].format_help() == whole[command].format_help()


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["serve", "--port", "0"], "serve"),
        (["--debug", "webhook", "create"], "webhook"),
        (["--help"], None),
        ([], None),
        (["nothing"], None),
        (["docs", "cli"], None),
        (["completion", "bash"], None),
    ],
)
def test_a_run_parses_only_its_group_unless_it_needs_all(argv, command):
    assert _command(argv) == command


def test_a_run_parses_every_group_for_completion(monkeypatch):
    monkeypatch.setenv("_ARGCOMPLETE", "1")
    assert _command(["serve"]) is None


def test_db_upgrade_reports_revisions(capsys, db):
    first = run_json(capsys, "db", "upgrade", "--database-url", db)
    assert first["from"] is None and first["to"]
    again = run_json(capsys, "db", "upgrade", "--database-url", db)
    assert again["from"] == again["to"] == first["to"]


def test_portal_user_webhook_and_line_commands(capsys, db):
    portal = run_json(
        capsys, "portal", "create", "acme.bitrix24.com", "--title", "Acme", "--database-url", db
    )
    assert portal["domain"] == "acme.bitrix24.com" and len(portal["member_id"]) == 32
    listed = run_json(capsys, "portal", "list", "--database-url", db)
    assert [p["domain"] for p in listed] == ["acme.bitrix24.com"]
    admin = run_json(
        capsys,
        "user",
        "create",
        "boss",
        "--admin",
        "--id",
        "1",
        "--phone-inner",
        "101",
        "--portal",
        "acme.bitrix24.com",
        "--database-url",
        db,
    )
    assert admin == {
        "user_id": 1,
        "login": "boss",
        "admin": True,
        "line_modify": False,
        "phone_inner": "101",
        "email": "",
    }
    operator = run_json(capsys, "user", "create", "op", "--line-modify", "--database-url", db)
    assert operator["user_id"] == 2 and operator["line_modify"] is True
    hook = run_json(
        capsys,
        "webhook",
        "create",
        "--user",
        "1",
        "--scope",
        "telephony,user",
        "--public-url",
        "https://pbx.example.com",
        "--database-url",
        db,
    )
    assert hook["url"] == f"https://pbx.example.com/rest/1/{hook['code']}/"
    assert hook["scopes"] == ["telephony", "user"]
    code, out, _ = run(capsys, "webhook", "create", "--user", "2", "--database-url", db)
    assert code == 0 and out.strip().startswith("http://127.0.0.1:8080/rest/2/")
    assert run_json(capsys, "line", "list", "--database-url", db) == []
    code, out, _ = run(capsys, "line", "list", "--database-url", db)
    assert out.strip() == "(no lines)"


def test_webhook_code_is_stored_only_as_a_hash(capsys, db, workdir):
    import sqlite3

    run_json(capsys, "portal", "create", "p.example", "--database-url", db)
    run_json(capsys, "user", "create", "a", "--admin", "--database-url", db)
    hook = run_json(capsys, "webhook", "create", "--user", "1", "--database-url", db)
    raw = (workdir / "cli.sqlite3").read_bytes()
    wal = workdir / "cli.sqlite3-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert hook["code"].encode() not in raw
    rows = (
        sqlite3.connect(workdir / "cli.sqlite3")
        .execute("SELECT code_hash FROM webhooks")
        .fetchall()
    )
    assert len(rows) == 1 and len(rows[0][0]) == 64


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["user", "create", "x"], "no portal yet"),
        (
            ["webhook", "create", "--user", "1", "--portal", "nope.example"],
            "no portal 'nope.example'",
        ),
        (["line", "list", "--portal", "nope.example"], "no portal"),
    ],
)
def test_errors_are_one_line_without_traceback(capsys, db, argv, message):
    code, _, err = run(capsys, *argv, "--database-url", db)
    assert code == 2 and message in err and "Traceback" not in err


def test_duplicates_and_bad_input_are_clear(capsys, db):
    run_json(capsys, "portal", "create", "p.example", "--database-url", db)
    code, _, err = run(capsys, "portal", "create", "P.EXAMPLE", "--database-url", db)
    assert code == 2 and "already exists" in err
    run_json(capsys, "user", "create", "a", "--database-url", db)
    code, _, err = run(capsys, "user", "create", "a", "--database-url", db)
    assert (code, err) == (2, "trunkline: portal p.example already has a user with the login 'a'\n")
    code, _, err = run(capsys, "user", "create", "b", "--id", "1", "--database-url", db)
    assert (code, err) == (2, "trunkline: portal p.example already has a user 1\n")
    code, _, err = run(capsys, "webhook", "create", "--user", "9", "--database-url", db)
    assert code == 2 and "no user 9" in err
    code, _, err = run(
        capsys, "webhook", "create", "--user", "1", "--scope", "root", "--database-url", db
    )
    assert code == 2 and "unknown scope root" in err
    code, _, err = run(capsys, "portal", "list", "--database-url", "mysql://x")
    assert code == 2 and "unsupported database URL" in err


def test_line_list_shows_lines(capsys, db, workdir):
    import asyncio

    from trunkline.domain.lines import LineType, NewLine
    from trunkline.settings import Settings
    from trunkline.storage.secrets import Cipher
    from trunkline.storage.store import Store
    from trunkline.storage.url import DatabaseUrl
    from trunkline.web.bootstrap import cipher_for

    run_json(capsys, "portal", "create", "p.example", "--database-url", db)
    settings = Settings(database_url=db)

    async def add():
        url = DatabaseUrl(db)
        store = await Store.open(url, cipher_for(settings, url))
        async with store.lines.line_writer(1) as writer:
            await writer.insert(
                NewLine(LineType.CLOUD, "T", "s.example", "u", "pw", ""), incoming_server=None
            )
        await store.close()

    asyncio.run(add())
    rows = run_json(capsys, "line", "list", "--database-url", db)
    assert rows[0]["title"] == "T" and rows[0]["type"] == "cloud" and rows[0]["reg_id"] > 0
    assert Cipher  # the key file was created beside the database
    assert (workdir / "cli.sqlite3.key").exists()


def test_serve_prepares_and_prints_the_webhook(capsys, db, monkeypatch):
    import os

    import uvicorn

    from trunkline.cli import logs

    calls = {}

    class Server:  # uvicorn's, without serving: what serve hands it
        def __init__(self, config):
            calls["config"] = config
            self.started = True

        def run(self, sockets):
            calls["listening"] = sockets[0].getsockname()

    monkeypatch.setattr(uvicorn, "Server", Server)
    monkeypatch.setattr(logs, "configure", lambda level, fmt="text": None)  # keep pytest's logging
    # serve hands its settings to the workers through the environment: restore it after.
    monkeypatch.setattr(os, "environ", os.environ.copy())
    code, out, _ = run(capsys, "serve", "--port", "0", "--database-url", db)
    assert code == 0
    port = calls["config"].port
    assert port > 0 and calls["listening"] == ("127.0.0.1", port)
    assert calls["config"].factory is True
    assert f"webhook URL: http://127.0.0.1:{port}/rest/1/" in out
    assert f"curl -s 'http://127.0.0.1:{port}/rest/1/" in out
    assert os.environ["TRUNKLINE_DATABASE_URL"] == db
    assert os.environ["TRUNKLINE_PORT"] == str(port)
    code, again, _ = run(capsys, "serve", "--port", "0", "--database-url", db)
    code_of = [line.rsplit("/", 2)[-2] for line in out.splitlines() if "webhook URL" in line]
    assert code_of == [
        line.rsplit("/", 2)[-2] for line in again.splitlines() if "webhook URL" in line
    ]
    assert "sign-in: admin / " in out and "sign-in: admin / " not in again
