"""engine/decisions.py: a REGISTER of a phone the book keeps is decided at once, from memory
(`_phone_now`), with the same answer, bindings, history, counts and throttling as the general
path (the lock, the book's coroutines).

Two registrars on two like databases, with one fake clock and one sequence of nonces, get the
same datagrams: one with the fast path, one without. Every answer, every history call, the
stored bindings, the statistics, the metrics and the throttle must be the same; the fast path
must have answered most of the second registrar's REGISTERs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from trunkline.engine.registrar import RegistrarServer
from trunkline.sip.digest import DigestClient, parse_challenges
from trunkline.sip.message import Request, Response, parse_datagram
from trunkline.sip.registrar import Registrar, RegistrarConfig, Source
from trunkline.storage import migrate
from trunkline.storage.secrets import Cipher, new_key
from trunkline.storage.store import Store
from trunkline.storage.url import DatabaseUrl

START = 1_800_000_000.0
CNONCE = "0a1b2c3d4e5f".__str__
PASSWORDS = {1: "secret-one", 2: "secret-two", 3: "secret-three", 4: "secret-four"}
METRICS = [
    ("trunkline_registrar_registers_total", {}),
    ("trunkline_registrar_challenges_total", {}),
    *[("trunkline_registrar_refusals_total", {"reason": r}) for r in ("auth", "error")],
    ("trunkline_registrar_refusals_total", {"reason": "throttled"}),
]


@contextlib.asynccontextmanager
async def phones_store(
    path: Path, phones: dict[int, str], users: tuple[int, ...] = ()
) -> AsyncIterator[tuple[Store, int]]:
    """A migrated SQLite store with one portal, its users (those of ``phones`` and
    ``users``) and an enabled phone for each of ``phones`` with its password."""
    url = DatabaseUrl(f"sqlite:///{path}")
    migrate.upgrade(url)
    store = await Store.open(url, Cipher(new_key()))
    try:
        portal_id = (await store.accounts.create_portal("phones.example")).id
        for user_id in sorted({*phones, *users}):
            await store.accounts.create_user(portal_id, f"user{user_id}", user_id=user_id)
        for user_id, password in phones.items():
            await store.telephony.set_phone(portal_id, user_id, enabled=True, new_password=password)
        yield store, portal_id
    finally:
        await store.close()


def metrics() -> list[float]:
    return [REGISTRY.get_sample_value(name, labels) or 0.0 for name, labels in METRICS]


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def counter_random() -> Callable[[int], bytes]:
    state = [0]

    def random(n: int) -> bytes:
        state[0] += 1
        return state[0].to_bytes(n, "big")

    return random


def register(
    login: str,
    cseq: int,
    branch: str,
    *,
    port: int = 5070,
    expires: str = "120",
    call_id: str = "fast-call",
    authorization: str | None = None,
) -> Request:
    request = Request("REGISTER", "sip:127.0.0.1")
    request.headers.add("Via", f"SIP/2.0/UDP 10.0.0.9:{port};branch=z9hG4bK{branch};rport")
    request.headers.add("From", f"<sip:{login}@127.0.0.1>;tag=t{login}")
    request.headers.add("To", f"<sip:{login}@127.0.0.1>")
    request.headers.add("Call-ID", call_id)
    request.headers.add("CSeq", f"{cseq} REGISTER")
    request.headers.add("Contact", f"<sip:{login}@10.0.0.9:{port}>")
    request.headers.add("Expires", expires)
    if authorization is not None:
        request.headers.add("Authorization", authorization)
    return request


class Side:
    """One registrar, its database, and what came out of it."""

    def __init__(self, store: Store, fast: bool) -> None:
        self.store = store
        self.clock = Clock()
        self.server = RegistrarServer(
            store.registrations, secret=b"f" * 32, wall=self.clock, phones=store.telephony
        )
        config = dataclasses.replace(RegistrarConfig(realm="127.0.0.1"), realm="127.0.0.1")
        self.server._registrars["127.0.0.1"] = Registrar(
            config,
            b"f" * 32,
            replay_guard=self.server._replay_guard,
            random_source=counter_random(),
        )
        self.decisions: list[Any] = []
        self.server.on_decision = self._decision
        self.fast_answers = 0
        if fast:
            general = self.server._phone_now

            def counted(*args: Any) -> Any:
                decided = general(*args)
                self.fast_answers += decided is not None
                return decided

            self.server._phone_now = counted  # type: ignore[method-assign]
        else:
            self.server._phone_now = lambda *args: None  # type: ignore[method-assign]
        self.metrics = [0.0] * len(METRICS)

    def _decision(self, subject, stored, live, refused, exchange, now) -> None:  # type: ignore[no-untyped-def]
        request, response, *where = exchange
        answer = None if response is None else response.to_bytes()
        self.decisions.append((subject, stored, live, refused, request.to_bytes(), answer, *where))

    async def send(self, request: Request, port: int = 5070, host: str = "10.0.0.9") -> list[bytes]:
        answers: list[bytes] = []
        before = metrics()
        message = parse_datagram(request.to_bytes())
        assert isinstance(message, Request)
        self.server.receive(message, Source(host, port, "UDP"), answers.append)
        self.server._after_read()
        assert self.server.book is not None
        await self.server.book.flush()
        for _ in range(5):
            await asyncio.sleep(0)
        self.metrics = [m + a - b for m, a, b in zip(self.metrics, metrics(), before, strict=True)]
        return answers

    async def signed(
        self, user_id: int, password: str, cseq: int, host: str = "10.0.0.9", **kw: Any
    ) -> list[bytes]:
        """A REGISTER without credentials, then the one answering its challenge."""
        login = f"phone{user_id}"
        port = kw.get("port", 5070)
        first = await self.send(register(login, cseq, f"c{cseq}-{user_id}", **kw), port, host)
        if not first:  # dropped (throttled)
            return []
        (challenge,) = first
        answer = parse_datagram(challenge)
        assert isinstance(answer, Response) and answer.status_code == 401
        (offer,) = parse_challenges(answer.headers.get_all("WWW-Authenticate"))
        header = DigestClient(login, password, cnonce_factory=CNONCE).authorize(
            offer, "REGISTER", "sip:127.0.0.1"
        )
        kw["authorization"] = header
        second = register(login, cseq + 1, f"s{cseq}-{user_id}", **kw)
        return [challenge, *await self.send(second, port, host)]


async def scenario(side: Side) -> list[Any]:
    """The sequence both registrars get; what each step answered."""
    s, t = side, side.store.telephony
    out: list[Any] = []
    portal = (await s.store.accounts.list_portals())[0].id
    out.append(await s.signed(1, PASSWORDS[1], 1))  # first REGISTER: new binding
    out.append(await s.signed(1, PASSWORDS[1], 3))  # refresh
    out.append(await s.signed(2, PASSWORDS[2], 1))
    out.append(await s.signed(3, PASSWORDS[3], 1))
    out.append(await s.signed(4, PASSWORDS[4], 1))
    s.clock.now += 30
    out.append(await s.signed(1, PASSWORDS[1], 5, expires="600"))  # expiry change
    # Replayed nonce: the same Authorization, a new transaction.
    login = "phone2"
    (challenge,) = await s.send(register(login, 7, "rp1"))
    offer = parse_challenges(parse_datagram(challenge).headers.get_all("WWW-Authenticate"))[0]
    header = DigestClient(login, PASSWORDS[2], cnonce_factory=CNONCE).authorize(
        offer, "REGISTER", "sip:127.0.0.1"
    )
    out.append(await s.send(register(login, 8, "rp2", authorization=header)))
    out.append(await s.send(register(login, 8, "rp2", authorization=header)))  # retransmission
    out.append(await s.send(register(login, 9, "rp3", authorization=header)))  # replay
    # Stale nonce: answered after its lifetime.
    (challenge,) = await s.send(register(login, 10, "st1"))
    offer = parse_challenges(parse_datagram(challenge).headers.get_all("WWW-Authenticate"))[0]
    s.clock.now += 400
    header = DigestClient(login, PASSWORDS[2], cnonce_factory=CNONCE).authorize(
        offer, "REGISTER", "sip:127.0.0.1"
    )
    out.append(await s.send(register(login, 11, "st2", authorization=header)))
    # Wrong password, from ten addresses: refused, then the login is throttled.
    for n in range(11):
        out.append(await s.signed(4, "wrong", 20 + 2 * n, host=f"10.0.1.{n}"))
    out.append(await s.signed(4, PASSWORDS[4], 50))  # the login is throttled
    for n in range(10):  # and, from one address, the address too
        out.append(await s.signed(999, "wrong", 100 + 2 * n, host="10.0.2.1"))
    out.append(await s.signed(1, PASSWORDS[1], 60, host="10.0.2.1"))
    s.server.throttle._blocked_until.clear()
    s.server.throttle._failures.clear()
    # Deactivated phone: refused at its next REGISTER, its bindings gone.
    await t.set_phone(portal, 3, enabled=False, new_password="x")
    out.append(await s.signed(3, PASSWORDS[3], 3))
    out.append(await s.signed(1, PASSWORDS[1], 70))  # a refresh after the caches were emptied
    out.append(await s.signed(1, PASSWORDS[1], 72))
    out.append(await s.signed(1, PASSWORDS[1], 74, port=5080))  # moved: a second contact
    out.append(await s.signed(1, PASSWORDS[1], 76, expires="10"))  # too brief: 423
    out.append(await s.signed(1, PASSWORDS[1], 78, expires="0"))  # Expires 0: removed
    out.append(await s.signed(1, PASSWORDS[1], 80, call_id="other"))  # new Call-ID
    out.append(await s.signed(1, PASSWORDS[1], 82, expires="0", port=5080))
    out.append(await s.signed(999, "whatever", 1))  # unknown user
    out.append(await s.signed(5, "whatever", 1))  # a user whose phone was never set
    out.append(await s.signed(2, PASSWORDS[2], 90))
    # A second portal with user 2's id: told apart by the password.
    other = await s.store.accounts.create_portal("other.example")
    await s.store.accounts.create_user(other.id, "user2b", user_id=2)
    await t.set_phone(other.id, 2, enabled=True, new_password="other-secret")
    out.append(await s.signed(2, PASSWORDS[2], 92))
    out.append(await s.signed(2, PASSWORDS[2], 94))
    out.append(await s.signed(2, "other-secret", 96, port=5090))
    out.append(await s.signed(2, "other-secret", 98, port=5090))
    await s.server.stop()
    rows = []
    for p in (portal, other.id):
        for user_id in range(1, 6):
            rows.append(await t.bindings(p, user_id))
    return [out, rows, s.decisions, dict(s.server.stats), s.metrics]


def test_the_fast_path_answers_as_the_general_path(tmp_path: Path) -> None:
    async def side(name: str, fast: bool) -> tuple[list[Any], Side]:
        async with phones_store(tmp_path / name, PASSWORDS, users=(5,)) as (store, _):
            s = Side(store, fast)
            return await scenario(s), s

    general, slow = asyncio.run(side("general.sqlite3", fast=False))
    fast, quick = asyncio.run(side("fast.sqlite3", fast=True))
    assert slow.fast_answers == 0
    assert quick.fast_answers >= 15  # most REGISTERs of kept phones
    names = ["answers", "bindings", "history", "stats", "metrics"]
    for name, a, b in zip(names, general, fast, strict=True):
        if name == "answers":
            for step, (x, y) in enumerate(zip(a, b, strict=True)):
                assert x == y, f"step {step}"
        assert a == b, name
    answers = [parse_datagram(d) for step in general[0] for d in step]
    codes = {a.status_code for a in answers if isinstance(a, Response)}
    assert {200, 401, 403, 423} <= codes
    assert general[3]["throttled"] > 0 and general[3]["auth_failed"] > 0


def test_a_register_whose_batch_fails_is_not_answered(tmp_path: Path, caplog: Any) -> None:
    """An answer waiting for its bindings' commit (a callback on the batch, not a task) is
    not sent when the batch fails: the failure is logged for it, as a task awaiting the
    commit logged it, nothing stays counted as pending, and the phone's retransmission
    (a new transaction) is answered once the database works again."""

    async def run() -> None:
        async with phones_store(tmp_path / "failing.sqlite3", {1: PASSWORDS[1]}) as (
            store,
            portal_id,
        ):
            side = Side(store, fast=True)
            working = store.telephony.write_bindings

            async def failing(changes: Any) -> None:
                raise RuntimeError("disk full")

            store.telephony.write_bindings = failing  # type: ignore[method-assign]
            answers = await side.signed(1, PASSWORDS[1], 1)
            assert len(answers) == 1 and b" 401 " in answers[0]  # the challenge alone
            assert "registrar failed on a REGISTER from 10.0.0.9" in caplog.text
            assert side.server._waiting == 0 and side.server._commits == {}
            assert await store.telephony.bindings(portal_id, 1) == []
            store.telephony.write_bindings = working  # type: ignore[method-assign]
            answers = await side.signed(1, PASSWORDS[1], 3)
            assert len(answers) == 2 and answers[1].startswith(b"SIP/2.0 200 ")
            assert len(await store.telephony.bindings(portal_id, 1)) == 1

    asyncio.run(run())


def test_a_sweep_keeps_the_live_bindings_in_memory(tmp_path: Path) -> None:
    """The sweep drops from the book just the bindings its DELETE removed (expires_at <=
    now): a live phone's next refresh is still decided from memory, with no SELECT of its
    bindings, and what the book keeps is what is stored."""

    async def run() -> None:
        phones = {1: PASSWORDS[1], 2: PASSWORDS[2]}
        async with phones_store(tmp_path / "swept.sqlite3", phones) as (store, portal_id):
            side = Side(store, fast=True)
            t = store.telephony
            await side.signed(1, PASSWORDS[1], 1, expires="600")
            await side.signed(2, PASSWORDS[2], 1, expires="120")
            await side.signed(1, PASSWORDS[1], 3, expires="600", port=5080)  # a second one
            side.clock.now += 300  # phone 2's binding has expired, phone 1's two live
            reads: list[tuple[int, int]] = []
            original = t.bindings

            async def counted(portal_id: int, user_id: int, **kw: Any) -> Any:
                reads.append((portal_id, user_id))
                return await original(portal_id, user_id, **kw)

            t.bindings = counted  # type: ignore[method-assign]
            await side.server.sweep()
            assert side.server.stats["expired"] == 1
            book = side.server.book
            assert book is not None
            for user_id in (1, 2):
                kept = book.kept_bindings(portal_id, user_id)
                assert kept is not None
                assert list(kept) == await original(portal_id, user_id)
            assert len(book.kept_bindings(portal_id, 1) or ()) == 2
            assert book.kept_bindings(portal_id, 2) == ()
            before = side.fast_answers
            answers = await side.signed(1, PASSWORDS[1], 5, expires="600")
            assert answers[-1].startswith(b"SIP/2.0 200 ")
            answers = await side.signed(2, PASSWORDS[2], 3, expires="120")  # registers anew
            assert answers[-1].startswith(b"SIP/2.0 200 ")
            assert side.fast_answers == before + 2
            assert reads == []
            assert len(await original(portal_id, 2)) == 1

    asyncio.run(run())


def test_a_first_register_reads_the_accounts_and_bindings_in_one_query(tmp_path: Path) -> None:
    """A phone's first REGISTER (nothing kept) reads its accounts with its bindings
    (``phone_book``), not its bindings again; its refresh reads nothing."""

    async def run() -> None:
        async with phones_store(tmp_path / "first.sqlite3", {1: PASSWORDS[1]}) as (store, _):
            side = Side(store, fast=True)
            t = store.telephony
            reads: list[str] = []
            books, bindings = t.phone_book, t.bindings

            async def counted_book(user_id: int) -> Any:
                reads.append("phone_book")
                return await books(user_id)

            async def counted_bindings(portal_id: int, user_id: int, **kw: Any) -> Any:
                reads.append("bindings")
                return await bindings(portal_id, user_id, **kw)

            t.phone_book = counted_book  # type: ignore[method-assign]
            t.bindings = counted_bindings  # type: ignore[method-assign]
            answers = await side.signed(1, PASSWORDS[1], 1)
            assert answers[-1].startswith(b"SIP/2.0 200 ")
            assert reads == ["phone_book"]
            answers = await side.signed(1, PASSWORDS[1], 3)
            assert answers[-1].startswith(b"SIP/2.0 200 ") and reads == ["phone_book"]

    asyncio.run(run())
