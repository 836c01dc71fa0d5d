"""Who is calling: the portal, the user the call runs as, and what it may do.

Rules:

* A method may need a right of the calling user besides its scope (the registry
  declares it; the dispatcher checks it once per call, before the handler reads any
  parameter). The one right today is "Manage numbers - modify"
  (:attr:`Right.MODIFY_LINES`), which administrators always have.
"""

from __future__ import annotations

import enum

from trunkline.domain.portals import Portal, User
from trunkline.domain.values import request_value

WEBHOOK = "apauth"
OAUTH = "oauth"


class Right(enum.Enum):
    """A right of the calling user that a method needs (403 ``ACCESS_DENIED`` without it)."""

    MODIFY_LINES = "Manage numbers - modify"


@request_value
class Principal:
    portal: Portal
    user: User
    auth_type: str  # WEBHOOK or OAUTH, as the operating-limit keys name them
    scopes: frozenset[str]
    app_id: str | None = None  # OAuth client_id; None for webhooks
    webhook_id: int | None = None

    def has_scope(self, scope: str | None) -> bool:
        return scope is None or scope in self.scopes

    def has_right(self, right: Right) -> bool:
        """Whether the calling user holds ``right`` (the only one: modify lines)."""
        return self.user.can_modify_lines

    @property
    def caller_key(self) -> tuple[int, str, int | str | None]:
        """The limiters' key: portal, auth type, and the app or webhook calling."""
        ident = self.webhook_id if self.app_id is None else self.app_id
        return self.portal.id, self.auth_type, ident


@request_value
class Credentials:
    """What a request carries that could authenticate it."""

    aplogin: str | None = None  # webhook user (id or login)
    ap: str | None = None  # webhook code
    token: str | None = None  # OAuth access token (auth / access_token / Bearer)
    secure: bool = False  # arrived over HTTPS
    host: str | None = None
