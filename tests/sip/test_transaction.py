"""Non-INVITE transactions on a fake clock: Timer E/F/K schedule, Timer J cache."""

from __future__ import annotations

import pytest

from trunkline.sip.errors import SipStateError
from trunkline.sip.message import Headers, Request, Response
from trunkline.sip.transaction import (
    CLIENT_TRANSITIONS,
    SERVER_TRANSITIONS,
    ClientTransaction,
    ResponseReceived,
    ServerTransaction,
    ServerTransactionTable,
    Timers,
    TransactionState,
    TransactionTimedOut,
    Transmit,
    server_transaction_key,
)


def _request(
    branch: str = "z9hG4bKabc", method: str = "REGISTER", via_host: str = "h:5060"
) -> Request:
    return Request(
        method,
        "sip:example.com",
        Headers(
            [
                ("Via", f"SIP/2.0/UDP {via_host};branch={branch};rport"),
                ("From", "<sip:a@example.com>;tag=f1"),
                ("To", "<sip:a@example.com>"),
                ("Call-ID", "cid"),
                ("CSeq", f"1 {method}"),
            ]
        ),
    )


def _response(code: int, branch: str = "z9hG4bKabc", method: str = "REGISTER") -> Response:
    return Response(
        code,
        "Reason",
        Headers([("Via", f"SIP/2.0/UDP h:5060;branch={branch}"), ("CSeq", f"1 {method}")]),
    )


def _run_to_end(
    transaction: ClientTransaction, limit: float = 100.0
) -> tuple[list[float], float | None]:
    """Fire every timer in order; return the send times and the time-out time."""
    sends = [0.0 for _ in transaction.start(0.0)]
    while (deadline := transaction.get_timer()) is not None and deadline <= limit:
        for output in transaction.handle_timer(deadline):
            if isinstance(output, Transmit):
                sends.append(round(deadline, 6))
            elif isinstance(output, TransactionTimedOut):
                return sends, round(deadline, 6)
    return sends, None


@pytest.mark.parametrize(
    ("timers", "reliable", "sends", "timeout"),
    [
        (
            Timers(),
            False,
            [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5],
            32.0,
        ),
        (Timers(t1=0.05), False, [0.0, 0.05, 0.15, 0.35, 0.75, 1.55, 3.15], 3.2),
        (Timers(), True, [0.0], 32.0),
        (Timers(t1=0.05), True, [0.0], 3.2),
        (
            Timers(t1=1.0, t2=2.0),
            False,
            [0.0, 1.0, 3.0, 5.0, 7.0] + [9.0 + 2 * i for i in range(28)],
            64.0,
        ),
    ],
)
def test_client_timer_e_f_schedule(
    timers: Timers, reliable: bool, sends: list[float], timeout: float
) -> None:
    transaction = ClientTransaction(_request(), reliable=reliable, timers=timers)
    assert _run_to_end(transaction) == (sends, timeout)
    assert transaction.state is TransactionState.TERMINATED
    assert transaction.get_timer() is None


def test_client_from_bytes_behaves_like_the_request() -> None:
    request = _request()
    transaction = ClientTransaction.from_bytes(
        request.to_bytes(), branch=request.vias[0].branch or "", method="REGISTER", reliable=False
    )
    assert transaction.start(0.0) == [Transmit(request.to_bytes())]
    assert transaction.receive(_response(200), 0.1) == [ResponseReceived(_response(200))]
    assert transaction.state is TransactionState.COMPLETED


def test_client_provisional_moves_retransmits_to_t2() -> None:
    transaction = ClientTransaction(_request(), reliable=False)
    transaction.start(0.0)
    assert transaction.handle_timer(0.5) == [Transmit(_request().to_bytes())]
    outputs = transaction.receive(_response(100), 1.0)
    assert outputs == [ResponseReceived(_response(100))]
    assert transaction.state is TransactionState.PROCEEDING
    times = []
    while (deadline := transaction.get_timer()) is not None:
        if transaction.handle_timer(deadline) and transaction.state is TransactionState.PROCEEDING:
            times.append(deadline)
    assert times == [1.5 + 4 * i for i in range(8)]
    assert transaction.state is TransactionState.TERMINATED


def test_client_second_provisional_passes_up() -> None:
    transaction = ClientTransaction(_request(), reliable=True)
    transaction.start(0.0)
    transaction.receive(_response(100), 0.1)
    assert transaction.receive(_response(183), 0.2) == [ResponseReceived(_response(183))]
    assert transaction.get_timer() == 32.0


def test_client_final_on_udp_waits_timer_k_and_absorbs_retransmissions() -> None:
    transaction = ClientTransaction(_request(), reliable=False, timers=Timers(t4=5.0))
    transaction.start(0.0)
    assert transaction.receive(_response(200), 0.2) == [ResponseReceived(_response(200))]
    assert transaction.state is TransactionState.COMPLETED
    assert transaction.get_timer() == 5.2
    assert transaction.receive(_response(200), 1.0) == []
    assert transaction.handle_timer(5.0) == []
    assert transaction.state is TransactionState.COMPLETED
    assert transaction.handle_timer(5.2) == []
    assert transaction.terminated


