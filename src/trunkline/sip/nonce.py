"""Registrar-side nonces: stateless HMAC nonces and the `nc` replay guard (sip-registration.md §6).

Rules:

* A nonce is `hex(ts) "." rand "." HMAC-SHA256(secret, hex(ts) ":" rand)[:24]`, where `ts` is the
  issue time in whole seconds and `rand` 16 hex digits. Nothing is stored per nonce.
* A nonce is INVALID when it does not have that shape or its MAC does not match (checked with
  `hmac.compare_digest`); STALE when authentic but more than `ttl` seconds old (or more than
  `ttl` in the future, after a clock step); VALID otherwise.
* Time is always passed in (`now`, seconds); this module never reads a clock.
* `rand` is 8 bytes of `secrets.token_bytes`, drawn `_POOL_NONCES` nonces' worth at a time
  (one getrandom call a pool, not one a challenge) unless a `random_source` is passed in.
* Replay guard: per nonce, the highest `nc` accepted so far. An `nc` that is not higher is a
  replay. Only requests that passed the password check are recorded, so an unauthenticated
  message never changes the guard.
* The guard is bounded (`max_entries`). Evicting an entry raises a watermark: a nonce issued
  at or before the watermark and no longer in the table counts as a replay, so eviction can
  cost a client one extra challenge but never lets a replay through. Once full, the oldest
  recorded are evicted in batches of `max_entries // 64`. Entries older than `ttl` are
  dropped first (looked for once a second), since their nonces are stale anyway. Entries
  are compact (a nonce's hash, its issue second and `nc` in one int): a nonce sharing
  another's hash can cost a client one extra challenge, never let a replay through.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable

__all__ = ["NonceIssuer", "NonceStatus", "ReplayGuard", "hmac_sha256"]

_NONCE_RE = re.compile(r"([0-9a-f]{1,12})\.([0-9a-f]{16})\.([0-9a-f]{24})")


_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


def hmac_sha256(secret: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA256 under `secret` (RFC 2104) as a function of the message: the digest
    `hmac.digest(secret, data, "sha256")` gives, with the key's two pads hashed once here
    rather than on every call (callgrind: ~12k instructions a call instead of ~24k)."""
    if len(secret) > 64:  # SHA-256's block size
        secret = hashlib.sha256(secret).digest()
    secret = secret.ljust(64, b"\0")
    inner = hashlib.sha256(secret.translate(_IPAD))
    outer = hashlib.sha256(secret.translate(_OPAD))

    def mac(data: bytes) -> bytes:
        hashed = inner.copy()
        hashed.update(data)
        result = outer.copy()
        result.update(hashed.digest())
        return result.digest()

    return mac


class NonceStatus(enum.Enum):
    VALID = "valid"
    STALE = "stale"
    INVALID = "invalid"


class NonceIssuer:
    """Issues and checks stateless HMAC nonces."""

    def __init__(
        self,
        secret: bytes,
        *,
        ttl: float = 300.0,
        random_source: Callable[[int], bytes] | None = None,
    ) -> None:
        self._hmac = hmac_sha256(secret)
        self.ttl = ttl
        self._random_source = random_source
        self._pool = ""  # hex of random bytes not yet used (random_source None)
        self._taken = 0
        # The last nonces issued (cleared when full), with their issue time: the REGISTER
        # answering a challenge comes within milliseconds and needs no MAC to be checked.
        self._issued: dict[str, float] = {}

    def _mac(self, stamp: str, rand: str) -> str:
        return self._hmac(f"{stamp}:{rand}".encode()).hex()[:24]

    def issue(self, now: float) -> str:
        """A fresh nonce stamped with `now`."""
        second = max(0, int(now))
        stamp = f"{second:x}"
        if self._random_source is not None:
            rand = self._random_source(8).hex()
        else:  # the next 16 hex digits of the pool, drawn again when used up
            taken = self._taken
            if taken >= len(self._pool):
                self._pool, taken = secrets.token_bytes(8 * _POOL_NONCES).hex(), 0
            self._taken = taken + 16
            rand = self._pool[taken : taken + 16]
        nonce = f"{stamp}.{rand}.{self._mac(stamp, rand)}"
        issued = self._issued
        if len(issued) >= _ISSUED_KEPT:
            issued.clear()
        issued[nonce] = float(second)
        return nonce

    def issued_at(self, nonce: str) -> float | None:
        """The issue time of an authentic nonce, or None when it is not one of ours."""
        kept = self._issued.get(nonce)
        if kept is not None:  # issued lately: authentic (its MAC would match)
            return kept
        match = _NONCE_RE.fullmatch(nonce)
        if match is None:
            return None
        stamp, rand, mac = match.groups()
        if not hmac.compare_digest(mac, self._mac(stamp, rand)):
            return None
        return float(int(stamp, 16))

    def check(self, nonce: str, now: float) -> NonceStatus:
        issued = self.issued_at(nonce)
        if issued is None:
            return NonceStatus.INVALID
        if abs(now - issued) > self.ttl:
            return NonceStatus.STALE
        return NonceStatus.VALID


