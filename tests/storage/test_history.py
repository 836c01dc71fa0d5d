"""The registration history is bounded per line by `history_limit` (on every backend)."""

from __future__ import annotations

from trunkline.domain.history import HistoryEntry, SipRecord
from trunkline.engine.history import HistoryRecorder
from trunkline.settings import Settings
from trunkline.storage.url import DatabaseUrl


def entry(portal_id: int, config_id: int, n: int) -> HistoryEntry:
    message = SipRecord(
        float(n), True, "UDP", "127.0.0.1:5062", "127.0.0.1:5060", f"REGISTER sip:n{n} SIP/2.0"
    )
    state = ("error", "success")[n % 2]
    return HistoryEntry(
        portal_id, config_id, "cloud", float(n), "x", state, None, 200, "", (message,)
    )


def test_ten_thousand_changes_keep_only_the_settings_count(env):
    keep = Settings(history_limit=25).history_limit
    store = env.app.store
    recorder = HistoryRecorder(store.history, keep=keep, wall=lambda: 0.0, clock=lambda: 0.0)
    portal_id = env.portal.id

    async def record() -> None:
        for batch in range(10):
            recorder.pending.extend(entry(portal_id, 7, batch * 1000 + n) for n in range(1000))
            recorder.pending.append(entry(portal_id, 8, batch))  # another line, kept apart
            await recorder.flush()

    env.run(record)
    assert env.run(store.history.count, portal_id, 7) == keep
    newest = env.run(store.history.entries, portal_id, 7, limit=100)
    assert len(newest) == keep
    assert [e.at for e in newest] == [float(9999 - n) for n in range(keep)]  # the newest
    assert newest[0].messages[0].start_line == "REGISTER sip:n9999 SIP/2.0"
    assert env.run(store.history.count, portal_id, 8) == 10


def test_history_pages_newest_first(env):
    store = env.app.store
    portal_id = env.portal.id
    env.run(store.history.append, [entry(portal_id, 3, n) for n in range(30)], 100)
    page = env.run(store.history.entries, portal_id, 3, limit=10, offset=10)
    assert [e.at for e in page] == [float(n) for n in range(19, 9, -1)]
    assert page[0].entry_id is not None and page[0].kind == "cloud"


def test_a_lapsed_office_binding_is_a_change_in_the_history(env):
    import time

    from trunkline.domain.lines import OfficeBinding
    from trunkline.engine.runtime import Engine

    line = env.add_line(TYPE="office", TITLE="pbx")
    config_id = int(line["CONFIG_ID"])
    store = env.app.store
    now = time.time()

    def binding(contact: str, expires_at: float) -> OfficeBinding:
        return OfficeBinding(contact, "127.0.0.1", 5080, "UDP", "c", 1, "ua", expires_at, now)

    apply = store.registrations.apply_bindings
    env.run(apply, env.portal.id, config_id, [binding("sip:a@x", now - 5)], [])
    other = env.add_line(TYPE="office", TITLE="pbx 2")  # one expired, one live: no change
    live = [binding("sip:b@x", now - 5), binding("sip:c@x", now + 600)]
    env.run(apply, env.portal.id, int(other["CONFIG_ID"]), live, [])
    engine = Engine(store, env.app.settings.replace(sip_port=0), secret=b"e" * 32)
    env.run(engine.registrar.sweep)
    env.run(engine.history.flush)
    (entry,) = env.run(store.history.entries, env.portal.id, config_id)
    assert (entry.kind, entry.from_state, entry.to_state) == (
        "office",
        "registered",
        "unregistered",
    )
    assert entry.reason == "binding expired" and entry.at == now - 5 and entry.messages == ()
    assert env.run(store.history.count, env.portal.id, int(other["CONFIG_ID"])) == 0
    assert env.run(store.registrations.bindings, env.portal.id, config_id) == []


def test_a_phone_history_is_kept_apart_from_the_line_with_the_same_number(
    sqlite_env, capsys, monkeypatch
):
    import dataclasses
    import json

    from trunkline.cli import main

    env = sqlite_env
    monkeypatch.setenv("TRUNKLINE_SECRET_KEY", env.app.settings.secret_key)
    env.add_line(TYPE="office", TITLE="pbx")  # CONFIG_ID 1, as user 1's id
    phone = dataclasses.replace(entry(env.portal.id, 1, 5), kind="phone", to_state="registered")
    store = env.app.store
    env.run(store.history.append, [entry(env.portal.id, 1, 1), phone], 1)
    assert env.run(store.history.count, env.portal.id, 1) == 1
    assert env.run(store.history.count, env.portal.id, 1, phone=True) == 1
    url = env.app.settings.database_url
    assert main(["line", "history", "1", "--phone", "--json", "--database-url", url]) == 0
    read = json.loads(capsys.readouterr().out)
    assert read["user_id"] == 1 and [e["kind"] for e in read["entries"]] == ["phone"]
    assert main(["line", "history", "1", "--database-url", url]) == 0
    assert "line 1 of test.bitrix24.com: 1 changes kept" in capsys.readouterr().out
    assert main(["line", "history", "7", "--phone", "--database-url", url]) == 2
    assert "has no user 7" in capsys.readouterr().err


