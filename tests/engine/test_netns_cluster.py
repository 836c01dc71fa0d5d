"""Three nodes in network namespaces behind HAProxy, sharing PostgreSQL and Redis, keeping
1,000 cloud lines registered at Kamailio (issue 13 "must show", counted at Kamailio).

* every line has exactly one binding, from exactly one node, and the lines spread within
  ±20 % over the nodes;
* after a kill -9 of a node, each of its lines is registered again from a survivor within
  10 s (the default 5 s lease);
* while a node is cut off for 30 s (its veth down), no line ever has live bindings from two
  nodes; when it comes back the spread evens out again.

Bounded: about two minutes on two cores; every process runs under `timeout` and every wait
has a limit.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.request
from collections import Counter
from typing import Any

import pytest

from tests.conftest import POSTGRES_URL, _drop_schema, require_postgres
from tests.engine.counting import seed_lines
from tests.engine.netns import Cluster, Kamailio, kamailio, require_netns
from trunkline.storage.secrets import new_key
from trunkline.storage.url import DatabaseUrl

pytestmark = pytest.mark.e2e

LINES = 1000


def _spread(bindings: dict[str, set[str]], cluster: Cluster) -> Counter[str]:
    return Counter(host for hosts in bindings.values() for host in hosts)


def _even(counts: Counter[str], nodes: int) -> bool:
    mean = LINES / nodes
    return len(counts) == nodes and all(abs(n - mean) <= 0.2 * mean for n in counts.values())


def _wait(condition: Any, timeout: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def _settled(kam: Kamailio, hosts: set[str]) -> bool:
    bindings = kam.bindings()
    return len(bindings) == LINES and all(len(h) == 1 and h <= hosts for h in bindings.values())


def test_three_nodes_in_namespaces_keep_1000_lines_registered_once(tmp_path):
    require_netns()
    require_postgres()
    cluster = Cluster.make(tmp_path, 3)
    schema = f"tl_netns_{secrets.token_hex(4)}"
    key = new_key()
    host_url = DatabaseUrl(f"{POSTGRES_URL}?schema={schema}")
    try:
        kam = kamailio(tmp_path / "kam", cluster.gateway)
        cluster.peers.append(kam.peer)
        env = {
            "TRUNKLINE_DATABASE_URL": f"postgresql://postgres@{cluster.gateway}:5432/test"
            f"?schema={schema}",
            "TRUNKLINE_REDIS_URL": f"redis://{cluster.gateway}:6379/0",
            "TRUNKLINE_REDIS_PREFIX": f"tl{cluster.tag}:",
            "TRUNKLINE_SECRET_KEY": key,
            "TRUNKLINE_SIP_ENGINE": "inprocess",
            "TRUNKLINE_SIP_PORT": "0",
            "TRUNKLINE_SIP_POLL_SECONDS": "1",
            "TRUNKLINE_SIP_EXPIRES": "600",
            # All 1,000 lines share one registrar host here, where a real cluster spreads them
            # over many providers: at the default 150/s a takeover of ~333 lines spends ~4.4 s
            # on REGISTERs (Contact: * then its own) after the 5 s lease, too close to the 10 s
            # it must take on a busy 2-core machine. The cap itself is tested in test_pacing.
            "TRUNKLINE_SIP_REGISTER_RATE_HOST": "600",
            "TRUNKLINE_LOG_LEVEL": "warning",
        }
        first, *others = cluster.nodes
        cluster.start_node(first, env)  # the first one migrates and seeds
        cluster.wait_healthy(first)
        for node in others:
            cluster.start_node(node, env)
        for node in others:
            cluster.wait_healthy(node)
        port = cluster.haproxy()
        seed_lines(host_url.raw, key, kam.server, LINES)
        hosts = {node.address for node in cluster.nodes}

        # one binding per line, from one node, spread within ±20 %
        assert _wait(
            lambda: _settled(kam, hosts) and _even(_spread(kam.bindings(), cluster), 3), 90
        ), _spread(kam.bindings(), cluster)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert response.status == 200  # through HAProxy

        # kill -9: a survivor registers each of the victim's lines within 10 s
        victim = cluster.nodes[1]
        orphans = {aor for aor, h in kam.bindings().items() if h == {victim.address}}
        cluster.kill(victim)
        killed = time.monotonic()
        survivors = hosts - {victim.address}

        def taken_over() -> bool:
            bindings = kam.bindings()
            return all(len(bindings.get(a, ())) == 1 and bindings[a] <= survivors for a in orphans)

        assert _wait(taken_over, 10.0, step=0.25), _spread(kam.bindings(), cluster)
        took = time.monotonic() - killed
        print(f"takeover of {len(orphans)} lines after kill -9: {took:.1f} s")
        assert took <= 10.5
        assert _settled(kam, survivors)

        # a node cut off for 30 s: never two live bindings from two nodes
        cut = cluster.nodes[2]
        cluster.cut(cut, down=True)
        doubles: list[str] = []
        ends = time.monotonic() + 30
        while time.monotonic() < ends:
            doubles += [a for a, h in kam.bindings().items() if len(h) > 1]
            time.sleep(0.5)
        assert not doubles, doubles[:5]
        remaining = {first.address}
        assert _wait(lambda: _settled(kam, remaining), 10), _spread(kam.bindings(), cluster)
        cluster.cut(cut, down=False)

        # it comes back: the spread evens out over the two live nodes, still one binding each
        back = {first.address, cut.address}

        def even_again() -> bool:
            bindings = kam.bindings()
            doubles.extend(a for a, h in bindings.items() if len(h) > 1)
            return _settled(kam, back) and _even(_spread(bindings, cluster), 2)

        assert _wait(even_again, 60), _spread(kam.bindings(), cluster)
        print(f"spread after the cut-off node came back: {dict(_spread(kam.bindings(), cluster))}")
        assert not doubles, doubles[:5]
        status = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
        )
        assert status
    finally:
        cluster.destroy()
        asyncio.run(_drop_schema(host_url))
