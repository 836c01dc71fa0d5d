"""A database that cannot be opened is one line that says why (driver errors translated)."""

from __future__ import annotations

import asyncio
import socket
import sqlite3

import pytest

from trunkline.storage.driver import DatabaseOpenError, open_failure
from trunkline.storage.store import open_driver
from trunkline.storage.url import DatabaseUrl

URL = DatabaseUrl("postgresql://u:secret@db.example:5432/x")


class WrappedError(Exception):
    """As SQLAlchemy's DBAPIError: the driver's error in ``orig``."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__("wrapped")
        self.orig = orig


def chained(inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError("outer") from exc
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), "connection refused"),
        (socket.gaierror(-2, "Name or service not known"), "host not found: Name or service not known"),
        (TimeoutError(), "timed out"),
        (PermissionError(13, "Permission denied", "/var/db"), "permission denied: /var/db"),
        (sqlite3.OperationalError("unable to open database file"), "unable to open database file"),
        (WrappedError(sqlite3.DatabaseError("file is not a database")), "file is not a database"),
        (chained(ConnectionRefusedError(111, "x")), "connection refused"),
    ],
)  # fmt: skip
def test_reasons(error: BaseException, reason: str) -> None:
    failure = open_failure(URL, error)
    assert failure is not None and failure.reason == reason
    assert str(failure) == f"cannot open database postgresql://u:***@db.example:5432/x ({reason})"


def test_other_errors_are_not_translated() -> None:
    assert open_failure(URL, KeyError("bug")) is None


def test_a_file_that_is_not_a_database(tmp_path) -> None:
    path = tmp_path / "not.sqlite3"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(DatabaseOpenError) as raised:
        asyncio.run(open_driver(DatabaseUrl(f"sqlite:///{path}")))
    assert "file is not a database" in str(raised.value)
