"""The virtual clock for operators: the application clock moved, and every worker with it.

Rules:

* ``advance`` moves the clock forward by a number of seconds (never back: ``set`` goes
  anywhere), ``set`` makes it read a given moment (ISO 8601; UTC unless it says), and
  ``real`` goes back to the system clock with no offset. Real time keeps flowing from
  the moment set.
* The offset is kept in the database (``operator_values``, name ``clock_offset``); each
  worker's control plane rereads it (every ``control_poll_ms``) and applies it only when
  it changed, so an offset set by hand in a test (``app.clock.advance``) is not undone.
* Everything that reads the application clock moves: token, code and webhook expiry, the
  limit windows (operating time, rate bucket), re-registration windows, the ``time``
  block and ``server.time``, stored timestamps, simulated calls. The SIP engine's network
  timers (retransmissions, registration refresh) run on the event loop's clock and stay
  real.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from trunkline.domain.clock import Clock
from trunkline.storage.values import OperatorValues

OFFSET = "clock_offset"


class ClockError(ValueError):
    """A clock change that cannot be made: a message to show."""


class ClockService:
    def __init__(self, values: OperatorValues, clock: Clock) -> None:
        self.values = values
        self.clock = clock
        self.seen: str | None = None  # the stored offset last applied here

    def describe(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "now": now,
            "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
            "offset": self.clock.offset,
            "virtual": self.clock.virtual,
        }

    async def change(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply ``{"advance": s}``, ``{"set": iso}`` or ``{"real": true}`` here and store
        the offset for the other workers."""
        if len(body) != 1 or next(iter(body)) not in ("advance", "set", "real"):
            raise ClockError('give one of {"advance": seconds}, {"set": iso}, {"real": true}')
        name, value = next(iter(body.items()))
        if name == "advance":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ClockError(f"advance must be a number of seconds, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ClockError(f"advance must be zero or more seconds, got {value!r}")
            self.clock.advance(float(value))
        elif name == "set":
            self.clock.set(moment(value))
        else:
            if value is not True:
                raise ClockError(f"real must be true, got {value!r}")
            self.clock.real()
        await self.store()
        return self.describe()

    async def reset(self) -> None:
        """Back to no offset (an operator's reset of everything)."""
        self.clock.offset = 0.0
        await self.store()

    async def store(self) -> None:
        self.seen = repr(self.clock.offset)
        await self.values.put(OFFSET, self.seen)

    async def sync(self) -> None:
        """Apply the stored offset when it changed since this worker last saw it."""
        stored = await self.values.get(OFFSET)
        if stored is None or stored == self.seen:
            return
        self.seen = stored
        try:
            self.clock.offset = float(stored)
        except ValueError:  # not ours: leave the clock alone
            return


def moment(value: Any) -> float:
    if not isinstance(value, str):
        raise ClockError(f"set must be an ISO 8601 time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ClockError(f"set must be an ISO 8601 time, got {value!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
