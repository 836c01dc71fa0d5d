"""The web console at ``/console/``: server-rendered pages (jinja2) over the services.

Rules:

* Sign in with the operator token (every portal) or an administrator's sign-in password
  (that portal only); ``session.py`` has the cookie and the forms' token. Five failed
  sign-ins from one address lock it out for five minutes.
* Pages render on the server; the only script (``static/console.js``, vendored, no build)
  re-reads the page every few seconds and swaps the parts marked ``data-live`` (a line's
  state, its history), so a line's state is live without a framework. Everything works
  without it.
* Lists are paged as the API pages (50 from ``start``). Pages read only their page.
* Only the operator changes things here (faults, portal states, "register now"); an
  administrator reads.

``base.py`` holds what every page shares, ``pages.py`` the page handlers,
``templates/`` and ``static/`` the rest.
"""

from __future__ import annotations

from starlette.routing import Route

from trunkline.web.console.base import Console
from trunkline.web.console.pages import routes as page_routes

__all__ = ["Console", "routes"]


def routes(console: Console) -> list[Route]:
    return page_routes(console)
