"""Who an app-context method (``telephony.externalLine.*``, ``externalCall.register`` and
``.finish``) acts for.

Rules (the core checks the authorization type: OAuth or webhook, anything else is
``WRONG_AUTH_TYPE``):

* An OAuth token acts for its application (its row id and title become the calls'
  ``REST_APP_ID`` and ``REST_APP_NAME``; its lines are its own).
* A webhook acts for "no application" (``REST_APP_ID`` empty) when the setting
  ``webhook_app_context`` is ``allow`` (the default: the core accepts webhooks, and the
  official PHP SDK's integration suite calls these methods with one); ``deny`` answers
  403 ``WRONG_AUTH_TYPE``, as the docs' "only in the context of an application" reads.
"""

from __future__ import annotations

from trunkline.domain.values import request_value
from trunkline.errors import WrongAuthTypeError
from trunkline.rest.registry import Call


@request_value
class AppContext:
    rest_app_id: int | None
    rest_app_name: str | None
    client_id: str | None


async def app_context(call: Call) -> AppContext:
    principal = call.principal
    if principal.app_id is None:
        if call.services.settings.webhook_app_context == "deny":
            raise WrongAuthTypeError()
        return AppContext(None, None, None)
    found = await call.services.apps.calling_app(principal)
    if found is None:
        raise WrongAuthTypeError()
    app, _ = found
    return AppContext(app.id, app.title, app.client_id)
