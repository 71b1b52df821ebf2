"""Async client for Schlage BLE mobile credentials (Allegion API-Only and ENGAGE Cloud).

The public surface: the two clients, their settings objects, the wire models and the
one exception tree (drawn in ``schlage_async._errors``).
"""

from __future__ import annotations

from importlib import metadata as _metadata

from ._auth import CachedToken, InMemoryTokenCache, SharedTokenCache, TokenCache
from ._client import SchlageClient
from ._config import check_base_url
from ._engage import EngageClient
from ._errors import (
    AccountBlockedError,
    AccountInactiveError,
    AccountNotFoundError,
    AccountNotVerifiedError,
    APIError,
    AuthenticationError,
    CardNumbersExhaustedError,
    ClientClosedError,
    ConfigurationError,
    ConflictError,
    ConnectionFailedError,
    CredentialDownloadedError,
    CredentialNotFoundError,
    CredentialNotOwnedError,
    GoneError,
    InvalidResponseError,
    InvalidTokenError,
    LoginError,
    MobileNumberConflictError,
    NotFoundError,
    NotOnboardedError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitedError,
    RequestTimeoutError,
    RestrictedFormatError,
    RoleForbiddenError,
    SchlageError,
    ServerError,
    ServiceUnavailableError,
    SubscriptionKeyError,
    TransportError,
    UserIdConflictError,
    UserNotFoundError,
    ValidationError,
    WrongCredentialsError,
)
from ._login_limiter import SlidingWindowLimiter
from ._models import (
    CardFormat,
    CreatedCredential,
    Credential,
    CredentialAttributes,
    CredentialPage,
    EngageCredential,
    EngageCredentialList,
    EngageCredentialStatus,
    EngageDevice,
    EngageDeviceList,
    EngageDeviceModel,
    NoTourPayload,
)
from ._pacing import LoginLimiter, RequestLimiter, RequestPause
from ._redact import mask_mobile
from ._retry import RetryPolicy, exponential_backoff
from ._routes import Operation
from ._seed_errors import ErrorCode
from ._stats import ClientStats
from ._validation import Problem, check_create_credential, check_save_no_tour_payloads

try:
    __version__: str = _metadata.version("schlage-async")
    """The installed distribution's version (``pyproject.toml``)."""
except _metadata.PackageNotFoundError:  # pragma: no cover - a source tree, not installed
    __version__ = "0+unknown"

__all__ = [
    "APIError",
    "AccountBlockedError",
    "AccountInactiveError",
    "AccountNotFoundError",
    "AccountNotVerifiedError",
    "AuthenticationError",
    "CachedToken",
    "CardFormat",
    "CardNumbersExhaustedError",
    "ClientClosedError",
    "ClientStats",
    "ConfigurationError",
    "ConflictError",
    "ConnectionFailedError",
    "CreatedCredential",
    "Credential",
    "CredentialAttributes",
    "CredentialDownloadedError",
    "CredentialNotFoundError",
    "CredentialNotOwnedError",
    "CredentialPage",
    "EngageClient",
    "EngageCredential",
    "EngageCredentialList",
    "EngageCredentialStatus",
    "EngageDevice",
    "EngageDeviceList",
    "EngageDeviceModel",
    "ErrorCode",
    "GoneError",
    "InMemoryTokenCache",
    "InvalidResponseError",
    "InvalidTokenError",
    "LoginError",
    "LoginLimiter",
    "MobileNumberConflictError",
    "NoTourPayload",
    "NotFoundError",
    "NotOnboardedError",
    "Operation",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "Problem",
    "RateLimitedError",
    "RequestLimiter",
    "RequestPause",
    "RequestTimeoutError",
    "RestrictedFormatError",
    "RetryPolicy",
    "RoleForbiddenError",
    "SchlageClient",
    "SchlageError",
    "ServerError",
    "ServiceUnavailableError",
    "SharedTokenCache",
    "SlidingWindowLimiter",
    "SubscriptionKeyError",
    "TokenCache",
    "TransportError",
    "UserIdConflictError",
    "UserNotFoundError",
    "ValidationError",
    "WrongCredentialsError",
    "check_base_url",
    "check_create_credential",
    "check_save_no_tour_payloads",
    "exponential_backoff",
    "mask_mobile",
]
