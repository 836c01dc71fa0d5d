"""Generated ids and secrets, random or reproducible from a seed.

Rules:

* Without a seed every value comes from the operating system (``secrets``).
* With a seed (``--seed-ids N`` for every portal, or a scenario document's ``seed_ids``
  for its portal), the values drawn for one scope (a portal's domain; ``""`` for what
  belongs to no portal) are a fixed stream: HMAC-SHA256 of the seed over the scope and a
  counter. A portal's stream starts again when the portal is made (:meth:`Ids.restart`),
  so the same scenario built again, after a reset or on another server with the same
  seed, gets the same webhook codes, client ids and secrets, tokens, INCOMING_PASSWORDs
  and CALL_IDs, as long as the same calls are made in the same order (one worker).
* Unseeded CALL_IDs begin with the time (:meth:`Ids.ordered_hex`); seeded ones stay a pure
  stream, so they do not depend on when a test runs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


class Ids:
    """The one source of generated ids (satisfies ``services.calls.IdSource``)."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self.seeds: dict[str, int] = {}  # per-scope seeds (a scenario's seed_ids)
        self._drawn: dict[str, int] = {}

    def seed_scope(self, scope: str, seed: int | None) -> None:
        """Draw ``scope``'s values from ``seed`` (None: back to the global seed)."""
        if seed is None:
            self.seeds.pop(scope, None)
        else:
            self.seeds[scope] = seed
        self.restart(scope)

    def restart(self, scope: str | None = None) -> None:
        """Start ``scope``'s stream (every stream, with None) from the beginning."""
        if scope is None:
            self._drawn.clear()
        else:
            self._drawn.pop(scope, None)

    def _seed_of(self, scope: str) -> int | None:
        return self.seeds.get(scope, self.seed)

    def token_bytes(self, nbytes: int, scope: str = "") -> bytes:
        seed = self._seed_of(scope)
        if seed is None:
            return secrets.token_bytes(nbytes)
        out = b""
        while len(out) < nbytes:
            counter = self._drawn.get(scope, 0)
            self._drawn[scope] = counter + 1
            message = f"{scope}\x00{counter}".encode()
            out += hmac.new(str(seed).encode(), message, hashlib.sha256).digest()
        return out[:nbytes]

    def token_hex(self, nbytes: int, scope: str = "") -> str:
        if self._seed_of(scope) is None:
            return secrets.token_hex(nbytes)
        return self.token_bytes(nbytes, scope).hex()

    def ordered_hex(self, nbytes: int, scope: str, now: float) -> str:
        """``nbytes`` as hex that sorts by time (a CALL_ID's 32 digits): without a seed the
        first 12 digits are ``now`` in milliseconds and the rest random, so the ids a portal
        makes append to its ``(portal_id, call_id)`` index instead of landing anywhere in it
        (a 1M-row table wrote ~5x fewer index pages a commit); with a seed, the stream's."""
        if self._seed_of(scope) is None:
            return ordered_hex(nbytes, now)
        return self.token_bytes(nbytes, scope).hex()

    def text(self, alphabet: str, length: int, scope: str = "") -> str:
        """``length`` characters of ``alphabet``."""
        if self._seed_of(scope) is None:
            return "".join(secrets.choice(alphabet) for _ in range(length))
        return "".join(alphabet[b % len(alphabet)] for b in self.token_bytes(length, scope))


def ordered_hex(nbytes: int, now: float) -> str:
    """A 48-bit millisecond time, then ``nbytes - 6`` random bytes, as hex."""
    return f"{int(now * 1000) & 0xFFFF_FFFF_FFFF:012x}{secrets.token_hex(nbytes - 6)}"


SYSTEM = Ids()  # no seed: the operating system's randomness
