"""Non-INVITE transactions (RFC 3261 §17.1.2, §17.2.2, §17.1.3, §17.2.3) on a passed-in clock.

Rules (T1, T2, T4 from `Timers`; 500 ms, 4 s, 5 s by default):

* Client, unreliable transport (UDP): send the request at start; Timer E retransmits it, first
  after T1, then doubling up to T2 while TRYING, and every T2 once PROCEEDING (a 1xx arrived).
* Client, reliable transport (TCP/TLS): no retransmission at all, only Timer F.
* Client: Timer F = 64*T1 from the start; if no final response came, the transaction ends with
  `TransactionTimedOut` (the caller reports a local 408). A final response stops E and F;
  Timer K then absorbs retransmitted responses for T4 on UDP (0 on TCP/TLS).
* Client: a response is ours when its top Via branch and its CSeq method match the request.
  Others are ignored. Every 1xx and the first final response are passed up as
  `ResponseReceived`; later responses are absorbed.
* Server: created on a new request (state TRYING). A retransmitted request is answered with the
  last response sent (nothing while TRYING). A final response moves to COMPLETED, where Timer J
  keeps it for 64*T1 on UDP (0 on TCP/TLS), then TERMINATED.
* Server matching key: (branch, sent-by, method) when the branch starts with `z9hG4bK`, else the
  RFC 2543 fallback (Call-ID, CSeq, From tag, top Via, method).
* Timers are absolute times on the caller's clock. `get_timer()` gives the next deadline (or
  None); `handle_timer(now)` fires every timer due at `now`. Nothing here reads a clock.
* Outputs are lists of `Transmit` (bytes for the transport), `ResponseReceived` and
  `TransactionTimedOut`.

The state machines are the tables `CLIENT_TRANSITIONS` and `SERVER_TRANSITIONS` below.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from trunkline.sip.errors import SipParseError, SipStateError
from trunkline.sip.message import Request, Response

__all__ = [
    "DEFAULT_TIMERS",
    "MAGIC_COOKIE",
    "ClientTransaction",
    "ResponseReceived",
    "ServerTransaction",
    "ServerTransactionTable",
    "Timers",
    "TransactionOutput",
    "TransactionState",
    "TransactionTimedOut",
    "Transmit",
    "server_transaction_key",
]

MAGIC_COOKIE = "z9hG4bK"


@dataclass(frozen=True)
class Timers:
    """RFC 3261 timer base values in seconds (tests shorten T1)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


DEFAULT_TIMERS = Timers()


