"""Registrar nonces and the nc replay guard."""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trunkline.sip.nonce import NonceIssuer, NonceStatus, ReplayGuard, hmac_sha256

SECRET = b"test-secret"


def _issuer(ttl: float = 300.0) -> NonceIssuer:
    return NonceIssuer(SECRET, ttl=ttl, random_source=lambda n: bytes(range(n)))


def test_issue_has_documented_shape() -> None:
    nonce = _issuer().issue(1_000_000.0)
    stamp, rand, mac = nonce.split(".")
    assert int(stamp, 16) == 1_000_000
    assert rand == "0001020304050607"
    assert len(mac) == 24


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (0.0, NonceStatus.VALID),
        (300.0, NonceStatus.VALID),
        (300.5, NonceStatus.STALE),
        (-300.0, NonceStatus.VALID),
        (-301.0, NonceStatus.STALE),
    ],
)
def test_check_reports_stale_after_ttl(age: float, expected: NonceStatus) -> None:
    issuer = _issuer()
    nonce = issuer.issue(5000.0)
    assert issuer.check(nonce, 5000.0 + age) is expected


@pytest.mark.parametrize(
    "nonce",
    [
        "",
        "garbage",
        "3e8.0001020304050607.000000000000000000000000",
        "3E8.0001020304050607.000000000000000000000000",
        "3e8.0001020304050607",
    ],
)
def test_check_rejects_forged_nonces(nonce: str) -> None:
    assert _issuer().check(nonce, 1000.0) is NonceStatus.INVALID


def test_check_rejects_nonce_from_other_secret() -> None:
    other = NonceIssuer(b"other", random_source=lambda n: bytes(n))
    assert _issuer().check(other.issue(10.0), 10.0) is NonceStatus.INVALID
    assert _issuer().issued_at(other.issue(10.0)) is None


def test_issue_clamps_negative_time() -> None:
    issuer = _issuer()
    assert issuer.issued_at(issuer.issue(-5.0)) == 0.0


def test_issue_default_random_source_differs() -> None:
    issuer = NonceIssuer(SECRET)
    assert issuer.issue(1.0) != issuer.issue(1.0)


def test_replay_guard_accepts_rising_nc_only() -> None:
    guard = ReplayGuard()
    assert not guard.is_replay("n", 1, issued_at=0.0)
    guard.record("n", 1, issued_at=0.0, now=1.0)
    assert guard.is_replay("n", 1, issued_at=0.0)
    assert not guard.is_replay("n", 2, issued_at=0.0)
    guard.record("n", 5, issued_at=0.0, now=2.0)
    assert guard.is_replay("n", 4, issued_at=0.0)
    assert len(guard) == 1


def test_replay_guard_eviction_raises_watermark() -> None:
    guard = ReplayGuard(max_entries=2, ttl=1000.0)
    guard.record("a", 1, issued_at=10.0, now=10.0)
    guard.record("b", 1, issued_at=20.0, now=20.0)
    guard.record("c", 1, issued_at=30.0, now=30.0)
    assert len(guard) == 2
    assert guard.is_replay("a", 2, issued_at=10.0)
    assert guard.is_replay("older", 1, issued_at=5.0)
    assert not guard.is_replay("newer", 1, issued_at=31.0)
    assert not guard.is_replay("b", 2, issued_at=20.0)


def test_replay_guard_drops_entries_older_than_ttl() -> None:
    guard = ReplayGuard(max_entries=10, ttl=100.0)
    guard.record("a", 1, issued_at=0.0, now=0.0)
    guard.record("b", 1, issued_at=50.0, now=50.0)
    guard.record("c", 1, issued_at=150.0, now=150.0)
    assert len(guard) == 2
    assert not guard.is_replay("a", 1, issued_at=0.0)


def test_replay_guard_record_of_expired_nonce_keeps_nothing() -> None:
    guard = ReplayGuard(ttl=100.0)
    guard.record("old", 1, issued_at=0.0, now=1000.0)
    assert len(guard) == 0


def test_replay_guard_keeps_full_nc_range_with_real_issue_times() -> None:
    guard = ReplayGuard(ttl=300.0)
    issued = 1_796_000_000.0  # a 2026 epoch second, as NonceIssuer stamps
    guard.record("n", 0xFFFFFFFE, issued_at=issued, now=issued + 1)
    assert guard.is_replay("n", 0xFFFFFFFE, issued_at=issued)
    assert not guard.is_replay("n", 0xFFFFFFFF, issued_at=issued)
    guard.record("m", 1, issued_at=issued + 400, now=issued + 400)  # "n" is past its ttl
    assert len(guard) == 1


