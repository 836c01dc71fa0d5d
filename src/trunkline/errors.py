"""The one Bitrix24 error tree, and the map of every other error family.

Three wire shapes, one renderer each:

    shape                        where                     renderer
    Bitrix24 REST envelope       /rest/...                 rest.responses.error_body
      {"error": CODE, "error_description": TEXT, ...extra}, the class's http_status
    OAuth 2.0 (RFC 6749 §5.2)    /oauth/token/             auth.oauth.error_body
      {"error": code, "error_description": text}, 400 / 401 / 413 / 500
    operator API                 /operator/...             web.operator.error_response
      {"error": code, "error_description": text}, 400 / 401 / 403 / 404

The sign-in page (``/oauth/authorize/``) answers with HTML pages, never JSON.

Every error that reaches the REST wire is an instance of :class:`RestError`; each
class carries the Bitrix24 ``error_code`` and the ``http_status`` that the real
service answers with (the "Recommend" column of ``rest-protocol.md`` §5 and the
tables of ``voximplant-sip.md``). Services raise these directly: in an emulator
the vendor's error *is* the domain error. Exactly one place,
``trunkline.rest.responses.error_body``, turns them into an envelope; anything
else that escapes a handler is logged and rendered as ``INTERNAL_SERVER_ERROR``.

    RestError                                   (code, description, status)
    ├── TransportError                          request could not be read
    │   ├── RequestTooLargeError                413 REQUEST_TOO_LARGE
    │   └── WrongEncodingError                  WRONG_ENCODING
    ├── MethodNotFoundError                     404 ERROR_METHOD_NOT_FOUND
    ├── AuthError                               401 family (webhooks and tokens)
    │   ├── NoAuthFoundError                    NO_AUTH_FOUND
    │   ├── HttpsRequiredError                  INVALID_REQUEST "Https required."
    │   ├── InvalidCredentialsError             INVALID_CREDENTIALS
    │   ├── InsufficientScopeError              insufficient_scope
    │   ├── ExpiredTokenError                   expired_token
    │   │   └── InjectedExpiredTokenError       (limits/faults.py: an injected fault)
    │   ├── InvalidTokenError                   invalid_token
    │   ├── ApplicationNotFoundError            APPLICATION_NOT_FOUND
    │   ├── UserAccessError                     user_access_error
    │   ├── AuthorizationError                  authorization_error
    │   └── CommercialPlanRequiredError         ACCESS_DENIED "REST is available only on ..."
    ├── LimitError                              limits and operator states (limits/)
    │   ├── QueryLimitExceededError             503 QUERY_LIMIT_EXCEEDED (request-rate bucket)
    │   ├── OverloadLimitError                  503 OVERLOAD_LIMIT (manual block, hold)
    │   └── OperationTimeLimitError             429 OPERATION_TIME_LIMIT
    ├── PortalDeletedError                      403 PORTAL_DELETED
    ├── AccessDeniedError                       403 ACCESS_DENIED "Access denied!"
    ├── InternalServerError                     500 INTERNAL_SERVER_ERROR
    │   └── InjectedInternalError               (limits/faults.py: an injected fault)
    ├── CoreError                               500 ERROR_CORE "SQL query error!"
    │   └── DatabaseUnavailableError            (storage/driver.py: the driver failed)
    ├── WrongAuthTypeError                      403 WRONG_AUTH_TYPE (app-context methods)
    ├── RefusedError                            400 ERROR_CORE + the method's sentence
    ├── InvalidArgumentError                    400 INVALID_ARGUMENT (externalCall.finish)
    ├── ArgumentError                           400 ERROR_ARGUMENT (+ "argument")
    │   └── NestingTooDeepError                 (rest/params.py)
    ├── UnknownFieldError                       400 "100" (ORM unknown field)
    ├── BatchLengthExceededError                ERROR_BATCH_LENGTH_EXCEEDED (batch only)
    ├── BatchMethodNotAllowedError              ERROR_BATCH_METHOD_NOT_ALLOWED (batch only)
    └── SipLineError                            400 family of voximplant.sip.*
        ├── CheckFieldsError                    CHECK_FIELDS_ERROR (messages joined by "<br> ")
        ├── TitleExistsError                    TITLE_EXISTS
        ├── MaxCloudPbxError                    MAX_CLOUD_PBX
        ├── ConfigNotFoundError                 ERROR_NOT_FOUND (404 update, 400 delete)
        └── RegIdNotFoundError                  REG_ID_NOT_FOUND
    └── TelephonyError                          400 family of voximplant.line/user/call
        ├── OutgoingConfigNotFoundError         ERROR_ARGUMENT (no "argument": a RestException)
        ├── UserSettingsError                   "" (the core's RestException with no code)
        ├── CallStartError                      ERROR_CORE (callback.start, infocall.*)
        ├── MethodConfirmWaitingError           401 METHOD_CONFIRM_WAITING
        └── MethodConfirmDeniedError            403 METHOD_CONFIRM_DENIED
    └── EventBindingError                       400 family of event.* (docs/events.md)
        ├── EventNotFoundError                  ERROR_EVENT_NOT_FOUND "Event not found"
        ├── WrongHandlerUrlError                ERROR_WRONG_HANDLER_URL "Wrong handler URL"
        ├── UnsupportedProtocolError            ERROR_UNSUPPORTED_PROTOCOL
        └── HandlerNotFoundError                404 ERROR_NOT_FOUND "Handler not found"

The other families live with their subject and never become a REST envelope as
themselves; each is translated where it is caught:

    OAuthError                  auth/oauth.py       the RFC 6749 shape (above)
    OperatorError               web/operator/       the operator shape (above)
    TooLargeError               web/oauth_pages.py  a body over its cap: a 413 page, or the
                                                    OAuth 413 invalid_request
    FaultError, StateError      limits/             invalid operator input: operator 400,
                                                    or the CLI's "trunkline: <message>"
    AppError                    services/apps.py    operator mistakes (CLI message)
    AccountError                services/accounts.py  no such user or webhook (CLI message)
    WeakPasswordError           auth/passwords.py   a password too short or long (AppError)
    CliError                    cli/common.py       printed by the CLI, exit status 2
    GrantRefusedError           domain/portals.py   a code or refresh token not redeemed
                                                    (invalid_grant / invalid_client)
    DuplicateError              storage/driver.py   a name already taken (TITLE_EXISTS, CLI)
    IntegrityViolationError     storage/driver.py   a constraint refused a write (translated
                                                    by the repositories)
    SecretKeyError              storage/secrets.py  the key file or key is unusable
    DatabaseOpenError           storage/driver.py   the database cannot be opened or migrated
                                                    (CLI: one line, exit status 2)
    SettingsError               settings.py         a setting's value is not allowed (CLI)
    DatabaseUrlError            storage/url.py      a database URL that cannot be used
    BackendUnavailableError     limits/shared.py    Redis did not answer (served without
                                                    limits, or QUERY_LIMIT_EXCEEDED)
    SipError and subclasses     sip/errors.py       the sans-IO core; the engine turns them
    SipTransportError           engine/transport.py into a registration state, never REST
    ResolutionError             engine/resolver.py  (a line's STATUS_CODE and message)
    ConnectionDrop              limits/faults.py    a signal, not an error (a BaseException):
                                                    the outermost layer drops the connection

This module imports nothing of ours.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RestError(Exception):
    """An error with a Bitrix24 ``error`` code, description and HTTP status."""

    error_code: ClassVar[str] = "ERROR_CORE"
    default_description: ClassVar[str] = ""
    default_status: ClassVar[int] = 400
    # An answer given on purpose (a limit, an operator's block, an injected fault):
    # rendered like any other, but never logged as a server failure.
    expected: ClassVar[bool] = False

    def __init__(
        self,
        description: str | None = None,
        *,
        http_status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.error_description = self.default_description if description is None else description
        self.http_status = self.default_status if http_status is None else http_status
        self.extra = extra or {}
        super().__init__(f"{self.error_code}: {self.error_description}")

    def to_wire(self) -> dict[str, Any]:
        """The error envelope body: ``error``, ``error_description`` and extra keys."""
        body: dict[str, Any] = {
            "error": self.error_code,
            "error_description": self.error_description,
        }
        body.update(self.extra)
        return body


class TransportError(RestError):
    """The request itself could not be read."""


class RequestTooLargeError(TransportError):
    error_code = "REQUEST_TOO_LARGE"
    default_status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body exceeds the limit of {limit} bytes")


class WrongEncodingError(TransportError):
    error_code = "WRONG_ENCODING"
    default_description = "Wrong request encoding"
    default_status = 400


class MethodNotFoundError(RestError):
    error_code = "ERROR_METHOD_NOT_FOUND"
    default_description = "Method not found!"
    default_status = 404


class AuthError(RestError):
    default_status = 401


class NoAuthFoundError(AuthError):
    error_code = "NO_AUTH_FOUND"
    default_description = "Wrong authorization data"


class HttpsRequiredError(AuthError):
    error_code = "INVALID_REQUEST"
    default_description = "Https required."


class InvalidCredentialsError(AuthError):
    error_code = "INVALID_CREDENTIALS"
    default_description = "Invalid request credentials"


class InsufficientScopeError(AuthError):
    error_code = "insufficient_scope"
    default_description = (
        "The request requires higher privileges than provided by the webhook token"
    )


class ExpiredTokenError(AuthError):
    error_code = "expired_token"
    default_description = "The access token provided has expired"


class InvalidTokenError(AuthError):
    error_code = "invalid_token"
    default_description = "The access token provided is invalid"


class ApplicationNotFoundError(AuthError):
    error_code = "APPLICATION_NOT_FOUND"
    default_description = "Application not found"


class UserAccessError(AuthError):
    error_code = "user_access_error"
    default_description = "The user does not have access to the application."


class AuthorizationError(AuthError):
    error_code = "authorization_error"
    default_description = "Unable to authorize user"


class CommercialPlanRequiredError(AuthError):
    """The portal's plan has no REST (an operator's portal state)."""

    error_code = "ACCESS_DENIED"
    default_description = "REST is available only on commercial plans."


class LimitError(RestError):
    """A limit or an operator's block (``rest-protocol.md`` §11, §12)."""

    default_status = 503
    expected = True


