"""Seeded ids: with --seed-ids (or a scenario's seed_ids) every generated code, secret,
token, INCOMING_PASSWORD and CALL_ID is the same on every build of the same scenario."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Env, make_env
from tests.web.conftest import TOKEN, op
from trunkline.domain.ids import Ids
from trunkline.storage.url import DatabaseUrl

SCENARIO: dict[str, Any] = {
    "domain": "seeded.example",
    "webhooks": [{"user": 1}],
    "apps": [{"title": "Dialer"}],
    "lines": [{"type": "office", "title": "PBX", "server": "pbx.example", "login": "u"}],
}
HOST = {"host": "seeded.example"}


@pytest.fixture
def seeded(
    database_urls: dict[str, DatabaseUrl], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    yield from make_env(
        "sqlite",
        database_urls,
        tmp_path_factory,
        operator_token=TOKEN,
        control_poll_ms=0,
        seed_ids=42,
    )


def build(env: Env, scenario: dict[str, Any] = SCENARIO) -> dict[str, Any]:
    """The scenario built, with what the wire shows of it: the office line's
    INCOMING_PASSWORD and the CALL_ID of a registered external call."""
    made: dict[str, Any] = op(env, "POST", "/operator/portals", scenario, 201)
    hook = made["webhooks"][0]["url"].removeprefix("http://testserver")
    lines = env.client.post(hook + "voximplant.sip.get", headers=HOST).json()["result"]
    call = env.client.post(
        hook + "telephony.externalcall.register",
        json={"USER_ID": 1, "PHONE_NUMBER": "+15550100", "TYPE": 1},
        headers=HOST,
    )
    assert call.status_code == 200, call.text
    call_id = call.json()["result"]["CALL_ID"]
    return {
        "made": made,
        "incoming": [line["INCOMING_PASSWORD"] for line in lines],
        "call": call_id.rsplit(".", 1)[0],  # the unix seconds differ between builds
    }


def secrets_of(built: dict[str, Any]) -> list[Any]:
    made = built["made"]
    app = made["apps"][0]
    return [
        made["portal"]["member_id"],
        made["webhooks"][0]["code"],
        app["client_id"],
        app["client_secret"],
        app["access_token"],
        app["refresh_token"],
        app["application_token"],
        built["incoming"],
        built["call"],
    ]


def test_seed_ids_makes_a_rebuilt_portal_identical(seeded: Env):
    first = build(seeded)
    op(seeded, "DELETE", "/operator/portals/seeded.example")
    again = build(seeded)
    assert secrets_of(again) == secrets_of(first)
    assert first["call"].startswith("externalCall.")
    assert len(first["made"]["webhooks"][0]["code"]) == 16


def test_same_seed_gives_the_same_values_on_another_server(
    seeded: Env,
    database_urls: dict[str, DatabaseUrl],
    tmp_path_factory: pytest.TempPathFactory,
):
    first = secrets_of(build(seeded))
    for other in make_env(
        "postgres" if False else "sqlite",
        database_urls,
        tmp_path_factory,
        operator_token=TOKEN,
        control_poll_ms=0,
        seed_ids=42,
    ):
        op(other, "POST", "/operator/reset")
        assert secrets_of(build(other)) == first


def test_scenario_seed_ids_without_a_server_seed(ops: Env):
    seeded = {**SCENARIO, "seed_ids": 7}
    first = build(ops, seeded)
    op(ops, "DELETE", "/operator/portals/seeded.example")
    again = build(ops, seeded)
    assert secrets_of(again) == secrets_of(first)
    op(ops, "DELETE", "/operator/portals/seeded.example")
    unseeded = build(ops)  # the same document without seed_ids: random again
    assert set(map(str, secrets_of(unseeded))).isdisjoint(map(str, secrets_of(first)))


def test_without_a_seed_values_differ(ops: Env):
    first = build(ops)
    op(ops, "DELETE", "/operator/portals/seeded.example")
    assert set(map(str, secrets_of(build(ops)))).isdisjoint(map(str, secrets_of(first)))


def test_streams_are_per_scope_and_restart():
    ids = Ids(5)
    a = ids.token_hex(8, "a.example")
    assert ids.token_hex(8, "b.example") != a
    assert ids.token_hex(8, "a.example") != a  # the stream goes on
    ids.restart("a.example")
    assert ids.token_hex(8, "a.example") == a
    assert Ids(5).text("ab", 20, "a.example") == Ids(5).text("ab", 20, "a.example")
    assert Ids().token_hex(8) != Ids().token_hex(8)
