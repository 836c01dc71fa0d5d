"""Call observers: one CallRecord per answered call and per batch command."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Env
from trunkline.rest.record import CallRecord


@pytest.fixture
def records(sqlite_env: Env) -> Iterator[list[CallRecord]]:
    assert sqlite_env.app.rest is not None
    observers = sqlite_env.app.rest.dispatcher.observers
    seen: list[CallRecord] = []
    observers.append(seen.append)
    yield seen
    observers.remove(seen.append)


def test_observe_success_names_the_caller(sqlite_env: Env, records: list[CallRecord]) -> None:
    sqlite_env.ok("voximplant.sip.get", {"FILTER": {"TYPE": "office"}})
    (record,) = records
    assert record.method == "voximplant.sip.get"
    assert record.http_status == 200
    assert record.error_code is None
    assert record.principal is not None and record.principal.user.user_id == 1
    assert record.params == {"FILTER": {"TYPE": "office"}}
    assert record.host == "testserver"
    assert record.batch is False
    assert record.seconds >= 0


def test_observe_error_before_authentication(sqlite_env: Env, records: list[CallRecord]) -> None:
    response = sqlite_env.client.post("/rest/1/wrongcode/voximplant.sip.get")
    assert response.status_code == 401
    (record,) = records
    assert record.principal is None
    assert (record.http_status, record.error_code) == (401, response.json()["error"])


def test_observe_unknown_method(sqlite_env: Env, records: list[CallRecord]) -> None:
    response = sqlite_env.call("voximplant.sip.gett")
    assert response.status_code == 404
    (record,) = records
    assert (record.method, record.error_code) == ("voximplant.sip.gett", "ERROR_METHOD_NOT_FOUND")


def test_observe_batch_records_each_command(sqlite_env: Env, records: list[CallRecord]) -> None:
    body = {"cmd": {"a": "voximplant.sip.get", "b": "voximplant.sip.status?REG_ID=1", "c": "nope"}}
    sqlite_env.ok("batch", body)
    commands = [r for r in records if r.batch]
    assert [(r.method, r.http_status, r.error_code) for r in commands] == [
        ("voximplant.sip.get", 200, None),
        ("voximplant.sip.status", 400, "REG_ID_NOT_FOUND"),
        ("nope", 404, "ERROR_METHOD_NOT_FOUND"),
    ]
    assert all(r.principal is not None for r in commands)
    (outer,) = [r for r in records if not r.batch]
    assert (outer.method, outer.http_status) == ("batch", 200)


def test_observer_that_raises_does_not_fail_the_call(
    sqlite_env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    assert sqlite_env.app.rest is not None
    observers = sqlite_env.app.rest.dispatcher.observers

    def broken(record: CallRecord) -> None:
        raise RuntimeError("observer bug")

    observers.append(broken)
    try:
        sqlite_env.ok("voximplant.sip.get")
    finally:
        observers.remove(broken)
    assert "call observer" in caplog.text
