"""The supervisor with a fake network and a hand-advanced clock (no sockets, no sleeping).

The far end is the sans-IO registrar of `trunkline.sip.registrar`, or a responder a test
writes; time moves only when a test calls `handle_timer(now)`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from trunkline.engine import supervisor as supervisor_module
from trunkline.engine.resolver import ResolutionError, Target
from trunkline.engine.runner import CloudLine
from trunkline.engine.supervisor import Supervisor
from trunkline.engine.transport import Channel, SipTransportError
from trunkline.sip.lifecycle import LineState
from trunkline.sip.message import Request, Response, parse_datagram
from trunkline.sip.pacing import RegisterPacer
from trunkline.sip.registrar import Account, Registrar, RegistrarConfig, Source
from trunkline.sip.registration import Flow

LINE = CloudLine(1, 7, 150007, "sip.example.com", "alice", "secret")
UNCAPPED = RegisterPacer(host_rate=1e9, aor_rate=1e9)  # tests of the alarm, not of the caps
TARGETS = [
    Target("UDP", "192.0.2.1", 5060, "sip.example.com"),
    Target("UDP", "192.0.2.2", 5060, "sip.example.com"),
]


class FakeConnection:
    closed = False


@dataclass
class FakeNet:
    """Channels that record what is sent; a stream target gets a fake connection."""

    sent: list[tuple[Target, Request]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    connections: dict[str, FakeConnection] = field(default_factory=dict)

    def _channel(self, target: Target) -> Channel:
        def send(data: bytes) -> None:
            message = parse_datagram(data)
            assert isinstance(message, Request)
            self.sent.append((target, message))

        connection = None
        if target.transport != "UDP":
            connection = self.connections.setdefault(target.address, FakeConnection())
        flow = Flow(target.transport, "10.0.0.9", 5099)
        return Channel(target, flow, send, connection)  # type: ignore[arg-type]

    def channel_now(self, target: Target) -> Channel | None:
        if target.transport != "UDP" and target.address not in self.connections:
            return None
        return self._channel(target)

    async def channel(self, target: Target) -> Channel:
        if target.address in self.refuse:
            raise SipTransportError("Connection refused")
        return self._channel(target)


class FakeResolver:
    def __init__(self, table: dict[str, list[Target]]) -> None:
        self.table = table

    def cached(self, server: str) -> list[Target] | None:
        return self.table.get(server)

    async def resolve(self, server: str) -> list[Target]:
        raise ResolutionError(server)


class World:
    """A supervisor, a fake network and a clock that only tests move."""

    def __init__(self, targets=TARGETS, *, password: str = "secret") -> None:
        self.now = 1000.0
        self.net = FakeNet()
        self.statuses: list[tuple[str, int | None, str | None]] = []
        self.supervisor = Supervisor(
            self.net,
            FakeResolver({"sip.example.com": targets}),
            on_status=lambda r: self.statuses.append(
                (r.status.result, r.status.status_code, r.status.error_message)
            ),
            clock=lambda: self.now,
            random=lambda: 0.5,
            expires=600,
            auto_timer=False,
        )
        self.registrar = Registrar(RegistrarConfig(realm="sip.example.com"), b"k" * 32)
        self.account = Account("alice", password)

    def at(self, now: float) -> None:
        self.now = now
        self.supervisor.handle_timer(now)

    def answer(self, respond: Callable[[Target, Request], Response | None] | None = None) -> None:
        """Deliver every request sent so far (and those they cause) to the far end."""
        respond = respond or self.registrar_answer
        while self.net.sent:
            target, request = self.net.sent.pop(0)
            response = respond(target, request)
            if response is not None:
                self.supervisor.on_response(parse_datagram(response.to_bytes()))

    def registrar_answer(self, target: Target, request: Request) -> Response | None:
        source = Source("10.0.0.9", 5099)
        decision = self.registrar.handle(request, source, self.account, (), self.now)
        return decision.response


def reply(request: Request, code: int, reason: str, **headers: str) -> Response:
    response = Response(code, reason)
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in request.headers.get_all(name):
            response.headers.add(name, value)
    for name, value in headers.items():
        response.headers.set(name.replace("_", "-"), value)
    return response


def test_start_up_spread_then_register_and_refresh():
    world = World()
    runner = world.supervisor.add(LINE)
    assert world.supervisor.get_timer() == pytest.approx(1005.0)  # 10 s * random 0.5
    world.at(1004.9)
    assert world.net.sent == []
    world.at(1005.0)
    assert runner.status.result == "in_progress"
    world.answer()
    assert world.statuses == [("in_progress", None, None), ("success", 200, "")]
    assert runner.lifecycle.state is LineState.REGISTERED
    # granted 600: refresh at 560 s minus a 2.5 s jitter
    assert world.supervisor.get_timer() == pytest.approx(1005.0 + 560 - 2.5)
    world.at(world.supervisor.get_timer())
    ((_, refresh),) = world.net.sent
    assert "Authorization" in refresh.headers  # preemptive: the remembered nonce, nc + 1
    world.answer()
    assert runner.lifecycle.state is LineState.REGISTERED
    assert len(world.statuses) == 2  # a refresh that stays success writes nothing


def test_one_call_id_and_rising_cseq_across_attempts():
    world = World()
    world.supervisor.add(LINE, spread=False)
    seen: list[Request] = []

    def recording(target: Target, request: Request) -> Response | None:
        seen.append(request)
        return world.registrar_answer(target, request)

    world.at(world.now)
    world.answer(recording)
    for _ in range(3):
        world.at(world.supervisor.get_timer())
        world.answer(recording)
    assert len({r.call_id for r in seen}) == 1
    cseqs = [r.cseq[0] for r in seen]
    assert cseqs == sorted(cseqs) and len(set(cseqs)) == len(cseqs)
    assert len({r.vias[0].branch for r in seen}) == len(seen)


def test_silence_retransmits_on_timer_e_then_fails_over_after_timer_f():
    world = World()
    runner = world.supervisor.add(LINE, spread=False)
    world.at(1000.0)
    sends = [world.now]
    while world.net.sent and world.net.sent[0][0] == TARGETS[0]:
        world.net.sent.clear()
        world.at(world.supervisor.get_timer())
        sends.append(world.now)
    offsets = [round(t - 1000.0, 1) for t in sends]
    assert offsets[:6] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5]
    assert offsets[-1] == 32.0  # Timer F moved the attempt to the second target
    assert runner.target_index == 1 and world.supervisor.stats["failover"] == 1
    world.answer()
    assert runner.status.result == "success"


def test_silence_everywhere_is_408_and_temporary_backoff():
    world = World()
    runner = world.supervisor.add(LINE, spread=False)
    world.at(1000.0)
    while runner.lifecycle.in_flight:
        world.net.sent.clear()
        world.at(world.supervisor.get_timer())
    assert world.statuses[-1] == ("error", 408, "Request Timeout")
    assert runner.lifecycle.state is LineState.RETRY_WAIT
    assert runner.lifecycle.next_at - world.now == pytest.approx(30.0)  # jitter factor 1.0


def test_503_fails_over_and_retry_after_counts_on_the_last_target():
    world = World()
    runner = world.supervisor.add(LINE, spread=False)
    world.at(1000.0)
    world.answer(lambda t, r: reply(r, 503, "Service Unavailable", Retry_After="120"))
    assert world.supervisor.stats["failover"] == 1
    assert world.statuses[-1] == ("error", 503, "Service Unavailable")
    assert runner.lifecycle.next_at - world.now == pytest.approx(120.0)


def test_unresolvable_server_is_502():
    world = World()
    line = replace(LINE, server="nowhere.example")
    runner = world.supervisor.add(line, spread=False)

    async def go():
        world.at(1000.0)
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(go())
    assert world.statuses[-1] == ("error", 502, "Unable to resolve hostname")
    assert runner.lifecycle.state is LineState.RETRY_WAIT


def test_malformed_server_is_502_without_sending():
    world = World()
    world.supervisor.add(replace(LINE, server="bad host"), spread=False)
    world.at(1000.0)
    assert world.net.sent == []
    assert world.statuses[-1] == ("error", 502, "Unable to resolve hostname")


def test_connection_refused_is_503_with_the_reason():
    tcp = [Target("TCP", "192.0.2.5", 5060, "sip.example.com")]
    world = World(tcp)
    world.net.refuse.add("192.0.2.5")
    runner = world.supervisor.add(LINE, spread=False)

    async def go():
        world.at(1000.0)
        for _ in range(3):
            await asyncio.sleep(0)

    asyncio.run(go())
    assert world.statuses[-1] == ("error", 503, "Connection refused")
    assert runner.lifecycle.state is LineState.RETRY_WAIT


def test_wrong_password_is_rejected_with_slow_retry():
    world = World(password="other")
    runner = world.supervisor.add(LINE, spread=False)
    world.at(1000.0)
    world.answer()
    assert world.statuses[-1] == ("error", 403, "Forbidden")
    assert runner.lifecycle.state is LineState.REJECTED
    assert runner.lifecycle.next_at - world.now == 600.0


def test_credentials_change_says_goodbye_then_registers_at_once():
    world = World()
    runner = world.supervisor.add(LINE, spread=False)
    world.at(1000.0)
    world.answer()
    old_call_id = runner.registration.call_id
    assert world.supervisor.update(replace(LINE, login="bob", password="pw2"))
    assert world.statuses[-1] == ("wait", 0, None)
    ((_, farewell),) = world.net.sent
    assert farewell.headers.get("Expires") == "0" and "alice@" in farewell.headers.get("To")
    world.answer()
    assert world.supervisor.stats["unregistered"] == 1
    world.account = Account("bob", "pw2")
    world.at(1000.0)
    ((_, fresh),) = world.net.sent
    assert "bob@" in fresh.headers.get("To") and fresh.call_id == old_call_id
    assert fresh.cseq[0] > farewell.cseq[0]
    world.answer()
    assert world.statuses[-1] == ("success", 200, "")
    assert not world.supervisor.update(replace(LINE, login="bob", password="pw2"))


def test_removal_sends_expires_zero_and_forgets_the_line():
    world = World()
    runner = world.supervisor.add(LINE, spread=False)
    world.at(1000.0)
    world.answer()
    world.supervisor.remove(LINE.key)
    assert LINE.key not in world.supervisor.runners
    ((_, farewell),) = world.net.sent
    assert farewell.headers.get("Expires") == "0"
    world.answer()
    assert not runner.farewells
    world.supervisor.remove(LINE.key)  # twice is harmless


def test_farewell_gives_up_after_its_deadline():
    world = World()
    runner = world.supervisor.add(LINE, spread=False)
    world.at(1000.0)
    world.answer()
    world.supervisor.remove(LINE.key)
    world.net.sent.clear()
    world.at(1004.0)
    assert runner.farewells
    world.net.sent.clear()
    world.at(1005.0)
    assert not runner.farewells
    assert world.supervisor.get_timer() is None


def test_dropped_connection_re_registers_at_once():
    tcp = [Target("TCP", "192.0.2.5", 5060, "sip.example.com")]
    world = World(tcp)
    runner = world.supervisor.add(LINE, spread=False)

    async def go():
        world.at(1000.0)
        for _ in range(3):
            await asyncio.sleep(0)
        world.answer()
        assert runner.status.result == "success"
        connection = runner.channel.connection
        world.supervisor.on_connection_closed(connection, "Connection reset")
        assert world.supervisor.stats["dropped"] == 1
        assert len(world.net.sent) == 1  # at once, on the (fake) new connection
        world.answer()

    asyncio.run(go())
    assert runner.status.result == "success"


def test_stray_and_malformed_responses_are_ignored():
    world = World()
    runner = world.supervisor.add(LINE, spread=False)
    world.at(1000.0)
    stray = Response(200, "OK")
    stray.headers.add("Call-ID", "nobody")
    world.supervisor.on_response(stray)
    world.supervisor.on_response(Response(200, "OK"))  # no Call-ID at all
    ((_, request),) = world.net.sent
    world.supervisor.on_response(reply(request, 200, "OK", CSeq="1 OPTIONS"))
    assert runner.lifecycle.in_flight
    world.answer()
    assert runner.status.result == "success"


def test_stop_waits_for_in_flight_transactions_then_cancels():
    world = World()
    runner = world.supervisor.add(LINE, spread=False)
    world.at(1000.0)

    async def go():
        await world.supervisor.stop(timeout=0.05)

    asyncio.run(go())
    assert world.supervisor.stopping
    assert not runner.registration.busy
    world.at(2000.0)  # nothing new starts
    assert len(world.net.sent) == 1


def test_stopping_with_due_lines_neither_spins_nor_starts_attempts():
    world = World()
    world.supervisor.add(LINE, spread=False)  # due now
    world.supervisor.stopping = True
    world.at(1000.0)  # must return (a past deadline is not re-fired in the same pass)
    assert world.net.sent == []
    assert world.supervisor.get_timer() is None


def test_deadlines_close_together_fire_in_one_wake_up_on_the_grid():
    """With the loop's own alarm, lines due within one grid step go out together."""
    wake_ups: list[int] = []  # per REGISTER sent: how many alarms had fired by then
    sent_at: list[float] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        world = World()
        started = loop.time()
        cell = math.ceil(started / 0.25) * 0.25  # first attempts cell + 0.01 .. cell + 0.12
        draws = iter([(cell + i / 100 - started) / 10 for i in range(1, 13)])
        supervisor = world.supervisor = Supervisor(
            world.net,
            FakeResolver({"sip.example.com": TARGETS}),
            on_status=lambda r: None,
            clock=loop.time,
            random=lambda: next(draws, 0.5),
            timer_grid=0.25,
            pacer=UNCAPPED,
        )
        alarms = [0]
        fire = supervisor._on_alarm

        def counted() -> None:
            alarms[0] += 1
            before = len(world.net.sent)
            fire()
            wake_ups.extend([alarms[0]] * (len(world.net.sent) - before))
            sent_at.extend([loop.time()] * (len(world.net.sent) - before))

        supervisor._on_alarm = counted  # type: ignore[method-assign]
        for n in range(12):
            supervisor.add(replace(LINE, config_id=n, reg_id=n))
        while len(world.net.sent) < 12 and loop.time() < started + 2:
            await asyncio.sleep(0.01)
        await supervisor.stop(timeout=0)
        assert sent_at and sent_at[0] >= cell + 0.12  # not before the latest deadline

    asyncio.run(go())
    assert wake_ups == [1] * 12


