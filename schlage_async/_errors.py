"""The one exception tree of ``schlage_async``.

Every error a user can see is one of these; aiohttp's and msgspec's exceptions are
translated where they arise and never escape. ::

    SchlageError
    ├── ConfigurationError ............ bad base URL, plain http off loopback, missing secret
    ├── ClientClosedError ............. the client was used after aclose()
    ├── TransportError ................ no usable answer came back
    │   ├── ConnectionFailedError ..... could not connect, or reset before the request left
    │   ├── RequestTimeoutError ....... no answer in time (a read, or a safe replay)
    │   └── OutcomeUnknownError ....... a create was sent and no answer came: it may exist
    ├── InvalidResponseError .......... an answer that is not the contract's JSON
    │                                    (HTML from a gateway, empty, truncated, wrong shape)
    └── APIError ...................... the service answered with an error status
        ├── ValidationError ........... 400: the request breaks a rule of the guide
        │   ├── RestrictedFormatError . 400: issue code not mapped to your 48X format
        │   ├── CredentialNotOwnedError 400: another integration's credential
        │   └── CredentialDownloadedError 400: resend after the patron downloaded it
        ├── AuthenticationError ....... 401, or a 400 naming the token
        │   ├── InvalidTokenError ..... expired, wrong or malformed token
        │   ├── SubscriptionKeyError .. the gateway refused the subscription key
        │   └── LoginError ............ the login itself was refused (never retried)
        │       ├── WrongCredentialsError, AccountNotFoundError,
        │       └── AccountInactiveError, AccountNotVerifiedError
        ├── PermissionDeniedError ..... 403; ``reason`` is "role" or "onboarding"
        │   ├── RoleForbiddenError .... manager or operator (the "(203)" message)
        │   └── NotOnboardedError ..... the integration is not complete
        ├── NotFoundError ............. 404 (and the resend table's 400 "not found")
        │   ├── CredentialNotFoundError 404 on a by-credential operation
        │   └── UserNotFoundError ..... 404 on a by-user operation (get, resend, delete)
        ├── ConflictError ............. 409, any words; ``field`` when the words say which
        │   ├── UserIdConflictError
        │   └── MobileNumberConflictError
        ├── GoneError ................. 410: already deleted
        ├── CardNumbersExhaustedError . 417: no card number left for the facility code
        ├── RateLimitedError .......... 429; ``retry_after`` seconds, ``blocked``
        │   └── AccountBlockedError ... the account is temporarily blocked
        └── ServerError ............... 5xx
            └── ServiceUnavailableError 502, 503, 504

Every :class:`APIError` carries the operation, the status, the service's messages, the
guide's :class:`ErrorCode` for the row when one matches, and the request id. Which class
an error answer gets is decided by its status and operation (the table in
``_outcomes.py``, beside the route table); the words only pick a subclass. No
exception's text ever holds the password, the token or the subscription key.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._routes import Operation
from ._seed_errors import ErrorCode

__all__ = [
    "APIError",
    "AccountBlockedError",
    "AccountInactiveError",
    "AccountNotFoundError",
    "AccountNotVerifiedError",
    "AuthenticationError",
    "CardNumbersExhaustedError",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "ConnectionFailedError",
    "CredentialDownloadedError",
    "CredentialNotFoundError",
    "CredentialNotOwnedError",
    "GoneError",
    "InvalidResponseError",
    "InvalidTokenError",
    "LoginError",
    "MobileNumberConflictError",
    "NotFoundError",
    "NotOnboardedError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RestrictedFormatError",
    "RoleForbiddenError",
    "SchlageError",
    "ServerError",
    "ServiceUnavailableError",
    "SubscriptionKeyError",
    "TransportError",
    "UserIdConflictError",
    "UserNotFoundError",
    "ValidationError",
    "WrongCredentialsError",
]


class SchlageError(Exception):
    """Base of every error this library raises."""


class ConfigurationError(SchlageError, ValueError):
    """The client was configured in a way that cannot work (or would not be safe)."""


class ClientClosedError(SchlageError, RuntimeError):
    """A request was made on a client after ``aclose()``."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or "the client is closed; create a new one or use it inside `async with`"
        )


class TransportError(SchlageError):
    """No usable answer came back for ``operation`` (after ``attempts`` tries).

    ``sent`` is False when the request never left: no connection could be made (refused,
    DNS, connect timeout, TLS), so the service cannot have seen it.
    """

    def __init__(
        self, operation: Operation, detail: str, *, attempts: int = 1, sent: bool = True
    ) -> None:
        self.operation = operation
        self.detail = detail
        self.attempts = attempts
        self.sent = sent
        super().__init__(f"{operation}: {detail} (after {attempts} attempt(s))")


class ConnectionFailedError(TransportError):
    """The connection could not be made, or was lost before the request was sent."""


class RequestTimeoutError(TransportError, TimeoutError):
    """No answer arrived within the timeout."""


class OutcomeUnknownError(TransportError):
    """A non-idempotent request (a create) was sent and no answer came back.

    The service may or may not have carried it out. It is never replayed blindly:
    reconcile by looking the resident up (``get_credential_by_user``) before trying again.
    """