class QueryLimitExceededError(LimitError):
    error_code = "QUERY_LIMIT_EXCEEDED"
    default_description = "Too many requests"


class OverloadLimitError(LimitError):
    error_code = "OVERLOAD_LIMIT"
    default_description = "REST API is blocked due to overload."


class OperationTimeLimitError(LimitError):
    error_code = "OPERATION_TIME_LIMIT"
    default_description = "Method is blocked due to operation time limit."
    default_status = 429


class PortalDeletedError(RestError):
    error_code = "PORTAL_DELETED"
    default_description = "Portal was deleted"
    default_status = 403


class AccessDeniedError(RestError):
    error_code = "ACCESS_DENIED"
    default_description = "Access denied!"
    default_status = 403


class InternalServerError(RestError):
    error_code = "INTERNAL_SERVER_ERROR"
    default_description = "Internal server error"
    default_status = 500


class CoreError(RestError):
    error_code = "ERROR_CORE"
    default_description = "SQL query error!"
    default_status = 500


class WrongAuthTypeError(RestError):
    """A method that works only in an application's context, called otherwise."""

    error_code = "WRONG_AUTH_TYPE"
    default_description = "Current authorization type is denied for this method"
    default_status = 403


class RefusedError(RestError):
    """The core's ``RestException`` with a sentence: a method refused its input
    (``telephony.*``: "NUMBER should not be empty", "Unknown TYPE", ...)."""

    error_code = "ERROR_CORE"
    default_status = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)


