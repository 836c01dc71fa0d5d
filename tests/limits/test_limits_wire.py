"""Both limiters through the ASGI app, in-process and through Redis, on a fake clock.

``limited`` runs each test twice (in-process state, Redis state); the clock is
moved by hand and ``test.slow?seconds=S`` is a call that "took" S seconds.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Env
from tests.limits.conftest import T0, Clock

TOO_MANY = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
BLOCKED = {
    "error": "OPERATION_TIME_LIMIT",
    "error_description": "Method is blocked due to operation time limit.",
}


def statuses(env: Env, count: int, method: str = "voximplant.sip.get", **kw: Any) -> list[int]:
    return [env.call(method, {}, **kw).status_code for _ in range(count)]


def test_bucket_burst_of_fifty_then_503(limited):
    env, _ = limited
    assert statuses(env, 50) == [200] * 50
    response = env.call("voximplant.sip.get", {})
    assert response.status_code == 503
    assert response.json() == TOO_MANY


def test_bucket_drains_two_per_second(limited):
    env, clock = limited
    assert statuses(env, 51)[-1] == 503
    clock.advance(1.0)
    assert statuses(env, 3) == [200, 200, 503]
    clock.advance(25.0)  # fully drained
    assert statuses(env, 51).count(200) == 50


def test_bucket_counts_a_batch_once(limited):
    env, _ = limited
    commands = {f"c{i}": "voximplant.sip.get" for i in range(50)}
    assert statuses(env, 49) == [200] * 49
    body = env.ok("batch", {"cmd": commands})  # the 50th request, 50 commands inside
    assert len(body["result"]["result"]) == 50 and body["result"]["result_error"] == []
    assert env.call("voximplant.sip.get", {}).status_code == 503


def test_bucket_is_per_caller(limited):
    env, _ = limited
    other = env.webhook(1)
    assert statuses(env, 51)[-1] == 503
    assert statuses(env, 50, hook=other) == [200] * 50  # another webhook: its own bucket
    assert statuses(env, 1, hook=other) == [503]


def test_bucket_of_an_enterprise_portal_holds_250(limited):
    env, clock = limited
    env.run(env.app.control.repo.save_state, state(env, plan="enterprise"))
    env.run(env.app.control.refresh)
    assert statuses(env, 251).count(200) == 250
    clock.advance(1.0)
    assert statuses(env, 6) == [200] * 5 + [503]


def state(env: Env, **fields: Any) -> Any:
    from trunkline.limits.states import PortalState

    return PortalState(env.portal.id, **fields)


def slow(env: Env, seconds: float, **kw: Any) -> Any:
    return env.call(f"test.slow?seconds={seconds}", None, **kw)


def test_operating_time_reported_on_every_success(limited):
    env, clock = limited
    first = slow(env, 0.05).json()["time"]  # too fast to count
    assert first["operating"] == 0 and first["operating_reset_at"] == first["start"] + 600
    clock.advance(10)
    counted = slow(env, 2.5).json()["time"]
    assert counted["operating"] == 2.5
    assert counted["operating_reset_at"] == int(T0 + 10 + 2.5) + 600
    clock.advance(70)
    again = slow(env, 1.0).json()["time"]
    assert again["operating"] == 3.5
    assert again["operating_reset_at"] == int(T0 + 12.5) + 600  # the oldest bucket


def test_operating_limit_answers_429_until_the_buckets_expire(limited):
    env, clock = limited
    assert slow(env, 400).status_code == 200
    clock.advance(30)
    over = slow(env, 30)  # 430 s: this call still completes
    assert over.status_code == 200 and over.json()["time"]["operating"] == 430
    response = slow(env, 0)
    assert (response.status_code, response.json()) == (429, BLOCKED)
    assert env.call("voximplant.sip.get", {}).status_code == 200  # other methods are free
    clock.advance(539)  # now T0 + 999; the first bucket (T0 + 400) expires at T0 + 1000
    assert slow(env, 0).status_code == 429
    clock.advance(1)
    body = slow(env, 0).json()
    assert body["time"]["operating"] == 30
    assert body["time"]["operating_reset_at"] == int(T0 + 460) + 600


def test_operating_limit_is_per_caller(limited):
    env, _ = limited
    other = env.webhook(1)
    slow(env, 421)
    assert slow(env, 0).status_code == 429
    assert slow(env, 0, hook=other).status_code == 200


def test_batch_counts_its_sub_calls_not_itself(limited):
    env, _ = limited
    body = env.ok("batch", {"cmd": {"a": "test.slow?seconds=2", "b": "test.slow?seconds=3"}})
    times = body["result"]["result_time"]
    assert (times["a"]["operating"], times["b"]["operating"]) == (2, 5)
    assert body["time"]["operating"] == 0  # batch itself is not metered
    assert slow(env, 0).json()["time"]["operating"] == 5


def test_batch_sub_call_over_the_limit_fails_alone(limited):
    env, _ = limited
    slow(env, 421)
    body = env.ok("batch", {"cmd": {"a": "test.slow", "b": "voximplant.sip.get"}})
    assert body["result"]["result_error"] == {"a": BLOCKED}
    assert list(body["result"]["result"]) == ["b"]


def test_time_block_without_limits_keeps_the_defaults(sqlite_env):
    body = sqlite_env.ok("voximplant.sip.get", {})
    assert body["time"]["operating"] == 0
    assert body["time"]["operating_reset_at"] == body["time"]["start"] + 600
    assert sqlite_env.app.rest is not None
    assert sqlite_env.app.rest.dispatcher.guard is None  # nothing active: no hook at all


def test_clock_fixture_moves_only_by_hand(limited):
    _, clock = limited
    assert isinstance(clock, Clock) and clock() == T0
