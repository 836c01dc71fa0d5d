"""The virtual clock: POST /operator/clock moves everything that reads the app's clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Env, make_env
from tests.limits.conftest import install_clock
from tests.web.conftest import AUTH, TOKEN, error_of, op
from trunkline.domain.clock import Clock
from trunkline.services.clock import ClockService
from trunkline.storage.url import DatabaseUrl


def test_advance_expires_an_access_token(ops: Env):
    made = op(ops, "POST", "/operator/portals", {"domain": "t.example", "apps": [{}]}, 201)
    token = made["apps"][0]["access_token"]

    def call() -> Any:
        return ops.client.post(
            "/rest/voximplant.sip.get", json={"auth": token}, headers={"host": "t.example"}
        )

    assert call().status_code == 200
    moved = op(ops, "POST", "/operator/clock", {"advance": 3601})
    assert moved["virtual"] is True and moved["offset"] == pytest.approx(3601)
    expired = call()
    assert expired.status_code == 401
    assert expired.json()["error"] == "expired_token"
    op(ops, "POST", "/operator/clock", {"real": True})
    assert call().status_code == 200


@pytest.fixture
def limited_ops(
    database_urls: dict[str, DatabaseUrl], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    yield from make_env(
        "sqlite",
        database_urls,
        tmp_path_factory,
        operator_token=TOKEN,
        control_poll_ms=0,
        limits=True,
    )


def test_advance_resets_the_operating_window(limited_ops: Env):
    env = limited_ops
    install_clock(env)  # test.slow?seconds=S takes S seconds of the app's clock
    assert env.call("test.slow?seconds=400").status_code == 200
    assert env.call("test.slow?seconds=30").status_code == 200  # 430 s in 10 minutes
    blocked = env.call("test.slow?seconds=0")
    assert (blocked.status_code, blocked.json()["error"]) == (429, "OPERATION_TIME_LIMIT")
    op(env, "POST", "/operator/clock", {"advance": 601})
    fresh = env.call("test.slow?seconds=0")
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["time"]["operating"] == 0


def test_set_and_read_the_clock(ops: Env):
    answer = op(ops, "POST", "/operator/clock", {"set": "2030-01-02T03:04:05Z"})
    assert answer["time"].startswith("2030-01-02T03:04:0")
    server_time = ops.call("server.time").json()["result"]
    assert server_time.startswith("2030-01-02T03:04:0")
    assert op(ops, "GET", "/operator/clock")["time"].startswith("2030-01-02T03:04:")
    real = op(ops, "POST", "/operator/clock", {"real": True})
    assert real["virtual"] is False and real["offset"] == 0


def test_other_workers_follow_the_stored_offset(ops: Env):
    op(ops, "POST", "/operator/clock", {"advance": 120})
    assert ops.app.store is not None
    other = ClockService(ops.app.store.values, Clock())  # another worker's clock
    ops.run(other.sync)
    assert other.clock.offset == pytest.approx(120)
    other.clock.advance(5)  # moved by hand there: a sync with no change keeps it
    ops.run(other.sync)
    assert other.clock.offset == pytest.approx(125)


def test_reset_puts_the_clock_back(ops: Env):
    op(ops, "POST", "/operator/clock", {"advance": 1000})
    op(ops, "POST", "/operator/reset")
    assert op(ops, "GET", "/operator/clock")["offset"] == 0


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_clock_needs_the_token(ops: Env, method: str):
    response = ops.client.request(method, "/operator/clock", json={"advance": 10})
    assert error_of(response) == (401, "invalid_operator_token", "Missing or wrong operator token.")
    assert ops.app.clock.offset == 0


ONE_OF = 'give one of {"advance": seconds}, {"set": iso}, {"real": true}'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, ONE_OF),
        ({"advance": 1, "real": True}, ONE_OF),
        ({"rewind": 5}, ONE_OF),
        ({"advance": "10"}, "advance must be a number of seconds, got '10'"),
        ({"advance": True}, "advance must be a number of seconds, got True"),
        ({"advance": -5}, "advance must be zero or more seconds, got -5"),
        ({"set": "tomorrow"}, "set must be an ISO 8601 time, got 'tomorrow'"),
        ({"set": 5}, "set must be an ISO 8601 time, got 5"),
        ({"real": False}, "real must be true, got False"),
    ],
)
def test_bad_clock_change_is_400(ops: Env, body: dict[str, Any], message: str):
    response = ops.client.post("/operator/clock", json=body, headers=AUTH)
    assert error_of(response) == (400, "invalid_request", message)
    assert ops.app.clock.offset == 0
