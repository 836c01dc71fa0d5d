"""Using an access token on the portal (rest-protocol.md §9.5): where it may travel and
every refusal, each with its code, description and HTTP 401, and nothing changed."""

from __future__ import annotations

import pytest

from tests.auth.conftest import PORTAL_HOST, OAuth, error

SIP_ADD = {"TYPE": "office", "SERVER": "pbx.example.com", "LOGIN": "u"}


@pytest.fixture
def token(oauth: OAuth) -> str:
    _, auth = oauth.app_tokens()
    return str(auth["access_token"])


def lines(oauth: OAuth) -> list[object]:
    return list(oauth.env.run(oauth.env.app.store.lines.all_lines, oauth.env.portal.id))


def test_token_in_query_form_json_and_bearer(oauth: OAuth, token: str) -> None:
    client = oauth.env.client
    for response in (
        client.get("/rest/profile", params={"auth": token}),
        client.get("/rest/profile.json", params={"access_token": token}),
        client.post("/rest/profile", data={"auth": token}),
        client.post("/rest/profile", json={"auth": token}),
        client.post("/rest//profile", json={"access_token": token}),
        client.get("/rest/profile", headers={"authorization": f"Bearer {token}"}),
    ):
        assert response.status_code == 200, response.text
        assert response.json()["result"]["ID"] == "1"


def test_bearer_header_wins_over_parameter(oauth: OAuth, token: str) -> None:
    response = oauth.env.client.get(
        "/rest/profile", params={"auth": token}, headers={"authorization": "Bearer forged"}
    )
    error(response, 401, "invalid_token", "The access token provided is invalid")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: "0" * len(t),  # forged
        lambda t: t[:-1],  # truncated
        lambda t: t + "0",  # extended
        lambda t: t.upper(),
        lambda t: "x" * 5000,  # oversized
        lambda t: t + "\x00",
    ],
    ids=["forged", "truncated", "extended", "upper", "oversized", "nul"],
)
def test_bad_tokens_are_invalid_token(oauth: OAuth, token: str, mangle) -> None:
    before = lines(oauth)
    response = oauth.call("voximplant.sip.add", mangle(token), SIP_ADD)
    error(response, 401, "invalid_token", "The access token provided is invalid")
    assert lines(oauth) == before


def test_expired_token(oauth: OAuth, token: str) -> None:
    oauth.clock.advance(3599)
    assert oauth.call("profile", token).status_code == 200
    oauth.clock.advance(1)
    error(
        oauth.call("voximplant.sip.add", token, SIP_ADD),
        401,
        "expired_token",
        "The access token provided has expired",
    )
    assert lines(oauth) == []


def test_token_of_another_portal_is_unknown_at_this_portal(oauth: OAuth) -> None:
    env = oauth.env
    other = env.run(env.accounts.create_portal, "other.bitrix24.com", title="Other")
    env.run(env.accounts.create_user, other, "admin", is_admin=True, user_id=1)
    client_id = oauth.create_app()
    foreign = oauth.install(client_id, portal=other)["access_token"]
    # At the other portal's own address the token works...
    assert oauth.call("profile", foreign, host="other.bitrix24.com").status_code == 200
    # ...at this portal's address it does not exist, however it is expired or scoped.
    error(oauth.call("profile", foreign, host=PORTAL_HOST), 401, "invalid_token")
    oauth.clock.advance(7200)
    error(oauth.call("profile", foreign, host=PORTAL_HOST), 401, "invalid_token")
    error(oauth.call("profile", foreign, host="other.bitrix24.com"), 401, "expired_token")


def test_uninstalled_application(oauth: OAuth) -> None:
    client_id, auth = oauth.app_tokens()
    oauth.env.run(oauth.apps.uninstall, oauth.env.portal, client_id)
    error(
        oauth.call("profile", auth["access_token"]),
        401,
        "APPLICATION_NOT_FOUND",
        "Application not found",
    )


def test_insufficient_scope(oauth: OAuth) -> None:
    _, auth = oauth.app_tokens(scopes=["user"])
    error(
        oauth.call("voximplant.sip.add", auth["access_token"], SIP_ADD),
        401,
        "insufficient_scope",
        "The request requires higher privileges than provided by the access token",
    )
    assert oauth.call("profile", auth["access_token"]).status_code == 200  # global method
    assert lines(oauth) == []


def test_inactive_user(oauth: OAuth, token: str) -> None:
    store = oauth.env.app.store
    oauth.env.run(store.driver.execute, "UPDATE users SET active = ? WHERE user_id = 1", (False,))
    error(oauth.call("profile", token), 401, "authorization_error", "Unable to authorize user")


def test_restricted_application(oauth: OAuth) -> None:
    env = oauth.env
    bob = env.user("bob", name="Bob", line_modify=True)
    client_id = oauth.create_app()
    admin_token = oauth.install(client_id, 1)["access_token"]
    bob_token = oauth.install(client_id, bob)["access_token"]  # reinstall: admin's is revoked
    error(oauth.call("profile", admin_token), 401, "invalid_token")
    env.run(oauth.apps.restrict, env.portal, client_id, [1])
    error(
        oauth.call("profile", bob_token),
        401,
        "user_access_error",
        "The user does not have access to the application.",
    )
    env.run(oauth.apps.restrict, env.portal, client_id, [])
    assert oauth.ok("profile", bob_token)["ID"] == str(bob)


def test_token_runs_as_its_user_with_that_users_rights(oauth: OAuth) -> None:
    env = oauth.env
    clerk = env.user("clerk", name="Clerk")  # no "Manage numbers - modify" right
    client_id = oauth.create_app()
    token = oauth.install(client_id, clerk)["access_token"]
    error(oauth.call("voximplant.sip.get", token), 403, "ACCESS_DENIED", "Access denied!")


def test_webhook_credentials_win_over_a_token(oauth: OAuth, token: str) -> None:
    env = oauth.env
    response = env.client.post(env.hook + "app.info", json={"auth": token})
    assert response.status_code == 200
    assert set(response.json()["result"]) == {"SCOPE", "LICENSE"}


def test_batch_runs_as_the_app(oauth: OAuth, token: str) -> None:
    added = oauth.ok(
        "batch",
        token,
        {"cmd": {"a": "voximplant.sip.add?TYPE=office&SERVER=s&LOGIN=l", "b": "app.info"}},
    )
    assert added["result"]["b"]["CODE"].startswith("local.")
    app_lines = lines(oauth)
    assert [line.app_id for line in app_lines] == [added["result"]["b"]["CODE"]]
