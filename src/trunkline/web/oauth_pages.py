"""The OAuth wire: ``/oauth/authorize/`` (the sign-in page) and ``/oauth/token/``.

Sign-in page rules (``rest-protocol.md`` §9.2):

* ``GET /oauth/authorize/?client_id=..&state=..`` on a portal's address shows a
  sign-in form for that portal (``auth/hosts.py`` picks the portal). The app
  must be installed there and have a redirect URI; a ``redirect_uri`` parameter,
  if given, must equal it. Every failure is a page shown to the user, never a
  redirect.
* ``POST`` checks the form's anti-forgery value against its cookie, then the
  login and password (argon2id, in a thread). Wrong credentials, an unknown
  login and a login with no password all get the same answer; five failures
  for one login within five minutes lock it for the rest of that window.
  A deactivated user, or one the app is restricted away from, is told so
  after a correct password.
* Success redirects (302) to the app's redirect URI with ``code`` (30 s, once),
  ``state``, ``domain``, ``member_id``, ``scope`` and ``server_domain``.
* The form's Deny button (``decision=deny``; it needs no login or password) redirects
  (302) to the redirect URI with ``error=access_denied`` and ``state`` (RFC 6749
  §4.1.2.1), once the anti-forgery value and the application are checked.
* Pages are never cached or framed and load nothing from elsewhere.

The token endpoint takes GET with a query or POST with a form (or a JSON
object); its query may be at most 4 KiB and its body 8 KiB, else 413
``invalid_request``. Its rules are in ``auth/oauth.py``, and so is the one renderer
of its errors (``auth.oauth.error_body``, the RFC 6749 §5.2 shape).

The pages read through two small Protocols, :class:`AppReader` and
:class:`SignInReader`, which list exactly the reads they make.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import secrets
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from trunkline.auth import passwords
from trunkline.auth.hosts import HostPolicy
from trunkline.auth.oauth import OAuthError, OAuthServer, error_body
from trunkline.domain.clock import Clock
from trunkline.domain.portals import Application, Installation, Portal, User

MAX_QUERY = 4096
MAX_BODY = 8192
MAX_FIELDS = 32
CSRF_COOKIE = "trunkline_csrf"
LOCK_FAILURES = 5
LOCK_WINDOW = 300.0

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PAGE_HEADERS = {
    **NO_STORE,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
}


class TooLargeError(Exception):
    """A request body or query over its cap: the sign-in page shows a 413 page, the token
    endpoint answers 413 ``invalid_request``. Never leaves this module."""


class AppReader(Protocol):
    """The application reads of the sign-in page (``storage.apps.AppRepository``)."""

    async def app_by_client_id(self, client_id: str) -> Application | None: ...

    async def installation(self, portal_id: int, app_id: int) -> Installation | None: ...


class SignInReader(Protocol):
    """Users and their password hashes (``storage.accounts.AccountRepository``)."""

    async def user_by_login(self, portal_id: int, login: str) -> User | None: ...

    async def password_hash(self, portal_id: int, user_id: int) -> str | None: ...

    async def set_password_hash(self, portal_id: int, user_id: int, password_hash: str) -> None: ...


class SignInThrottle:
    """Failed sign-ins per (portal, login), kept in memory for ``LOCK_WINDOW`` seconds."""

    def __init__(self, clock: Callable[[], float], *, max_keys: int = 10000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self.failures: dict[tuple[int, str], list[float]] = {}

    def _recent(self, key: tuple[int, str]) -> list[float]:
        now = self.clock()
        kept = [t for t in self.failures.get(key, []) if now - t < LOCK_WINDOW]
        if kept:
            self.failures[key] = kept
        else:
            self.failures.pop(key, None)
        return kept

    def locked(self, key: tuple[int, str]) -> bool:
        return len(self._recent(key)) >= LOCK_FAILURES

    def fail(self, key: tuple[int, str]) -> None:
        if key not in self.failures and len(self.failures) >= self.max_keys:
            self.failures.pop(next(iter(self.failures)))
        self.failures.setdefault(key, []).append(self.clock())

    def clear(self, key: tuple[int, str]) -> None:
        self.failures.pop(key, None)


async def read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLargeError()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError()
        chunks.append(chunk)
    return b"".join(chunks)


def request_base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


# -- HTML ---------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#eef2f6;color:#1d2733;
margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border-radius:10px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:32px;
width:340px}
h1{font-size:20px;margin:0 0 4px}p{margin:8px 0;line-height:1.4}.muted{color:#5b6776;font-size:14px}
label{display:block;font-size:14px;margin:14px 0 4px}
input{box-sizing:border-box;width:100%;padding:9px;border:1px solid #c3ccd6;border-radius:6px;
font-size:15px}
button{margin-top:20px;width:100%;padding:10px;border:0;border-radius:6px;background:#2067b0;
color:#fff;font-size:15px;cursor:pointer}
button.deny{margin-top:10px;background:#fff;color:#1d2733;border:1px solid #c3ccd6}
.error{background:#fdecec;color:#9b1c1c;border-radius:6px;padding:8px 10px;font-size:14px}
code{background:#f1f4f7;padding:1px 4px;border-radius:4px}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def message_page(status: int, title: str, text: str) -> HTMLResponse:
    body = f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
    return HTMLResponse(_page(title, body), status_code=status, headers=PAGE_HEADERS)


def signin_page(
    portal: Portal,
    app: Application,
    fields: dict[str, str],
    csrf: str,
    *,
    error: str = "",
    login: str = "",
    status: int = 200,
) -> HTMLResponse:
    e = html.escape
    hidden = "".join(
        f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in fields.items()
    )
    scopes = ", ".join(f"<code>{e(s)}</code>" for s in app.scopes)
    notice = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    body = (
        f"<h1>Sign in to {e(portal.title or portal.domain)}</h1>"
        f'<p class="muted">{e(portal.domain)}</p>'
        f"<p><b>{e(app.title or app.client_id)}</b> asks to act on your behalf"
        f" with access to {scopes}.</p>{notice}"
        '<form method="post" action="/oauth/authorize/" autocomplete="on">'
        f'{hidden}<input type="hidden" name="csrf" value="{e(csrf)}">'
        '<label for="login">Login</label>'
        f'<input id="login" name="login" value="{e(login)}" autocomplete="username" required>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required>'
        '<button type="submit" name="decision" value="allow">Sign in and allow</button>'
        '<button type="submit" name="decision" value="deny" class="deny" formnovalidate>'
        "Deny</button></form>"
    )
    response = HTMLResponse(
        _page(f"Sign in to {portal.title or portal.domain}", body),
        status_code=status,
        headers=PAGE_HEADERS,
    )
    return response


class OAuthPages:
    def __init__(
        self,
        apps: AppReader,
        users: SignInReader,
        hosts: HostPolicy,
        oauth: OAuthServer,
        clock: Clock,
    ) -> None:
        self.apps = apps
        self.users = users
        self.hosts = hosts
        self.oauth = oauth
        self.throttle = SignInThrottle(clock.now)

    def routes(self) -> list[Route]:
        return [
            Route(path, self.authorize, methods=["GET", "POST"])
            for path in ("/oauth/authorize/", "/oauth/authorize")
        ] + [
            Route(path, self.token, methods=["GET", "POST"])
            for path in ("/oauth/token/", "/oauth/token")
        ]

    # -- /oauth/authorize/ ---------------------------------------------------------

    async def _target(
        self, portal: Portal, client_id: str, redirect_uri: str
    ) -> tuple[Application, Installation] | HTMLResponse:
        app = await self.apps.app_by_client_id(client_id) if client_id else None
        if app is None:
            return message_page(400, "Unknown application", "No application has this client_id.")
        installation = await self.apps.installation(portal.id, app.id)
        if installation is None or not installation.active:
            return message_page(
                400,
                "Application not installed",
                f"{app.title or app.client_id} is not installed on {portal.domain}.",
            )
        if not app.redirect_uri:
            return message_page(
                400, "No redirect URI", "This application has no redirect URI registered."
            )
        if redirect_uri and redirect_uri != app.redirect_uri:
            return message_page(
                400, "Redirect URI mismatch", "redirect_uri differs from the registered one."
            )
        return app, installation

    async def authorize(self, request: Request) -> Response:
        portal = await self.hosts.portal_for_page(request.headers.get("host"))
        if portal is None:
            return message_page(404, "No portal here", "No portal answers at this address.")
        if request.method == "POST":
            try:
                raw = await read_capped(request, MAX_BODY)
                form = dict(parse_qsl(raw.decode("utf-8", "replace"), max_num_fields=MAX_FIELDS))
            except (TooLargeError, ValueError):
                return message_page(413, "Request too large", "The sign-in form is too large.")
            return await self._sign_in(request, portal, form)
        query = request.query_params
        target = await self._target(
            portal, query.get("client_id", ""), query.get("redirect_uri", "")
        )
        if isinstance(target, HTMLResponse):
            return target
        app, _ = target
        fields = _hidden_fields(app, query.get("state", ""), query.get("redirect_uri", ""))
        return self._form(request, portal, app, fields)

    def _form(
        self,
        request: Request,
        portal: Portal,
        app: Application,
        fields: dict[str, str],
        **kwargs: Any,
    ) -> HTMLResponse:
        csrf = secrets.token_urlsafe(32)
        response = signin_page(portal, app, fields, csrf, **kwargs)
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/oauth/",
        )
        return response

    async def _sign_in(self, request: Request, portal: Portal, form: dict[str, str]) -> Response:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not hmac.compare_digest(cookie.encode(), form.get("csrf", "").encode()):
            return message_page(
                400, "Sign-in expired", "This form is no longer valid: open the application again."
            )
        target = await self._target(portal, form.get("client_id", ""), form.get("redirect_uri", ""))
        if isinstance(target, HTMLResponse):
            return target
        app, installation = target
        fields = _hidden_fields(app, form.get("state", ""), form.get("redirect_uri", ""))
        if form.get("decision") == "deny":
            refused = {"error": "access_denied", "error_description": "The user denied access"}
            location = with_query(app.redirect_uri, {**refused, "state": fields["state"]})
            return RedirectResponse(location, status_code=302, headers=NO_STORE)
        login = form.get("login", "").strip()
        key = (portal.id, login.lower())
        if self.throttle.locked(key):
            return self._form(
                request,
                portal,
                app,
                fields,
                error="Too many failed attempts. Try again in a few minutes.",
                login=login,
                status=429,
            )
        user = await self.users.user_by_login(portal.id, login) if login else None
        stored = await self.users.password_hash(portal.id, user.user_id) if user else None
        if not await passwords.verify_async(stored, form.get("password", "")) or user is None:
            self.throttle.fail(key)
            return self._form(
                request,
                portal,
                app,
                fields,
                error="Wrong login or password.",
                login=login,
                status=401,
            )
        self.throttle.clear(key)
        if stored is not None and passwords.needs_rehash(stored):
            rehashed = await asyncio.to_thread(passwords.hash_password, form["password"])
            await self.users.set_password_hash(portal.id, user.user_id, rehashed)
        if not user.active:
            return message_page(403, "Account deactivated", "This account is deactivated.")
        if not installation.allows(user.user_id):
            return message_page(
                403,
                "No access",
                f"You have not been given access to {app.title or app.client_id}.",
            )
        code = await self.oauth.create_code(installation, user.user_id)
        location = with_query(
            app.redirect_uri,
            {
                "code": code,
                "state": fields["state"],
                "domain": portal.domain,
                "member_id": portal.member_id,
                "scope": ",".join(app.scopes),
                "server_domain": urlsplit(self.oauth.base(request_base(request))).netloc,
            },
        )
        return RedirectResponse(location, status_code=302, headers=NO_STORE)

    # -- /oauth/token/ -------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        body: dict[str, Any]
        try:
            params = await self._token_params(request)
            status, body = 200, await self.oauth.token(params, request_base(request))
        except TooLargeError:
            status, body = error_body(OAuthError("invalid_request", "Request is too large", 413))
        except Exception as exc:
            status, body = error_body(exc)
        return JSONResponse(body, status_code=status, headers=NO_STORE)

    async def _token_params(self, request: Request) -> dict[str, Any]:
        query = request.scope.get("query_string", b"")
        if len(query) > MAX_QUERY:
            raise TooLargeError()
        params: dict[str, Any] = dict(_pairs(query.decode("latin-1")))
        if request.method != "POST":
            return params
        raw = await read_capped(request, MAX_BODY)
        if not raw:
            return params
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            try:
                decoded = json.loads(raw)
            except ValueError:
                raise OAuthError("invalid_request", "Malformed JSON body") from None
            if not isinstance(decoded, dict):
                raise OAuthError("invalid_request", "The JSON body must be an object")
            params.update(decoded)
        else:
            params.update(_pairs(raw.decode("utf-8", "replace")))
        return params


def _hidden_fields(app: Application, state: str, redirect_uri: str) -> dict[str, str]:
    """What the sign-in form carries from the authorize request to its POST."""
    fields = {"client_id": app.client_id, "state": state}
    if redirect_uri:
        fields["redirect_uri"] = app.redirect_uri
    return fields


def _pairs(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise OAuthError("invalid_request", "Too many parameters") from None
