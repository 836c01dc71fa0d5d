"""One clock: moving the application's clock moves every time the server reads.

Webhook expiry, token expiry, ``server.time``, the ``time`` block and the timestamps the
server stores all follow ``TrunklineApp.clock`` (the limit windows too: tests/limits).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from tests.auth.conftest import error

T = 2_000_000_000.0  # 2033-05-18T03:33:20+00:00


def test_moving_the_clock_past_a_webhooks_expiry_refuses_it(sqlite_env):
    env = sqlite_env
    hook = env.webhook(1, expires_at=time.time() + 60)
    assert env.call("voximplant.sip.get", hook=hook).status_code == 200
    env.app.clock.advance(61)
    error(
        env.call("voximplant.sip.get", hook=hook),
        401,
        "INVALID_CREDENTIALS",
        "Invalid request credentials",
    )
    env.app.clock.real()
    assert env.call("voximplant.sip.get", hook=hook).status_code == 200


def test_moving_the_clock_past_a_tokens_expiry_refuses_it(sqlite_env):
    env = sqlite_env
    apps = env.app.services.apps
    created = env.run(apps.create_app, title="clock")
    installed = env.run(apps.install, env.portal, created.app.client_id, 1, "http://testserver")
    token = installed.auth["access_token"]
    call = {"auth": token}
    assert env.client.post("/rest/profile", json=call).status_code == 200
    env.app.clock.advance(3600)
    error(
        env.client.post("/rest/profile", json=call),
        401,
        "expired_token",
        "The access token provided has expired",
    )


def test_server_time_and_the_time_block_follow_the_clock(sqlite_env):
    env = sqlite_env
    env.app.clock.use(lambda: T)
    body = env.ok("server.time")
    assert body["result"] == datetime.fromtimestamp(T, UTC).isoformat()
    assert body["time"]["start"] == int(T) and body["time"]["finish"] == T
    assert body["time"]["date_start"] == body["result"]


def test_stored_timestamps_follow_the_clock(sqlite_env):
    env = sqlite_env
    env.app.clock.use(lambda: T)
    line = env.add_line(TYPE="cloud", SERVER="sip.example.com", LOGIN="u")
    status = env.ok("voximplant.sip.status", {"REG_ID": line["REG_ID"]})["result"]
    assert status["LAST_UPDATED"] == "2033-05-18 03:33:20"
    rows = env.run(env.app.store.driver.fetch_all, "SELECT created_at FROM lines")
    assert [float(r[0]) for r in rows] == [T]
    created = env.run(env.app.services.accounts.create_user, env.portal, "later")
    row = env.run(
        env.app.store.driver.fetch_one,
        "SELECT created_at FROM users WHERE portal_id = ? AND user_id = ?",
        (env.portal.id, created.user_id),
    )
    assert float(row[0]) == T
