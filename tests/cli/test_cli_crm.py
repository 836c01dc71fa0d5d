"""trunkline crm add|import|list: the minimal CRM seeded from the command line (JSON and
CSV), all or none."""

from __future__ import annotations

import json

from tests.cli.test_cli import run, run_json


def setup(capsys, db):
    run_json(capsys, "portal", "create", "a.example", "--database-url", db)
    run_json(capsys, "user", "create", "admin", "--id", "1", "--admin", "--database-url", db)
    run_json(capsys, "user", "create", "op", "--id", "7", "--database-url", db)


def test_add_and_list(capsys, db):
    setup(capsys, db)
    added = run_json(
        capsys,
        "crm",
        "add",
        "--type",
        "contact",
        "--name",
        "John Doe",
        "--phone",
        "+7 978 000-00-00",
        "--phone",
        "8 800",
        "--assigned-by",
        "7",
        "--database-url",
        db,
    )
    assert added["type"] == "CONTACT" and added["id"] > 0
    listed = run_json(capsys, "crm", "list", "--database-url", db)
    assert listed == [
        {
            "id": added["id"],
            "type": "CONTACT",
            "name": "John Doe",
            "assigned_by": 7,
            "phones": "+7 978 000-00-00, 8 800",
        }
    ]
    code, out, _ = run(capsys, "crm", "list", "--database-url", db)
    assert code == 0 and out.split()[:5] == ["ID", "TYPE", "NAME", "ASSIGNED_BY", "PHONES"]


def test_import_json_and_csv(capsys, db, workdir):
    setup(capsys, db)
    data = workdir / "crm.json"
    data.write_text(
        json.dumps(
            [
                {"type": "company", "name": "Daisy LLC", "phones": ["19062195047"]},
                {"TYPE": "lead", "NAME": "Lead", "PHONE": "1; 2", "assigned_by": 7},
            ]
        )
    )
    imported = run_json(capsys, "crm", "import", str(data), "--database-url", db)
    assert len(imported["ids"]) == 2
    table = workdir / "crm.csv"
    table.write_text("type,name,phones,assigned_by\ncontact,Ann,79780000001,7\n")
    assert len(run_json(capsys, "crm", "import", str(table), "--database-url", db)["ids"]) == 1
    listed = run_json(capsys, "crm", "list", "--database-url", db)
    assert [(e["type"], e["name"], e["phones"]) for e in listed] == [
        ("COMPANY", "Daisy LLC", "19062195047"),
        ("LEAD", "Lead", "1, 2"),
        ("CONTACT", "Ann", "79780000001"),
    ]


def test_import_is_all_or_none(capsys, db, workdir):
    setup(capsys, db)
    data = workdir / "crm.json"
    data.write_text(json.dumps([{"type": "lead", "name": "ok"}, {"type": "deal", "name": "x"}]))
    code, _, err = run(capsys, "crm", "import", str(data), "--database-url", db)
    assert code == 2 and "type 'deal' is not CONTACT, COMPANY or LEAD" in err
    assert run_json(capsys, "crm", "list", "--database-url", db) == []
    data.write_text("{not json")
    code, _, err = run(capsys, "crm", "import", str(data), "--database-url", db)
    assert code == 2 and "cannot read" in err
    code, _, err = run(capsys, "crm", "import", str(workdir / "missing.csv"), "--database-url", db)
    assert code == 2 and "cannot read" in err
    data.write_text('"just a string"')
    code, _, err = run(capsys, "crm", "import", str(data), "--database-url", db)
    assert code == 2 and "expected a list of objects" in err
    code, _, err = run(
        capsys,
        "crm",
        "add",
        "--type",
        "lead",
        "--name",
        "x",
        "--assigned-by",
        "9",
        "--database-url",
        db,
    )
    assert code == 2 and "has no user 9" in err
