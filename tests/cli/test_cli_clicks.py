"""trunkline call click|callback: the app events of the call simulator from the command
line (the outbox rows a running server delivers)."""

from __future__ import annotations

from tests.cli.test_cli import run, run_json


def test_click_and_callback(capsys, db):
    run_json(capsys, "portal", "create", "a.example", "--database-url", db)
    run_json(capsys, "user", "create", "admin", "--id", "1", "--admin", "--database-url", db)
    app = run_json(capsys, "app", "create", "--title", "PBX", "--database-url", db)
    client_id = app["client_id"]
    run_json(capsys, "app", "install", client_id, "--user", "1", "--database-url", db)
    contact = run_json(
        capsys,
        "crm",
        "add",
        "--type",
        "contact",
        "--name",
        "J",
        "--phone",
        "+79780000000",
        "--database-url",
        db,
    )
    clicked = run_json(
        capsys,
        "call",
        "click",
        "--user",
        "1",
        "--phone",
        "+79780000000",
        "--crm",
        f"contact:{contact['id']}",
        "--database-url",
        db,
    )
    assert clicked["event"] == "ONEXTERNALCALLSTART" and clicked["app"] == client_id
    assert clicked["call_id"].startswith("externalCall.")
    assert clicked["data"]["CALL_ID"] == clicked["call_id"]
    assert clicked["data"]["CRM_ENTITY_ID"] == str(contact["id"])
    back = run_json(capsys, "call", "callback", "--phone", "+79780000000", "--database-url", db)
    assert back["event"] == "ONEXTERNALCALLBACKSTART" and back["call_id"] is None
    code, _, err = run(
        capsys, "call", "click", "--user", "1", "--phone", "1", "--crm", "X:1", "--database-url", db
    )
    assert code == 2 and "--crm 'X:1'" in err
    code, _, err = run(capsys, "call", "click", "--user", "5", "--phone", "1", "--database-url", db)
    assert code == 2 and "User is not found or is not active" in err