class TransactionState(enum.Enum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


@dataclass(slots=True, unsafe_hash=True)  # one an answer: compared and hashed by value as
class Transmit:  # a frozen one is, never changed, without a frozen __init__'s __setattr__
    """Bytes to hand to the transport."""

    data: bytes


@dataclass(frozen=True)
class ResponseReceived:
    """A response for the transaction user."""

    response: Response


@dataclass(frozen=True)
class TransactionTimedOut:
    """Timer F fired before any final response."""


TransactionOutput = Transmit | ResponseReceived | TransactionTimedOut

_S = TransactionState
# Client: (state, "provisional" | "final" | "timer_f" | "timer_k") -> next state.
CLIENT_TRANSITIONS: dict[tuple[TransactionState, str], TransactionState] = {
    (_S.TRYING, "provisional"): _S.PROCEEDING,
    (_S.TRYING, "final"): _S.COMPLETED,
    (_S.TRYING, "timer_f"): _S.TERMINATED,
    (_S.PROCEEDING, "provisional"): _S.PROCEEDING,
    (_S.PROCEEDING, "final"): _S.COMPLETED,
    (_S.PROCEEDING, "timer_f"): _S.TERMINATED,
    (_S.COMPLETED, "timer_k"): _S.TERMINATED,
}
# Server: (state, "provisional" | "final" | "timer_j") -> next state.
SERVER_TRANSITIONS: dict[tuple[TransactionState, str], TransactionState] = {
    (_S.TRYING, "provisional"): _S.PROCEEDING,
    (_S.TRYING, "final"): _S.COMPLETED,
    (_S.PROCEEDING, "provisional"): _S.PROCEEDING,
    (_S.PROCEEDING, "final"): _S.COMPLETED,
    (_S.COMPLETED, "timer_j"): _S.TERMINATED,
}


def _kind(response: Response) -> str:
    return "provisional" if response.status_code < 200 else "final"


class ClientTransaction:
    """A non-INVITE client transaction for one request."""

    def __init__(
        self, request: Request, *, reliable: bool, timers: Timers = DEFAULT_TIMERS
    ) -> None:
        self._setup(request.to_bytes(), request.vias[0].branch, request.method, reliable, timers)

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        branch: str,
        method: str,
        reliable: bool,
        timers: Timers = DEFAULT_TIMERS,
    ) -> ClientTransaction:
        """A transaction for a request already serialised, whose top Via has `branch`."""
        transaction = cls.__new__(cls)
        transaction._setup(data, branch, method, reliable, timers)
        return transaction

    def _setup(
        self, data: bytes, branch: str | None, method: str, reliable: bool, timers: Timers
    ) -> None:
        self.reliable = reliable
        self.timers = timers
        self.state = TransactionState.TRYING
        self.branch = branch
        self.method = method
        self._data = data
        self._started = False
        self._interval = timers.t1
        self._timer_e: float | None = None
        self._timer_f: float | None = None
        self._timer_k: float | None = None

    @property
    def terminated(self) -> bool:
        return self.state is TransactionState.TERMINATED

    def start(self, now: float) -> list[Transmit]:
        """Send the request for the first time and arm Timers E and F."""
        if self._started:
            raise SipStateError("client transaction already started")
        self._started = True
        self._timer_f = now + 64 * self.timers.t1
        if not self.reliable:
            self._timer_e = now + self._interval
        return [Transmit(self._data)]

    def matches(self, response: Response) -> bool:
        """RFC 3261 §17.1.3: same top Via branch and same CSeq method (False if unreadable)."""
        try:
            return response.vias[0].branch == self.branch and response.cseq[1] == self.method
        except SipParseError:
            return False

    def receive(self, response: Response, now: float) -> list[TransactionOutput]:
        """Feed a response; the caller may pass any response, foreign ones are ignored."""
        if not self._started or not self.matches(response):
            return []
        next_state = CLIENT_TRANSITIONS.get((self.state, _kind(response)))
        if next_state is None:
            return []
        self.state = next_state
        if next_state is TransactionState.PROCEEDING and self._timer_e is not None:
            self._interval = self.timers.t2
        elif next_state is TransactionState.COMPLETED:
            self._timer_e = self._timer_f = None
            if self.reliable:
                self.state = TransactionState.TERMINATED
            else:
                self._timer_k = now + self.timers.t4
        return [ResponseReceived(response)]

    def get_timer(self) -> float | None:
        deadlines = [t for t in (self._timer_e, self._timer_f, self._timer_k) if t is not None]
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> list[Transmit | TransactionTimedOut]:
        if self._timer_f is not None and now >= self._timer_f:
            self.state = CLIENT_TRANSITIONS[(self.state, "timer_f")]
            self._timer_e = self._timer_f = None
            return [TransactionTimedOut()]
        if self._timer_k is not None and now >= self._timer_k:
            self.state = CLIENT_TRANSITIONS[(self.state, "timer_k")]
            self._timer_k = None
            return []
        if self._timer_e is not None and now >= self._timer_e:
            if self.state is TransactionState.TRYING:
                self._interval = min(self._interval * 2, self.timers.t2)
            self._timer_e = now + self._interval
            return [Transmit(self._data)]
        return []

    def abort(self) -> None:
        """End the transaction at once (transport error, failover, shutdown)."""
        self.state = TransactionState.TERMINATED
        self._timer_e = self._timer_f = self._timer_k = None


def server_transaction_key(request: Request) -> tuple[str, ...]:
    """The RFC 3261 §17.2.3 key that matches a request to its server transaction."""
    via = request.vias[0]
    method = "INVITE" if request.method == "ACK" else request.method
    if via.branch is not None and via.branch.startswith(MAGIC_COOKIE):
        return (via.branch, via.sent_by, method)
    return (
        request.call_id,
        str(request.cseq[0]),
        request.from_address.tag or "",
        str(via),
        method,
    )


