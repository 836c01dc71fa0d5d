"""The auxiliary global methods (rest-protocol.md §10) and voximplant.sip.connector.status
(voximplant-sip.md §9), through webhooks and OAuth tokens, with their exact shapes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.auth.conftest import OAuth, error
from trunkline.methods.system import license_parts

GLOBAL = [
    "app.info",
    "batch",
    "event.bind",
    "event.get",
    "event.offline.clear",
    "event.offline.error",
    "event.offline.get",
    "event.offline.list",
    "event.unbind",
    "events",
    "method.get",
    "methods",
    "profile",
    "scope",
    "server.time",
]


def result(env, method, payload=None, **kwargs):
    return env.ok(method, payload, **kwargs)["result"]


def test_scope_of_a_webhook_and_full(env) -> None:
    assert result(env, "scope") == ["telephony"]
    full = result(env, "scope", {"full": True})
    assert full[:2] == ["telephony", "user"] and "crm" in full
    assert result(env, "scope", {"FULL": "0"}) == ["telephony"]


def test_scope_of_a_token(oauth: OAuth) -> None:
    _, auth = oauth.app_tokens(scopes=["user", "telephony"])
    assert oauth.ok("scope", auth["access_token"]) == ["telephony", "user"]


def test_methods(env) -> None:
    default = result(env, "methods")
    assert default[: len(GLOBAL)] == GLOBAL
    assert "voximplant.sip.get" in default and "voximplant.sip.connector.status" in default
    assert all(name == name.lower() for name in default)
    assert result(env, "methods", {"scope": ""}) == GLOBAL
    telephony = result(env, "methods", {"scope": "telephony"})
    assert "voximplant.sip.add" in telephony and "batch" not in telephony
    assert result(env, "methods", {"scope": "crm"}) == []
    # every scope the server has: the webhook's (telephony) and the others (user)
    full = result(env, "methods", {"full": True})
    assert full == [*default, "user.current", "user.get", "user.update"]


def test_methods_follow_the_token_scopes(oauth: OAuth) -> None:
    _, auth = oauth.app_tokens(scopes=["user"])
    assert oauth.ok("methods", auth["access_token"]) == [
        *GLOBAL,
        "user.current",
        "user.get",
        "user.update",
    ]


@pytest.mark.parametrize(
    ("name", "existing", "available"),
    [
        ("voximplant.sip.get", True, True),
        ("batch", True, True),
        ("crm.lead.list", False, False),
        ("", False, False),
        ("VOXIMPLANT.SIP.GET", False, False),  # the key is taken as given
    ],
)
def test_method_get(env, name, existing, available) -> None:
    assert result(env, "method.get", {"name": name}) == {
        "isExisting": existing,
        "isAvailable": available,
    }


def test_method_get_without_scope(oauth: OAuth) -> None:
    _, auth = oauth.app_tokens(scopes=["user"])
    got = oauth.ok("method.get", auth["access_token"], {"name": "voximplant.sip.add"})
    assert got == {"isExisting": True, "isAvailable": False}


def test_server_time_uses_the_portal_offset(env) -> None:
    stamp = result(env, "server.time")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", stamp)
    assert abs(datetime.fromisoformat(stamp).timestamp() - datetime.now(UTC).timestamp()) < 5


def test_app_info_of_a_webhook(env) -> None:
    assert result(env, "app.info") == {"SCOPE": ["telephony"], "LICENSE": "en_project"}


def test_app_info_of_an_application(oauth: OAuth) -> None:
    client_id, auth = oauth.app_tokens()
    info = oauth.ok("app.info", auth["access_token"])
    assert info == {
        "ID": info["ID"],
        "CODE": client_id,
        "VERSION": 1,
        "STATUS": "L",
        "INSTALLED": True,
        "PAYMENT_EXPIRED": "N",
        "DAYS": None,
        "LANGUAGE_ID": "en",
        "LICENSE": "en_project",
        "LICENSE_TYPE": "project",
        "LICENSE_FAMILY": "project",
    }
    assert type(info["ID"]) is int
    market_id, market = oauth.app_tokens(kind="market", code="vendor.sip")
    assert market_id.startswith("app.")
    info = oauth.ok("app.info", market["access_token"])
    assert (info["CODE"], info["STATUS"]) == ("vendor.sip", "F")


def test_license_parts() -> None:
    assert license_parts("de_ent10000") == ("ent10000", "ent")
    assert license_parts("en_project") == ("project", "project")
    assert license_parts("nfr") == ("nfr", "nfr")


def test_profile(env) -> None:
    assert result(env, "profile") == {
        "ID": "1",
        "ADMIN": True,
        "NAME": "Ada",
        "LAST_NAME": "",
        "PERSONAL_GENDER": "",
        "TIME_ZONE": "",
        "TIME_ZONE_OFFSET": 0,
    }


def test_profile_of_a_token_user(oauth: OAuth) -> None:
    bob = oauth.env.user("bob", name="Bob", last_name="Stone", line_modify=True)
    client_id = oauth.create_app(scopes=["user"])
    token = oauth.install(client_id, bob)["access_token"]
    profile = oauth.ok("profile", token)
    assert (profile["ID"], profile["ADMIN"], profile["NAME"], profile["LAST_NAME"]) == (
        str(bob),
        False,
        "Bob",
        "Stone",
    )


# -- voximplant.sip.connector.status ------------------------------------------------------


def test_connector_status_defaults(env) -> None:
    body = env.ok("voximplant.sip.connector.status", {"ignored": 1})
    assert body["result"] == {"FREE_MINUTES": 0, "PAID": False}
    assert "time" in body


def test_connector_status_paid(oauth: OAuth) -> None:
    env = oauth.env
    apps = oauth.apps
    env.run(apps.set_connector, env.portal, free_minutes=60)
    assert result(env, "voximplant.sip.connector.status") == {"FREE_MINUTES": 60, "PAID": False}
    until = datetime(2026, 12, 31, tzinfo=UTC).timestamp()
    env.run(apps.set_connector, env.portal, free_minutes=0, paid=True, paid_until=until)
    paid = result(env, "voximplant.sip.connector.status")
    assert paid == {"FREE_MINUTES": 0, "PAID": True, "PAID_DATE_END": "2026-12-31T00:00:00+00:00"}
    assert type(paid["FREE_MINUTES"]) is int and paid["PAID"] is True
    # The same through an application, and not scoped by application.
    _, auth = oauth.app_tokens()
    assert oauth.ok("voximplant.sip.connector.status", auth["access_token"]) == paid
    env.run(apps.set_connector, env.portal, paid=False)
    assert result(env, "voximplant.sip.connector.status") == {"FREE_MINUTES": 0, "PAID": False}


def test_connector_status_in_the_portal_time_zone(oauth: OAuth) -> None:
    env = oauth.env
    store = env.app.store
    env.run(
        store.driver.execute,
        "UPDATE portals SET timezone = ? WHERE id = ?",
        ("Europe/Moscow", env.portal.id),
    )
    until = datetime(2026, 12, 31, tzinfo=UTC).timestamp()
    env.run(oauth.apps.set_connector, env.portal, paid=True, paid_until=until)
    # voximplant-sip.md §9: a date at midnight UTC shows as 03:00 in a +03:00 portal.
    assert (
        result(env, "voximplant.sip.connector.status")["PAID_DATE_END"]
        == "2026-12-31T03:00:00+03:00"
    )


def test_connector_status_needs_the_modify_right(env) -> None:
    env.user("clerk", name="Clerk", user_id=5)
    clerk = env.webhook(5)
    error(
        env.call("voximplant.sip.connector.status", hook=clerk),
        403,
        "ACCESS_DENIED",
        "Access denied!",
    )


def test_connector_status_needs_telephony(oauth: OAuth) -> None:
    _, auth = oauth.app_tokens(scopes=["user"])
    error(
        oauth.call("voximplant.sip.connector.status", auth["access_token"]),
        401,
        "insufficient_scope",
    )


def test_connector_of_one_portal_is_its_own(oauth: OAuth) -> None:
    env = oauth.env
    other = env.run(env.accounts.create_portal, "other.bitrix24.com")
    env.run(oauth.apps.set_connector, other, free_minutes=99)
    assert result(env, "voximplant.sip.connector.status")["FREE_MINUTES"] == 0


def test_global_methods_work_inside_batch(env) -> None:
    body = result(
        env,
        "batch",
        {
            "cmd": {
                "s": "scope",
                "p": "profile",
                "t": "server.time",
                "c": "voximplant.sip.connector.status",
            }
        },
    )
    assert body["result"]["s"] == ["telephony"]
    assert body["result"]["p"]["ID"] == "1"
    assert body["result"]["c"] == {"FREE_MINUTES": 0, "PAID": False}
