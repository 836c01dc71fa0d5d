"""Fixtures of the limits tests: a hand-moved clock, an app with limits on, Redis.

Redis is at ``TRUNKLINE_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``).
Where it does not answer the Redis cases are skipped with the reason, except
under CI (``CI`` set), where they fail: CI must run them (.ci/run starts Redis).
Each test writes under a key prefix of its own.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Env, make_env
from trunkline.rest.registry import Call, Result
from trunkline.storage.url import DatabaseUrl

REDIS_URL = os.environ.get("TRUNKLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T0 = 1_780_000_000.0


def require_redis() -> None:
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 2):
            return
    except OSError as exc:
        reason = f"Redis at {parts.hostname}:{parts.port} does not answer ({exc})"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the Redis tests (.ci/run starts it)")
    pytest.skip(reason)


def redis_prefix() -> str:
    return f"tltest:{secrets.token_hex(6)}:"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def backend_settings(kind: str) -> dict[str, Any]:
    if kind == "redis":
        require_redis()
        return {"redis_url": REDIS_URL, "redis_prefix": redis_prefix()}
    return {}


def install_clock(env: Env) -> Clock:
    """Drive the app's clock (the guard's and the dispatcher's) by hand; add ``test.slow``.

    ``test.slow?seconds=S`` moves the clock by S while it runs: a call that
    "took" S seconds, without sleeping.
    """
    clock = Clock()
    app = env.app
    app.clock.use(clock)

    async def slow(call: Call) -> Result:
        clock.advance(float(call.params.get("seconds", 0)))
        return Result(True)

    if app.registry.get("test.slow") is None:
        app.registry.add("test.slow", slow, scope=None)
    return clock


@pytest.fixture(params=["memory", "redis"])
def limited(
    request: pytest.FixtureRequest,
    database_urls: dict[str, DatabaseUrl],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Env, Clock]]:
    """The app (SQLite) with limits on, in-process and through Redis, on a fake clock."""
    settings = {"limits": True, "control_poll_ms": 0, **backend_settings(request.param)}
    for env in make_env("sqlite", database_urls, tmp_path_factory, **settings):
        yield env, install_clock(env)
