"""Portals as hosts, and who sees which line.

One portal holds two applications and a webhook; a second portal has the first
application installed too and a webhook of its own. Each owner must see, change
and delete exactly its own lines, whatever FILTER it sends, and nothing of one
portal is visible from the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.auth.conftest import PORTAL_HOST, OAuth, error
from tests.conftest import Env, make_env

OTHER_HOST = "other.bitrix24.com"


@dataclass
class Caller:
    name: str
    call: Any  # (method, payload) -> response

    def ok(self, method: str, payload: Any = None) -> Any:
        response = self.call(method, payload)
        assert response.status_code == 200, f"{self.name}: {response.text}"
        return response.json()


@dataclass
class World:
    oauth: OAuth
    callers: dict[str, Caller]
    owned: dict[str, set[str]]  # caller -> CONFIG_IDs it added
    portal_b: Any

    def titles(self, name: str, payload: Any = None) -> set[str]:
        return {
            row["TITLE"] for row in self.callers[name].ok("voximplant.sip.get", payload)["result"]
        }


def token_caller(oauth: OAuth, name: str, token: str, host: str) -> Caller:
    return Caller(name, lambda method, payload=None: oauth.call(method, token, payload, host=host))


def hook_caller(env: Env, name: str, hook: str, host: str) -> Caller:
    return Caller(
        name,
        lambda method, payload=None: env.client.post(
            hook + method, json=payload or {}, headers={"host": host}
        ),
    )


@pytest.fixture
def world(oauth: OAuth) -> World:
    env = oauth.env
    portal_b = env.run(env.accounts.create_portal, OTHER_HOST, title="Other")
    env.run(env.accounts.create_user, portal_b, "admin", is_admin=True, user_id=1)
    hook_b = env.run(env.accounts.create_webhook, portal_b, 1, ["telephony"])
    app1, app2 = oauth.create_app(title="one"), oauth.create_app(title="two")
    callers = {
        "hook_a": hook_caller(env, "hook_a", env.hook, PORTAL_HOST),
        "app1_a": token_caller(oauth, "app1_a", oauth.install(app1)["access_token"], PORTAL_HOST),
        "app2_a": token_caller(oauth, "app2_a", oauth.install(app2)["access_token"], PORTAL_HOST),
        "hook_b": hook_caller(env, "hook_b", f"/rest/1/{hook_b.code}/", OTHER_HOST),
        "app1_b": token_caller(
            oauth, "app1_b", oauth.install(app1, portal=portal_b)["access_token"], OTHER_HOST
        ),
    }
    owned: dict[str, set[str]] = {}
    for name, caller in callers.items():
        owned[name] = set()
        for i in range(2):
            line = caller.ok(
                "voximplant.sip.add",
                {"TYPE": "office", "TITLE": f"{name}-{i}", "SERVER": "pbx", "LOGIN": name},
            )["result"]
            owned[name].add(line["CONFIG_ID"])
    return World(oauth, callers, owned, portal_b)


def test_each_caller_sees_exactly_its_own_lines(world: World) -> None:
    for name in world.callers:
        assert world.titles(name) == {f"{name}-0", f"{name}-1"}, name


def test_config_ids_count_per_portal(world: World) -> None:
    assert world.owned["hook_a"] == {"1", "2"}
    assert world.owned["hook_b"] == {"1", "2"}
    assert world.owned["app1_b"] == {"3", "4"}


FILTERS = [
    {"LOGIC": "OR", "APP_ID": "{other}"},
    {"LOGIC": "OR", "!APP_ID": "{mine}"},
    {"LOGIC": "OR", "!=APP_ID": ""},
    {"=APP_ID": "{other}"},
    {"APP_ID": "{other}"},
    {"!APP_ID": "{mine}"},
    {"%APP_ID": "local"},
    {"!=APP_ID": "{mine}"},
    {"0": {"LOGIC": "OR", "APP_ID": "{other}"}},
    {"LOGIC": "OR", "0": {"=APP_ID": "{other}"}, "1": {"!APP_ID": ""}},
    {"LOGIC": "OR", "CONFIG_ID": ["1", "2", "3", "4", "5", "6", "7", "8"]},
    {"LOGIC": "OR", ">CONFIG_ID": 0, "TITLE": "%"},
]


def fill(value: Any, mine: str, other: str) -> Any:
    if isinstance(value, dict):
        return {k: fill(v, mine, other) for k, v in value.items()}
    if isinstance(value, str):
        return value.format(mine=mine, other=other)
    return value


@pytest.mark.parametrize("template", FILTERS, ids=[str(f) for f in FILTERS])
def test_filter_never_reveals_another_owners_line(world: World, template: dict[str, Any]) -> None:
    store = world.oauth.env.app.store
    all_lines = world.oauth.env.run(store.lines.all_lines)
    app_ids = sorted({line.app_id for line in all_lines if line.app_id})
    for name in world.callers:
        own = {f"{name}-0", f"{name}-1"}
        for other in [*app_ids, ""]:
            payload = {"FILTER": fill(template, mine="", other=other)}
            response = world.callers[name].call("voximplant.sip.get", payload)
            if response.status_code != 200:  # an unusable filter is refused, never widened
                assert response.status_code == 400, response.text
                continue
            seen = {row["TITLE"] for row in response.json()["result"]}
            assert seen <= own, (name, payload, seen - own)


def test_update_and_delete_reach_only_own_lines(world: World) -> None:
    env = world.oauth.env
    before = env.run(env.app.store.lines.all_lines)
    for name, caller in world.callers.items():
        same_portal = [n for n in world.callers if n != name and n[-1] == name[-1]]
        foreign = set().union(*(world.owned[n] for n in same_portal)) - world.owned[name]
        for config_id in sorted(foreign):
            error(
                caller.call("voximplant.sip.update", {"CONFIG_ID": config_id, "TITLE": "stolen"}),
                404,
                "ERROR_NOT_FOUND",
            )
            error(
                caller.call("voximplant.sip.delete", {"CONFIG_ID": config_id}),
                400,
                "ERROR_NOT_FOUND",
            )
    assert env.run(env.app.store.lines.all_lines) == before, "a refused call changed a line"
    for name, caller in world.callers.items():
        first, second = sorted(world.owned[name])
        caller.ok("voximplant.sip.update", {"CONFIG_ID": first, "TITLE": f"{name}-renamed"})
        caller.ok("voximplant.sip.delete", {"CONFIG_ID": second})
    for name in world.callers:
        assert world.titles(name) == {f"{name}-renamed"}


def test_title_uniqueness_is_portal_wide_across_owners(world: World) -> None:
    app1_a = world.callers["app1_a"]
    taken = app1_a.call(
        "voximplant.sip.add", {"TYPE": "office", "TITLE": "hook_a-0", "SERVER": "s", "LOGIN": "l"}
    )
    error(taken, 400, "TITLE_EXISTS")
    # The same title is free on the other portal.
    world.callers["app1_b"].ok(
        "voximplant.sip.add", {"TYPE": "office", "TITLE": "hook_a-0", "SERVER": "s", "LOGIN": "l"}
    )


def test_cloud_line_cap_is_portal_wide_across_owners(world: World) -> None:
    cloud = {"TYPE": "cloud", "SERVER": "sip.example.com", "LOGIN": "l"}
    names = ["hook_a", "app1_a", "app2_a"]
    for i in range(10):
        world.callers[names[i % 3]].ok("voximplant.sip.add", {**cloud, "TITLE": f"cloud-{i}"})
    error(
        world.callers["app2_a"].call("voximplant.sip.add", {**cloud, "TITLE": "eleventh"}),
        400,
        "MAX_CLOUD_PBX",
    )
    world.callers["hook_b"].ok("voximplant.sip.add", {**cloud, "TITLE": "cloud-b"})


def test_credentials_of_one_portal_are_refused_at_the_others_address(world: World) -> None:
    env = world.oauth.env
    error(
        env.client.post(env.hook + "voximplant.sip.get", headers={"host": OTHER_HOST}),
        401,
        "INVALID_CREDENTIALS",
    )
    error(
        env.client.post(env.hook + "voximplant.sip.get", headers={"host": f"{OTHER_HOST}:443"}),
        401,
        "INVALID_CREDENTIALS",
    )
    response = env.client.post(
        env.hook + "voximplant.sip.get", headers={"host": f"{PORTAL_HOST.upper()}:8080"}
    )
    assert response.status_code == 200


def test_unknown_host_is_served_by_the_credentials_own_portal(world: World) -> None:
    env = world.oauth.env
    for host in ("127.0.0.1:8080", "testserver", "[::1]:80"):
        rows = env.client.post(env.hook + "voximplant.sip.get", headers={"host": host}).json()[
            "result"
        ]
        assert {row["TITLE"] for row in rows} == {"hook_a-0", "hook_a-1"}


@pytest.fixture
def strict_env(database_urls, tmp_path_factory) -> Iterator[Env]:
    yield from make_env("sqlite", database_urls, tmp_path_factory, host_fallback=False)


def test_unknown_host_refused_without_fallback(strict_env: Env) -> None:
    env = strict_env
    error(
        env.client.post(env.hook + "voximplant.sip.get", headers={"host": "127.0.0.1"}),
        401,
        "INVALID_CREDENTIALS",
    )
    ok = env.client.post(env.hook + "voximplant.sip.get", headers={"host": PORTAL_HOST})
    assert ok.status_code == 200
    page = env.client.get(
        "/oauth/authorize/", params={"client_id": "x"}, headers={"host": "127.0.0.1"}
    )
    assert page.status_code == 404 and "No portal" in page.text


def test_sign_in_page_of_a_multi_portal_install(world: World) -> None:
    oauth = world.oauth
    env = oauth.env
    client_id = oauth.create_app(title="paged")
    oauth.install(client_id, portal=world.portal_b)
    named = oauth.authorize_page(client_id, host=OTHER_HOST)
    assert named.status_code == 200 and "Sign in to Other" in named.text
    # Two portals, an unknown host, and no portal with default_portal_domain: nothing to show.
    unknown = oauth.authorize_page(client_id, host="127.0.0.1:9")
    assert unknown.status_code == 404
    assert env.app.settings.default_portal_domain == "trunkline.local"
