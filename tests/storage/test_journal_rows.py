"""The request journal's rows (``storage/journal.py``): written in statements of powers of
two rows, trimmed to the newest ``keep``."""

from __future__ import annotations

import asyncio

import pytest

from trunkline.storage.driver import SqliteDriver
from trunkline.storage.journal import JournalFilter, JournalRepository
from trunkline.storage.migrate import upgrade
from trunkline.storage.url import DatabaseUrl


@pytest.fixture
def url(tmp_path):
    url = DatabaseUrl(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    upgrade(url)
    return url


def values(first: int, count: int) -> list[object]:
    """``count`` rows' values, flat; row n has at = n and params '{"n":n}'."""
    rows = [
        (float(n), "a.example", "webhook:1", 1, "m", f'{{"n":{n}}}', 200, None, 0.5, False)
        for n in range(first, first + count)
    ]
    return [value for row in rows for value in row]


@pytest.mark.parametrize(
    ("writes", "keep", "statements"),
    [
        ([1], 5, [1]),
        ([700], 1000, [512, 128, 32, 16, 8, 4]),
        ([1000, 3, 513], 600, [512, 256, 128, 64, 32, 8, 2, 1, 512, 1]),
        ([1200], 1200, [512, 512, 128, 32, 16]),
    ],
)
def test_write_values_keeps_exactly_the_newest_rows(url, monkeypatch, writes, keep, statements):
    async def scenario() -> tuple[list[float], list[str], list[str]]:
        driver = SqliteDriver(url)
        sent: list[str] = []
        run = driver._run

        def counting(sql, params):
            sent.append(sql)
            return run(sql, params)

        monkeypatch.setattr(driver, "_run", counting)
        repo = JournalRepository(driver)
        first = 0
        for count in writes:
            await repo.write_values(values(first, count), keep)
            first += count
        rows = await repo.read(JournalFilter(), 10_000)
        await driver.close()
        return [row.at for row in rows], [row.params for row in rows], sent

    ats, params, sent = asyncio.run(scenario())
    total = sum(writes)
    assert ats == [float(n) for n in range(max(0, total - keep), total)]
    assert params == [f'{{"n":{int(at)}}}' for at in ats]
    # One statement per power of two of rows, at most 512: their texts recur.
    assert [sql.count("(?, ?") for sql in sent if sql.startswith("INSERT")] == statements
