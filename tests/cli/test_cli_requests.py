"""`trunkline requests`: the journal's rows from the database, filtered, and --follow."""

from __future__ import annotations

import asyncio
import select
import subprocess
import sys
from pathlib import Path
from typing import IO

from tests.cli.test_cli import run, run_json
from trunkline.domain.clock import Clock
from trunkline.settings import Settings
from trunkline.storage import migrate
from trunkline.storage.journal import JournalRepository
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl
from trunkline.web.bootstrap import cipher_for


def write_rows(db: str, *methods: str) -> None:
    url = DatabaseUrl(db)
    migrate.upgrade(url)

    async def work() -> None:
        store = await Store.open(url, cipher_for(Settings(database_url=db), url), Clock())
        try:
            journal: JournalRepository = store.journal
            rows = [
                (
                    1_780_000_000.0 + i,
                    "a.example",
                    "webhook:1",
                    1,
                    method,
                    '{"PASSWORD":"***"}',
                    200 if i % 2 == 0 else 400,
                    None,
                    1.5,
                    False,
                )
                for i, method in enumerate(methods)
            ]
            await journal.write(rows, 100)
        finally:
            await store.close()

    asyncio.run(work())


def test_requests_shows_the_rows(capsys, db):
    write_rows(db, "voximplant.sip.get", "voximplant.sip.add", "voximplant.sip.get")
    code, out, err = run(capsys, "requests", "--database-url", db)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID",
        "TIME",
        "PORTAL",
        "PRINCIPAL",
        "METHOD",
        "STATUS",
        "ERROR",
        "MS",
    ]
    assert [line.split()[4] for line in lines[1:]] == [
        "voximplant.sip.get",
        "voximplant.sip.add",
        "voximplant.sip.get",
    ]
    found = run_json(capsys, "requests", "--method", "voximplant.sip.get", "--database-url", db)
    assert [row["status"] for row in found] == [200, 200]
    assert found[0]["params"] == {"PASSWORD": "***"}
    assert run_json(capsys, "requests", "--status", "400", "--database-url", db)[0]["method"] == (
        "voximplant.sip.add"
    )


def test_requests_refuses_a_bad_filter(capsys, db):
    write_rows(db)
    code, _, err = run(capsys, "requests", "--status", "bad", "--database-url", db)
    assert code == 2
    assert err.strip() == "trunkline: status must be an HTTP status, got 'bad'"


def read_line(stream: IO[str], timeout: float = 20.0) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "no line in time"
    return stream.readline()


def test_requests_follow_prints_new_rows(db, workdir: Path):
    write_rows(db, "voximplant.sip.get")
    command = [
        *(sys.executable, "-m", "trunkline", "requests", "--follow", "--interval", "0.1"),
        *("--json", "--database-url", db),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as follow:
        try:
            assert follow.stdout is not None
            assert '"voximplant.sip.get"' in read_line(follow.stdout)
            write_rows(db, "voximplant.sip.delete")
            assert '"voximplant.sip.delete"' in read_line(follow.stdout)
        finally:
            follow.terminate()
            follow.wait(10)
