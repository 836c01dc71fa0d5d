"""The authorization-code flow end to end, in-process on SQLite and PostgreSQL:
sign-in page, redirect, code exchange, a SIP call with the token, refresh with
rotation, and every refusal of the token endpoint (rest-protocol.md §9)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.auth.conftest import PASSWORD, PORTAL_HOST, REDIRECT, OAuth, error

TOKEN_FIELDS = {
    "access_token",
    "refresh_token",
    "expires",
    "expires_in",
    "scope",
    "domain",
    "member_id",
    "user_id",
    "status",
    "client_endpoint",
    "server_endpoint",
}


def test_authorization_code_flow_end_to_end(oauth: OAuth) -> None:
    env = oauth.env
    client_id = oauth.create_app(scopes=["telephony", "user"])
    oauth.install(client_id)
    oauth.set_password()

    page = oauth.authorize_page(client_id)
    assert page.status_code == 200
    assert "Sign in to Test" in page.text and "Test app" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"

    redirect = oauth.sign_in(client_id, state="opaque/state 1")
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT.split("?")[0]
    query = parse_qs(location.query)
    assert query["from"] == ["b24"]  # the registered URI's own query is kept
    assert query["state"] == ["opaque/state 1"]
    assert query["domain"] == [PORTAL_HOST]
    assert query["member_id"] == [env.portal.member_id]
    assert query["scope"] == ["telephony,user"]
    assert query["server_domain"] == [PORTAL_HOST]  # the page was served there

    answer = oauth.exchange(client_id, query["code"][0])
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    first = answer.json()
    assert set(first) == TOKEN_FIELDS
    assert first["expires_in"] == 3600
    assert first["expires"] == int(oauth.clock.now) + 3600
    assert (first["scope"], first["status"], first["user_id"]) == ("telephony,user", "L", 1)
    assert first["member_id"] == env.portal.member_id
    assert first["client_endpoint"] == first["server_endpoint"] == "http://testserver/rest/"
    assert first["domain"] == "testserver"

    line = oauth.ok(
        "voximplant.sip.add", first["access_token"], {"TYPE": "office", "SERVER": "s", "LOGIN": "l"}
    )
    assert (
        oauth.ok("voximplant.sip.get", first["access_token"])[0]["CONFIG_ID"] == line["CONFIG_ID"]
    )

    renewed = oauth.refresh(client_id, first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert set(second) == TOKEN_FIELDS
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        oauth.ok("voximplant.sip.get", second["access_token"])[0]["CONFIG_ID"] == line["CONFIG_ID"]
    )

    # The pair rotated: the old refresh token and the old access token are gone.
    error(
        oauth.refresh(client_id, first["refresh_token"]),
        400,
        "invalid_grant",
        "The refresh token is invalid or has already been used",
    )
    error(oauth.call("voximplant.sip.get", first["access_token"]), 401, "invalid_token")
    # ...and the refusal took nothing from the current pair.
    assert oauth.refresh(client_id, second["refresh_token"]).status_code == 200


def test_token_endpoint_by_post_form_and_json(oauth: OAuth) -> None:
    client_id, auth = oauth.app_tokens()
    by_form = oauth.refresh(client_id, auth["refresh_token"], post=True)
    assert by_form.status_code == 200, by_form.text
    body = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": oauth.secrets[client_id],
        "refresh_token": by_form.json()["refresh_token"],
    }
    by_json = oauth.env.client.post("/oauth/token", json=body)  # no trailing slash either
    assert by_json.status_code == 200, by_json.text
    assert set(by_json.json()) == TOKEN_FIELDS


def test_code_works_once(oauth: OAuth) -> None:
    client_id, _ = oauth.app_tokens()
    oauth.set_password()
    code = oauth.code(client_id)
    assert oauth.exchange(client_id, code).status_code == 200
    error(
        oauth.exchange(client_id, code),
        400,
        "invalid_grant",
        "The authorization code is invalid or has already been used",
    )


def test_code_expires_after_30_seconds(oauth: OAuth) -> None:
    client_id, _ = oauth.app_tokens()
    oauth.set_password()
    fresh, stale = oauth.code(client_id), oauth.code(client_id)
    oauth.clock.advance(29)
    assert oauth.exchange(client_id, fresh).status_code == 200
    oauth.clock.advance(2)
    error(
        oauth.exchange(client_id, stale), 400, "invalid_grant", "The authorization code has expired"
    )


def test_refresh_token_expires(oauth: OAuth) -> None:
    client_id, auth = oauth.app_tokens()
    oauth.clock.advance(180 * 24 * 3600 + 1)
    error(
        oauth.refresh(client_id, auth["refresh_token"]),
        400,
        "invalid_grant",
        "The refresh token has expired",
    )


def test_wrong_client_secret_changes_nothing(oauth: OAuth) -> None:
    client_id, auth = oauth.app_tokens()
    oauth.set_password()
    code = oauth.code(client_id)
    for grant in (
        {"grant_type": "authorization_code", "code": code},
        {"grant_type": "refresh_token", "refresh_token": auth["refresh_token"]},
    ):
        wrong = {
            **grant,
            "client_id": client_id,
            "client_secret": oauth.secrets[client_id].swapcase(),
        }
        error(oauth.token(wrong), 401, "invalid_client", "Invalid client credentials")
        unknown = {**grant, "client_id": "local.00000000000000.00000000", "client_secret": "x"}
        error(oauth.token(unknown), 401, "invalid_client", "Invalid client credentials")
    # Both grants still work once.
    assert oauth.exchange(client_id, code).status_code == 200
    assert oauth.refresh(client_id, auth["refresh_token"]).status_code == 200


def test_grant_of_another_app_is_refused_and_kept(oauth: OAuth) -> None:
    mine, auth = oauth.app_tokens()
    other = oauth.create_app()
    oauth.install(other)
    stolen = {
        "grant_type": "refresh_token",
        "client_id": other,
        "client_secret": oauth.secrets[other],
        "refresh_token": auth["refresh_token"],
    }
    error(oauth.token(stolen), 400, "invalid_grant")
    assert oauth.refresh(mine, auth["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    ("params", "status", "code", "description"),
    [
        ({}, 400, "invalid_request", "Parameter grant_type is required"),
        ({"grant_type": "password"}, 400, "invalid_request", "Unsupported grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "r"}, 401, "invalid_client", None),
        (
            {"grant_type": "refresh_token", "client_id": "c", "client_secret": "s"},
            400,
            "invalid_request",
            "Parameter refresh_token is required",
        ),
        (
            {"grant_type": "authorization_code", "client_id": "c", "client_secret": "s"},
            400,
            "invalid_request",
            "Parameter code is required",
        ),
        (
            {
                "grant_type": "refresh_token",
                "client_id": "c",
                "client_secret": "s",
                "refresh_token": "r" * 513,
            },
            400,
            "invalid_request",
            "Parameter refresh_token is too long",
        ),
    ],
)
def test_malformed_token_requests(oauth: OAuth, params, status, code, description) -> None:
    for post in (False, True):
        error(oauth.token(params, post=post), status, code, description)


def test_oversized_and_garbled_token_requests(oauth: OAuth) -> None:
    client_id, auth = oauth.app_tokens()
    client = oauth.env.client
    huge = "x" * 5000
    error(
        client.get(f"/oauth/token/?grant_type=refresh_token&pad={huge}"),
        413,
        "invalid_request",
        "Request is too large",
    )
    error(
        client.post(
            "/oauth/token/",
            content=b"grant_type=refresh_token&pad=" + b"x" * 9000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        413,
        "invalid_request",
    )
    many = "&".join(f"k{i}=v" for i in range(100))
    error(client.get(f"/oauth/token/?{many}"), 400, "invalid_request", "Too many parameters")
    error(
        client.post(
            "/oauth/token/", content=b"{nope", headers={"content-type": "application/json"}
        ),
        400,
        "invalid_request",
        "Malformed JSON body",
    )
    error(client.post("/oauth/token/", json=["grant_type"]), 400, "invalid_request")
    error(
        client.post("/oauth/token/", json={"grant_type": ["refresh_token"]}),
        400,
        "invalid_request",
        "Parameter grant_type must be a string",
    )
    error(
        client.post(
            "/oauth/token/",
            content=b"\xff\xfe\x00grant_type=\xff",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        400,
        "invalid_request",
    )
    # PHP-style arrays are not parameters of the token endpoint.
    error(
        client.get("/oauth/token/", params={"grant_type[]": "refresh_token"}),
        400,
        "invalid_request",
    )
    assert client.put("/oauth/token/").status_code == 405
    # None of it touched the pair.
    assert oauth.refresh(client_id, auth["refresh_token"]).status_code == 200


def test_uninstalled_app_gets_no_tokens(oauth: OAuth) -> None:
    client_id, auth = oauth.app_tokens()
    oauth.set_password()
    code = oauth.code(client_id)
    oauth.env.run(oauth.apps.uninstall, oauth.env.portal, client_id)
    # Uninstalling drops the pending codes; the tokens stay, refused.
    error(oauth.exchange(client_id, code), 400, "invalid_grant")
    error(
        oauth.refresh(client_id, auth["refresh_token"]),
        401,
        "invalid_client",
        "The application is not installed on the portal",
    )


def test_reinstall_revokes_earlier_tokens(oauth: OAuth) -> None:
    client_id, first = oauth.app_tokens()
    second = oauth.install(client_id)
    error(oauth.call("profile", first["access_token"]), 401, "invalid_token")
    error(oauth.refresh(client_id, first["refresh_token"]), 400, "invalid_grant")
    assert oauth.ok("profile", second["access_token"])["ID"] == "1"


def test_install_event_fields(oauth: OAuth) -> None:
    client_id = oauth.create_app(scopes=["telephony"])
    installed = oauth.env.run(
        oauth.apps.install, oauth.env.portal, client_id, 1, "http://testserver"
    )
    assert list(installed.auth) == [
        "access_token",
        "expires",
        "expires_in",
        "scope",
        "domain",
        "server_endpoint",
        "status",
        "client_endpoint",
        "member_id",
        "user_id",
        "refresh_token",
        "application_token",
    ]
    assert installed.auth["domain"] == PORTAL_HOST
    form = dict(installed.form)
    assert form["event"] == "ONAPPINSTALL"
    assert (form["data[VERSION]"], form["data[ACTIVE]"], form["data[INSTALLED]"]) == ("1", "Y", "Y")
    assert form["auth[access_token]"] == installed.auth["access_token"]
    assert installed.event is None  # no handler URL, no event


def test_tokens_are_stored_only_as_hashes(oauth: OAuth) -> None:
    client_id, auth = oauth.app_tokens()
    store = oauth.env.app.store
    rows = oauth.env.run(
        store.driver.fetch_all, "SELECT access_hash, refresh_hash FROM oauth_tokens"
    )
    flat = {value for row in rows for value in row}
    assert auth["access_token"] not in flat and auth["refresh_token"] not in flat
    secrets = oauth.env.run(store.driver.fetch_all, "SELECT secret_hash FROM apps")
    assert oauth.secrets[client_id] not in {row[0] for row in secrets}
    sealed = oauth.env.run(store.driver.fetch_all, "SELECT application_token FROM app_installs")
    assert auth["application_token"] not in {row[0] for row in sealed}


# -- the sign-in page -------------------------------------------------------------------


def test_sign_in_wrong_password_unknown_login_and_no_password_look_alike(oauth: OAuth) -> None:
    client_id, _ = oauth.app_tokens()
    oauth.set_password()
    oauth.env.user("nopass", name="No", line_modify=True)
    answers = [
        oauth.sign_in(client_id, password="wrong password"),
        oauth.sign_in(client_id, login="ghost"),
        oauth.sign_in(client_id, login="nopass"),
    ]
    for answer in answers:
        assert answer.status_code == 401
        assert "Wrong login or password." in answer.text
        assert "location" not in answer.headers


def test_sign_in_locks_a_login_after_five_failures(oauth: OAuth) -> None:
    client_id, _ = oauth.app_tokens()
    oauth.set_password()
    for _ in range(5):
        assert oauth.sign_in(client_id, password="nope nope").status_code == 401
    locked = oauth.sign_in(client_id)  # even the right password
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    oauth.clock.advance(301)
    assert oauth.sign_in(client_id).status_code == 302


def test_sign_in_refuses_forged_form(oauth: OAuth) -> None:
    client_id, _ = oauth.app_tokens()
    oauth.set_password()
    oauth.env.client.cookies.clear()
    response = oauth.env.client.post(
        "/oauth/authorize/",
        data={
            "client_id": client_id,
            "state": "s",
            "csrf": "forged",
            "login": "admin",
            "password": PASSWORD,
        },
        headers={"host": PORTAL_HOST},
        follow_redirects=False,
    )
    assert response.status_code == 400 and "no longer valid" in response.text


def test_restricted_and_inactive_users_cannot_sign_in(oauth: OAuth) -> None:
    client_id, _ = oauth.app_tokens()
    oauth.env.user("bob", name="Bob", line_modify=True)
    oauth.set_password("bob")
    oauth.env.run(oauth.apps.restrict, oauth.env.portal, client_id, [1])
    denied = oauth.sign_in(client_id, login="bob")
    assert denied.status_code == 403 and "not been given access" in denied.text


@pytest.mark.parametrize(
    ("query", "status", "text"),
    [
        ({"client_id": "local.00000000000000.00000000"}, 400, "Unknown application"),
        ({"client_id": ""}, 400, "Unknown application"),
        ({"redirect_uri": "https://evil.example/"}, 400, "Redirect URI mismatch"),
    ],
)
def test_authorize_page_failures_are_shown_not_redirected(
    oauth: OAuth, query, status, text
) -> None:
    client_id, _ = oauth.app_tokens()
    response = oauth.env.client.get(
        "/oauth/authorize/",
        params={"client_id": client_id, "state": "s", **query},
        headers={"host": PORTAL_HOST},
        follow_redirects=False,
    )
    assert response.status_code == status and text in response.text


def test_authorize_page_of_app_not_installed_here(oauth: OAuth) -> None:
    client_id = oauth.create_app()
    response = oauth.authorize_page(client_id)
    assert response.status_code == 400 and "not installed" in response.text


def test_authorize_page_escapes_what_it_shows(oauth: OAuth) -> None:
    client_id, _ = oauth.app_tokens(title="<script>alert(1)</script>")
    page = oauth.authorize_page(client_id, state='"><script>x</script>')
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
