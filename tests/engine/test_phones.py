"""engine/phones.py: users' phones kept in memory by the registrar, their writes batched."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import POSTGRES_URL, _drop_schema, require_postgres
from trunkline.domain.lines import OfficeBinding
from trunkline.engine.phones import REFRESH_WINDOW, WRITE_WINDOW, PhoneBook
from trunkline.storage import migrate
from trunkline.storage.secrets import Cipher, new_key
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl

NOW = 1_800_000_000.0


def binding(contact: str = "sip:phone1@10.0.0.1:5060", **changes: object) -> OfficeBinding:
    fields: dict[str, object] = {
        "contact": contact,
        "received_host": "10.0.0.1",
        "received_port": 5060,
        "transport": "UDP",
        "call_id": "c1",
        "cseq": 1,
        "user_agent": "phone",
        "expires_at": NOW + 3600,
        "updated_at": NOW,
    }
    return OfficeBinding(**{**fields, **changes})  # type: ignore[arg-type]


def scenario(tmp_path: Path, body: Callable[[Store, int, PhoneBook], Awaitable[None]]) -> None:
    url = DatabaseUrl(f"sqlite:///{tmp_path / 'phones.sqlite3'}")
    migrate.upgrade(url)

    async def run() -> None:
        store = await Store.open(url, Cipher(new_key()))
        try:
            portal = await store.accounts.create_portal("phones.example")
            await store.accounts.create_user(portal.id, "user1", user_id=1)
            await store.telephony.set_phone(portal.id, 1, enabled=True, new_password="secret1")
            await body(store, portal.id, PhoneBook(store.telephony))
        finally:
            await store.close()

    asyncio.run(run())


def test_accounts_deactivated_phone_is_seen_at_the_next_lookup(tmp_path: Path) -> None:
    async def body(store: Store, portal_id: int, book: PhoneBook) -> None:
        assert await book.accounts(1) == ((portal_id, 1, "secret1"),)
        await store.telephony.set_phone(portal_id, 1, enabled=False, new_password="x")
        assert await book.accounts(1) == ()

    scenario(tmp_path, body)


def test_accounts_kept_while_only_bindings_are_written(tmp_path: Path) -> None:
    async def body(store: Store, portal_id: int, book: PhoneBook) -> None:
        await book.accounts(1)
        await store.telephony.write_bindings({(portal_id, 1): {binding().contact: binding()}})
        calls: list[int] = []
        original = store.telephony.phone_accounts

        async def counted(user_id: int) -> list[tuple[int, int, str | None]]:
            calls.append(user_id)
            return await original(user_id)

        store.telephony.phone_accounts = counted  # type: ignore[method-assign]
        booked = store.telephony.phone_book

        async def counted_book(user_id: int) -> list[object]:
            calls.append(user_id)
            return await booked(user_id)  # type: ignore[return-value]

        store.telephony.phone_book = counted_book  # type: ignore[method-assign,assignment]
        assert await book.accounts(1) == ((portal_id, 1, "secret1"),)
        assert calls == []

    scenario(tmp_path, body)


def test_write_new_binding_waits_for_its_batch_and_a_refresh_does_not(tmp_path: Path) -> None:
    async def body(store: Store, portal_id: int, book: PhoneBook) -> None:
        first = binding()
        written = book.write((portal_id, 1), (), [first], ())
        assert written is not None
        await written
        assert await store.telephony.bindings(portal_id, 1) == [first]
        refreshed = dataclasses.replace(first, call_id="c2", cseq=5, expires_at=NOW + 7200)
        assert book.write((portal_id, 1), (first,), [refreshed], ()) is None
        assert await book.bindings(portal_id, 1) == (refreshed,)
        await book.flush()
        assert await store.telephony.bindings(portal_id, 1) == [refreshed]
        moved = dataclasses.replace(refreshed, received_port=5070)
        assert book.write((portal_id, 1), (refreshed,), [moved], ()) is not None
        assert book.write((portal_id, 1), (moved,), [], (moved.contact,)) is not None
        await book.flush()
        assert await store.telephony.bindings(portal_id, 1) == []
        assert book.batches == 3

    scenario(tmp_path, body)


def test_refreshes_alone_wait_for_their_window_and_a_waiting_change_takes_them(
    tmp_path: Path,
) -> None:
    """`start` (the end of a UDP read) writes a batch a REGISTER waits for, not one of
    refreshes alone: those wait for `REFRESH_WINDOW`, unless a change that must be
    committed joins them (then `start`, or else `WRITE_WINDOW`, writes both)."""

    async def body(store: Store, portal_id: int, book: PhoneBook) -> None:
        await store.accounts.create_user(portal_id, "user2", user_id=2)
        await store.telephony.set_phone(portal_id, 2, enabled=True, new_password="secret2")
        first = binding()
        await book.write((portal_id, 1), (), [first], ())  # type: ignore[misc]
        refreshed = dataclasses.replace(first, call_id="c2", expires_at=NOW + 7200)
        assert book.write((portal_id, 1), (first,), [refreshed], ()) is None
        book.start()
        for _ in range(5):
            await asyncio.sleep(0)
        assert book.batches == 1
        assert await store.telephony.bindings(portal_id, 1) == [first]
        second = binding("sip:phone2@10.0.0.2:5060")
        written = book.write((portal_id, 2), (), [second], ())
        assert written is not None
        book.start()
        await written
        assert book.batches == 2
        assert await store.telephony.bindings(portal_id, 1) == [refreshed]
        assert await store.telephony.bindings(portal_id, 2) == [second]
        # No `start` (a TCP REGISTER): the waiting change brings the timer forward.
        again = dataclasses.replace(refreshed, cseq=9, expires_at=NOW + 9000)
        assert book.write((portal_id, 1), (refreshed,), [again], ()) is None
        gone = book.write((portal_id, 2), (second,), [], (second.contact,))
        assert gone is not None
        await asyncio.wait_for(gone, 10 * WRITE_WINDOW)
        assert await store.telephony.bindings(portal_id, 1) == [again]
        # Refreshes alone are written when their window ends.
        last = dataclasses.replace(again, cseq=10)
        assert book.write((portal_id, 1), (again,), [last], ()) is None
        await asyncio.sleep(REFRESH_WINDOW + 0.2)
        assert book.batches == 4
        assert await store.telephony.bindings(portal_id, 1) == [last]

    scenario(tmp_path, body)


def test_write_queued_for_a_phone_deactivated_meanwhile_stores_nothing(tmp_path: Path) -> None:
    async def body(store: Store, portal_id: int, book: PhoneBook) -> None:
        written = book.write((portal_id, 1), (), [binding()], ())
        await store.telephony.set_phone(portal_id, 1, enabled=False, new_password="x")
        assert written is not None
        await written
        assert await store.telephony.bindings(portal_id, 1) == []

    scenario(tmp_path, body)


def test_bindings_read_again_include_the_changes_not_yet_written(tmp_path: Path) -> None:
    async def body(store: Store, portal_id: int, book: PhoneBook) -> None:
        await book.accounts(1)
        book.write((portal_id, 1), (), [binding()], ())
        book.forget_bindings()
        assert await book.bindings(portal_id, 1) == (binding(),)
        assert await store.telephony.bindings(portal_id, 1) == []
        await book.flush()
        assert await store.telephony.bindings(portal_id, 1) == [binding()]

    scenario(tmp_path, body)


def test_phone_changed_through_another_node_is_seen_at_the_next_lookup_on_postgres() -> None:
    """Two stores on one PostgreSQL schema stand for two nodes: a phone's password, its
    deactivation and its bindings written through A are what B's PhoneBook gives next
    (the ``accounts`` and ``phones`` counters, storage/mark_schema.py)."""
    require_postgres()
    url = DatabaseUrl(f"{POSTGRES_URL}?schema=tl_phones_{secrets.token_hex(4)}")
    migrate.upgrade(url)

    async def lookup(book: PhoneBook, portal_id: int) -> tuple[object, object]:
        """What a REGISTER reads, in its own task: the accounts (which check the mark),
        then the bindings."""

        async def register() -> tuple[object, object]:
            return await book.accounts(1), await book.bindings(portal_id, 1)

        return await asyncio.ensure_future(register())

    async def run() -> None:
        key = Cipher(new_key())
        a, b = await Store.open(url, key), await Store.open(url, key)
        try:
            portal = await a.accounts.create_portal("phones.example")
            await a.accounts.create_user(portal.id, "user1", user_id=1)
            await a.telephony.set_phone(portal.id, 1, enabled=True, new_password="secret1")
            book = PhoneBook(b.telephony)
            p = portal.id
            assert await lookup(book, p) == (((p, 1, "secret1"),), ())
            await a.telephony.write_bindings({(p, 1): {binding().contact: binding()}})
            assert await lookup(book, p) == (((p, 1, "secret1"),), (binding(),))
            await a.telephony.set_phone(p, 1, enabled=False, new_password="x")
            assert await lookup(book, p) == ((), ())
            await a.telephony.set_phone(p, 1, enabled=True, new_password="x")
            assert await lookup(book, p) == (((p, 1, "secret1"),), ())
            await a.accounts.update_user(p, 1, {"active": False})
            assert (await lookup(book, p))[0] == ()
        finally:
            await a.close()
            await b.close()
            await _drop_schema(url)

    asyncio.run(run())


def test_cached_accounts_share_the_user_id_of_the_key(tmp_path: Path) -> None:
    async def body(store: Store, portal_id: int, book: PhoneBook) -> None:
        await store.accounts.create_user(portal_id, "user2", user_id=100_001)
        await store.telephony.set_phone(portal_id, 100_001, enabled=True, new_password="s2")
        key = int("100001")  # a new int object, as parsed from the login
        (account,) = await book.accounts(key)
        # One int a phone, the key's, not a second one from the row (10,000 phones: 0.3 MB).
        assert account == (portal_id, 100_001, "s2") and account[1] is key
        assert await book.accounts(100_001) == ((portal_id, 100_001, "s2"),)

    scenario(tmp_path, body)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_write_bindings_stores_only_for_an_enabled_phone_of_an_active_user(
    tmp_path: Path, backend: str
) -> None:
    """One statement does the enabled check and the UPSERT (storage/telephony.py): an insert
    and an update go through for an enabled phone of an active user, neither for a disabled
    phone or an inactive user, and a removal goes through in every case."""
    if backend == "postgres":
        require_postgres()
        url = DatabaseUrl(f"{POSTGRES_URL}?schema=tl_phonew_{secrets.token_hex(4)}")
    else:
        url = DatabaseUrl(f"sqlite:///{tmp_path / 'phones.sqlite3'}")
    migrate.upgrade(url)

    async def run() -> None:
        store = await Store.open(url, Cipher(new_key()))
        try:
            t = store.telephony
            p = (await store.accounts.create_portal("phones.example")).id
            for user_id in (1, 2, 3, 4):
                await store.accounts.create_user(p, f"user{user_id}", user_id=user_id)
                await t.set_phone(p, user_id, enabled=True, new_password=f"s{user_id}")
            one, two = binding(), binding("sip:phone1@10.0.0.2:5060")
            await t.write_bindings({(p, u): {one.contact: one} for u in (1, 2, 3, 4)})
            await t.set_phone(p, 2, enabled=False, new_password="x")  # drops its bindings
            await store.accounts.update_user(p, 3, {"active": False})
            newer = dataclasses.replace(one, call_id="c2", cseq=2, expires_at=NOW + 7200)
            await t.write_bindings(
                {(p, u): {one.contact: newer, two.contact: two} for u in (1, 2, 3)}
                | {(p, 4): {one.contact: None}}
                | {(p, 5): {one.contact: one}}  # no such user
            )
            assert await t.bindings(p, 1) == [newer, two]
            assert await t.bindings(p, 2) == []
            assert await t.bindings(p, 3) == [one]  # kept as it was, not updated
            assert await t.bindings(p, 4) == []
            assert await t.bindings(p, 5) == []
            await t.write_bindings({(p, 3): {one.contact: None}})
            assert await t.bindings(p, 3) == []
        finally:
            await store.close()
            if backend == "postgres":
                await _drop_schema(url)

    asyncio.run(run())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from("abc"), max_size=3, unique=True),
    st.dictionaries(st.sampled_from("abcd"), st.booleans(), max_size=4),
)
def test_applied_is_the_changed_bindings_sorted_by_contact(before, changes) -> None:
    """_applied skips the sort for one binding or none: the same as sorting them."""
    from trunkline.engine.phones import _applied

    stored = tuple(binding(f"sip:{c}@h") for c in before)
    change = {
        f"sip:{c}@h": binding(f"sip:{c}@h", cseq=9) if keep else None for c, keep in changes.items()
    }
    kept = {b.contact: b for b in stored}
    for contact, b in change.items():
        if b is None:
            kept.pop(contact, None)
        else:
            kept[contact] = b
    assert _applied(stored, change) == tuple(sorted(kept.values(), key=lambda b: b.contact))


def test_swept_drops_the_expired_bindings_and_forgets_a_phone_with_changes_pending(
    tmp_path: Path,
) -> None:
    async def body(store: Store, portal_id: int, book: PhoneBook) -> None:
        await store.accounts.create_user(portal_id, "user2", user_id=2)
        await store.telephony.set_phone(portal_id, 2, enabled=True, new_password="secret2")
        old = binding("sip:a@10.0.0.1", expires_at=NOW + 10)
        live = binding("sip:b@10.0.0.1", expires_at=NOW + 3600)
        await store.telephony.write_bindings(
            {
                (portal_id, 1): {old.contact: old, live.contact: live},
                (portal_id, 2): {old.contact: old},
            }
        )
        assert await book.bindings(portal_id, 1) == (old, live)
        assert await book.bindings(portal_id, 2) == (old,)
        book.write((portal_id, 2), (old,), [live], ())  # queued: not in the database yet
        await store.telephony.delete_expired(NOW + 10)  # expires_at <= now, as the sweep
        book.swept(NOW + 10)
        assert book.kept_bindings(portal_id, 1) == (live,)
        assert book.kept_bindings(portal_id, 2) is None  # read again, with its queued change
        assert await book.bindings(portal_id, 2) == (live,)
        book.swept(NOW + 3599.5)
        assert book.kept_bindings(portal_id, 1) == (live,)
        await book.flush()

    scenario(tmp_path, body)


def test_phone_book_is_the_accounts_each_with_its_bindings(tmp_path: Path) -> None:
    """One query gives what ``phone_accounts`` and then ``bindings`` of each account give:
    a phone with none, one or two bindings, the same user id in another portal, a phone
    disabled or a user inactive (no account, so no bindings)."""

    async def body(store: Store, portal_id: int, book: PhoneBook) -> None:
        t = store.telephony
        other = await store.accounts.create_portal("other.example")
        third = await store.accounts.create_portal("third.example")
        await store.accounts.create_user(other.id, "user1b", user_id=1)
        await t.set_phone(other.id, 1, enabled=True, new_password="secret1b")
        await store.accounts.create_user(third.id, "user1c", user_id=1)
        await t.set_phone(third.id, 1, enabled=False, new_password="secret1c")
        await store.accounts.create_user(portal_id, "user2", user_id=2)
        await t.set_phone(portal_id, 2, enabled=True, new_password="secret2")
        await store.accounts.update_user(portal_id, 2, {"active": False})
        a, b = binding("sip:b@10.0.0.1"), binding("sip:a@10.0.0.1", expires_at=NOW - 5)
        await t.write_bindings({(portal_id, 1): {a.contact: a, b.contact: b}})
        await t.write_bindings({(other.id, 1): {a.contact: a}})
        for user_id in (1, 2, 3):
            accounts = await t.phone_accounts(user_id)
            expected = [(x, await t.bindings(x[0], user_id)) for x in accounts]
            assert await t.phone_book(user_id) == expected
        assert [len(s) for _, s in await t.phone_book(1)] == [2, 1]
        await t.write_bindings({(other.id, 1): {a.contact: None}})
        assert [len(s) for _, s in await t.phone_book(1)] == [2, 0]
        for n in range(51):  # a user id in more portals than the accounts' LIMIT
            many = await store.accounts.create_portal(f"many{n}.example")
            await store.accounts.create_user(many.id, f"user7-{n}", user_id=7)
            await t.set_phone(many.id, 7, enabled=True, new_password=f"secret7-{n}")
            await t.write_bindings({(many.id, 7): {a.contact: a}})
        accounts = await t.phone_accounts(7)
        assert len(accounts) == 50
        expected = [(x, await t.bindings(x[0], 7)) for x in accounts]
        assert await t.phone_book(7) == expected

    scenario(tmp_path, body)


def test_accounts_keep_the_bindings_read_with_them_and_the_queued_changes(
    tmp_path: Path,
) -> None:
    async def body(store: Store, portal_id: int, book: PhoneBook) -> None:
        stored, queued = binding("sip:a@10.0.0.1"), binding("sip:b@10.0.0.1")
        await store.telephony.write_bindings({(portal_id, 1): {stored.contact: stored}})
        book.write((portal_id, 1), (stored,), [queued], ())
        book.forget_bindings()
        assert book.kept_bindings(portal_id, 1) is None
        assert await book.accounts(1) == ((portal_id, 1, "secret1"),)
        assert book.kept_bindings(portal_id, 1) == (stored, queued)
        await book.flush()
        assert await store.telephony.bindings(portal_id, 1) == [stored, queued]

    scenario(tmp_path, body)


def test_a_refresh_updated_in_place_stores_what_the_insert_stores(tmp_path: Path) -> None:
    """``write_bindings`` with the contacts hinted as refreshed (UPDATE first) leaves the
    same rows as without: a stored row of an enabled phone is updated, a row gone meanwhile
    is inserted again, nothing is stored for an inactive user or a disabled phone."""

    async def rows(store: Store) -> list[tuple[object, ...]]:
        found = await store.driver.fetch_all(
            "SELECT * FROM phone_bindings ORDER BY portal_id, user_id, contact"
        )
        return [tuple(r) for r in found]

    async def run(store: Store, portal_id: int, hinted: bool) -> list[list[tuple[object, ...]]]:
        t = store.telephony
        for user_id in (2, 3, 4):
            await store.accounts.create_user(portal_id, f"user{user_id}", user_id=user_id)
            await t.set_phone(portal_id, user_id, enabled=True, new_password="pw")
        old = {u: binding(f"sip:phone{u}@10.0.0.1") for u in (1, 2, 3, 4)}
        await t.write_bindings({(portal_id, u): {b.contact: b} for u, b in old.items()})
        await store.driver.execute(  # 2: its row gone meanwhile (a sweep, another process)
            "DELETE FROM phone_bindings WHERE user_id = 2"
        )
        await store.accounts.update_user(portal_id, 3, {"active": False})
        await store.driver.execute(  # 4: disabled with its row left (another writer)
            "UPDATE user_phones SET phone_enabled = 'N' WHERE user_id = 4"
        )
        new = {
            u: dataclasses.replace(b, call_id="c2", cseq=9, expires_at=NOW + 7200)
            for u, b in old.items()
        }
        refreshed = {(portal_id, u, b.contact) for u, b in new.items()} if hinted else ()
        await t.write_bindings({(portal_id, u): {b.contact: b} for u, b in new.items()}, refreshed)
        return [await rows(store)]

    def side(name: str, hinted: bool) -> list[list[tuple[object, ...]]]:
        url = DatabaseUrl(f"sqlite:///{tmp_path / name}")
        migrate.upgrade(url)

        async def go() -> list[list[tuple[object, ...]]]:
            store = await Store.open(url, Cipher(new_key()))
            try:
                portal = await store.accounts.create_portal("phones.example")
                await store.accounts.create_user(portal.id, "user1", user_id=1)
                await store.telephony.set_phone(portal.id, 1, enabled=True, new_password="pw")
                return await run(store, portal.id, hinted)
            finally:
                await store.close()

        return asyncio.run(go())

    plain, hinted = side("plain.sqlite3", False), side("hinted.sqlite3", True)
    assert plain == hinted
    (stored,) = hinted
    by_user = {r[2]: r for r in stored}  # (id, portal_id, user_id, contact, ...)
    assert "c2" in by_user[1] and "c2" in by_user[2]  # updated; inserted again
    assert "c1" in by_user[3] and "c1" in by_user[4]  # left as they were


def test_the_book_hints_the_contacts_it_refreshes(tmp_path: Path) -> None:
    async def body(store: Store, portal_id: int, book: PhoneBook) -> None:
        seen: list[object] = []
        original = store.telephony.write_bindings

        async def capture(changes: Any, refreshed: Any = ()) -> None:
            seen.append(set(refreshed))
            await original(changes, refreshed)

        store.telephony.write_bindings = capture  # type: ignore[method-assign]
        first = binding()
        written = book.write((portal_id, 1), (), [first], ())
        assert written is not None
        await written
        refreshed = dataclasses.replace(first, call_id="c2", cseq=5)
        assert book.write((portal_id, 1), (first,), [refreshed], ()) is None
        await book.flush()
        moved = dataclasses.replace(refreshed, received_port=5070)
        assert book.write((portal_id, 1), (refreshed,), [moved], ()) is not None
        await book.flush()
        contact = (portal_id, 1, first.contact)
        assert seen == [set(), {contact}, {contact}]
        assert await store.telephony.bindings(portal_id, 1) == [moved]

    scenario(tmp_path, body)