def test_replay_guard_refuses_nc_outside_eight_hex_digits() -> None:
    guard = ReplayGuard()
    with pytest.raises(ValueError):
        guard.record("n", 2**32, issued_at=0.0, now=1.0)
    with pytest.raises(ValueError):
        guard.record("n", -1, issued_at=0.0, now=1.0)
    assert len(guard) == 0


def test_replay_guard_nonces_sharing_a_hash_never_let_a_replay_through(monkeypatch) -> None:
    from trunkline.sip import nonce as module

    monkeypatch.setattr(module, "hash", lambda _text: 7, raising=False)
    guard = ReplayGuard()
    guard.record("a", 5, issued_at=10.0, now=10.0)
    guard.record("b", 1, issued_at=10.0, now=10.0)  # shares a's entry: keeps the higher nc
    assert guard.is_replay("a", 5, issued_at=10.0)
    assert guard.is_replay("b", 1, issued_at=10.0)
    assert len(guard) == 1


def test_replay_guard_entries_are_ints_of_60_bits_with_real_issue_times() -> None:
    guard = ReplayGuard(ttl=300.0)
    issued = 1_796_000_000.0
    for i in range(200):
        guard.record(
            f"{i:x}.0123456789abcdef.0123456789abcdef01234567",
            0xFFFFFFFF,
            issued_at=issued,
            now=issued,
        )
    # 32-byte ints, not 48-byte ones (a 64-bit hash, an issue second shifted past bit 60)
    assert all(k.bit_length() <= 60 and v.bit_length() <= 60 for k, v in guard._entries.items())
    assert guard.is_replay(
        "0.0123456789abcdef.0123456789abcdef01234567", 0xFFFFFFFF, issued_at=issued
    )
    guard.record("late", 1, issued_at=issued + 400, now=issued + 400)  # the others' ttl passed
    assert len(guard) == 1


@settings(max_examples=300)
@given(secret=st.binary(max_size=200), data=st.binary(max_size=300))
def test_hmac_sha256_is_the_standard_hmac(secret: bytes, data: bytes) -> None:
    # the pads hashed once: the same digest as hmac.digest, for keys above the block too
    mac = hmac_sha256(secret)
    assert mac(data) == hmac.digest(secret, data, "sha256")
    assert mac(b"again") == hmac.digest(secret, b"again", "sha256")


def test_nonce_mac_is_hmac_sha256_of_stamp_and_rand() -> None:
    stamp, rand, mac = _issuer().issue(1_000_000.0).split(".")
    expected = hmac.digest(SECRET, f"{stamp}:{rand}".encode(), "sha256").hex()[:24]
    assert mac == expected


def test_issued_at_of_kept_nonces_is_that_of_the_mac_check() -> None:
    # the nonces issued lately are known without their MAC: the same answers as a fresh
    # issuer (nothing kept) gives, before and after the kept ones are cleared
    from trunkline.sip import nonce as module

    issuer = NonceIssuer(SECRET, random_source=lambda n: bytes([7]) * n)
    fresh = NonceIssuer(SECRET)
    issued = [issuer.issue(1_000_000.0 + i / 3) for i in range(module._ISSUED_KEPT + 5)]
    issued.append(issuer.issue(-5.0))
    assert len(issuer._issued) <= module._ISSUED_KEPT
    for nonce in issued:
        assert issuer.issued_at(nonce) == fresh.issued_at(nonce) is not None
    forged = issued[-2][:-1] + ("0" if issued[-2][-1] != "0" else "1")
    assert issuer.issued_at(forged) is None


def test_default_rands_are_the_pool_drawn_once_for_many(monkeypatch: pytest.MonkeyPatch) -> None:
    # without a random_source, a rand is the next 8 bytes of secrets.token_bytes drawn a
    # pool at a time: the same rands, in order, as one token_bytes(8) a nonce would give
    from trunkline.sip import nonce as module

    drawn: list[bytes] = []

    def token_bytes(n: int) -> bytes:
        chunk = bytes((len(drawn) * 31 + i) % 256 for i in range(n))
        drawn.append(chunk)
        return chunk

    monkeypatch.setattr(module.secrets, "token_bytes", token_bytes)
    issuer = NonceIssuer(SECRET)
    count = 2 * module._POOL_NONCES + 3
    rands = [issuer.issue(1_000_000.0).split(".")[1] for _ in range(count)]
    assert len(drawn) == 3 and {len(chunk) for chunk in drawn} == {8 * module._POOL_NONCES}
    stream = b"".join(drawn)
    assert rands == [stream[8 * i : 8 * i + 8].hex() for i in range(count)]
    for nonce in [issuer.issue(5.0), issuer.issue(6.0)]:
        assert NonceIssuer(SECRET).issued_at(nonce) is not None  # authentic by its MAC


