"""The bodies of the events an application's handler URL receives (``rest-protocol.md`` §9.4).

Rules:

* Each body is a PHP-style form, in the order Bitrix24 sends its fields:
  ``event``, ``event_handler_id``, ``data[...]``, ``ts``, then ``auth[...]``.
* ``ONAPPINSTALL`` carries the installing user's token pair in ``auth[...]``;
  ``ONAPPUNINSTALL`` carries ``data[CLEAN]`` (the user's "delete the application's
  data" choice) and, since the app's tokens stop working with the uninstall, an
  ``auth`` block that names the portal and carries the application token (to check
  the event's origin) but no access token (``services/apps.py`` builds both).
* ``ts`` is the application clock's time, in whole seconds.
* ``data`` nests as PHP writes arrays into a form: ``data[FIELDS][ID]=7``, lists by
  index (``data[CRM][0][ENTITY_ID]``); ``True``/``False`` become ``1``/``""`` and
  ``None`` an empty string, as PHP's string conversion does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def _php_string(value: Any) -> str:
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    return str(value)


def flatten(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    """``prefix[key][...]=value`` pairs of a nested value."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(f"{prefix}[{key}]", item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from flatten(f"{prefix}[{index}]", item)
    else:
        yield prefix, _php_string(value)


def event_form(
    event: str,
    handler_id: int,
    data: Mapping[str, Any],
    now: float,
    auth: Mapping[str, Any],
) -> list[tuple[str, str]]:
    """``event=..&event_handler_id=..&data[...]&ts=..&auth[...]``, in the real order."""
    form = [("event", event), ("event_handler_id", str(handler_id))]
    form += flatten("data", data) if data else []
    form.append(("ts", str(int(now))))
    form += [(f"auth[{key}]", _php_string(value)) for key, value in auth.items()]
    return form