class ReplayGuard:
    """The highest `nc` accepted per nonce, bounded in size.

    Compact, as a registrar keeps one entry per phone that registered in the last `ttl`
    seconds: a nonce is held as its `hash()` cut to 60 bits (an int, not its ~50
    characters) and its entry as one int packing the issue second (counted from
    `_EPOCH`) and `nc` (0 .. 2**32 - 1, the 8 hex digits of a digest's `nc`). Both fit in
    60 bits until 2032, an int of 32 bytes instead of 48 (a 64-bit one): about 70 bytes an
    entry. Two nonces with the same
    hash share an entry, which can only make one of them look replayed (one extra
    challenge), never let a replay through: the entry holds the higher `nc` of the two.
    """

    def __init__(self, *, max_entries: int = 10_000, ttl: float = 300.0) -> None:
        self._max_entries = max_entries
        self._ttl = ttl
        self._entries: dict[int, int] = {}  # hash -> (issued second - _EPOCH) << 32 | nc
        self._watermark = float("-inf")
        self._swept: int | None = None  # the second whose record last looked for expired

    def __len__(self) -> int:
        return len(self._entries)

    def is_replay(self, nonce: str, nc: int, *, issued_at: float) -> bool:
        """True when `nc` is not above the highest accepted for `nonce`."""
        entry = self._entries.get(hash(nonce) & _KEY_MASK)
        if entry is None:
            return issued_at <= self._watermark
        return nc <= entry & _NC_MASK

    def record(self, nonce: str, nc: int, *, issued_at: float, now: float) -> None:
        """Remember `nc` as accepted for `nonce` (call only after a successful password check)."""
        if not 0 <= nc <= _NC_MASK:
            raise ValueError("nc is 8 hex digits")
        entries = self._entries
        key = hash(nonce) & _KEY_MASK
        previous = entries.pop(key, None)
        if previous is not None:  # a hash shared by two nonces: keep the higher nc
            nc = max(nc, previous & _NC_MASK)
        entries[key] = ((int(issued_at) - _EPOCH) << 32) | nc
        second = int(now)
        if len(entries) > self._max_entries or second != self._swept:
            self._swept = second
            self._drop(now)

    def _drop(self, now: float) -> None:
        """Drop entries from the oldest recorded: past their ttl, then over `max_entries`
        (raising the watermark). Once over, a batch of `max_entries // 64` more goes with
        them: each look at the dict's oldest walks past the slots deleted before it, so
        the walk is paid once a batch rather than once a record (~2 us a record at 10,000
        entries); expired entries are looked for once a second (never consulted again:
        their nonces are stale)."""
        entries = self._entries
        limit = self._max_entries
        if len(entries) > limit:
            limit -= limit // 64
        size = len(entries)
        ttl = self._ttl
        watermark = self._watermark
        doomed: list[int] = []
        for key, entry in entries.items():
            issued = (entry >> 32) + _EPOCH
            if issued + ttl < now:
                doomed.append(key)
            elif size - len(doomed) > limit:
                doomed.append(key)
                watermark = max(watermark, issued)
            else:
                break
        for key in doomed:
            del entries[key]
        self._watermark = watermark


_POOL_NONCES = 256  # the rands drawn at once: 4 KiB of hex
_ISSUED_KEPT = 512  # ~2.5 s of a burst of 200 phones a second (see PARSE_CACHE in headers.py)
_NC_MASK = 0xFFFFFFFF
_KEY_MASK = (1 << 60) - 1
_EPOCH = 1_700_000_000  # 2023-11-14: an issue second after it is kept in 28 bits until 2032
