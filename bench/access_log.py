"""What the access log costs a REST call: the same `voximplant.sip.get` in-process (ASGI,
no HTTP server) with the access line written (our format, to /dev/null) and without,
alternated in rounds so load hits both alike; then the call-log observer alone, on one
record, with its line and without.

    .venv/bin/python bench/access_log.py [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
import timeit

from trunkline.cli.logs import FORMAT
from trunkline.domain.portals import Portal, User
from trunkline.domain.principal import WEBHOOK, Principal
from trunkline.rest.calllog import CallLog
from trunkline.rest.record import CallRecord
from trunkline.testing import inprocess


def observer_alone(number: int = 20000) -> dict[str, float]:
    """µs per record of the observer with its access line and without (after `measure`
    set up the handler)."""
    portal = Portal(1, "a.example", "m" * 32, "A", "UTC", "en", "en_project")
    user = User(1, 1, "admin", "", "", True, True, True)
    principal = Principal(portal, user, WEBHOOK, frozenset({"telephony"}), None, 3)
    record = CallRecord("voximplant.sip.get", {}, principal, "a.example", 200, None, 0.001)
    found = {}
    for mode in ("on", "off"):
        observer = CallLog(["voximplant.sip.get"], access=mode == "on")
        found[mode] = timeit.timeit(lambda o=observer: o(record), number=number) / number * 1e6
    return found


async def measure(calls: int, rounds: int) -> dict[str, list[float]]:
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    handler.setFormatter(logging.Formatter(FORMAT))
    logger = logging.getLogger("trunkline")
    logger.addHandler(handler)
    logger.propagate = False
    found: dict[str, list[float]] = {"on": [], "off": []}
    async with inprocess() as client:
        assert client.app.rest is not None
        (calllog,) = client.app.rest.dispatcher.observers
        url = client.webhook_url + "voximplant.sip.get"
        for _ in range(200):  # warm up
            await client.post(url)
        for _ in range(rounds):
            for mode in ("on", "off"):
                calllog.access = mode == "on"  # type: ignore[attr-defined]
                logger.setLevel(logging.INFO)
                begin = time.perf_counter()
                for _ in range(calls):
                    await client.post(url)
                found[mode].append((time.perf_counter() - begin) / calls * 1e6)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    found = asyncio.run(measure(args.calls, args.rounds))
    on, off = statistics.median(found["on"]), statistics.median(found["off"])
    with open("/proc/loadavg") as file:
        load = file.read().split()[:3]
    print(f"{args.rounds} rounds of {args.calls} calls; load average {' '.join(load)}")
    print(f"access log on:  {on:7.1f} µs a call (median of rounds)")
    print(f"access log off: {off:7.1f} µs a call")
    print(f"cost: {on - off:+.1f} µs a call ({on / off:.3f}×)")
    alone = observer_alone()
    print(f"the observer alone: {alone['on']:.1f} µs with its line, {alone['off']:.1f} µs without")
    return 0


if __name__ == "__main__":
    sys.exit(main())