def test_client_final_on_reliable_terminates_at_once() -> None:
    transaction = ClientTransaction(_request(), reliable=True)
    transaction.start(0.0)
    transaction.receive(_response(401), 0.1)
    assert transaction.terminated
    assert transaction.get_timer() is None


@pytest.mark.parametrize(
    "response",
    [
        _response(200, branch="z9hG4bKother"),
        _response(200, method="OPTIONS"),
        Response(200, "OK", Headers([("CSeq", "1 REGISTER")])),
        Response(200, "OK", Headers([("Via", "junk"), ("CSeq", "1 REGISTER")])),
    ],
)
def test_client_receive_foreign_response_ignored(response: Response) -> None:
    transaction = ClientTransaction(_request(), reliable=False)
    transaction.start(0.0)
    assert transaction.receive(response, 0.1) == []
    assert transaction.state is TransactionState.TRYING


def test_client_receive_before_start_ignored() -> None:
    transaction = ClientTransaction(_request(), reliable=False)
    assert transaction.receive(_response(200), 0.0) == []
    assert transaction.get_timer() is None


def test_client_start_twice_raises() -> None:
    transaction = ClientTransaction(_request(), reliable=False)
    transaction.start(0.0)
    with pytest.raises(SipStateError):
        transaction.start(0.0)


def test_client_handle_timer_early_does_nothing() -> None:
    transaction = ClientTransaction(_request(), reliable=False)
    transaction.start(0.0)
    assert transaction.handle_timer(0.1) == []


def test_client_handle_timer_late_fires_once_and_reschedules_from_now() -> None:
    transaction = ClientTransaction(_request(), reliable=False)
    transaction.start(0.0)
    assert len(transaction.handle_timer(10.0)) == 1
    assert transaction.get_timer() == 11.0


def test_client_abort_terminates_silently() -> None:
    transaction = ClientTransaction(_request(), reliable=False)
    transaction.start(0.0)
    transaction.abort()
    assert transaction.terminated
    assert transaction.get_timer() is None
    assert transaction.handle_timer(100.0) == []


def test_client_transitions_table_has_no_exit_from_terminated() -> None:
    assert not [key for key in CLIENT_TRANSITIONS if key[0] is TransactionState.TERMINATED]


def test_server_caches_and_resends_responses_until_timer_j() -> None:
    transaction = ServerTransaction(_request(), reliable=False, timers=Timers(t1=0.5))
    assert transaction.receive(_request(), 0.0) == []
    trying = Response(100, "Trying")
    assert transaction.respond(trying, 0.0) == [Transmit(trying.to_bytes())]
    assert transaction.state is TransactionState.PROCEEDING
    assert transaction.receive(_request(), 0.1) == [Transmit(trying.to_bytes())]
    ok = Response(200, "OK")
    transaction.respond(ok, 0.2)
    assert transaction.state is TransactionState.COMPLETED
    assert transaction.get_timer() == 32.2
    assert transaction.receive(_request(), 1.0) == [Transmit(ok.to_bytes())]
    assert transaction.handle_timer(32.0) == []
    assert transaction.state is TransactionState.COMPLETED
    transaction.handle_timer(32.2)
    assert transaction.terminated
    assert transaction.receive(_request(), 33.0) == []


def test_server_reliable_final_terminates_at_once() -> None:
    transaction = ServerTransaction(_request(), reliable=True)
    transaction.respond(Response(200, "OK"), 0.0)
    assert transaction.terminated
    assert transaction.get_timer() is None


def test_server_respond_after_final_raises() -> None:
    transaction = ServerTransaction(_request(), reliable=False)
    transaction.respond(Response(200, "OK"), 0.0)
    with pytest.raises(SipStateError):
        transaction.respond(Response(200, "OK"), 0.1)


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (_request(), ("z9hG4bKabc", "h:5060", "REGISTER")),
        (_request(method="ACK"), ("z9hG4bKabc", "h:5060", "INVITE")),
        (_request(via_host="H"), ("z9hG4bKabc", "h", "REGISTER")),
        (
            _request(branch="old"),
            ("cid", "1", "f1", "SIP/2.0/UDP h:5060;branch=old;rport", "REGISTER"),
        ),
    ],
)
def test_server_transaction_key(request_: Request, expected: tuple[str, ...]) -> None:
    assert server_transaction_key(request_) == expected


def test_server_transaction_key_without_branch_or_from_tag() -> None:
    request = _request()
    request.headers.set("Via", "SIP/2.0/UDP h")
    request.headers.set("From", "<sip:a@b>")
    assert server_transaction_key(request)[2] == ""


