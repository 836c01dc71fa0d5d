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
    log_level: str = _setting("info", "Log level: debug, info, warning, error.")

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
