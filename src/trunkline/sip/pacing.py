"""Kind to providers: a cap on REGISTERs per second per provider host and per AOR, and a
jittered ramp after an outage.

Rules:

* Every attempt reserves a slot before it starts (`reserve`). Its cost is the number of
  REGISTERs it is expected to send: 1 for a refresh that authenticates with the remembered
  nonce, 2 for an attempt that will be challenged, plus 1 for a wildcard clear of a line
  taken over from another node. Per provider host (SERVER, or OUTBOUND_PROXY when set, as
  written) slots are spaced `cost / host_rate` apart; per AOR one attempt takes
  `1 / aor_rate`. A line due while the queue is long starts at its slot, not before:
  1,000 lines due at once towards one host start over about 1000 * cost / host_rate seconds.
* A slot that had to wait starts at a random point inside its own spacing, so the lines of
  a queue do not tick in lockstep while the average rate stays the cap; any second holds at
  most one attempt more than the cap allows.
* Outage and ramp: `outage_after` temporary failures in a row towards a host (timeouts,
  503s, refused connections: whatever `policy.classify` calls temporary) with no success
  between them mark the host as down. While it is down its rate is `trickle` of the cap
  (probes). The first success starts a linear ramp from `trickle` to the full cap over
  `ramp` seconds (a queued slot gets the rate of its own time on the ramp), so the lines
  that waited through the outage come back spread out, not as a thundering herd.
  Failures during the ramp send the host back down.
* Memory is bounded: slot times already in the past are dropped when there are more than
  `max_keys` of them.
* `now` is passed in and randomness injected (the engine's; 0.5 when none is given);
  nothing here reads a clock or a random source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RegisterPacer"]


@dataclass
class _Health:
    failures: int = 0
    down: bool = False
    recovered_at: float | None = None


class RegisterPacer:
    """Slots for REGISTER attempts under a per-host and per-AOR rate."""

    def __init__(
        self,
        *,
        host_rate: float = 150.0,
        aor_rate: float = 5.0,
        outage_after: int = 3,
        trickle: float = 0.05,
        ramp: float = 10.0,
        random: Callable[[], float] = lambda: 0.5,
        max_keys: int = 100_000,
    ) -> None:
        if host_rate <= 0 or aor_rate <= 0:
            raise ValueError("REGISTER rates must be positive")
        self.host_rate = host_rate
        self.aor_rate = aor_rate
        self.outage_after = outage_after
        self.trickle = trickle
        self.ramp = ramp
        self._random = random
        self._max_keys = max_keys
        self._host_next: dict[str, float] = {}
        self._aor_next: dict[str, float] = {}
        self._health: dict[str, _Health] = {}

    def rate(self, host: str, now: float) -> float:
        """REGISTERs per second allowed towards `host` now."""
        health = self._health.get(host)
        if health is None or not health.down:
            return self.host_rate
        if health.recovered_at is None:
            return self.host_rate * self.trickle
        share = (now - health.recovered_at) / self.ramp if self.ramp > 0 else 1.0
        if share >= 1.0:
            health.down, health.recovered_at = False, None
            return self.host_rate
        return self.host_rate * max(self.trickle, share)

    def reserve(self, host: str, aor: str, now: float, cost: int = 1) -> float:
        """Take the next slot of an attempt of `cost` REGISTERs; when it may start."""
        start = max(now, self._host_next.get(host, now), self._aor_next.get(aor, now))
        rate = self.rate(host, start)  # the rate of the ramp at the slot, not now
        self._host_next[host] = start + cost / rate
        self._aor_next[aor] = start + 1 / self.aor_rate
        if start > now:  # queued: anywhere inside its own slot
            start += self._random() * cost / rate
        if len(self._aor_next) + len(self._host_next) > self._max_keys:
            self._prune(now)
        return start

    def failed(self, host: str) -> None:
        """A temporary failure towards `host` (timeout, 503, refused)."""
        health = self._health.setdefault(host, _Health())
        health.failures += 1
        if health.failures >= self.outage_after:
            health.down, health.recovered_at = True, None

    def succeeded(self, host: str, now: float) -> None:
        """A registration towards `host` succeeded."""
        health = self._health.get(host)
        if health is None:
            return
        health.failures = 0
        if health.down and health.recovered_at is None:
            health.recovered_at = now
        elif not health.down:
            del self._health[host]

    def _prune(self, now: float) -> None:
        self._aor_next = {k: v for k, v in self._aor_next.items() if v > now}
        self._host_next = {k: v for k, v in self._host_next.items() if v > now}
