"""Every setting Trunkline reads, documented in one place.

Each setting has a default, an environment variable ``TRUNKLINE_<NAME>`` and a
one-line description; the CLI overrides the environment. ``docs/settings.md`` is
generated from this table (``trunkline docs settings``) and a test fails when the
two drift apart.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


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
    port: int = _setting(8080, "Port the HTTP server listens on.")
    workers: int = _setting(1, "Number of HTTP worker processes.")
    public_url: str = _setting(
        "",
        "Base URL printed in webhook URLs and returned as OAuth endpoints; empty: "
        "`http://<host>:<port>`.",
    )
    https_required: bool = _setting(
        False,
        "Refuse webhook calls over plain HTTP with 401 INVALID_REQUEST `Https required.`, "
        "as the real service does. Off by default for local use.",
    )
    incoming_server: str = _setting(
        "",
        "Host name given to office lines as INCOMING_SERVER (where office PBXs register); "
        "empty: `ip.<portal domain>.trunkline.local`.",
    )
    error_texts: str = _setting(
        "doc",
        "Which wording voximplant.sip errors use: `doc` (the public REST reference) or "
        "`core` (the English language file of the PHP module).",
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
    access_token_ttl: int = _setting(3600, "Seconds an OAuth access token lives (`expires_in`).")
    refresh_token_ttl: int = _setting(
        180 * 24 * 3600, "Seconds an OAuth refresh token lives (180 days); each works once."
    )
    event_timeout: int = _setting(
        5,
        "Seconds to wait for an application's handler to answer an event"
        " (ONAPPINSTALL, ONAPPUNINSTALL).",
    )
    event_attempts: int = _setting(
        3, "Attempts to deliver an event before giving up (failures are logged)."
    )
    log_level: str = _setting("info", "Log level: debug, info, warning, error.")
    sip_engine: str = _setting(
        "auto",
        "Where the SIP engine (cloud-line registration and the office registrar) runs: "
        "`inprocess` (inside the HTTP worker), `process` (`trunkline serve` starts "
        "`trunkline engine` beside the workers), `auto` (in-process with one worker, its own "
        "process with several) or `off` (run `trunkline engine` yourself, or not at all).",
    )
    sip_host: str = _setting(
        "127.0.0.1",
        "Address the office registrar listens on (UDP, TCP and TLS); `0.0.0.0` for every "
        "interface.",
    )
    sip_port: int = _setting(
        5060, "UDP and TCP port of the office registrar; 0 turns the registrar off."
    )
    sip_tls_port: int = _setting(
        5061, "TLS port of the office registrar (used only when `sip_tls_cert` is set)."
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
        "Bearer token of the operator endpoints (`/operator/...`: faults, portal states); "
        "empty: those endpoints answer 403.",
    )
    control_poll_ms: int = _setting(
        1000,
        "How often each worker rereads portal states and injected faults from the "
        "database (changes made by the CLI or another worker apply within this time).",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``TRUNKLINE_*`` variables, then apply ``overrides`` (None means unset)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"TRUNKLINE_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _coerce(f.type, raw, f.name)
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
        raise ValueError(f"TRUNKLINE_{name.upper()}: expected a boolean, got {raw!r}")
    if type_name in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(
                f"TRUNKLINE_{name.upper()}: expected an integer, got {raw!r}"
            ) from None
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