def test_history_messages_stored_compressed_and_plain_rows_still_read(env):
    store = env.app.store
    portal_id = env.portal.id
    headers = tuple((f"X-Header-{n}", "value " * 10) for n in range(40))
    record = SipRecord(1.0, False, "UDP", "127.0.0.1:5060", "127.0.0.1:5062", "OPTIONS x", headers)
    first = HistoryEntry(portal_id, 5, "office", 1.0, "a", "b", None, 200, "", (record,))
    env.run(store.history.append, [first], 10)
    stored = env.run(store.driver.fetch_one, "SELECT messages FROM registration_history")
    assert str(stored[0]).startswith("z:") and len(str(stored[0])) < 600  # from ~3.3 KB
    assert env.run(store.history.entries, portal_id, 5)[0].messages == (record,)
    plain = '[{"at": 2.0, "direction": "sent", "transport": "UDP", "local": "a:1",'
    plain += ' "remote": "b:2", "start_line": "SIP/2.0 200 OK", "headers": [["To", "<sip:x>"]]}]'
    env.run(
        store.driver.execute,
        "UPDATE registration_history SET messages = ?",
        (plain,),
    )
    (read,) = env.run(store.history.entries, portal_id, 5)
    assert read.messages[0].start_line == "SIP/2.0 200 OK"
    assert read.messages[0].headers == (("To", "<sip:x>"),)


def test_history_rows_compressed_with_the_full_zlib_window_still_read(env):
    """Rows written before the small-window compressor (``zlib.compress``) read the same."""
    import base64
    import zlib

    store = env.app.store
    portal_id = env.portal.id
    record = SipRecord(1.0, False, "UDP", "a:1", "b:2", "OPTIONS x", (("X-A", "b " * 1200),))
    env.run(
        store.history.append,
        [HistoryEntry(portal_id, 6, "office", 1.0, "a", "b", None, 200, "", (record,))],
        10,
    )
    (row,) = env.run(store.driver.fetch_all, "SELECT messages FROM registration_history")
    text = zlib.decompress(base64.b64decode(str(row[0])[2:]))
    old = "z:" + base64.b64encode(zlib.compress(text, 9)).decode("ascii")
    assert old != row[0]
    env.run(store.driver.execute, "UPDATE registration_history SET messages = ?", (old,))
    assert env.run(store.history.entries, portal_id, 6)[0].messages == (record,)


def stored_text(env, config_id: int, kind: str, messages: tuple[SipRecord, ...]) -> str:
    """Append one entry of `messages` for `config_id`; the text its row stores."""
    entry = HistoryEntry(env.portal.id, config_id, kind, 1.0, "a", "b", None, 200, "", messages)
    env.run(env.app.store.history.append, [entry], 10)
    row = env.run(
        env.app.store.driver.fetch_one,
        "SELECT messages FROM registration_history WHERE config_id = ?",
        (config_id,),
    )
    return str(row[0])


def test_history_stored_text_is_the_json_of_to_json(env):
    """The stored transaction (orjson, headers written from their tuples) decodes to
    exactly ``SipRecord.to_json`` of each message, non-ASCII text and odd floats included,
    compressed or not."""
    import base64
    import json
    import zlib

    store = env.app.store
    portal_id = env.portal.id
    headers = (
        ("From", '"Жанна Ōta \\"q\\"" <sip:phone1@example.com>;tag=1'),
        ("To", "<sip:phone1@example.com>"),
        ("Authorization", 'Digest username="phone1", response="***"'),
        ("X-Tab", "a\tb"),
    )
    records = (
        SipRecord(
            1733346000.123456, False, "UDP", "[::1]:5060", "10.0.0.1:5062", "REGISTER x", headers
        ),
        SipRecord(1e16, True, "TLS", "a:1", "b:2", "SIP/2.0 200 OK", headers[:1]),
        SipRecord(0.1, True, "TCP", "a:1", "b:2", "SIP/2.0 401 Unauthorized"),  # short: plain
    )
    for config_id, messages in ((11, records[:2]), (12, records[2:])):
        stored = stored_text(env, config_id, "office", messages)
        if stored.startswith("z:"):
            stored = zlib.decompress(base64.b64decode(stored[2:])).decode()
        assert json.loads(stored) == [m.to_json() for m in messages]
        assert env.run(store.history.entries, portal_id, config_id)[0].messages == messages
    plain = env.run(
        store.driver.fetch_one, "SELECT messages FROM registration_history WHERE config_id = 12"
    )
    assert not str(plain[0]).startswith("z:")  # a short transaction is kept as it is


