"""The server's log of REST calls: a call observer (``rest/record.py``).

Rules:

* One access line per top-level call on the ``trunkline.access`` logger (INFO), when the
  ``access_log`` setting is on: portal, who called (``webhook:<id>``, ``app:<client_id>``
  or ``-`` before authentication), user, method, HTTP status, error code, milliseconds.
  ``batch`` commands are not lines of their own: the batch's line counts them
  (``commands=N failed=M``).
* A call to a method that Bitrix24 has but Trunkline does not (the names in
  ``bitrix24_methods.txt``, generated from the public documentation by
  ``scripts/bitrix24-methods``) logs, whatever ``access_log`` says, a WARNING on
  ``trunkline.rest``: "not emulated by Trunkline yet". A name that no Bitrix24 method has
  logs an INFO line with the nearest name, if any. The answer on the wire stays the
  faithful 404 ``ERROR_METHOD_NOT_FOUND``.
* Nothing from the parameters, the URL or the headers is written: no webhook code, token,
  password or SIP credential can reach the log through these lines.
"""

from __future__ import annotations

import contextvars
import difflib
import logging
from collections.abc import Iterable
from functools import cache
from importlib import resources

from trunkline.rest.record import CallRecord

access_log = logging.getLogger("trunkline.access")
log = logging.getLogger("trunkline.rest")

NOT_FOUND = "ERROR_METHOD_NOT_FOUND"

# The commands of the batch running in this task, counted until the batch's own record.
_batch: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "trunkline_batch_commands", default=None
)


@cache
def bitrix24_methods() -> dict[str, str]:
    """Every documented Bitrix24 method: lower-cased name -> name as documented."""
    text = resources.files("trunkline.rest").joinpath("bitrix24_methods.txt").read_text()
    names = (line.strip() for line in text.splitlines())
    return {name.lower(): name for name in names if name and not name.startswith("#")}


class CallLog:
    """The call observer that writes access lines and the "not emulated" notes."""

    def __init__(self, emulated: Iterable[str], *, access: bool = True) -> None:
        self.emulated = frozenset(name.lower() for name in emulated)
        self.access = access

    def __call__(self, record: CallRecord) -> None:
        if record.error_code == NOT_FOUND and record.method:
            self.not_found(record.method)
        if record.batch:
            if self.access:
                counted = _batch.get()
                if counted is None:
                    counted = []
                    _batch.set(counted)
                counted.append(record.http_status == 200)
            return
        if self.access and access_log.isEnabledFor(logging.INFO):
            access_log.info("%s", self.line(record))

    def line(self, record: CallRecord) -> str:
        principal = record.principal
        if principal is None:
            portal, caller, user = _host(record.host), "-", "-"
        else:
            portal, user = principal.portal.domain, str(principal.user.user_id)
            if principal.app_id is not None:
                caller = f"app:{principal.app_id}"
            else:
                caller = f"webhook:{principal.webhook_id}"
        method = record.method if record.method in self.emulated else _printable(record.method)
        text = (
            f"portal={portal} caller={caller} user={user} method={method}"
            f" status={record.http_status} error={record.error_code or '-'}"
            f" ms={record.seconds * 1000:.1f}"
        )
        counted = _batch.get()
        if counted is not None:
            _batch.set(None)
            text += f" commands={len(counted)} failed={counted.count(False)}"
        return text

    def not_found(self, method: str) -> None:
        known = bitrix24_methods()
        name = known.get(method)
        if name is not None:
            log.warning(
                "%s is a Bitrix24 method not emulated by Trunkline yet"
                " (answered ERROR_METHOD_NOT_FOUND, as a portal without it would)",
                name,
            )
            return
        near = difflib.get_close_matches(method, [*self.emulated, *known], n=1, cutoff=0.85)
        hint = f" (did you mean {known.get(near[0], near[0])}?)" if near else ""
        log.info("%s is not a Bitrix24 method%s", _printable(method), hint)


def _host(host: str | None) -> str:
    return _printable(host.split(":", 1)[0]) if host else "-"


def _printable(text: str) -> str:
    """At most 100 characters, control characters and spaces escaped (one log line)."""
    cut = text[:100]
    return cut.encode("unicode_escape").decode("ascii").replace(" ", "\\x20") or "-"
