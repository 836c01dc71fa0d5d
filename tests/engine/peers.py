"""Real SIP peers for the engine tests (sip-registration.md §7): Kamailio, sipp, dnsmasq, baresip.

Every peer binds 127.0.0.1 only, runs under `timeout`, is started in its own session and
stopped by its PID. Ports come from the kernel (free on UDP and TCP at once), so tests on
two xdist workers never collide. A missing binary skips the test with the reason, except
under CI (`CI` set), where it fails: scripts/test installs the Debian packages there.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
PACKAGES = {
    "kamailio": "kamailio kamailio-tls-modules",
    "sipp": "sip-tester",
    "dnsmasq": "dnsmasq-base",
    "baresip": "baresip-core",
    "kamcmd": "kamailio",
}


def require(*binaries: str) -> None:
    """Skip (or, under CI, fail) unless every binary is installed."""
    missing = [name for name in binaries if shutil.which(name) is None]
    if not missing:
        return
    packages = " ".join(sorted({PACKAGES.get(name, name) for name in missing}))
    reason = f"{', '.join(missing)} not installed (apt-get install {packages})"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the SIP peer tests (scripts/test installs them)")
    pytest.skip(reason)


def free_port(*, both: bool = True) -> int:
    """A port free for UDP (and TCP, and TCP on port + 1 for Kamailio's TLS listener, when
    `both`) on 127.0.0.1, drawn below the kernel's ephemeral range so that no outgoing
    connection of another process can take it between this check and the peer's bind."""
    low, high = _PEER_PORTS
    for _ in range(400):
        port = random.randrange(low, high)
        sockets = [(socket.SOCK_DGRAM, port)]
        if both:
            sockets += [(socket.SOCK_STREAM, port), (socket.SOCK_STREAM, port + 1)]
        if all(_bindable(kind, number) for kind, number in sockets):
            return port
    raise RuntimeError("no free port")