def test_alarm_fires_at_most_a_batch_of_lines_per_wake_up(monkeypatch):
    monkeypatch.setattr(supervisor_module, "FIRE_BATCH", 5)
    batches: list[int] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        world = World()
        supervisor = world.supervisor = Supervisor(
            world.net,
            FakeResolver({"sip.example.com": TARGETS}),
            on_status=lambda r: None,
            clock=loop.time,
            timer_grid=0.25,
            pacer=UNCAPPED,
        )
        fire = supervisor._on_alarm

        def counted() -> None:
            before = len(world.net.sent)
            fire()
            batches.append(len(world.net.sent) - before)

        supervisor._on_alarm = counted  # type: ignore[method-assign]
        for n in range(12):
            supervisor.add(replace(LINE, config_id=n, reg_id=n), spread=False)
        for _ in range(10):  # all due at once: the rest follow on the next loop turns
            await asyncio.sleep(0)
        await supervisor.stop(timeout=0)

    asyncio.run(go())
    assert batches == [5, 5, 2]


def test_lines_due_together_go_out_under_the_host_cap():
    """300 lines of one provider due at once: no second carries more than 150 REGISTERs,
    and all are registered after about 300 * 2 / 150 s (each attempt counts 2: it will be
    challenged)."""
    world = World()
    for n in range(300):
        world.supervisor.add(replace(LINE, config_id=n, reg_id=n, login=f"u{n}"), spread=False)
    sent_at: list[float] = []

    def ok(target: Target, request: Request) -> Response:
        sent_at.append(world.now)
        return reply(request, 200, "OK", Contact=request.headers.get("Contact") or "")

    for step in range(200):
        world.at(1000.0 + step * 0.05)
        world.answer(ok)
    registered = [r for r in world.supervisor.runners.values() if r.status.result == "success"]
    assert len(registered) == 300 and len(sent_at) == 300
    assert max(sent_at) - 1000.0 == pytest.approx(300 * 2 / 150, abs=1.0)
    for start in sent_at:
        assert sum(1 for t in sent_at if start <= t < start + 1.0) <= 150
