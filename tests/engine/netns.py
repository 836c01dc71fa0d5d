"""A small cluster made by a test: network namespaces, a bridge, TCP forwarders, HAProxy,
Kamailio (issue 13, real multi-node tests).

* One bridge on the host (`10.213.<n>.1/24`) and, per node, a network namespace joined to it
  by a veth pair (`10.213.<n>.<10+i>`). Taking the host end of a node's veth down cuts the
  node off from everything: PostgreSQL, Redis, Kamailio, HAProxy.
* PostgreSQL and Redis listen on the host's loopback only, so the test forwards
  `<bridge>:5432` and `<bridge>:6379` to them (a thread per direction, in this process).
* Kamailio registers on the bridge address with a fixed password and answers `ul.dump`
  through its JSON-RPC FIFO, so a test can count bindings per AOR and where they come from.
* HAProxy, from Debian's package, balances HTTP over the nodes (`/health` checks).

Everything is made with `ip` (iproute2) and needs root; without it the tests skip (or, under
CI, fail). Names carry a random tag and everything is deleted at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.engine.peers import KAMAILIO_MODULES, Peer, free_port


def require_netns() -> None:
    reason = None
    if os.geteuid() != 0:
        reason = "network namespaces need root"
    elif shutil.which("ip") is None or shutil.which("haproxy") is None:
        reason = "ip (iproute2) and haproxy are needed (apt-get install iproute2 haproxy)"
    elif shutil.which("kamailio") is None:
        reason = "kamailio not installed"
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the multi-node tests")
    pytest.skip(reason)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Forwarder:
    """TCP from (host, port) to (target_host, target_port), a thread per direction."""

    def __init__(self, host: str, port: int, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server((host, port), reuse_port=False)
        self.server.settimeout(0.2)
        self.closed = False
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.closed = True
        self.server.close()
        for sock in self.sockets:
            with suppress(OSError):
                sock.close()


KAMAILIO_CONFIG = """#!KAMAILIO
debug=0
log_stderror=yes
children=4
auto_aliases=no
dns=no
rev_dns=no
disable_tcp=yes
maxbuffer=4194304
listen=udp:{host}:{port}
mpath="{modules}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "kex.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "transport", 2)
modparam("jsonrpcs", "fifo_name", "{run}/rpc.fifo")
modparam("jsonrpcs", "fifo_reply_dir", "{run}/")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 30)
modparam("registrar", "max_expires", 3600)
modparam("auth", "secret", "netns-test-secret")
request_route {{
    if (!is_method("REGISTER")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    $var(rc) = pv_www_authenticate("$td", "p", "0");
    if ($var(rc) < 0) {{
        if ($var(rc) == -4) {{ www_challenge("$td", "17"); }} else {{ www_challenge("$td", "1"); }}
        exit;
    }}
    consume_credentials();
    save("location");
    exit;
}}
"""


@dataclass
class Kamailio:
    peer: Peer
    run: Path
    host: str
    port: int

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def rpc(self, method: str, *params: Any, timeout: float = 10.0) -> Any:
        reply = self.run / f"reply_{secrets.token_hex(4)}"
        os.mkfifo(reply)
        fd = os.open(reply, os.O_RDWR | os.O_NONBLOCK)
        try:
            request = {"jsonrpc": "2.0", "method": method, "params": list(params)}
            request.update(reply_name=reply.name, id=1)
            with open(self.run / "rpc.fifo", "w") as fifo:
                fifo.write(json.dumps(request) + "\n")
            data = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    data += os.read(fd, 1 << 20)
                    try:
                        return json.loads(data)
                    except ValueError:
                        continue
            raise AssertionError(f"no answer to {method}: {data[:200]!r}")
        finally:
            os.close(fd)
            reply.unlink()

    def bindings(self) -> dict[str, set[str]]:
        """AOR (user) -> the hosts of its live contacts, from `ul.dump`."""
        found: dict[str, set[str]] = {}

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "AoR" in node and "Contacts" in node:
                    hosts = set()
                    for item in node["Contacts"] or []:
                        contact = item.get("Contact", item)
                        address = str(contact.get("Address", ""))
                        hosts.add(address.split("@", 1)[-1].split(":", 1)[0])
                    found[str(node["AoR"])] = hosts
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.rpc("ul.dump"))
        return found


def kamailio(workdir: Path, host: str) -> Kamailio:
    run = workdir / "run"
    run.mkdir(parents=True, exist_ok=True)
    port = free_port(both=False)
    config = workdir / "registrar.cfg"
    config.write_text(
        KAMAILIO_CONFIG.format(host=host, port=port, modules=KAMAILIO_MODULES, run=run)
    )
    command = ["kamailio", "-f", str(config), "-DD", "-E", "-Y", str(run), "-w", str(workdir)]
    command += ["-P", str(run / "kam.pid"), "-m", "128", "-M", "8"]
    peer = Peer.start("kamailio-netns", command, workdir)
    peer.wait_for(lambda: (run / "rpc.fifo").exists())
    return Kamailio(peer, run, host, port)


HAPROXY_CONFIG = """global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend rest
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /health
{servers}
"""


@dataclass
class Node:
    index: int
    namespace: str
    host_end: str
    address: str
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:8000"


@dataclass
class Cluster:
    """The bridge, the namespaces and what runs on the host for them."""

    tag: str
    subnet: str
    workdir: Path
    nodes: list[Node] = field(default_factory=list)
    forwarders: list[Forwarder] = field(default_factory=list)
    peers: list[Peer] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"tl{self.tag}b"

    @property
    def gateway(self) -> str:
        return f"{self.subnet}.1"

    @classmethod
    def make(cls, workdir: Path, size: int) -> Cluster:
        tag = secrets.token_hex(2)
        cluster = cls(tag, f"10.213.{int(tag, 16) % 200 + 20}", workdir)
        try:
            ip("link", "add", cluster.bridge, "type", "bridge")
            ip("addr", "add", f"{cluster.gateway}/24", "dev", cluster.bridge)
            ip("link", "set", cluster.bridge, "up")
            for i in range(size):
                node = Node(i, f"tl{tag}n{i}", f"tl{tag}h{i}", f"{cluster.subnet}.{10 + i}")
                peer_end = f"tl{tag}p{i}"
                ip("netns", "add", node.namespace)
                ip("link", "add", node.host_end, "type", "veth", "peer", "name", peer_end)
                ip("link", "set", peer_end, "netns", node.namespace)
                ip("link", "set", node.host_end, "master", cluster.bridge)
                ip("link", "set", node.host_end, "up")
                ns = ("-n", node.namespace)
                ip(*ns, "addr", "add", f"{node.address}/24", "dev", peer_end)
                ip(*ns, "link", "set", peer_end, "up")
                ip(*ns, "link", "set", "lo", "up")
                ip(*ns, "route", "add", "default", "via", cluster.gateway)
                cluster.nodes.append(node)
            for port in (5432, 6379):
                cluster.forwarders.append(Forwarder(cluster.gateway, port, ("127.0.0.1", port)))
        except BaseException:
            cluster.destroy()
            raise
        return cluster

    def start_node(self, node: Node, env: dict[str, str]) -> None:
        node.log = self.workdir / f"node{node.index}.log"
        command = ["ip", "netns", "exec", node.namespace, "timeout", "600"]
        command += [sys.executable, "-m", "trunkline", "serve"]
        command += ["--host", node.address, "--port", "8000"]
        with open(node.log, "wb") as log:
            node.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_healthy(self, node: Node, timeout: float = 60.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert node.process is not None
            if node.process.poll() is not None:
                raise AssertionError(f"node {node.index} exited:\n{self.output(node)}")
            try:
                with urllib.request.urlopen(node.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"node {node.index} did not start:\n{self.output(node)}")

    def output(self, node: Node) -> str:
        return node.log.read_text(errors="replace")[-4000:] if node.log else ""

    def kill(self, node: Node) -> None:
        if node.process is not None and node.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGKILL)
            node.process.wait(10)

    def stop(self, node: Node) -> None:
        if node.process is not None and node.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGTERM)
            try:
                node.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill(node)

    def cut(self, node: Node, down: bool) -> None:
        ip("link", "set", node.host_end, "down" if down else "up")

    def haproxy(self) -> int:
        port = free_port(both=False)
        servers = "\n".join(
            f"    server n{n.index} {n.address}:8000 check inter 500 fall 2 rise 2"
            for n in self.nodes
        )
        config = self.workdir / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
        peer = Peer.start("haproxy", ["haproxy", "-db", "-f", str(config)], self.workdir)
        self.peers.append(peer)
        return port

    def destroy(self) -> None:
        for node in self.nodes:
            self.kill(node)
        for peer in self.peers:
            with suppress(Exception):
                peer.stop()
        for forwarder in self.forwarders:
            forwarder.close()
        for node in self.nodes:
            subprocess.run(["ip", "link", "del", node.host_end], capture_output=True)
            subprocess.run(["ip", "netns", "del", node.namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