def _bindable(kind: int, port: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _peer_ports() -> tuple[int, int]:
    """Ports for test peers: below the ephemeral range (``ip_local_port_range``)."""
    try:
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32768
    return (max(1024, first - 12000), first - 2)


_PEER_PORTS = _peer_ports()


def port_answers(port: int, *, udp: bool = False) -> bool:
    if udp:
        out = subprocess.run(["ss", "-lnu"], capture_output=True, text=True).stdout
        return f"127.0.0.1:{port} " in out
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Peer:
    """A peer process started by PID, with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    extra_pids: list[int] = field(default_factory=list)

    @classmethod
    def start(cls, name: str, command: Sequence[str], workdir: Path, *, limit: int = 600) -> Peer:
        log = workdir / f"{name}.log"
        handle = log.open("wb")
        process = subprocess.Popen(
            ["timeout", str(limit), *command],
            cwd=workdir,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle.close()
        return cls(name, process, log)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, check: object, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(check) and check():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not come up:\n{self.output()[-3000:]}")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        for pid in self.extra_pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# -- certificates ---------------------------------------------------------------------


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for voip.test, localhost and 127.0.0.1."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=voip.test",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:voip.test",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


# -- Kamailio as a registrar (§7.3) ----------------------------------------------------

KAMAILIO_ROUTE = r"""
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483","Too Many Hops"); exit; }
  if (!is_method("REGISTER")) {
    if (is_method("OPTIONS")) { sl_send_reply("200","OK"); exit; }
    sl_send_reply("405","Method Not Allowed"); exit;
  }
  xlog("L_NOTICE", "REGISTER tU=$tU cseq=$cs ci=$ci expires=$hdr(Expires) ct=$ct\n");
  if ($tU == "forbidden") { sl_send_reply("403","Forbidden"); exit; }
  if ($tU == "notfound")  { sl_send_reply("404","Not Found"); exit; }
  if ($tU == "busy")      { append_to_reply("Retry-After: 30\r\n"); sl_send_reply("503","Service Unavailable"); exit; }
  if ($tU == "silent")    { exit; }
  $var(pw) = "";
  if ($tU == "alice") { $var(pw) = "secret"; }
  if ($tU =~ "^u[0-9]+$") { $var(pw) = "p" + $(tU{s.substr,1,0}); }
  if ($tU == "carol") {
     $var(rc) = pv_proxy_authenticate("$td", "carolpw", "0");
     if ($var(rc) < 0) {
       if ($var(rc) == -4) { proxy_challenge("$td","17"); } else { proxy_challenge("$td","1"); }
       exit;
     }
     consume_credentials(); save("location"); exit;
  }
  $var(rc) = pv_www_authenticate("$td", "$var(pw)", "0");
  if ($var(rc) < 0) {
    if ($var(rc) == -4) { www_challenge("$td","17"); } else { www_challenge("$td","1"); }
    exit;
  }
  consume_credentials();
  save("location");
  exit;
}
"""


def kamailio_registrar(
    workdir: Path,
    port: int,
    *,
    algorithm: str = "MD5",
    nonce_expire: int = 10,
    min_expires: int = 60,
    max_expires: int = 300,
    tls: tuple[Path, Path] | None = None,
    name: str = "kamailio",
) -> Peer:
    """Kamailio 5.6 registrar on udp/tcp `port` (and tls `port + 1`) of 127.0.0.1."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "run").mkdir(exist_ok=True)
    listen = [f"listen=udp:127.0.0.1:{port}", f"listen=tcp:127.0.0.1:{port}"]
    modules = ["tm", "sl", "pv", "maxfwd", "textops", "siputils", "xlog", "sanity", "usrloc"]
    modules += ["registrar", "auth", "kex"]
    params = [
        'modparam("usrloc", "db_mode", 0)',
        f'modparam("registrar", "min_expires", {min_expires})',
        'modparam("registrar", "min_expires_mode", 1)',
        f'modparam("registrar", "max_expires", {max_expires})',
        'modparam("auth", "secret", "loopback-test-secret")',
        f'modparam("auth", "nonce_expire", {nonce_expire})',
        f'modparam("auth", "algorithm", "{algorithm}")',
    ]
    if tls is not None:
        cert, key = tls
        listen.append(f"listen=tls:127.0.0.1:{port + 1}")
        listen.append("enable_tls=yes")
        modules.append("tls")
        (workdir / "tls.cfg").write_text(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
            f"require_certificate = no\nprivate_key = {key}\ncertificate = {cert}\n"
        )
        params.append(f'modparam("tls", "config", "{workdir / "tls.cfg"}")')
    else:
        listen.append("disable_tls=yes")
    config = "\n".join(
        [
            "#!KAMAILIO",
            "debug=1",
            "log_stderror=yes",
            "children=2",
            "tcp_children=2",
            "auto_aliases=no",
            "dns=no",
            "rev_dns=no",
            *listen,
            f'mpath="{KAMAILIO_MODULES}"',
            *(f'loadmodule "{m}.so"' for m in modules),
            *params,
            KAMAILIO_ROUTE,
        ]
    )
    path = workdir / "registrar.cfg"
    path.write_text(config)
    command = ["kamailio", "-f", str(path), "-DD", "-E", "-Y", str(workdir / "run")]
    command += ["-w", str(workdir), "-P", str(workdir / "run" / "kam.pid"), "-m", "64", "-M", "8"]
    peer = Peer.start(name, command, workdir)
    peer.wait_for(lambda: port_answers(port) and (tls is None or port_answers(port + 1)))
    return peer


def kamailio_registers(peer: Peer, user: str) -> list[dict[str, str]]:
    """The REGISTERs Kamailio logged for `user`: cseq, call-id, expires, contact."""
    found = []
    for line in peer.output().splitlines():
        if f"REGISTER tU={user} " not in line:
            continue
        fields = dict(
            part.split("=", 1) for part in line.split("REGISTER ", 1)[1].split(" ") if "=" in part
        )
        found.append(fields)
    return found


# -- dnsmasq (§7.5) ---------------------------------------------------------------------


