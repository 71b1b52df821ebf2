"""The public surface of ``schlage_async``: pinned, so a change to it is deliberate."""

from __future__ import annotations

import inspect

import schlage_async
from schlage_async import _errors

EXPECTED = [
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


def test_all_is_pinned() -> None:
    """``__all__`` is exactly the reviewed list (add to both when the surface grows)."""
    assert schlage_async.__all__ == EXPECTED


def test_all_is_sorted_and_unique() -> None:
    """``__all__`` is sorted (case-sensitive, as ruff sorts it) with no duplicates."""
    assert schlage_async.__all__ == sorted(set(schlage_async.__all__))


def test_every_name_resolves() -> None:
    """Every name in ``__all__`` is importable from the package."""
    for name in schlage_async.__all__:
        assert getattr(schlage_async, name) is not None


def test_every_exception_class_is_exported() -> None:
    """Every exception of the tree is public, so users can catch it by name."""
    classes = {
        name
        for name, obj in vars(_errors).items()
        if inspect.isclass(obj) and issubclass(obj, _errors.SchlageError)
    }
    assert classes <= set(schlage_async.__all__)


def test_shared_all_is_pinned() -> None:
    """``schlage_async.shared.__all__`` is exactly the reviewed list."""
    import schlage_async.shared

    assert schlage_async.shared.__all__ == [
        "DEFAULT_PREFIX",
        "RedisLaneScheduler",
        "RedisLoginBudget",
        "RedisPause",
        "RedisRateLimiter",
        "RedisTokenCache",
        "account_key",
    ]
