"""What ``trunkline serve`` prints when it starts: the one JSON object of ``--json``
(:func:`startup_info`) and the banner made from it (:func:`banner`): URLs, the seeded
webhook and sign-in, the SIP registrar, the operator API, ``--seed``'s portal and the
trust lines of ``--tls``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from trunkline import __version__
from trunkline.cli.common import webhook_url

if TYPE_CHECKING:
    from trunkline.settings import Settings
    from trunkline.web.bootstrap import Seed
    from trunkline.web.tls import TlsFiles


def registrar_listeners(settings: Settings) -> dict[str, str] | None:
    """Where the office registrar will listen (None: no engine here, or ``sip_port`` 0)."""
    from trunkline.web.bootstrap import engine_mode

    if engine_mode(settings) == "off" or not settings.sip_port:
        return None
    host = settings.sip_host
    address = f"[{host}]" if ":" in host else host
    found = {"udp": f"{address}:{settings.sip_port}", "tcp": f"{address}:{settings.sip_port}"}
    if settings.sip_tls_cert:
        found["tls"] = f"{address}:{settings.sip_tls_port}"
    return found


def startup_info(settings: Settings, seed: Seed | None, url: str) -> dict[str, Any]:
    """What ``serve`` prints: its URLs, ports, the seed's webhook and sign-in, the SIP
    registrar; the ``--json`` object as it is."""
    from trunkline.services.lines import incoming_server
    from trunkline.storage.url import DatabaseUrl
    from trunkline.web.bootstrap import engine_mode
    from trunkline.web.control import redis_redacted

    hook = webhook_url(url, seed.user_id, seed.code) if seed and seed.code else None
    sign_in = None
    if seed is not None and seed.login is not None:
        sign_in = {
            "url": f"{url}/oauth/authorize/",
            "login": seed.login,
            "password": seed.password,  # None: set earlier, not shown again
        }
    return {
        "version": __version__,
        "pid": os.getpid(),
        "url": url,
        "rest_url": f"{url}/rest/",
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "database": DatabaseUrl(settings.database_url).redacted(),
        "portal": seed.portal.domain if seed else None,
        "webhook_url": hook,
        "sign_in": sign_in,
        "sip_engine": engine_mode(settings),
        "engine_pid": None,
        "registrar": registrar_listeners(settings),
        "incoming_server": incoming_server(settings),
        "operator_token": settings.operator_token or None,
        "limits": "on" if settings.limits else "off",  # as /health says them
        "limit_state": "redis" if settings.redis_url else "in-process",
        "redis_url": redis_redacted(settings.redis_url) if settings.redis_url else None,
        "console_url": f"{url}/console/",
        "metrics_url": f"{url}/metrics" if settings.metrics else None,
    }


def banner(info: dict[str, Any], settings: Settings) -> str:
    from trunkline.engine.runtime import listeners_text
    from trunkline.web.control import limits_summary

    lines = [
        f"Trunkline {info['version']}",
        f"  database: {info['database']}",
        f"  listening: {info['rest_url']}  (workers: {info['workers']})",
        *(f"  {line}" for line in limits_summary(settings)),
    ]
    if info["portal"]:
        lines.append(f"  portal: {info['portal']}  (user 1 is an administrator)")
    if info["webhook_url"]:
        hook = info["webhook_url"]
        lines.append(f"  webhook URL: {hook}")
        if not info.get("tls"):
            lines.append(f"  try: curl -s '{hook}voximplant.sip.get.json'")
    sign_in = info["sign_in"]
    if sign_in and sign_in["password"]:
        lines.append(
            f"  sign-in: {sign_in['login']} / {sign_in['password']}  (shown once; "
            f"`trunkline user password {sign_in['login']}` sets another)"
        )
    elif sign_in:
        lines.append(
            f"  sign-in: {sign_in['login']}  (password shown at the first start; "
            f"`trunkline user password {sign_in['login']}` sets another)"
        )
    engine = {"inprocess": "in the HTTP worker", "off": "off (sip_engine=off)"}.get(
        info["sip_engine"], f"process {info['engine_pid']}"
    )
    lines.append(f"  SIP engine: {engine}")
    if info["registrar"]:
        lines.append(
            f"  SIP registrar: {listeners_text(info['registrar'])}  (office lines get "
            f"INCOMING_SERVER {info['incoming_server']})"
        )
    if info["operator_token"] and info.get("operator_token_shown"):
        lines.append(
            f"  operator API: {info['url']}/operator/  "
            f"(Authorization: Bearer {info['operator_token']})"
        )
    elif info["operator_token"]:
        lines.append("  operator API: /operator/ (bearer token from --operator-token)")
    lines.append(
        f"  console: {info['console_url']}  (the operator token or an administrator's password)"
    )
    if info.get("metrics_url"):
        lines.append(f"  metrics: {info['metrics_url']}  (Prometheus)")
    lines += scenario_lines(info.get("scenario"))
    lines += tls_lines(info.get("tls"))
    return "\n".join(lines)


def tls_info(tls: TlsFiles | None, info: dict[str, Any]) -> dict[str, Any] | None:
    """What ``--tls`` prints: the CA, the names its server certificate covers, and the
    lines that make each client trust it."""
    if tls is None:
        return None
    target = (info.get("webhook_url") or info["rest_url"]) + (
        "voximplant.sip.get.json" if info.get("webhook_url") else ""
    )
    return {
        "ca_file": str(tls.ca_file),
        "cert_file": str(tls.cert_file),
        "names": list(tls.names),
        "env": tls.environment(),
        "curl": f"curl --cacert {tls.ca_file} '{target}'",
    }


def tls_lines(tls: dict[str, Any] | None) -> list[str]:
    if not tls:
        return []
    return [
        f"  TLS: certificate for {', '.join(tls['names'])} from the local CA {tls['ca_file']}",
        "  trust it (Python, Node, curl):",
        *(f"    export {name}={value}" for name, value in tls["env"].items()),
        f"    {tls['curl']}",
    ]


def scenario_lines(made: dict[str, Any] | None) -> list[str]:
    """What the banner says about ``--seed``'s portal (its secrets only when made now)."""
    if not made:
        return []
    domain = made["portal"]["domain"]
    if made.get("existing"):
        return [f"  seeded portal {domain}: exists already (secrets were shown when made)"]
    found = [f"  seeded portal {domain}:"]
    found += [f"    webhook URL: {hook['url']}" for hook in made["webhooks"]]
    for app in made["apps"]:
        text = f"    app {app['client_id']} secret {app['client_secret']}"
        if app.get("access_token"):
            text += f" access token {app['access_token']}"
        found.append(text)
    return found
