"""The bodies of the events an application's handler URL receives (``rest-protocol.md`` §9.4).

Rules:

* Each body is a PHP-style form, in the order Bitrix24 sends its fields:
  ``event``, ``event_handler_id``, ``data[...]``, ``ts``, then ``auth[...]``.
* ``ONAPPINSTALL`` carries the installing user's token pair in ``auth[...]``.
* ``ONAPPUNINSTALL`` carries ``data[CLEAN]`` (the user's "delete the application's
  data" choice) and, since the app's tokens stop working with the uninstall, an
  ``auth`` block that names the portal and carries the application token (to check
  the event's origin) but no access token.
* ``ts`` is the application clock's time, in whole seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trunkline.domain.portals import Application, Endpoints, Installation, Portal


def install_form(
    installation: Installation,
    app: Application,
    auth: Mapping[str, Any],
    now: float,
    language: str,
) -> list[tuple[str, str]]:
    """``event=ONAPPINSTALL&data[...]&ts=...&auth[...]``."""
    form = [
        ("event", "ONAPPINSTALL"),
        ("event_handler_id", str(installation.id)),
        ("data[VERSION]", str(app.version)),
        ("data[ACTIVE]", "Y"),
        ("data[INSTALLED]", "Y"),
        ("data[LANGUAGE_ID]", language),
        ("ts", str(int(now))),
    ]
    form += [(f"auth[{key}]", str(value)) for key, value in auth.items()]
    return form


def uninstall_form(
    installation: Installation,
    portal: Portal,
    where: Endpoints,
    application_token: str,
    clean: bool,
    now: float,
) -> list[tuple[str, str]]:
    """``event=ONAPPUNINSTALL&data[CLEAN]=..&ts=..&auth[...]``."""
    return [
        ("event", "ONAPPUNINSTALL"),
        ("event_handler_id", str(installation.id)),
        ("data[CLEAN]", "1" if clean else "0"),
        ("ts", str(int(now))),
        ("auth[domain]", portal.domain),
        ("auth[client_endpoint]", where.client_endpoint),
        ("auth[server_endpoint]", where.server_endpoint),
        ("auth[member_id]", portal.member_id),
        ("auth[application_token]", application_token),
    ]