class InvalidResponseError(SchlageError):
    """An answer that is not the contract's JSON: HTML, empty, truncated or wrong shape.

    ``excerpt`` is the first characters of the body, for a person to read.
    """

    def __init__(
        self,
        operation: Operation,
        status: int,
        reason: str,
        *,
        excerpt: str = "",
        content_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.operation = operation
        self.status = status
        self.reason = reason
        self.excerpt = excerpt
        self.content_type = content_type
        self.request_id = request_id
        shown = f": {excerpt!r}" if excerpt else ""
        rid = f" [request id {request_id}]" if request_id else ""
        super().__init__(
            f"{operation}: HTTP {status} with {reason} "
            f"(content type {content_type or 'none'}){shown}{rid}"
        )


class APIError(SchlageError):
    """The service answered ``operation`` with an error ``status``.

    ``messages`` holds the service's messages (several when it joins them), ``code`` the
    guide's row when one matched, ``request_id`` the gateway's id for support tickets.
    ``sent`` is False when client-side validation refused the request before sending.
    """

    def __init__(
        self,
        operation: Operation,
        status: int,
        messages: Sequence[str] = (),
        *,
        code: ErrorCode | None = None,
        request_id: str | None = None,
        sent: bool = True,
    ) -> None:
        self.operation = operation
        self.status = status
        self.messages = tuple(messages)
        self.code = code
        self.request_id = request_id
        self.sent = sent
        text = self.message or "(no message)"
        rid = f" [request id {request_id}]" if request_id else ""
        where = "" if sent else " (refused before sending)"
        super().__init__(f"{operation}: HTTP {status}: {text}{rid}{where}")

    @property
    def message(self) -> str:
        """All of the service's messages, joined as the service joins them."""
        return " ".join(self.messages)


class ValidationError(APIError):
    """400: the request breaks a rule of the guide (or was refused before sending)."""


class RestrictedFormatError(ValidationError):
    """400: the issue code is not the one mapped to your restricted (48X) format."""


class CredentialNotOwnedError(ValidationError):
    """400: the credential belongs to another integration."""


class CredentialDownloadedError(ValidationError):
    """400: the patron already downloaded the credential, so no invite can be resent."""


class AuthenticationError(APIError):
    """401, or a 400 naming the token: the request was not authenticated."""


class InvalidTokenError(AuthenticationError):
    """The token is expired, wrong (401) or malformed (400)."""


class SubscriptionKeyError(AuthenticationError):
    """The gateway refused the ``alle-subscription-key``."""


class LoginError(AuthenticationError):
    """The login was refused; the client never retries it in a loop."""


class WrongCredentialsError(LoginError):
    """403: the user name or password is incorrect."""


class AccountNotFoundError(LoginError):
    """404: no account has this user name."""


class AccountInactiveError(LoginError):
    """403: the account was deleted."""


class AccountNotVerifiedError(LoginError):
    """403: the account has not been verified."""


class PermissionDeniedError(APIError):
    """403: the account may not do this; ``reason`` says "role" or "onboarding"."""

    reason: str | None = None


class RoleForbiddenError(PermissionDeniedError):
    """403 (203): only an administrator may call the credential operations."""

    reason = "role"


class NotOnboardedError(PermissionDeniedError):
    """403: the integration's onboarding is not complete."""

    reason = "onboarding"


class NotFoundError(APIError):
    """404: no such credential, user, page or device (or a malformed id in the path)."""


class CredentialNotFoundError(NotFoundError):
    """The credential does not exist (or no longer does)."""


class UserNotFoundError(NotFoundError):
    """The user id is not associated with a credential."""


class ConflictError(APIError):
    """409: one credential per user id and per mobile number; ``field`` says which.

    A bare ``ConflictError`` (``field`` None) is a 409 whose words name neither rule: the
    user may already hold a credential, so look the user up before giving up.
    """

    field: str | None = None


class UserIdConflictError(ConflictError):
    """409: the user id already has a credential."""

    field = "user_id"


class MobileNumberConflictError(ConflictError):
    """409: another user's credential holds this mobile number."""

    field = "mobile_number"


class GoneError(APIError):
    """410: the credential (or its no-tour payloads) was already deleted."""


class CardNumbersExhaustedError(APIError):
    """417: no card number is left for this card format and facility code."""


class RateLimitedError(APIError):
    """429: slow down. ``retry_after`` is in seconds when the answer said; ``blocked``
    is True when the account is temporarily blocked."""

    def __init__(
        self,
        operation: Operation,
        status: int,
        messages: Sequence[str] = (),
        *,
        code: ErrorCode | None = None,
        request_id: str | None = None,
        sent: bool = True,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(operation, status, messages, code=code, request_id=request_id, sent=sent)

    @property
    def blocked(self) -> bool:
        """Whether the account is blocked (not merely throttled)."""
        return False


class AccountBlockedError(RateLimitedError):
    """429: the account is temporarily blocked; stop and resume later."""

    @property
    def blocked(self) -> bool:
        """Always True: this is the block."""
        return True


class ServerError(APIError):
    """5xx: the service failed; safe operations may be retried."""


class ServiceUnavailableError(ServerError):
    """502, 503 or 504: the service or its gateway is unavailable for now."""
