"""What every console page shares: templates, the session check, rendering."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from trunkline.web.console.session import COOKIE, Session, Sessions

if TYPE_CHECKING:
    import jinja2

__all__ = ["HERE", "NO_STORE", "Console"]

HERE = Path(__file__).parent
Page = Callable[[Request, Session], Awaitable[Response]]
NO_STORE = {"Cache-Control": "no-store"}


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(float(at), UTC).strftime("%Y-%m-%d %H:%M:%S")


class Console:
    """What every page shares: the templates, the session, the services' getters."""

    def __init__(self, deps: Any) -> None:
        self.deps = deps  # the application: services, settings, clock, engine (see pages.py)
        self._sessions: Sessions | None = None
        self.failures: dict[str, list[float]] = {}

    @cached_property
    def env(self) -> jinja2.Environment:
        """The templates, loaded at the first page (a server starts without jinja2)."""
        import jinja2

        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["when"] = _when
        return env

    @property
    def sessions(self) -> Sessions:
        if self._sessions is None:
            self._sessions = Sessions(self.deps.console_secret())
        return self._sessions

    def now(self) -> float:
        return float(self.deps.clock.now())

    def render(
        self, request: Request, name: str, session: Session | None, status: int = 200, **data: Any
    ) -> HTMLResponse:
        cookie = request.cookies.get(COOKIE, "")
        csrf = self.sessions.csrf(cookie) if cookie else ""
        text = self.env.get_template(name).render(session=session, csrf=csrf, **data)
        return HTMLResponse(text, status_code=status, headers=NO_STORE)

    def guarded(
        self, page: Page, *, operator: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """``page`` for a signed-in user (the operator alone when ``operator``); a POST
        must carry the session's form token."""

        async def endpoint(request: Request) -> Response:
            cookie = request.cookies.get(COOKIE)
            session = self.sessions.read(cookie, self.now())
            if session is None:
                return RedirectResponse("/console/login", status_code=303)
            if request.method == "POST":
                form = await request.form()
                token = form.get("csrf")
                if not isinstance(token, str) or not self.sessions.csrf_ok(cookie, token):
                    return self.render(
                        request,
                        "error.html",
                        session,
                        403,
                        message="The form expired: reload the page.",
                    )
            if operator and not session.operator:
                return self.render(
                    request, "error.html", session, 403, message="Only the operator may do this."
                )
            return await page(request, session)

        return endpoint
