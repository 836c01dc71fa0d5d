"""The events outbox behind CallEvents: call events written with their cause, posted by
the server's deliverer to a real loopback handler exactly as Bitrix24 posts them, the
journal's reasons, and claims that never overlap."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.auth.conftest import OAuth
from tests.conftest import Env, other_node
from tests.services.conftest import calls_of, new_call
from trunkline.domain.calls import EVENT_CALL_INIT
from trunkline.domain.events import JournalEntry, JournalQuery
from trunkline.storage.events import EventRepository
from trunkline.testing.handler import EventReceiver

AUTH_KEYS = [
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


def repo(env: Env) -> EventRepository:
    assert env.app.store is not None
    return env.app.store.events


def journal(env: Env, event: str | None = None) -> list[JournalEntry]:
    assert env.app.services is not None
    query = JournalQuery(portal_id=env.portal.id, event=event, after=0)
    found: list[JournalEntry] = env.run(env.app.services.events.journal, query)
    return found


def wait_journal(env: Env, count: int, event: str | None = None) -> list[JournalEntry]:
    deadline = time.monotonic() + 10
    while len(found := journal(env, event)) < count:
        assert time.monotonic() < deadline, found
        time.sleep(0.02)
    return found


def installed_app(oauth: OAuth, **kwargs: Any) -> tuple[str, dict[str, Any], int]:
    """(client id, the install's auth block, install id)."""
    client_id, auth = oauth.app_tokens(**kwargs)
    installation = oauth.env.run(oauth.apps.installation, oauth.env.portal, client_id)
    return client_id, auth, installation.id


def bind(env: Env, install_id: int, url: str, event: str = EVENT_CALL_INIT, **kw: Any) -> int:
    binding: int = env.run(
        repo(env).bind, env.portal.id, install_id, event, url, now=time.time(), **kw
    )
    return binding


def register(env: Env, user_id: int = 1) -> str:
    call = new_call(env, user_id=user_id)
    env.run(calls_of(env).register, env.portal, call)
    return call.call_id


def test_call_event_reaches_the_handler_as_bitrix24_posts_it(oauth: OAuth) -> None:
    env = oauth.env
    _, auth, install_id = installed_app(oauth)
    with EventReceiver() as receiver:
        binding = bind(env, install_id, receiver.url)
        call_id = register(env)
        [form] = receiver.wait(1)
    names = [name for name, _ in form]
    assert names[:2] == ["event", "event_handler_id"]
    data_names = names[2 : names.index("ts")]
    assert data_names == [
        "data[CALL_ID]",
        "data[CALL_TYPE]",
        "data[CALLER_ID]",
        "data[REST_APP_ID]",
    ]
    assert names[names.index("ts") + 1 :] == [f"auth[{key}]" for key in AUTH_KEYS]
    body = dict(form)
    assert body["event"] == "ONVOXIMPLANTCALLINIT"
    assert body["event_handler_id"] == str(binding)
    assert body["data[CALL_ID]"] == call_id
    assert abs(int(body["ts"]) - oauth.clock.now) <= 1
    # The app's own application token, the portal's domain, the causing user's token.
    assert body["auth[application_token]"] == auth["application_token"]
    assert body["auth[domain]"] == "test.bitrix24.com"
    assert body["auth[member_id]"] == env.portal.member_id
    assert (body["auth[user_id]"], body["auth[scope]"]) == ("1", "telephony")
    assert oauth.ok("profile", body["auth[access_token]"])["ID"] == "1"
    [entry] = wait_journal(env, 1, "ONVOXIMPLANTCALLINIT")
    assert (entry.outcome, entry.status, entry.binding_id) == ("delivered", 200, binding)


def test_auth_type_sends_the_named_users_token(oauth: OAuth) -> None:
    env = oauth.env
    bob = env.user("bob")
    _, _, install_id = installed_app(oauth)
    with EventReceiver() as receiver:
        bind(env, install_id, receiver.url, auth_type=bob)
        register(env, user_id=1)
        [form] = receiver.wait(1)
    body = dict(form)
    assert body["auth[user_id]"] == str(bob)
    assert oauth.ok("profile", body["auth[access_token]"])["ID"] == str(bob)


def test_an_event_with_no_user_carries_no_token(oauth: OAuth) -> None:
    env = oauth.env
    _, auth, install_id = installed_app(oauth)
    assert env.app.services is not None
    with EventReceiver() as receiver:
        bind(env, install_id, receiver.url, event="ONAPPTEST")
        env.run(env.app.services.events.fire, env.portal.id, "onAppTest", {"A": {"B": [1, 2]}})
        [form] = receiver.wait(1)
    assert form[:4] == [
        ("event", "ONAPPTEST"),
        (form[1][0], form[1][1]),
        ("data[A][B][0]", "1"),
        ("data[A][B][1]", "2"),
    ]
    auth_keys = [name[5:-1] for name, _ in form if name.startswith("auth[")]
    assert auth_keys == [
        "domain",
        "client_endpoint",
        "server_endpoint",
        "member_id",
        "application_token",
    ]
    assert dict(form)["auth[application_token]"] == auth["application_token"]


def test_an_event_is_rolled_back_with_its_cause(oauth: OAuth) -> None:
    env = oauth.env
    _, _, install_id = installed_app(oauth)
    bind(env, install_id, "http://127.0.0.1:9/never")
    assert env.app.services is not None
    events = env.app.services.events

    async def failing() -> None:
        async with repo(env).transaction() as conn:
            await events.raise_event(conn, env.portal.id, EVENT_CALL_INIT, {"CALL_ID": "x"})
            raise RuntimeError("the cause fails")

    with pytest.raises(RuntimeError):
        env.run(failing)
    assert env.run(repo(env).pending) == []
    assert journal(env) == []


def test_nobody_bound_is_journaled(env: Env) -> None:
    register(env)
    [entry] = journal(env, "ONVOXIMPLANTCALLINIT")
    assert (entry.outcome, entry.reason) == ("refused", "no binding")


def test_bindings_are_decided_again_after_every_bind_and_unbind(oauth: OAuth) -> None:
    """Bindings are kept per portal and event (storage/events.py) under the change mark: a
    bind or unbind here, or a bind by another node on the same database, counts at once."""
    env = oauth.env
    _, _, install_id = installed_app(oauth)
    register(env)
    assert [e.reason for e in journal(env, "ONVOXIMPLANTCALLINIT")] == ["no binding"]
    with EventReceiver() as receiver:
        binding = bind(env, install_id, receiver.url)
        register(env)
        receiver.wait(1)
        env.run(repo(env).unbind, binding)
        register(env)
        assert [e.reason for e in journal(env, "ONVOXIMPLANTCALLINIT")].count("no binding") == 2
        with other_node(env) as other:
            bind(other, install_id, receiver.url)
        register(env)
        assert len(receiver.wait(2)) == 2
    assert [e.reason for e in journal(env, "ONVOXIMPLANTCALLINIT")].count("no binding") == 2


def test_an_uninstalled_app_gets_nothing(oauth: OAuth) -> None:
    env = oauth.env
    client_id, _, install_id = installed_app(oauth)
    with EventReceiver() as receiver:
        bind(env, install_id, receiver.url)
        env.run(oauth.apps.uninstall, env.portal, client_id)
        register(env)
        [entry] = wait_journal(env, 1, "ONVOXIMPLANTCALLINIT")
    assert receiver.forms == []
    assert (entry.outcome, entry.reason, entry.app_id) == (
        "refused",
        "app not installed",
        client_id,
    )


def test_a_handler_unbound_before_delivery_gets_nothing(oauth: OAuth) -> None:
    env = oauth.env
    _, _, install_id = installed_app(oauth)
    deliverer = env.app.deliverer
    assert deliverer is not None
    with EventReceiver() as receiver:
        binding = bind(env, install_id, receiver.url)
        env.run(deliverer.stop)
        register(env)
        env.run(repo(env).unbind, binding)
        env.run(_start, deliverer)
        [entry] = wait_journal(env, 1, "ONVOXIMPLANTCALLINIT")
    assert receiver.forms == []
    assert (entry.outcome, entry.reason) == ("refused", "handler unbound")


async def _start(deliverer: Any) -> None:
    deliverer.start()


def test_claims_never_overlap_and_lapse_when_the_claimer_dies(oauth: OAuth) -> None:
    env = oauth.env
    _, _, install_id = installed_app(oauth)
    deliverer = env.app.deliverer
    assert deliverer is not None
    env.run(deliverer.stop)  # nobody else claims while the test does
    bind(env, install_id, "http://127.0.0.1:9/never")
    for _ in range(3):
        register(env)
    events = repo(env)
    now = time.time()
    first = env.run(events.claim, "a" * 32, now=now, lease=60, limit=2)
    second = env.run(events.claim, "b" * 32, now=now, lease=120, limit=10)
    assert len(first) == 2 and len(second) == 1
    assert {r.id for r in first}.isdisjoint({r.id for r in second})
    assert env.run(events.claim, "c" * 32, now=now + 30, lease=60, limit=10) == []
    # Claimer "a" died: once its lease lapses, its rows are claimed again.
    again = env.run(events.claim, "d" * 32, now=now + 61, lease=60, limit=10)
    assert {r.id for r in again} == {r.id for r in first}
    # A claim taken over is no longer "a"'s to finish.
    entry = JournalEntry(env.portal.id, EVENT_CALL_INIT, "delivered")
    assert env.run(events.finish, first[0].id, "a" * 32, entry) is False
    assert env.run(events.finish, first[0].id, "d" * 32, entry) is True


def _journal_at(env: Env, *times: float) -> None:
    from trunkline.storage.event_journal import write_refusal

    async def write() -> None:
        async with repo(env).driver.transaction() as conn:
            for at in times:
                await write_refusal(conn, env.portal.id, "ONVOXIMPLANTCALLINIT", "no binding", at)

    env.run(write)


def test_trimming_deletes_the_old_lines_oldest_first_and_stops_at_a_younger_one(env: Env) -> None:
    _journal_at(env, 1_000.0, 1_100.0, 1_200.0, 5_000.0, 1_300.0)
    assert env.run(repo(env).trim, 1_150.0) == 2
    assert [e.at for e in journal(env)] == [1_200.0, 5_000.0, 1_300.0]
    # 1_300 is old too, but the younger 5_000 before it (the clock went back) shields it
    assert env.run(repo(env).trim, 2_000.0, 2) == 1
    assert [e.at for e in journal(env)] == [5_000.0, 1_300.0]
    assert env.run(repo(env).trim, 1_000.0) == 0


def test_trimming_goes_through_a_backlog_in_chunks(env: Env) -> None:
    _journal_at(env, *(float(t) for t in range(1, 26)), 10_000.0)
    assert env.run(repo(env).trim, 100.0, 10) == 25
    assert [e.at for e in journal(env)] == [10_000.0]


def test_the_deliverer_trims_lines_older_than_the_setting_once_a_minute(env: Env) -> None:
    from trunkline.services import outbox

    deliverer = env.app.deliverer
    assert deliverer is not None
    now = deliverer.clock.now()
    days = deliverer.settings.event_journal_days
    assert days == 7  # the default
    _journal_at(env, now - days * 86_400 - 60, now - days * 86_400 + 3_600)
    deliverer._trimmed_at = float("-inf")
    assert env.run(deliverer.trim_journal) == 1
    assert len(journal(env)) == 1
    _journal_at(env, 0.0)  # behind the younger line: stays
    assert env.run(deliverer.trim_journal) == 0  # and within TRIM_SECONDS nothing runs
    deliverer._trimmed_at -= outbox.TRIM_SECONDS
    assert env.run(deliverer.trim_journal) == 0
    assert len(journal(env)) == 2


def test_a_journal_kept_for_zero_days_is_never_trimmed(env: Env) -> None:
    from dataclasses import replace

    deliverer = env.app.deliverer
    assert deliverer is not None
    saved = deliverer.settings
    deliverer.settings = replace(saved, event_journal_days=0)
    try:
        _journal_at(env, 0.0)
        deliverer._trimmed_at = float("-inf")
        assert env.run(deliverer.trim_journal) == 0
        assert len(journal(env)) == 1
    finally:
        deliverer.settings = saved


def test_a_refusal_line_reads_back_as_the_entry_it_writes(env: Env) -> None:
    """write_refusal's constants are in its SQL (storage/event_journal.py): the line is
    JournalEntry(portal, event, "refused", reason, at=at) with every other field's default."""
    _journal_at(env, 1_234.5)
    [line] = journal(env)
    expected = JournalEntry(
        env.portal.id, "ONVOXIMPLANTCALLINIT", "refused", "no binding", at=1_234.5, id=line.id
    )
    assert line == expected
