"""The operator API (``docs/testing.md``) as Python methods, for tests.

    control = Control("http://127.0.0.1:8080", token)
    made = control.create_portal({"domain": "acme.example", "webhooks": [{}]})
    control.count(method="voximplant.sip.add", portal="acme.example")

:class:`~trunkline.testing.server.LiveServer` hands one out (``server.control``), and the
pytest plugin's ``trunkline`` fixture is one: both reach the same API through this class.
It uses only the standard library (``urllib``), so it works wherever ``LiveServer`` does;
with ``serve --tls`` it trusts the server's CA (``ca_file``). An error answer raises
:class:`ControlError` with the status, the code and the text.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ControlError(Exception):
    """The operator API answered with an error."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description


class Control:
    def __init__(self, base_url: str, token: str, *, ca_file: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._context = ssl.create_default_context(cafile=ca_file) if ca_file else None

    # -- the wire ------------------------------------------------------------------------

    def request(
        self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None
    ) -> Any:
        """One operator call; its JSON answer (ControlError on an error status)."""
        url = self.base_url + path
        if query:
            wanted = {k: v for k, v in query.items() if v is not None}
            url += "?" + urllib.parse.urlencode(wanted)
        data = None if body is None else json.dumps(body).encode()
        headers = {"authorization": f"Bearer {self.token}"}
        if data is not None:
            headers["content-type"] = "application/json"
        sent = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(sent, timeout=30, context=self._context) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                found = json.loads(text)
            except ValueError:
                found = {"error": "http_error", "error_description": text.decode(errors="replace")}
            raise ControlError(
                exc.code, str(found.get("error")), str(found.get("error_description"))
            ) from None

    # -- portals -------------------------------------------------------------------------

    def portals(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.request("GET", "/operator/portals")["portals"]
        return found

    def create_portal(self, scenario: dict[str, Any]) -> dict[str, Any]:
        """Build a portal from a scenario document: what was made, secrets included."""
        made: dict[str, Any] = self.request("POST", "/operator/portals", scenario)
        return made

    def portal(self, domain: str) -> dict[str, Any]:
        """The portal read back: users, webhooks, apps, lines."""
        found: dict[str, Any] = self.request("GET", f"/operator/portals/{domain}")
        return found

    def add(self, domain: str, part: str, item: dict[str, Any]) -> dict[str, Any]:
        """Add a user, webhook, app or line (``part``: users, webhooks, apps, lines)."""
        made: dict[str, Any] = self.request("POST", f"/operator/portals/{domain}/{part}", item)
        return made

    def delete_portal(self, domain: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("DELETE", f"/operator/portals/{domain}")
        return answer

    def reset(self) -> dict[str, Any]:
        """Everything deleted, the start-up seed made again."""
        answer: dict[str, Any] = self.request("POST", "/operator/reset")
        return answer

    def snapshot(self, domain: str, name: str) -> None:
        self.request("POST", f"/operator/portals/{domain}/snapshot", {"name": name})

    def restore(self, domain: str, name: str) -> None:
        self.request("POST", f"/operator/portals/{domain}/restore", {"name": name})

    # -- the journal ---------------------------------------------------------------------

    def requests(self, **query: Any) -> list[dict[str, Any]]:
        """Journal rows: portal, method, status, error, principal, batch, since, after,
        limit."""
        found: list[dict[str, Any]] = self.request("GET", "/operator/requests", query=query)[
            "requests"
        ]
        return found

    def count(self, **matcher: Any) -> int:
        """Calls that match (method, portal, status, error, principal, batch, since,
        params: a subset of the parameters)."""
        return int(self.request("POST", "/operator/requests/count", matcher)["count"])

    def clear_requests(self) -> int:
        return int(self.request("DELETE", "/operator/requests")["deleted"])

    # -- the clock, faults and portal states ---------------------------------------------

    def clock(self) -> dict[str, Any]:
        found: dict[str, Any] = self.request("GET", "/operator/clock")
        return found

    def advance(self, seconds: float) -> dict[str, Any]:
        moved: dict[str, Any] = self.request("POST", "/operator/clock", {"advance": seconds})
        return moved

    def set_time(self, iso: str) -> dict[str, Any]:
        moved: dict[str, Any] = self.request("POST", "/operator/clock", {"set": iso})
        return moved

    def real_time(self) -> dict[str, Any]:
        moved: dict[str, Any] = self.request("POST", "/operator/clock", {"real": True})
        return moved

    def add_fault(self, **fault: Any) -> dict[str, Any]:
        """A fault: kind, method, portal, count, share, latency_ms."""
        made: dict[str, Any] = self.request("POST", "/operator/faults", fault)["fault"]
        return made

    def clear_faults(self) -> int:
        return int(self.request("DELETE", "/operator/faults")["cleared"])

    def set_state(self, domain: str, **state: Any) -> dict[str, Any]:
        """A portal's state: plan, limits ("on"/"off"/"default"), blocked, closed, hold."""
        found: dict[str, Any] = self.request("POST", f"/operator/portals/{domain}/state", state)
        return found