def dnsmasq(workdir: Path, port: int, *, udp_port: int, tcp_port: int, tls_port: int) -> Peer:
    """dnsmasq on 127.0.0.1:`port` serving the RFC 3263 test zone of sip-registration.md §7.5."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = f"""port={port}
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
no-daemon
local=/test/
naptr-record=voip.test,10,10,"s","SIPS+D2T","",_sips._tcp.voip.test
naptr-record=voip.test,20,10,"s","SIP+D2T","",_sip._tcp.voip.test
naptr-record=voip.test,30,10,"s","SIP+D2U","",_sip._udp.voip.test
srv-host=_sips._tcp.voip.test,reg1.voip.test,{tls_port},10,60
srv-host=_sip._tcp.voip.test,reg1.voip.test,{tcp_port},10,60
srv-host=_sip._udp.voip.test,reg1.voip.test,{udp_port},10,60
srv-host=_sip._udp.voip.test,reg2.voip.test,{udp_port},20,40
host-record=reg1.voip.test,127.0.0.1
host-record=reg2.voip.test,127.0.0.1
srv-host=_sip._udp.srvonly.test,reg1.voip.test,{udp_port},10,10
host-record=aonly.test,127.0.0.1
srv-host=_sip._udp.failover.test,dead.voip.test,{free_port(both=False)},10,10
srv-host=_sip._udp.failover.test,reg1.voip.test,{udp_port},20,10
host-record=dead.voip.test,127.0.0.1
"""
    path = workdir / "dnsmasq.conf"
    path.write_text(config)
    peer = Peer.start("dnsmasq", ["dnsmasq", "-C", str(path)], workdir)
    peer.wait_for(lambda: port_answers(port, udp=True))
    return peer


# -- sipp (§7.2) ------------------------------------------------------------------------

SIPP_HEAD = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'

UAS_REG_AUTH = """<scenario name="uas_reg_auth">
  {top}
  <recv request="REGISTER" />
  <send><![CDATA[
      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="[realm]", nonce="[pid]n[call_number]x[clock_tick]", qop="auth", algorithm=MD5, opaque="op42"
      Content-Length: 0
  ]]></send>
  <recv request="REGISTER">
    <action>
      <verifyauth assign_to="authvalid" username="[user]" password="[pass]" />
      <ereg regexp="CSeq: .*" search_in="msg" assign_to="cseqhdr" />
      <log message="ROUND VALID=[$authvalid] [$cseqhdr] CALLID=[call_id]" />
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good" />
  <send {next}><![CDATA[
      SIP/2.0 403 Forbidden
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
  ]]></send>
  <label id="good" />
  <send {next_good}><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Contact:];expires=[granted]
      Content-Length: 0
  ]]></send>
  <label id="end" />
  {tail}
