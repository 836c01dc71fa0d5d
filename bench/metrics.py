"""What the Prometheus metrics cost a REST call, on bench/run's three scenarios
(`voximplant.sip.get` 50-row page, one line by CONFIG_ID filter, `voximplant.sip.add`),
in-process (ASGI, no HTTP server) in prometheus-client's multiprocess mode as `serve`
runs it, with the metrics observer in the dispatcher and without, alternated in rounds
so load hits both alike, timed in CPU seconds of this process (the machine is shared);
then the observer alone on one record, and one flush of its tallies.

    .venv/bin/python bench/metrics.py [--calls 1000] [--rounds 5]
"""

from __future__ import annotations

import os
import tempfile

# serve's mode: prometheus-client reads this when it is first imported.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="bench-metrics-"))

import argparse
import asyncio
import logging
import statistics
import sys
import time
import timeit
from typing import Any

from trunkline.metrics.rest import RestMetrics
from trunkline.rest.record import CallRecord
from trunkline.testing import inprocess

SCENARIOS = ("page", "filter", "add")


async def observer_alone(number: int = 20000) -> tuple[float, float]:
    """µs per record of the metrics observer (on the event loop, as in a worker), and µs
    of one flush of its tallies."""
    record = CallRecord("voximplant.sip.get", {}, None, "a.example", 200, None, 0.001)
    observer = RestMetrics(["voximplant.sip.get"])
    per_record = timeit.timeit(lambda: observer(record), number=number) / number * 1e6
    flush = timeit.timeit(lambda: (observer(record), observer.flush()), number=2000) / 2000
    return per_record, flush * 1e6


async def measure(calls: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    logging.getLogger("trunkline").setLevel(logging.WARNING)
    found: dict[str, dict[str, list[float]]] = {s: {"on": [], "off": []} for s in SCENARIOS}
    async with inprocess(access_log=False) as client:
        assert client.app.rest is not None
        observers = client.app.rest.dispatcher.observers
        metrics = next(o for o in observers if isinstance(o, RestMetrics))
        hook = client.webhook_url
        for n in range(60):
            body = {"TYPE": "office", "TITLE": f"seed {n}", "SERVER": "pbx.example.com"}
            await client.post(hook + "voximplant.sip.add", json=body)
        counter = iter(range(10**9))
        requests: dict[str, Any] = {
            "page": lambda: client.post(hook + "voximplant.sip.get", json={}),
            "filter": lambda: client.post(
                hook + "voximplant.sip.get", json={"FILTER": {"CONFIG_ID": 7}}
            ),
            "add": lambda: client.post(
                hook + "voximplant.sip.add",
                json={"TYPE": "office", "TITLE": f"b{next(counter)}", "SERVER": "pbx.example"},
            ),
        }
        for scenario in SCENARIOS:
            for _ in range(100):  # warm up
                await requests[scenario]()
        for number in range(rounds):
            for scenario in SCENARIOS:
                for mode in ("on", "off") if number % 2 else ("off", "on"):
                    if mode == "on" and metrics not in observers:
                        observers.append(metrics)
                    elif mode == "off" and metrics in observers:
                        observers.remove(metrics)
                    begin = time.process_time()
                    for _ in range(calls):
                        await requests[scenario]()
                    found[scenario][mode].append((time.process_time() - begin) / calls * 1e6)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    found = asyncio.run(measure(args.calls, args.rounds))
    with open("/proc/loadavg") as file:
        load = file.read().split()[:3]
    print(f"{args.rounds} rounds of {args.calls} calls; load average {' '.join(load)}")
    print("| scenario | metrics on, µs CPU a call | metrics off | cost |")
    print("| --- | --- | --- | --- |")
    for scenario in SCENARIOS:
        on = statistics.median(found[scenario]["on"])
        off = statistics.median(found[scenario]["off"])
        print(f"| {scenario} | {on:.1f} | {off:.1f} | {(on / off - 1) * 100:+.1f} % |")
    per_record, flush = asyncio.run(observer_alone())
    print(f"the observer alone: {per_record:.2f} µs a record, {flush:.1f} µs a flush")
    return 0


if __name__ == "__main__":
    sys.exit(main())
