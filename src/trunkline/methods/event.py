"""``event.bind``, ``event.unbind``, ``event.get`` and ``events``: the wire side.

Rules (the pages', and the core's where they are silent; ``docs/events.md``):

* ``event.bind``, ``event.unbind`` and ``event.get`` work in an application's context
  only: a webhook (or a token whose app is gone) gets 403 ``WRONG_AUTH_TYPE``, since an
  outgoing webhook subscribes in the portal's interface, not with ``event.bind``.
  Handlers belong to the calling app's install. ``events`` answers anyone.
* Parameter names are case-insensitive. ``event`` is required (400 ``ERROR_ARGUMENT``
  "Argument 'EVENT' is null or empty"), and ``handler`` too for online events;
  ``event_type`` is ``online`` (the default) or ``offline``, in any case;
  ``auth_type`` is read with PHP ``intval`` (absent, empty or 0: the user who raises the
  event); ``options`` is an object. An array where a string is expected is 400
  ``ERROR_ARGUMENT`` naming the parameter.
* ``event.bind`` answers ``true``; ``event.unbind`` ``{"count": N}``; ``event.get`` a
  list of ``event``, ``handler``, ``auth_type`` (a string) and ``offline`` (0 or 1).
* ``events``: with ``SCOPE``, that scope's events; else with a truthy ``FULL`` every
  event; else the basic events and those of the caller's scopes.
"""

from __future__ import annotations

from typing import Any

from trunkline.domain.events import CATALOG, EVENT_TYPES, ONLINE, of_scope, offered
from trunkline.domain.php import boolval, intval
from trunkline.errors import ArgumentError, WrongAuthTypeError
from trunkline.methods.voximplant_sip import text_param, upper_keys
from trunkline.rest.registry import Call, Registry, Result


async def app_install(call: Call) -> tuple[int, tuple[str, ...]]:
    """The calling app's install id and scopes (WRONG_AUTH_TYPE without an app)."""
    found = await call.services.apps.calling_app(call.principal)
    if found is None or not found[1].active:
        raise WrongAuthTypeError()
    app, installation = found
    return installation.id, app.scopes


def required(params: dict[str, Any], name: str) -> str:
    value = text_param(params, name)
    if not value:
        raise ArgumentError(f"Argument '{name}' is null or empty", name)
    return value


def _event_type(params: dict[str, Any]) -> str:
    event_type = (text_param(params, "EVENT_TYPE") or ONLINE).lower()
    if event_type not in EVENT_TYPES:
        raise ArgumentError("Argument 'EVENT_TYPE' must be online or offline", "EVENT_TYPE")
    return event_type


def _auth_type(params: dict[str, Any]) -> int | None:
    value = params.get("AUTH_TYPE")
    if value is None or value == "":
        return None
    if isinstance(value, list | dict):
        raise ArgumentError("Parameter AUTH_TYPE must be an integer", "AUTH_TYPE")
    return intval(value)


async def bind(call: Call) -> Result:
    params = upper_keys(call.params)
    install_id, scopes = await app_install(call)
    event = required(params, "EVENT")
    event_type = _event_type(params)
    handler = required(params, "HANDLER") if event_type == ONLINE else ""
    options = params.get("OPTIONS")
    if options is not None and not isinstance(options, dict):
        raise ArgumentError("Parameter OPTIONS must be an object", "OPTIONS")
    await call.services.events.bind(
        call.principal.portal.id,
        install_id,
        scopes,
        call.principal.user,
        event=event,
        handler=handler,
        auth_type=_auth_type(params),
        event_type=event_type,
        auth_connector=text_param(params, "AUTH_CONNECTOR") or "",
        options=options,
    )
    return Result(True)


async def unbind(call: Call) -> Result:
    params = upper_keys(call.params)
    install_id, _ = await app_install(call)
    event = required(params, "EVENT")
    event_type = _event_type(params)
    handler = required(params, "HANDLER") if event_type == ONLINE else ""
    count = await call.services.events.unbind(
        install_id,
        call.principal.user,
        event=event,
        handler=handler,
        auth_type=_auth_type(params),
        event_type=event_type,
    )
    return Result({"count": count})


async def get(call: Call) -> Result:
    install_id, _ = await app_install(call)
    bindings = await call.services.events.bindings(install_id, call.principal.user)
    return Result(
        [
            {
                "event": b.event,
                "handler": b.handler,
                "auth_type": str(b.auth_type),
                "offline": 0 if b.event_type == ONLINE else 1,
            }
            for b in bindings
        ]
    )


async def events(call: Call) -> Result:
    params = upper_keys(call.params)
    scope = text_param(params, "SCOPE")
    if scope:
        return Result(of_scope(scope))
    if boolval(params.get("FULL")):
        return Result(list(CATALOG))
    return Result(offered(tuple(call.principal.scopes)))


def register(registry: Registry) -> None:
    registry.add("event.bind", bind, scope=None)
    registry.add("event.unbind", unbind, scope=None)
    registry.add("event.get", get, scope=None)
    registry.add("events", events, scope=None)
