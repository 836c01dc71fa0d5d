"""The registration history is bounded per line by `history_limit` (on every backend)."""

from __future__ import annotations

from trunkline.domain.history import HistoryEntry, SipRecord
from trunkline.engine.history import HistoryRecorder
from trunkline.settings import Settings


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
