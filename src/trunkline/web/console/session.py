"""Console sign-in sessions: a signed cookie, and the token of its forms.

Rules:

* The cookie ``tl_console`` holds ``who.portal.user.expires.signature``: ``who`` is ``op``
  (the operator, every portal) or ``admin`` (an administrator of portal ``portal``);
  the signature is an HMAC-SHA256 of the rest with a key derived from the server's secret
  key, so every worker accepts it and nothing is stored. It lives ``LIFETIME`` seconds
  (8 hours), is HttpOnly and SameSite=Strict.
* Every form that changes something carries ``csrf``, an HMAC of the cookie: a POST
  without the right one is refused (403).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

COOKIE = "tl_console"
LIFETIME = 8 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    who: str  # "op" or "admin"
    portal_id: int  # 0 for the operator
    user_id: int
    expires: int

    @property
    def operator(self) -> bool:
        return self.who == "op"

    def sees(self, portal_id: int) -> bool:
        return self.operator or self.portal_id == portal_id


class Sessions:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"trunkline console session", hashlib.sha256).digest()

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def issue(self, session: Session) -> str:
        text = f"{session.who}.{session.portal_id}.{session.user_id}.{session.expires}"
        return f"{text}.{self._sign(text)}"

    def read(self, cookie: str | None, now: float) -> Session | None:
        if not cookie or cookie.count(".") != 4:
            return None
        text, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(self._sign(text), signature):
            return None
        who, portal, user, expires = text.split(".")
        if who not in ("op", "admin") or not (portal + user + expires).isdigit():
            return None
        if int(expires) <= now:
            return None
        return Session(who, int(portal), int(user), int(expires))

    def csrf(self, cookie: str) -> str:
        return self._sign("csrf:" + cookie)[:32]

    def csrf_ok(self, cookie: str | None, token: str) -> bool:
        return bool(cookie) and hmac.compare_digest(self.csrf(cookie or ""), token)
