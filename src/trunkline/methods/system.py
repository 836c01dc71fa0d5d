"""The global methods clients call besides the SIP ones (``rest-protocol.md`` §10):
``scope``, ``methods``, ``method.get``, ``server.time``, ``app.info``, ``profile``.

Rules (as ``CRestProvider`` answers them):

* ``scope``: the caller's scopes; with a truthy ``full`` every scope the server knows.
* ``methods``: with a ``scope`` parameter, that scope's methods (an empty string:
  the global ones); else with a truthy ``full`` every method; else the global
  methods and those of the caller's scopes. Names are lower-case.
* ``method.get``: ``name`` (exactly that lower-case key) -> ``isExisting`` (the
  method exists) and ``isAvailable`` (the caller's scopes allow it); both false
  for an empty name.
* ``server.time``: the application clock's now, ISO 8601 with the portal's UTC offset.
* ``app.info``: for an application its record (``ID``, ``CODE``, ``VERSION``,
  ``STATUS``, ``INSTALLED``, ``PAYMENT_EXPIRED``, ``DAYS``, ``LANGUAGE_ID``,
  ``LICENSE``, ``LICENSE_TYPE``, ``LICENSE_FAMILY``); for a webhook ``SCOPE`` and
  ``LICENSE``; anyone else 403 ``ACCESS_DENIED``.
* ``profile``: the calling user (``ID`` a string, ``ADMIN`` a boolean,
  ``TIME_ZONE_OFFSET`` seconds east of UTC); an inactive user gets ``[]``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trunkline.domain.dates import iso_date, zone
from trunkline.domain.php import boolval, strval
from trunkline.domain.portals import KNOWN_SCOPES
from trunkline.errors import AccessDeniedError
from trunkline.methods.voximplant_sip import upper_keys
from trunkline.rest.registry import Call, Registry, Result

GLOBAL = ""  # the scope key of methods that need none


def _registry(call: Call) -> Registry:
    return call.dispatcher.registry


def _granted(call: Call) -> list[str]:
    return sorted(call.principal.scopes)


def license_parts(license_name: str) -> tuple[str, str]:
    """``de_ent10000`` -> (``ent10000``, ``ent``)."""
    name = license_name.split("_", 1)[1] if "_" in license_name else license_name
    return name, name.rstrip("0123456789") or name


async def scope(call: Call) -> Result:
    params = upper_keys(call.params)
    if boolval(params.get("FULL")):
        known = list(KNOWN_SCOPES)
        known += [s for s in _registry(call).scopes() if s not in known]
        return Result(known)
    return Result(_granted(call))


async def methods(call: Call) -> Result:
    params = upper_keys(call.params)
    registry = _registry(call)
    wanted: set[str]
    if params.get("SCOPE") is not None:
        asked = strval(params["SCOPE"]) or ""
        wanted = {asked} if asked else {GLOBAL}
    elif boolval(params.get("FULL")):
        wanted = {m.scope or GLOBAL for m in registry}
    else:
        wanted = {GLOBAL, *call.principal.scopes}
    listed = [m for m in registry if (m.scope or GLOBAL) in wanted]
    listed.sort(key=lambda m: (m.scope is not None, m.scope or "", m.name))
    return Result([m.name for m in listed])


async def method_get(call: Call) -> Result:
    name = call.params.get("name")
    found = _registry(call).methods.get(name) if isinstance(name, str) and name else None
    return Result(
        {
            "isExisting": found is not None,
            "isAvailable": found is not None and call.principal.has_scope(found.scope),
        }
    )


async def server_time(call: Call) -> Result:
    return Result(iso_date(call.services.clock.now(), call.principal.portal.timezone))


async def app_info(call: Call) -> Result:
    principal = call.principal
    portal = principal.portal
    if principal.app_id is not None:
        found = await call.services.apps.calling_app(principal)
        if found is None:
            raise AccessDeniedError("Access denied! Application context required")
        app, installation = found
        license_type, license_family = license_parts(portal.license)
        info: dict[str, Any] = {
            "ID": app.id,
            "CODE": app.code,
            "VERSION": app.version,
            "STATUS": app.status,
            "INSTALLED": installation.active,
            "PAYMENT_EXPIRED": "N",
            "DAYS": None,
            "LANGUAGE_ID": portal.language,
            "LICENSE": portal.license,
            "LICENSE_TYPE": license_type,
            "LICENSE_FAMILY": license_family,
        }
        return Result(info)
    if principal.webhook_id is not None:
        return Result({"SCOPE": _granted(call), "LICENSE": portal.license})
    raise AccessDeniedError("Access denied! Application context required")


async def profile(call: Call) -> Result:
    user = call.principal.user
    if not user.active:
        return Result([])
    now = call.services.clock.now()
    offset = datetime.fromtimestamp(now, zone(call.principal.portal.timezone)).utcoffset()
    return Result(
        {
            "ID": str(user.user_id),
            "ADMIN": user.is_admin,
            "NAME": user.name,
            "LAST_NAME": user.last_name,
            "PERSONAL_GENDER": "",
            "TIME_ZONE": "",
            "TIME_ZONE_OFFSET": int(offset.total_seconds()) if offset else 0,
        }
    )


def register(registry: Registry) -> None:
    registry.add("scope", scope, scope=None)
    registry.add("methods", methods, scope=None)
    registry.add("method.get", method_get, scope=None)
    registry.add("server.time", server_time, scope=None)
    registry.add("app.info", app_info, scope=None)
    registry.add("profile", profile, scope=None)