def test_default_rands_differ_past_the_pool() -> None:
    from trunkline.sip import nonce as module

    issuer = NonceIssuer(SECRET)
    nonces = [issuer.issue(1.0) for _ in range(3 * module._POOL_NONCES)]
    rands = [nonce.split(".")[1] for nonce in nonces]
    assert len(set(rands)) == len(rands)
    assert all(len(rand) == 16 and int(rand, 16) >= 0 for rand in rands)


class _OneByOneGuard:
    """The guard as it was: the oldest looked at after every record, one at a time."""

    def __init__(self, max_entries: int, ttl: float) -> None:
        self.max_entries, self.ttl = max_entries, ttl
        self.entries: dict[str, tuple[float, int]] = {}
        self.watermark = float("-inf")

    def is_replay(self, nonce: str, nc: int, issued_at: float) -> bool:
        entry = self.entries.get(nonce)
        return issued_at <= self.watermark if entry is None else nc <= entry[1]

    def record(self, nonce: str, nc: int, issued_at: float, now: float) -> None:
        previous = self.entries.pop(nonce, None)
        self.entries[nonce] = (float(int(issued_at)), max(nc, previous[1] if previous else 0))
        while self.entries:
            oldest = next(iter(self.entries))
            issued = self.entries[oldest][0]
            if issued + self.ttl < now:
                del self.entries[oldest]
            elif len(self.entries) > self.max_entries:
                del self.entries[oldest]
                self.watermark = max(self.watermark, issued)
            else:
                break


_RECORDS = st.lists(
    st.tuples(
        st.integers(0, 40),  # the nonce
        st.integers(1, 5),  # its nc
        st.integers(0, 30),  # issued this many seconds before now
        st.sampled_from([0.0, 0.25, 0.5, 1.0, 7.0, 30.0]),  # now moves on by
    ),
    max_size=120,
)


@settings(max_examples=300)
@given(records=_RECORDS, max_entries=st.integers(1, 63), ttl=st.sampled_from([10.0, 25.0]))
def test_replay_guard_answers_as_one_at_a_time(
    records: list[tuple[int, int, int, float]], max_entries: int, ttl: float
) -> None:
    # below 64 entries no batch: the same answers for every nonce not past its ttl (the
    # registrar asks only for those: an older one is stale) as the guard that looked at
    # its oldest after every record
    guard, model = ReplayGuard(max_entries=max_entries, ttl=ttl), _OneByOneGuard(max_entries, ttl)
    now = 1_800_000_000.0
    issued_of: dict[int, float] = {}
    for nonce, nc, age, step in records:
        now += step
        issued = issued_of.setdefault(nonce, float(int(now) - age))
        guard.record(f"n{nonce}", nc, issued_at=issued, now=now)
        model.record(f"n{nonce}", nc, issued, now)
        for other, when in issued_of.items():
            if when + ttl >= now:
                for probe in (1, 3, 5, 6):
                    assert guard.is_replay(f"n{other}", probe, issued_at=when) == (
                        model.is_replay(f"n{other}", probe, when)
                    )
        assert len(guard) >= len(model.entries)


@settings(max_examples=100)
@given(records=_RECORDS, max_entries=st.integers(64, 90))
def test_replay_guard_in_batches_never_lets_a_replay_through(
    records: list[tuple[int, int, int, float]], max_entries: int
) -> None:
    guard = ReplayGuard(max_entries=max_entries, ttl=25.0)
    now = 1_800_000_000.0
    accepted: dict[str, tuple[float, int]] = {}
    for nonce, nc, age, step in records:
        now += step
        for name in (f"n{nonce}", f"b{nonce}-{len(accepted)}", f"c{nonce}-{len(accepted)}"):
            issued = accepted[name][0] if name in accepted else float(int(now) - age)
            top = max(nc, accepted[name][1] if name in accepted else 0)
            guard.record(name, nc, issued_at=issued, now=now)
            accepted[name] = (issued, top)
        assert len(guard) <= max_entries
        for name, (issued, top) in accepted.items():
            if issued + 25.0 >= now:  # (an older nonce is stale: never asked for)
                assert guard.is_replay(name, top, issued_at=issued)  # recorded, or evicted


def test_replay_guard_evicts_a_batch_once_full() -> None:
    guard = ReplayGuard(max_entries=640, ttl=1000.0)
    for i in range(641):
        guard.record(f"n{i}", 1, issued_at=float(i), now=700.0)
    assert len(guard) == 630  # 11 evicted: one over and a batch of 640 // 64
    assert guard.is_replay("n10", 2, issued_at=10.0)  # under the watermark
    assert not guard.is_replay("n11", 2, issued_at=11.0)
