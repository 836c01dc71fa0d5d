"""Which credential a request authenticates with (``rest-protocol.md`` §8, §9.5).

Rules: a webhook's user and code (in the path, or ``aplogin``/``ap``) win over an
OAuth token (``auth``/``access_token``/``Authorization: Bearer``); a request with
neither is ``NO_AUTH_FOUND``. Each kind's own checks are in ``webhooks.py`` and
``tokens.py``.
"""

from __future__ import annotations

from trunkline.auth.tokens import TokenAuthenticator
from trunkline.auth.webhooks import WebhookAuthenticator
from trunkline.domain.principal import Credentials, Principal
from trunkline.errors import NoAuthFoundError


class Authenticator:
    def __init__(
        self, webhooks: WebhookAuthenticator, tokens: TokenAuthenticator | None = None
    ) -> None:
        self.webhooks = webhooks
        self.tokens = tokens

    async def __call__(self, creds: Credentials) -> Principal:
        if creds.aplogin or creds.ap:
            return await self.webhooks.authenticate(creds)
        if creds.token and self.tokens is not None:
            return await self.tokens.authenticate(creds)
        raise NoAuthFoundError()
