"""Async client for Schlage BLE mobile credentials (Allegion API-Only and ENGAGE Cloud).

The public surface: the two clients, their settings objects, the wire models and the
one exception tree (drawn in ``schlage_async._errors``).
"""

from __future__ import annotations

from importlib import metadata as _metadata

from ._aimd import AimdController
from ._auth import CachedToken, InMemoryTokenCache, SharedTokenCache, TokenCache
from ._budget import AccountBudget, LaneLimiter
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
from ._lane_scheduler import LocalLaneScheduler
from ._lanes import Lane, LaneScheduler, LaneShares, current_lane, lane_context
from ._local_pause import LocalPause
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
from ._pacing import LoginLimiter, RateFeedback, RequestLimiter, RequestPause
from ._redact import mask_mobile
from ._retry import RetryPolicy, exponential_backoff
from ._routes import Operation
from ._seed_errors import ErrorCode
from ._stats import ClientStats
from ._tasks import cancel_and_wait
from ._validation import Problem, check_create_credential, check_save_no_tour_payloads

try:
    __version__: str = _metadata.version("schlage-async")
    """The installed distribution's version (``pyproject.toml``)."""
except _metadata.PackageNotFoundError:  # pragma: no cover - a source tree, not installed
    __version__ = "0+unknown"

__all__ = [
    "APIError",
    "AccountBlockedError",
    "AccountBudget",
    "AccountInactiveError",
    "AccountNotFoundError",
    "AccountNotVerifiedError",
    "AimdController",
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
    "Lane",
    "LaneLimiter",
    "LaneScheduler",
    "LaneShares",
    "LocalLaneScheduler",
    "LocalPause",
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
    "RateFeedback",
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
    "cancel_and_wait",
    "check_base_url",
    "check_create_credential",
    "check_save_no_tour_payloads",
    "current_lane",
    "exponential_backoff",
    "lane_context",
    "mask_mobile",
]