class InvalidArgumentError(RestError):
    error_code = "INVALID_ARGUMENT"
    default_status = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)


class ArgumentError(RestError):
    error_code = "ERROR_ARGUMENT"
    default_status = 400

    def __init__(self, description: str, argument: str = "") -> None:
        super().__init__(description, extra={"argument": argument})


class UnknownFieldError(RestError):
    """The ORM's SystemException code 100, rendered by the REST layer as ``"100"``."""

    error_code = "100"
    default_status = 400

    def __init__(self, field: str) -> None:
        super().__init__(
            f"Unknown field definition `{field}` ({field}) for \\Bitrix\\Voximplant\\Sip Entity."
        )


class BatchLengthExceededError(RestError):
    error_code = "ERROR_BATCH_LENGTH_EXCEEDED"
    default_description = "Max batch length exceeded"


class BatchMethodNotAllowedError(RestError):
    error_code = "ERROR_BATCH_METHOD_NOT_ALLOWED"
    default_description = "Method is not allowed for batch usage"
    default_status = 405


class SipLineError(RestError):
    """Errors the voximplant SIP module raises (``RestException(msg, code, 400)``)."""


class CheckFieldsError(SipLineError):
    error_code = "CHECK_FIELDS_ERROR"

    def __init__(self, messages: list[str]) -> None:
        self.messages = list(messages)
        super().__init__("<br> ".join(messages))


