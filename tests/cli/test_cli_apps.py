"""trunkline app create|list|install|restrict|uninstall, user password, portal connector."""

from __future__ import annotations

import io
import json
import re

import pytest

from trunkline.cli import main

COMMANDS = [
    ["app", "create"],
    ["app", "list"],
    ["app", "install"],
    ["app", "restrict"],
    ["app", "uninstall"],
    ["user", "password"],
    ["portal", "connector"],
]
DOMAIN = "acme.bitrix24.com"


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def cli(capsys, workdir):
    db = f"sqlite:///{workdir / 'cli.sqlite3'}"

    def call(*argv: str, ok: bool = True):
        code, out, err = run(capsys, *argv, "--json", "--database-url", db)
        if not ok:
            assert code == 2, out
            return err
        assert code == 0, err
        return json.loads(out)

    call("portal", "create", DOMAIN)
    call("user", "create", "boss", "--admin", "--id", "1", "--portal", DOMAIN)
    call("user", "create", "bob", "--id", "2", "--portal", DOMAIN)
    return call


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: trunkline" in capsys.readouterr().out


def test_app_lifecycle(cli):
    created = cli(
        "app",
        "create",
        "--title",
        "Dialer",
        "--scope",
        "telephony,user",
        "--redirect-uri",
        "https://dialer.example/cb",
    )
    client_id = created["client_id"]
    assert re.fullmatch(r"local\.[0-9a-f]{14}\.[0-9a-f]{8}", client_id)
    assert len(created["client_secret"]) == 50
    assert (created["scopes"], created["status"], created["kind"]) == (
        ["telephony", "user"],
        "L",
        "local",
    )
    market = cli("app", "create", "--kind", "market")
    assert re.fullmatch(r"app\.[0-9a-f]{14}\.[0-9a-f]{8}", market["client_id"])
    assert "client_secret" not in cli("app", "list")[0]

    auth = cli(
        "app",
        "install",
        client_id,
        "--portal",
        DOMAIN,
        "--user",
        "1",
        "--public-url",
        "https://trunk.example",
    )
    assert list(auth) == [
        "access_token",
        "expires",
        "expires_in",
        "scope",
        "domain",
        "server_endpoint",
        "status",
        "client_endpoint",
        "member_id",
        "user_id",
        "refresh_token",
        "application_token",
    ]
    assert auth["domain"] == DOMAIN and auth["scope"] == "telephony,user"
    assert auth["client_endpoint"] == auth["server_endpoint"] == "https://trunk.example/rest/"
    assert auth["user_id"] == 1 and auth["expires_in"] == 3600

    restricted = cli("app", "restrict", client_id, "--portal", DOMAIN, "--user", "2", "--user", "1")
    assert restricted["allowed_users"] == [1, 2]
    assert (
        cli("app", "restrict", client_id, "--portal", DOMAIN, "--everyone")["allowed_users"] == []
    )
    [installed] = cli("app", "list", "--portal", DOMAIN)
    assert installed["client_id"] == client_id and installed["active"] is True
    assert cli("app", "uninstall", client_id, "--portal", DOMAIN)["active"] is False


def test_app_mistakes_are_reported(cli):
    assert "unknown scope" in cli("app", "create", "--scope", "nope", ok=False)
    assert "redirect URI" in cli("app", "create", "--redirect-uri", "javascript:alert(1)", ok=False)
    assert "handler URL" in cli("app", "create", "--handler-url", "https://x/#frag", ok=False)
    assert "no application" in cli("app", "install", "local.0.0", "--user", "1", ok=False)
    client_id = cli("app", "create")["client_id"]
    assert "no active user 9" in cli("app", "install", client_id, "--user", "9", ok=False)
    assert "not installed" in cli("app", "uninstall", client_id, ok=False)
    cli("app", "install", client_id, "--user", "1")
    assert "no user 7" in cli("app", "restrict", client_id, "--user", "7", ok=False)
    assert "--everyone" in cli("app", "restrict", client_id, ok=False)


def test_user_password(cli, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    done = cli("user", "password", "bob", "--portal", DOMAIN, "--password-stdin")
    assert done == {"user_id": 2, "login": "bob", "password_set": True}
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert "at least 8" in cli("user", "password", "1", "--password-stdin", ok=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("whatever it is\n"))
    assert "no user 'carol'" in cli("user", "password", "carol", "--password-stdin", ok=False)
    assert "--password-stdin" in cli("user", "password", "bob", ok=False)  # no terminal


def test_portal_connector(cli):
    assert cli("portal", "connector") == {"free_minutes": 0, "paid": False, "paid_until": None}
    assert cli("portal", "connector", "--free-minutes", "60")["free_minutes"] == 60
    assert "--paid-until" in cli("portal", "connector", "--paid", ok=False)
    paid = cli("portal", "connector", "--portal", DOMAIN, "--paid", "--paid-until", "2026-12-31")
    assert paid == {"free_minutes": 60, "paid": True, "paid_until": "2026-12-31T00:00:00+00:00"}
    moved = cli("portal", "connector", "--paid-until", "2027-01-31T12:00:00+03:00")
    assert moved["paid_until"] == "2027-01-31T09:00:00+00:00"
    assert cli("portal", "connector", "--unpaid") == {
        "free_minutes": 60,
        "paid": False,
        "paid_until": None,
    }
    assert "needs a paid connector" in cli(
        "portal", "connector", "--paid-until", "2027-01-01", ok=False
    )
    assert "not a date" in cli("portal", "connector", "--paid", "--paid-until", "soon", ok=False)
    assert "negative" in cli("portal", "connector", "--free-minutes", "-1", ok=False)


def test_uninstall_sends_onappuninstall(cli, capsys, workdir):
    from tests.auth.test_events import Receiver

    db = f"sqlite:///{workdir / 'cli.sqlite3'}"
    with Receiver([200, 200]) as receiver:
        client_id = cli("app", "create", "--handler-url", receiver.url)["client_id"]
        cli("app", "install", client_id, "--portal", DOMAIN, "--user", "1")
        code, out, err = run(
            capsys, "app", "uninstall", client_id, "--clean", "--json", "--database-url", db
        )
    assert code == 0 and json.loads(out)["active"] is False
    assert f"ONAPPUNINSTALL delivered to {receiver.url}" in err
    body = receiver.bodies[-1]
    assert body["event"] == ["ONAPPUNINSTALL"] and body["data[CLEAN]"] == ["1"]
    assert body["auth[domain]"] == [DOMAIN]