</scenario>
"""


def sipp_uas_scenario(workdir: Path, *, loop: bool) -> Path:
    if loop:
        text = UAS_REG_AUTH.format(
            top='<label id="top" />', next='next="top"', next_good='next="top"', tail=""
        )
    else:
        text = UAS_REG_AUTH.format(top="", next='next="end"', next_good="", tail="<pause />")
    path = workdir / ("uas_reg_auth_loop.xml" if loop else "uas_reg_auth.xml")
    path.write_text(SIPP_HEAD + text)
    return path


UAC_REG_AUTH = """<scenario name="uac_reg_auth">
<send retrans="500"><![CDATA[
  REGISTER sip:[remote_ip] SIP/2.0
  Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
  Max-Forwards: 70
  From: <sip:[user]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
  To: <sip:[user]@[remote_ip]>
  Call-ID: [call_id]
  CSeq: 1 REGISTER
  Contact: <sip:[user]@[local_ip]:[local_port];transport=[transport]>
  Expires: 120
  Content-Length: 0
]]></send>
<recv response="100" optional="true" />
<recv response="401" auth="true" />
<send retrans="500"><![CDATA[
  REGISTER sip:[remote_ip] SIP/2.0
  Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
  Max-Forwards: 70
  From: <sip:[user]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
  To: <sip:[user]@[remote_ip]>
  Call-ID: [call_id]
  CSeq: 2 REGISTER
  Contact: <sip:[user]@[local_ip]:[local_port];transport=[transport]>
  Expires: 120
  [authentication]
  Content-Length: 0
]]></send>
<recv response="100" optional="true" />
<recv response="200" />
<pause milliseconds="300" />
</scenario>
"""


def sipp_uac_scenario(workdir: Path) -> Path:
    path = workdir / "uac_reg_auth.xml"
    path.write_text(SIPP_HEAD + UAC_REG_AUTH)
    return path


# -- Kamailio `uac` as an office PBX (§7.3) ---------------------------------------------

UACREG_HEADER = (
    "id(int,auto) l_uuid(string) l_username(string) l_domain(string) r_username(string) "
    "r_domain(string) realm(string) auth_username(string) auth_password(string) "
    "auth_ha1(string,null) auth_proxy(string) expires(int) flags(int) reg_delay(int) "
    "contact_addr(string,null) socket(string,null) \n"
)


def kamailio_uac(
    workdir: Path, port: int, *, registrar_port: int, login: str, password: str, realm: str
) -> Peer:
    """Kamailio with the `uac` module registering `login` to 127.0.0.1:`registrar_port`."""
    workdir.mkdir(parents=True, exist_ok=True)
    run, db = workdir / "run", workdir / "db"
    run.mkdir(exist_ok=True)
    db.mkdir(exist_ok=True)
    (db / "version").write_text("table_name(string) table_version(int) \nuacreg:5\n")
    row = (
        f"1:office:pbx:127.0.0.1:{login}:127.0.0.1:{realm}:{login}:{password}::"
        f"sip\\:127.0.0.1\\:{registrar_port}:120:0:0:127.0.0.1\\:{port}:\n"
    )
    (db / "uacreg").write_text(UACREG_HEADER + row)
    modules = ["tm", "sl", "pv", "xlog", "rr", "db_text", "uac", "ctl", "kex"]
    config = "\n".join(
        [
            "#!KAMAILIO",
            "debug=2",
            "log_stderror=yes",
            "children=1",
            "auto_aliases=no",
            "dns=no",
            "rev_dns=no",
            "disable_tcp=yes",
            f"listen=udp:127.0.0.1:{port}",
            f'mpath="{KAMAILIO_MODULES}"',
            *(f'loadmodule "{m}.so"' for m in modules),
            f'modparam("ctl", "binrpc", "unix:{run}/ctl")',
            f'modparam("uac", "reg_db_url", "text://{db}")',
            f'modparam("uac", "reg_contact_addr", "127.0.0.1:{port}")',
            'modparam("uac", "reg_timer_interval", 1)',
            'modparam("uac", "reg_retry_interval", 10)',
            'modparam("uac", "auth_username_avp", "$avp(auser)")',
            'modparam("uac", "auth_password_avp", "$avp(apass)")',
            'modparam("uac", "auth_realm_avp", "$avp(arealm)")',
            "request_route { exit; }",
        ]
    )
    path = workdir / "uac.cfg"
    path.write_text(config)
    command = ["kamailio", "-f", str(path), "-DD", "-E", "-Y", str(run), "-w", str(workdir)]
    command += ["-P", str(run / "uac.pid"), "-m", "32", "-M", "8"]
    peer = Peer.start("kamailio-uac", command, workdir)
    peer.wait_for(lambda: (run / "ctl").exists())
    return peer


def kamcmd(peer_dir: Path, *args: str) -> str:
    result = subprocess.run(
        ["timeout", "10", "kamcmd", "-s", f"unix:{peer_dir / 'run' / 'ctl'}", *args],
        capture_output=True,
        text=True,
    )
    return result.stdout + result.stderr


# -- baresip (§7.4) ---------------------------------------------------------------------


def baresip_config(
    workdir: Path,
    *,
    port: int,
    login: str,
    password: str,
    registrar_port: int,
    host: str = "127.0.0.1",
    transport: str = "udp",
    cafile: Path | None = None,
) -> Path:
    """baresip as an office PBX registering to `host:registrar_port` (IPv6 in brackets)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config").write_text(
        f"sip_listen\t\t{host}:{port}\n"
        + (f"sip_cafile\t\t{cafile}\n" if cafile else "")
        + "module_path\t\t/usr/lib/baresip/modules\n"
        "module\t\t\tstdio.so\n"
        "module\t\t\tg711.so\n"
        "module\t\t\tauloop.so\n"
        "module_app\t\taccount.so\n"
        "module_app\t\tmenu.so\n"
        "audio_player\t\tnothing\n"
        "audio_source\t\tnothing\n"
    )
    (workdir / "accounts").write_text(
        f"<sip:{login}@{host}:{registrar_port};transport={transport}>"
        f";auth_pass={password};regint=120\n"
    )
    (workdir / "contacts").write_text("")
    return workdir