class TitleExistsError(SipLineError):
    error_code = "TITLE_EXISTS"
    default_description = "The specified connection name is already registered in the system"


class MaxCloudPbxError(SipLineError):
    error_code = "MAX_CLOUD_PBX"
    default_description = "You cannot connect more than 10 virtual PBXs."


class ConfigNotFoundError(SipLineError):
    error_code = "ERROR_NOT_FOUND"
    default_description = "Specified CONFIG_ID is not found"


class RegIdNotFoundError(SipLineError):
    error_code = "REG_ID_NOT_FOUND"
    default_description = "Settings not found"


class TelephonyError(RestError):
    """The 400 family of ``voximplant.line.*``, ``voximplant.user.*`` and built-in calls."""


class OutgoingConfigNotFoundError(TelephonyError):
    error_code = "ERROR_ARGUMENT"
    default_description = "Specified CONFIG_ID is not found"


class UserSettingsError(TelephonyError):
    """``voximplant.user.*``: the core throws a RestException with no code."""

    error_code = ""


class CallStartError(TelephonyError):
    """``voximplant.callback.start`` and ``voximplant.infocall.*``: the core's ERROR_CORE."""

    error_code = "ERROR_CORE"


class MethodConfirmWaitingError(TelephonyError):
    error_code = "METHOD_CONFIRM_WAITING"
    default_description = "Waiting for confirmation"
    default_status = 401


class MethodConfirmDeniedError(TelephonyError):
    error_code = "METHOD_CONFIRM_DENIED"
    default_description = "Method call denied"
    default_status = 403


class EventBindingError(RestError):
    """The 400 family of ``event.bind``, ``event.unbind`` and ``event.offline.*``."""


class EventNotFoundError(EventBindingError):
    error_code = "ERROR_EVENT_NOT_FOUND"
    default_description = "Event not found"


class WrongHandlerUrlError(EventBindingError):
    """A handler with no host (the core's ``HandlerHelper::checkCallback``)."""

    error_code = "ERROR_WRONG_HANDLER_URL"
    default_description = "Wrong handler URL"


class UnsupportedProtocolError(EventBindingError):
    """A handler that is not ``http(s)`` (the core's ``HandlerHelper::checkCallback``)."""

    error_code = "ERROR_UNSUPPORTED_PROTOCOL"
    default_description = "Unsupported event handler protocol"


class HandlerNotFoundError(EventBindingError):
    """``event.unbind`` matched nothing (the core's answer; the page is silent)."""

    error_code = "ERROR_NOT_FOUND"
    default_description = "Handler not found"
    default_status = 404