def test_history_compresses_only_transactions_of_2_kib_or_more(env):
    """A phone's REGISTER and its 200 (~1.3 KB of JSON) are stored as they are; a longer
    transaction (a cloud line's attempt with its challenge) is compressed."""
    store = env.app.store
    portal_id = env.portal.id
    register = tuple((f"X-Register-{n}", "v" * 90) for n in range(12))  # ~1.3 KB of JSON
    short = (SipRecord(1.0, False, "UDP", "a:1", "b:2", "REGISTER sip:x SIP/2.0", register),)
    long = short * 2  # ~2.6 KB
    for config_id, messages in ((21, short), (22, long)):
        stored = stored_text(env, config_id, "phone", messages)
        compressed = stored.startswith("z:")
        assert compressed is (config_id == 22), (config_id, len(stored))
        read = env.run(store.history.entries, portal_id, config_id, phone=True)
        assert read[0].messages == messages


def test_ops_webhooks_kept_on_sqlite_until_a_write_or_another_connection_commits(env):
    """`ops_webhooks` answers as the table does after every change: set or cleared by this
    process, or by another connection; on SQLite from memory while nothing changed."""
    import sqlite3

    history = env.app.store.history
    driver = history.driver
    portal_id = env.portal.id
    reads: list[str] = []
    fetch_all = driver.fetch_all

    async def counted(sql, params=()):
        if "portal_options" in sql:
            reads.append(sql)
        return await fetch_all(sql, params)

    driver.fetch_all = counted
    try:
        assert env.run(history.ops_webhooks, [portal_id]) == {}
        env.run(history.set_ops_webhook, portal_id, "http://ops.example/a")
        assert env.run(history.ops_webhooks, [portal_id]) == {portal_id: "http://ops.example/a"}
        reads.clear()
        for _ in range(3):
            assert env.run(history.ops_webhooks, [portal_id, portal_id]) == {
                portal_id: "http://ops.example/a"
            }
        sqlite = driver.change_mark() is not None
        assert len(reads) == (0 if sqlite else 3)
        if sqlite:  # another process changes it
            path = DatabaseUrl(env.app.settings.database_url).sqlite_path
            with sqlite3.connect(path) as other:
                other.execute("UPDATE portal_options SET value = 'http://ops.example/b'")
            other.close()
            assert env.run(history.ops_webhooks, [portal_id]) == {portal_id: "http://ops.example/b"}
        env.run(history.set_ops_webhook, portal_id, None)
        assert env.run(history.ops_webhooks, [portal_id]) == {}
        assert env.run(history.ops_webhooks, [portal_id + 1]) == {}
    finally:
        driver.fetch_all = fetch_all


def test_an_unbound_line_state_event_makes_no_data(env, monkeypatch):
    """With no application bound to ONTRUNKLINELINESTATE and no ops webhook, the event's
    data is never made; the journal still has its "no binding" line."""
    from trunkline.engine import history as engine_history
    from trunkline.services.events import EventService

    store = env.app.store
    made: list[HistoryEntry] = []
    real = engine_history.event_data

    def counted(e: HistoryEntry) -> dict[str, object]:
        made.append(e)
        return real(e)

    monkeypatch.setattr(engine_history, "event_data", counted)
    events = EventService(store.events, store.clock)
    recorder = HistoryRecorder(
        store.history, keep=10, wall=lambda: 0.0, clock=lambda: 0.0, events=events
    )
    recorder.pending.append(entry(env.portal.id, 5, 1))
    env.run(recorder.flush)
    assert made == []
    rows = env.run(
        store.history.driver.fetch_all,
        "SELECT event, outcome, reason FROM event_journal WHERE portal_id = ?",
        (env.portal.id,),
    )
    assert [tuple(r) for r in rows] == [("ONTRUNKLINELINESTATE", "refused", "no binding")]
    assert env.run(store.history.count, env.portal.id, 5) == 1
