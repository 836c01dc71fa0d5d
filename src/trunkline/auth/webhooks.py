"""Incoming webhooks: ``/rest/{user}/{code}/{method}`` (``rest-protocol.md`` §8).

Rules, in the order the core checks them:

1. both the user and the code must be present, else ``NO_AUTH_FOUND``;
2. plain HTTP is refused with 401 ``INVALID_REQUEST`` "Https required." when the
   ``https_required`` setting is on;
3. the code is looked up by its SHA-256 (codes are stored only as hashes); an
   unknown, inactive or expired code, one that belongs to another user, or one
   of another portal than the Host header names (``auth/hosts.py``) is
   ``INVALID_CREDENTIALS``;
4. an inactive user is ``authorization_error``;
5. the method's scope must be among the webhook's scopes (global methods need
   none), else ``insufficient_scope``.
"""

from __future__ import annotations

import hashlib
import string
from typing import Protocol

from trunkline.auth.hosts import HostPolicy
from trunkline.domain.clock import Clock
from trunkline.domain.ids import SYSTEM, Ids
from trunkline.domain.portals import Portal, User, Webhook
from trunkline.domain.principal import WEBHOOK, Credentials, Principal
from trunkline.errors import (
    AuthorizationError,
    HttpsRequiredError,
    InvalidCredentialsError,
    NoAuthFoundError,
)

_ALPHABET = string.ascii_lowercase + string.digits
CODE_LENGTH = 16


def new_code(ids: Ids = SYSTEM, scope: str = "") -> str:
    """A secret like the real ones (``8g9l071eismy9q2l``): 16 of [a-z0-9], ~82 bits."""
    return ids.text(_ALPHABET, CODE_LENGTH, scope)


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", errors="replace")).hexdigest()


class WebhookReader(Protocol):
    """The one read webhook authentication makes (``storage.accounts.AccountRepository``)."""

    async def webhook_with_owner(self, code_hash: str) -> tuple[Webhook, User, Portal] | None: ...


class WebhookAuthenticator:
    def __init__(
        self,
        webhooks: WebhookReader,
        clock: Clock,
        *,
        https_required: bool = False,
        hosts: HostPolicy | None = None,
    ) -> None:
        self.webhooks = webhooks
        self.clock = clock
        self.https_required = https_required
        self.hosts = hosts

    async def authenticate(self, creds: Credentials) -> Principal:
        if not creds.aplogin or not creds.ap:
            raise NoAuthFoundError()
        if self.https_required and not creds.secure:
            raise HttpsRequiredError()
        found = await self.webhooks.webhook_with_owner(hash_code(creds.ap))
        if found is None:
            raise InvalidCredentialsError()
        webhook, user, portal = found
        if not webhook.active or webhook.expired(self.clock.now()):
            raise InvalidCredentialsError()
        if self.hosts is not None and not await self.hosts.admits(creds.host, portal):
            raise InvalidCredentialsError()
        if creds.aplogin not in (str(user.user_id), user.login):
            raise InvalidCredentialsError()
        if not user.active:
            raise AuthorizationError()
        return Principal(
            portal=portal,
            user=user,
            auth_type=WEBHOOK,
            scopes=frozenset(webhook.scopes),
            webhook_id=webhook.id,
        )
