"""Fixtures of the operator API tests: the app on SQLite with an operator token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import BACKENDS, Env, make_env
from trunkline.storage.url import DatabaseUrl

TOKEN = "op-secret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def ops(
    database_urls: dict[str, DatabaseUrl], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    """The app on SQLite with an operator token (and the test portal of ``make_env``)."""
    yield from make_env(
        "sqlite", database_urls, tmp_path_factory, operator_token=TOKEN, control_poll_ms=0
    )


@pytest.fixture(params=BACKENDS)
def ops_any(
    request: pytest.FixtureRequest,
    database_urls: dict[str, DatabaseUrl],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Env]:
    """``ops`` on each storage backend."""
    yield from make_env(
        request.param, database_urls, tmp_path_factory, operator_token=TOKEN, control_poll_ms=0
    )


def op(env: Env, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    """An operator call that must answer ``status``; its JSON."""
    kwargs: dict[str, Any] = {"headers": AUTH}
    if body is not None:
        kwargs["json"] = body
    response = env.client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    return response.json()


def error_of(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"], body["error_description"]
