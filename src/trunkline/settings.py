"""Every setting Trunkline reads, documented in one place.

Each setting has a default, an environment variable ``TRUNKLINE_<NAME>`` and a
one-line description; the CLI overrides the environment. ``docs/settings.md`` is
generated from this table (``trunkline docs settings``) and a test fails when the
two drift apart.

A value that cannot be a setting (not an integer, not one of a choice setting's values,
a port out of range) is a :class:`SettingsError` when the settings are made, so every
command refuses it at start with one line that names the allowed values.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class SettingsError(ValueError):
    """A setting's value is not allowed: ``bad setting <name>=<value> (<why>)``."""

    def __init__(self, name: str, value: Any, why: str) -> None:
        super().__init__(f"bad setting {name}={value!r} ({why})")
        self.name = name


def _setting(
    default: Any,
    doc: str,
    *,
    choices: tuple[str, ...] = (),
    low: int | None = None,
    high: int | None = None,
) -> Any:
    return field(
        default=default, metadata={"doc": doc, "choices": choices, "low": low, "high": high}
    )


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass(frozen=True)
class Settings:
    database_url: str = _setting(
        "sqlite:///trunkline.sqlite3",
        "Where lines, portals and credentials live: `sqlite:///path` (relative to the "
        "working directory) or `postgresql://user@host:port/db`.",
    )
    key_file: str = _setting(
        "",
        "File holding the key that encrypts SIP passwords at rest; created on first start. "
        "Empty: beside the SQLite file (`<db>.key`), or `trunkline.key` for PostgreSQL.",
    )
    secret_key: str = _setting(
        "",
        "The encryption key itself (urlsafe base64 of 32 bytes); overrides `key_file`. "
        "Give every node of a cluster the same value.",
    )
    host: str = _setting("127.0.0.1", "Address the HTTP server listens on.")
    port: int = _setting(
        8080, "Port the HTTP server listens on; 0: a free port, shown at start.", low=0, high=65535
    )
    workers: int = _setting(1, "Number of HTTP worker processes.", low=1, high=256)
    public_url: str = _setting(
        "",
        "Base URL printed in webhook URLs and returned as OAuth endpoints; empty: "
        "`http://<host>:<port>`.",
    )
    tls: bool = _setting(
        False,
        "Serve HTTPS with a certificate from a local CA made on first use (`trunkline serve "
        "--tls`); `serve` prints the lines that make clients trust the CA.",
    )
    tls_dir: str = _setting(
        "",
        "Where `--tls` keeps the CA and the server certificate; empty: beside the SQLite "
        "file (`<db>.tls/`), or `trunkline-tls/` for PostgreSQL.",
    )
    https_required: bool = _setting(
        False,
        "Refuse webhook calls over plain HTTP with 401 INVALID_REQUEST `Https required.`, "
        "as the real service does. Off by default for local use.",
    )
    incoming_server: str = _setting(
        "",
        "Address given to new office lines as INCOMING_SERVER (where their PBX registers): "
        "set the name or address PBXs on other machines reach the registrar at. Empty: "
        "`sip_host` (`127.0.0.1` when it is every interface), with `:sip_port` unless 5060.",
    )
    error_texts: str = _setting(
        "doc",
        "Which wording voximplant.sip errors use: `doc` (the public REST reference) or "
        "`core` (the English language file of the PHP module).",
        choices=("doc", "core"),
    )
    user_get_confirmation: str = _setting(
        "confirmed",
        "The administrator's answer to an application calling voximplant.user.get: "
        "`confirmed`, `waiting` (401 METHOD_CONFIRM_WAITING) or `denied` (403 "
        "METHOD_CONFIRM_DENIED). Webhooks never need it.",
        choices=("confirmed", "waiting", "denied"),
    )
    call_answer_after: int = _setting(
        2,
        "Default outcome of a built-in call (voximplant.callback.start, infocall.*) the "
        "call simulator was given no script for: answered after this many seconds of the "
        "application clock; negative: never answered (a missed call, 304).",
        low=-1,
        high=86400,
    )
    call_duration: int = _setting(
        10,
        "Default outcome of a built-in call: it lasts this many seconds once answered.",
        low=0,
        high=86400,
    )
    max_body_bytes: int = _setting(
        8 * 1024 * 1024,
        "Largest request body accepted; larger ones get 413 REQUEST_TOO_LARGE.",
    )
    max_input_vars: int = _setting(
        10000,
        "Most parameters read from one query string or form (PHP `max_input_vars`); "
        "the rest are dropped.",
    )
    max_nesting: int = _setting(
        64,
        "Deepest bracket or JSON nesting accepted (PHP `max_input_nesting_level`); deeper "
        "requests get 400 ERROR_ARGUMENT.",
    )
    seed: bool = _setting(
        True,
        "On start, create the default portal, administrator user 1 and a telephony webhook "
        "if the database has no portal yet.",
    )
    seed_file: str = _setting(
        "",
        "A scenario document (JSON, `docs/scenario.md`) whose portal is created at start "
        "when it does not exist yet, and again after `POST /operator/reset` "
        "(`trunkline serve --seed FILE`).",
    )
    seed_ids: int = _setting(
        -1,
        "Make generated ids reproducible from this seed (`trunkline serve --seed-ids N`): "
        "webhook codes, client ids and secrets, tokens, INCOMING_PASSWORDs and CALL_IDs, "
        "one stream per portal that starts again when the portal is made; -1: random.",
        low=-1,
    )
    default_portal_domain: str = _setting(
        "trunkline.local",
        "Domain of the portal seeded on first start.",
    )
    host_fallback: bool = _setting(
        True,
        "When the Host header names no portal: a webhook or token answers for its own "
        "portal, and the sign-in page shows the default portal (the only one, or "
        "`default_portal_domain`). Off: such requests are refused.",
    )
    webhook_app_context: str = _setting(
        "allow",
        "Whether a webhook counts as an application's context for the telephony methods "
        "that need one (`telephony.externalLine.*`, `externalCall.register`/`.finish`): "
        "`allow` (a webhook acts for no application, as the core and the PHP SDK's "
        "integration suite do) or `deny` (403 WRONG_AUTH_TYPE).",
        choices=("allow", "deny"),
    )
    record_dir: str = _setting(
        "",
        "Directory of call recordings (`telephony.externalCall.attachRecord`). Empty: "
        "beside the SQLite file (`<db>.records`), or `trunkline-records` in the working "
        "directory for PostgreSQL.",
    )
    record_max_bytes: int = _setting(
        64 * 1024 * 1024,
        "Largest call recording accepted (base64 content, an upload or a RECORD_URL "
        "download); larger ones are refused and nothing is kept.",
        low=1,
    )
    record_fetch_hosts: str = _setting(
        "",
        "Hosts a RECORD_URL may be fetched from, comma-separated names or IP addresses, "
        "besides loopback (`localhost`, 127.0.0.0/8, ::1), which is always allowed. "
        "`*`: any host (the portal then fetches whatever an app names: use with care).",
    )
    record_fetch_timeout: int = _setting(
        10, "Seconds a RECORD_URL download may take in all.", low=1, high=600
    )
    access_token_ttl: int = _setting(3600, "Seconds an OAuth access token lives (`expires_in`).")
    refresh_token_ttl: int = _setting(
        180 * 24 * 3600, "Seconds an OAuth refresh token lives (180 days); each works once."
    )
    event_timeout: int = _setting(
        5,
        "Seconds to wait for an application's handler to answer an event.",
        low=1,
        high=3600,
    )
    event_retries: int = _setting(
        0,
        "Retries of an event whose delivery failed; 0, as the real service, which never "
        "retries (every attempt is in the delivery journal).",
        low=0,
        high=20,
    )
    event_retry_delay_ms: int = _setting(
        1000,
        "Milliseconds before the first retry of an event; each next one waits twice as long.",
        low=0,
        high=3_600_000,
    )
    event_delivery: str = _setting(
        "inprocess",
        "Where events are posted to their handlers: `inprocess` (a background task of each "
        "HTTP worker), `process` (`serve` starts `trunkline event deliver`, a process of its "
        "own, so that posting takes no CPU from the workers) or `off` (the outbox fills up "
        "until a deliverer runs).",
        choices=("inprocess", "process", "off"),
    )
    event_concurrency: int = _setting(
        32,
        "Event deliveries in flight at once in each server process (a slow handler holds "
        "one of them for at most `event_timeout`).",
        low=1,
        high=4096,
    )
    event_journal_days: int = _setting(
        7,
        "Days the event journal keeps its lines (by their application-clock time); each "
        "deliverer deletes older ones about once a minute; 0 keeps every line.",
        low=0,
        high=36_500,
    )
    log_level: str = _setting(
        "info",
        "Level of Trunkline's log (and uvicorn's), on stderr: `debug`, `info`, `warning`, "
        "`error` or `critical`.",
        choices=LOG_LEVELS,
    )
    access_log: bool = _setting(
        True,
        "Log one line per REST call (`trunkline.access`: portal, caller, user, method, "
        "status, error code, milliseconds; `batch` commands counted in their batch).",
    )
    log_format: str = _setting(
        "text",
        "Format of the log on stderr: `text` (one line per record) or `json` (one JSON object "
        "per line, with the request id of the call that logged it; secrets masked).",
        choices=("text", "json"),
    )
    history_limit: int = _setting(
        100,
        "Registration history entries kept per line (each change of state with its SIP "
        "transaction); older ones are dropped as new ones arrive.",
        low=1,
        high=100000,
    )
    metrics: bool = _setting(
        True,
        "Serve Prometheus metrics at `/metrics` and count REST calls, limiter refusals, "
        "registrations and SIP round trips (docs/metrics.md).",
    )
    metrics_per_line: bool = _setting(
        False,
        "Also export one registration gauge per cloud line (labels portal and line): the "
        "number of series grows with the lines, so it is off by default.",
    )
    admin_password: str = _setting(
        "",
        "Sign-in password given to the administrator (`admin`, user 1) when `serve` seeds an "
        "empty database; empty: a random one, printed once. Later starts leave it alone "
        "(`trunkline user password admin` changes it).",
    )
    sip_engine: str = _setting(
        "auto",
        "Where the SIP engine (cloud-line registration and the office registrar) runs: "
        "`inprocess` (inside the HTTP worker), `process` (`trunkline serve` starts "
        "`trunkline engine` beside the workers), `auto` (in-process with one worker, its own "
        "process with several) or `off` (run `trunkline engine` yourself, or not at all).",
        choices=("auto", "inprocess", "process", "off"),
    )
    sip_host: str = _setting(
        "127.0.0.1",
        "Address the office registrar listens on (UDP, TCP and TLS); `0.0.0.0` for every "
        "interface.",
    )
    sip_port: int = _setting(
        5060,
        "UDP and TCP port of the office registrar; 0 turns the registrar off.",
        low=0,
        high=65535,
    )
    sip_tls_port: int = _setting(
        5061,
        "TLS port of the office registrar (used only when `sip_tls_cert` is set).",
        low=0,
        high=65535,
    )
    sip_tls_cert: str = _setting(
        "", "PEM certificate (chain) of the office registrar's TLS listener; empty: no TLS."
    )
    sip_tls_key: str = _setting("", "PEM private key for `sip_tls_cert`.")
    sip_tls_ca_file: str = _setting(
        "",
        "PEM bundle of the CAs trusted for providers' TLS certificates; empty: the system's.",
    )
    sip_tls_verify: bool = _setting(
        True,
        "Check providers' TLS certificates against their SIP domain (RFC 5922). Turn off "
        "only for testing.",
    )
    sip_realm: str = _setting(
        "",
        "Digest realm of the office registrar; empty: the host the PBX registers to.",
    )
    sip_expires: int = _setting(
        3600,
        "Expires a cloud line asks its provider for, in seconds; the provider may grant less.",
    )
    sip_t1_ms: int = _setting(
        500,
        "SIP timer T1 in milliseconds (RFC 3261: 500). Retransmissions start at T1 and a "
        "silent server fails after 64*T1; tests shorten it.",
    )
    sip_dns_server: str = _setting(
        "",
        "DNS server (`host[:port]`) for RFC 3263 lookups of SERVER and OUTBOUND_PROXY; "
        "empty: the system resolver.",
    )
    sip_poll_seconds: int = _setting(
        2,
        "How often the engine scans the lines table for lines added, changed or deleted "
        "by other processes (in-process changes reach it at once).",
    )

    sip_register_rate_host: int = _setting(
        150,
        "Cap on REGISTERs per second towards one provider host (SERVER, or OUTBOUND_PROXY "
        "when set); lines due together queue for their slot, and after an outage of the "
        "host they come back on a ramp from 5 % to the cap over 10 s.",
        low=1,
        high=100000,
    )
    sip_register_rate_aor: int = _setting(
        5,
        "Cap on registration attempts per second for one AOR (one LOGIN at one SERVER).",
        low=1,
        high=1000,
    )
    cluster_lease_ms: int = _setting(
        5000,
        "On PostgreSQL, how long an engine node's lease on its cloud lines lasts; it renews "
        "it every tenth of that. A node that stops renewing (killed, cut off) loses its lines "
        "to the other nodes within two leases, and stops registering them itself first.",
        low=300,
        high=600000,
    )

    limits: bool = _setting(
        False,
        "Enforce the request-rate bucket (50 requests, then 2/s per portal and app or "
        "webhook; 250 and 5/s on the Enterprise plan) and the operating-time limit on every "
        "portal (`serve --limits`). Off: only portals switched on with `trunkline portal "
        "state --limits on` are limited.",
    )
    operating_limit_seconds: int = _setting(
        420,
        "Operating-time limit: seconds of execution per method, app or webhook and portal "
        "in 10 minutes (calls over 0.1 s count) before 429 OPERATION_TIME_LIMIT.",
    )
    redis_url: str = _setting(
        "",
        "Redis (`redis://host:port/db`) holding the limiters' state, so every worker and "
        "node enforces one budget; empty: each worker keeps its own, in memory.",
    )
    redis_prefix: str = _setting("trunkline:", "Prefix of every Redis key Trunkline writes.")
    redis_fail_closed: bool = _setting(
        False,
        "When Redis is unreachable, refuse limited calls with 503 QUERY_LIMIT_EXCEEDED "
        "instead of serving them without limits (the default; both are logged).",
    )
    operator_token: str = _setting(
        "",
        "Bearer token of the operator endpoints (`/operator/...`: portals, faults, portal "
        "states, the journal, the clock); `auto`: one derived from the secret key, printed "
        "at start (`scripts/serve` asks for it); empty: those endpoints answer 403.",
    )
    journal_size: int = _setting(
        10000,
        "Rows the request journal keeps (every REST call and batch command, secrets "
        "masked; `GET /operator/requests`, `trunkline requests`); the oldest are dropped "
        "first; 0 turns the journal off.",
        low=0,
    )
    journal_flush_ms: int = _setting(
        200,
        "How often each worker writes its journal rows, in one batch (a reader of the "
        "journal writes its own worker's rows first).",
        low=10,
    )
    control_poll_ms: int = _setting(
        1000,
        "How often each worker rereads portal states and injected faults from the "
        "database (changes made by the CLI or another worker apply within this time).",
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            choices, low, high = f.metadata["choices"], f.metadata["low"], f.metadata["high"]
            if choices and value not in choices:
                raise SettingsError(f.name, value, "allowed: " + ", ".join(choices))
            if (low is not None and value < low) or (high is not None and value > high):
                raise SettingsError(f.name, value, f"allowed: {low} to {high}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``TRUNKLINE_*`` variables, then apply ``overrides`` (None means unset)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"TRUNKLINE_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _coerce(f.type, raw, f.name)
                if f.metadata["choices"]:  # TRUNKLINE_LOG_LEVEL=DEBUG is debug
                    values[f.name] = raw.strip().lower()
        for name, value in overrides.items():
            if value is not None:
                values[name] = value
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(type_name: Any, raw: str, name: str) -> Any:
    if type_name in ("bool", bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise SettingsError(f"TRUNKLINE_{name.upper()}", raw, "not a boolean: use 1 or 0")
    if type_name in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"TRUNKLINE_{name.upper()}", raw, "not an integer") from None
    return raw


def settings_table() -> str:
    """The Markdown table of every setting (the body of ``docs/settings.md``)."""
    rows = [
        "| setting | environment | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for f in dataclasses.fields(Settings):
        default = f.default
        shown = (
            "(empty)"
            if default == ""
            else str(default).lower()
            if isinstance(default, bool)
            else str(default)
        )
        rows.append(
            f"| `{f.name}` | `TRUNKLINE_{f.name.upper()}` | `{shown}` | {f.metadata['doc']} |"
        )
    return "\n".join(rows) + "\n"
