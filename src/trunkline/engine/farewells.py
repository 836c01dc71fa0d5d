"""The farewells of the supervisor's lines: `Expires: 0` for bindings a line no longer wants,
and forgetting a line without one (`drop`: fenced off, or handed to another cluster node).

Rules: a farewell goes only for a binding the line holds (registered or refreshing) on a
channel still usable, never while the supervisor stops; it is given `FAREWELL_TIMEOUT`
seconds. A line whose farewells are done and which was removed leaves the Call-ID map.
"""

from __future__ import annotations

from collections import Counter

from trunkline.engine.runner import FAREWELL_TIMEOUT, Farewell, LineRunner
from trunkline.sip.lifecycle import LineState
from trunkline.sip.registration import RegistrationOutput, Unregistered
from trunkline.sip.transaction import Transmit

__all__ = ["Farewells"]


class Farewells:
    """The part of the supervisor that says goodbye (its state lives in `Supervisor`)."""

    runners: dict[tuple[int, int], LineRunner]
    _by_call_id: dict[str, LineRunner]
    _transacting: set[LineRunner]
    stats: Counter[str]
    stopping: bool

    def drop(self, key: tuple[int, int]) -> None:
        """Forget the line at once: no farewell, nothing more sent (fenced, or handed over)."""
        runner = self.runners.pop(key, None)
        if runner is None:
            return
        runner.generation += 1
        runner.removed = True
        runner.registration.cancel()
        for farewell in runner.farewells:
            farewell.registration.cancel()
        runner.farewells.clear()
        runner.lifecycle.stop()
        self._transacting.discard(runner)
        if self._by_call_id.get(runner.registration.call_id) is runner:
            del self._by_call_id[runner.registration.call_id]

    def _farewell(self, runner: LineRunner, now: float) -> None:
        holds_binding = runner.lifecycle.state in (LineState.REGISTERED, LineState.REFRESHING)
        registration, channel = runner.registration, runner.channel
        registration.cancel()
        if not holds_binding or channel is None or not channel.usable or self.stopping:
            return
        farewell = Farewell(registration, channel, now + FAREWELL_TIMEOUT)
        runner.farewells.append(farewell)
        self.stats["unregister_sent"] += 1
        self._process_farewell(runner, farewell, registration.unregister(channel.flow, now))

    def _process_farewell(
        self, runner: LineRunner, farewell: Farewell, outputs: list[RegistrationOutput]
    ) -> None:
        for output in outputs:
            if isinstance(output, Transmit):
                farewell.channel.send(output.data)
            elif farewell in runner.farewells:
                if isinstance(output, Unregistered):
                    self.stats["unregistered"] += 1
                runner.farewells.remove(farewell)
        self._retire(runner)

    def _retire(self, runner: LineRunner) -> None:
        call_id = runner.registration.call_id
        if runner.removed and not runner.farewells and self._by_call_id.get(call_id) is runner:
            del self._by_call_id[call_id]
