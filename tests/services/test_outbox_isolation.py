"""An app never receives another app's events, nor another portal's: each binding
belongs to one install, and each delivery carries that install's application token."""

from __future__ import annotations

import time

from tests.auth.conftest import OAuth
from trunkline.testing.handler import EventReceiver


def test_events_stay_with_their_app_and_portal(oauth: OAuth) -> None:
    env = oauth.env
    other = env.run(env.accounts.create_portal, "other.bitrix24.com", title="Other")
    env.run(env.accounts.create_user, other, "admin", is_admin=True, user_id=1)
    assert env.app.services is not None and env.app.store is not None
    events = env.app.services.events
    with EventReceiver() as one, EventReceiver() as two, EventReceiver() as far:
        tokens = {}
        installs = {}
        for name, receiver, portal in (("one", one, env.portal), ("two", two, env.portal)):
            client_id = oauth.create_app()
            tokens[name] = oauth.install(client_id, 1, portal=portal)
            installs[name] = env.run(oauth.apps.installation, portal, client_id).id
            payload = {"event": "OnAppTest", "handler": receiver.url}
            assert oauth.ok("event.bind", tokens[name]["access_token"], payload)
        client_id = oauth.create_app()
        tokens["far"] = oauth.install(client_id, 1, portal=other)
        far_token = tokens["far"]["access_token"]
        payload = {"event": "OnAppTest", "handler": far.url}
        assert oauth.ok("event.bind", far_token, payload, host="other.bitrix24.com")
        # To one app only, then to every app of the first portal.
        env.run(events.fire, env.portal.id, "OnAppTest", {"TO": "one"}, install_id=installs["one"])
        env.run(events.fire, env.portal.id, "OnAppTest", {"TO": "all"})
        one.wait(2)
        two.wait(1)
        time.sleep(0.3)  # give a wrong delivery time to show up
    assert sorted(dict(f)["data[TO]"] for f in one.forms) == ["all", "one"]
    assert [dict(f)["data[TO]"] for f in two.forms] == ["all"]
    assert far.forms == []
    for receiver, name in ((one, "one"), (two, "two")):
        for form in receiver.forms:
            body = dict(form)
            assert body["auth[application_token]"] == tokens[name]["application_token"]
            assert body["auth[domain]"] == "test.bitrix24.com"