def test_table_absorbs_retransmission_and_expires() -> None:
    table = ServerTransactionTable()
    request = _request()
    assert table.find(request) is None
    transaction = ServerTransaction(request, reliable=False, timers=Timers(t1=0.5))
    table.add(transaction)
    assert table.find(_request()) is transaction
    table.respond(transaction, Response(100, "Trying"), 0.0)
    assert table.get_timer() is None
    table.respond(transaction, Response(200, "OK"), 1.0)
    assert table.get_timer() == 33.0
    table.handle_timer(10.0)
    assert len(table) == 1
    table.handle_timer(33.0)
    assert len(table) == 0
    assert table.get_timer() is None


def test_table_find_key_finds_as_find() -> None:
    """The registrar makes a request's transaction first and looks its key up (one key)."""
    table = ServerTransactionTable()
    transaction = ServerTransaction(_request(), reliable=False, timers=Timers(t1=0.5))
    assert table.find_key(transaction.key) is None
    table.add(transaction)
    assert table.find_key(transaction.key) is table.find(_request()) is transaction
    table.respond(transaction, Response(200, "OK"), 1.0)
    kept = table.find_key(ServerTransaction(_request(), reliable=False).key)
    assert kept is not None and kept.receive(_request(), 2.0) == table.find(_request()).receive(
        _request(), 2.0
    )


def test_table_reliable_transaction_removed_after_final() -> None:
    table = ServerTransactionTable()
    transaction = ServerTransaction(_request(), reliable=True)
    table.add(transaction)
    table.respond(transaction, Response(200, "OK"), 0.0)
    assert len(table) == 0


def test_table_bounded_and_skips_evicted_deadlines() -> None:
    table = ServerTransactionTable(max_size=1)
    first = ServerTransaction(_request("z9hG4bK1"), reliable=False)
    table.add(first)
    table.respond(first, Response(200, "OK"), 0.0)
    second = ServerTransaction(_request("z9hG4bK2"), reliable=False)
    table.add(second)
    table.add(second)
    assert len(table) == 1
    assert table.find(_request("z9hG4bK1")) is None
    table.handle_timer(100.0)
    assert len(table) == 1


def test_table_deadline_of_replaced_transaction_leaves_new_one() -> None:
    table = ServerTransactionTable()
    first = ServerTransaction(_request(), reliable=False)
    table.add(first)
    table.respond(first, Response(200, "OK"), 0.0)
    second = ServerTransaction(_request(), reliable=False)
    table.add(second)
    table.handle_timer(100.0)
    assert table.find(_request()) is second


def test_table_keeps_a_completed_transaction_as_its_answer_alone() -> None:
    table = ServerTransactionTable()
    transaction = ServerTransaction(_request(), reliable=False)
    table.add(transaction)
    (sent,) = table.respond(transaction, Response(200, "OK"), 0.0)
    # Nothing but the answer's bytes is kept for Timer J (a registrar keeps thousands).
    assert [type(v) for v in table._transactions.values()] == [bytes]
    again = table.find(_request())  # a retransmission
    assert again is not None and again.state is TransactionState.COMPLETED
    assert again.receive(_request(), 1.0) == [sent]  # the same bytes, no new answer
    with pytest.raises(SipStateError):  # the transaction user cannot answer it again
        again.respond(Response(200, "OK"), 1.0)


def test_table_timer_j_rounded_up_to_the_second() -> None:
    table = ServerTransactionTable()
    transaction = ServerTransaction(_request(), reliable=False)
    table.add(transaction)
    table.respond(transaction, Response(200, "OK"), 1.2)  # Timer J due at 33.2
    assert table.get_timer() == 34.0
    table.handle_timer(33.9)
    assert table.find(_request()) is not None
    table.handle_timer(34.0)
    assert table.find(_request()) is None and len(table) == 0
    assert table.get_timer() is None


@pytest.mark.parametrize("state", list(TransactionState))
@pytest.mark.parametrize("code", [100, 180, 199, 200, 401, 699])
def test_server_respond_moves_as_the_table_says(state: TransactionState, code: int) -> None:
    # a final answer in TRYING skips the table's lookup: every state and kind as the table
    transaction = ServerTransaction(_request(), reliable=False)
    transaction.state = state
    kind = "provisional" if code < 200 else "final"
    expected = SERVER_TRANSITIONS.get((state, kind))
    if expected is None:
        with pytest.raises(SipStateError):
            transaction.respond(Response(code, "X"), 0.0)
        return
    assert transaction.respond(Response(code, "X"), 0.0) == [
        Transmit(Response(code, "X").to_bytes())
    ]
    assert transaction.state is expected


def test_transmit_compares_and_hashes_by_value() -> None:
    assert Transmit(b"a") == Transmit(b"a") and hash(Transmit(b"a")) == hash(Transmit(b"a"))
    assert {Transmit(b"a"): 1}[Transmit(b"a")] == 1 and Transmit(b"a") != Transmit(b"b")
    with pytest.raises(AttributeError):
        Transmit(b"a").extra = 1  # type: ignore[attr-defined]