class ServerTransaction:
    """A non-INVITE server transaction: absorbs retransmissions, caches the last response.

    It keeps its key and the last response, not the request: a registrar holds thousands of
    them for Timer J. Its `key` is `server_transaction_key` joined into one string (one
    object instead of a tuple and its two strings)."""

    __slots__ = ("_last", "_timer_j", "key", "reliable", "state", "timers")

    def __init__(
        self, request: Request, *, reliable: bool, timers: Timers = DEFAULT_TIMERS
    ) -> None:
        self.reliable = reliable
        self.timers = timers
        self.key = _joined_key(request)
        self.state = TransactionState.TRYING
        self._last: bytes | None = None
        self._timer_j: float | None = None

    @classmethod
    def _completed(cls, key: str, last: bytes) -> ServerTransaction:
        """A completed UDP transaction the table kept as its answer alone."""
        transaction = cls.__new__(cls)
        transaction.reliable = False
        transaction.timers = DEFAULT_TIMERS
        transaction.key = key
        transaction.state = TransactionState.COMPLETED
        transaction._last = last
        transaction._timer_j = None
        return transaction

    @property
    def terminated(self) -> bool:
        return self.state is TransactionState.TERMINATED

    def respond(self, response: Response, now: float) -> list[TransactionOutput]:
        """Send a response from the transaction user."""
        if self.state is _S.TRYING and response.status_code >= 200:
            next_state: TransactionState | None = _S.COMPLETED  # the table's, without the
            # hash of an enum member (a Python-level __hash__) in its key
        else:
            next_state = SERVER_TRANSITIONS.get((self.state, _kind(response)))
        if next_state is None:
            raise SipStateError(f"cannot send a response in state {self.state.value}")
        self.state = next_state
        self._last = response.to_bytes()
        if next_state is TransactionState.COMPLETED:
            if self.reliable:
                self.state = TransactionState.TERMINATED
            else:
                self._timer_j = now + 64 * self.timers.t1
        return [Transmit(self._last)]

    def receive(self, request: Request, now: float) -> list[TransactionOutput]:
        """A retransmission of the request: resend the last response, if any."""
        if self._last is None or self.terminated:
            return []
        return [Transmit(self._last)]

    def get_timer(self) -> float | None:
        return self._timer_j

    def handle_timer(self, now: float) -> list[TransactionOutput]:
        if self._timer_j is not None and now >= self._timer_j:
            self.state = SERVER_TRANSITIONS[(self.state, "timer_j")]
            self._timer_j = None
        return []


def _joined_key(request: Request) -> str:
    return "\x00".join(server_transaction_key(request))


class ServerTransactionTable:
    """Server transactions by key, with one timer for all of them, bounded in size.

    When full, the oldest transaction is dropped; a retransmission of its request then looks
    new, which costs one duplicate answer but no unbounded memory.

    A transaction awaiting Timer J is kept as its answer's bytes alone, under its key (not
    the transaction object with its timer): a registrar keeps thousands of them for 32 s.
    `find` gives a retransmission a completed transaction holding those bytes, so it is
    answered with the same bytes and never reaches the transaction user again. Their keys
    wait in one list per whole second of their Timer J deadline (rounded up, so a kept
    answer goes at most a second late), in the order answered: every transaction of the
    table has the same Timer J, so that is the order due.
    """

    def __init__(self, *, max_size: int = 10_000) -> None:
        self._max_size = max_size
        self._transactions: dict[str, ServerTransaction | bytes] = {}
        self._completed: deque[tuple[int, list[str]]] = deque()  # (second due, keys)

    def __len__(self) -> int:
        return len(self._transactions)

    def find(self, request: Request) -> ServerTransaction | None:
        return self.find_key(_joined_key(request))

    def find_key(self, key: str) -> ServerTransaction | None:
        """`find` by a transaction's `key` (a new transaction's, made first)."""
        found = self._transactions.get(key)
        if found is None or type(found) is ServerTransaction:
            return found
        return ServerTransaction._completed(key, found)  # type: ignore[arg-type]

    def add(self, transaction: ServerTransaction) -> None:
        self._transactions.pop(transaction.key, None)
        self._transactions[transaction.key] = transaction
        while len(self._transactions) > self._max_size:
            del self._transactions[next(iter(self._transactions))]

    def respond(
        self, transaction: ServerTransaction, response: Response, now: float
    ) -> list[TransactionOutput]:
        """Send through `transaction` and schedule its cleanup."""
        outputs = transaction.respond(response, now)
        key = transaction.key
        if transaction.terminated:
            if self._transactions.get(key) is transaction:
                del self._transactions[key]
            return outputs
        deadline = transaction.get_timer()
        if deadline is not None and self._transactions.get(key) is transaction:
            self._transactions[key] = transaction._last  # type: ignore[assignment]
            due = -int(-deadline // 1)  # rounded up to the second
            completed = self._completed
            if completed and completed[-1][0] >= due:
                completed[-1][1].append(key)
            else:
                completed.append((due, [key]))
        return outputs

    def get_timer(self) -> float | None:
        completed = self._completed
        return float(completed[0][0]) if completed else None

    def handle_timer(self, now: float) -> None:
        completed = self._completed
        transactions = self._transactions
        while completed and completed[0][0] <= now:
            for key in completed.popleft()[1]:
                if type(transactions.get(key)) is bytes:  # not added again since
                    del transactions[key]
