"""The ENGAGE Cloud Credentialing client (surface B): every operation of seed 001."""

from __future__ import annotations

import base64
import datetime as dt
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from random import Random
from typing import TYPE_CHECKING, Any, Final, Self

import aiohttp

from ._auth import TokenLease
from ._client_base import BaseClient, refuse_text
from ._config import setting
from ._errors import ConfigurationError
from ._models import (
    EngageCredential,
    EngageCredentialList,
    EngageCredentialStatus,
    EngageDeviceList,
)
from ._redact import Secret
from ._retry import RetryPolicy
from ._routes import ENGAGE_ROUTES, Operation

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["DEFAULT_ENGAGE_BASE_URL", "EngageClient"]

DEFAULT_ENGAGE_BASE_URL: Final = "https://api.allegion.com/engage"  # the seed's server
_STATUSES: Final = frozenset(status.value for status in EngageCredentialStatus)
_O = Operation


class _BasicAuthorizer:
    """Surface B's authorizer: HTTP Basic from the ENGAGE user name and password."""

    __slots__ = ("_header",)

    refreshable = False  # a refused password does not get better by asking again

    def __init__(self, username: str, password: Secret) -> None:
        # RFC 7617 by hand: aiohttp's BasicAuth is deprecated in 3.14 and its replacement
        # (encode_basic_auth) does not exist in the 3.10 the package supports.
        if ":" in username:
            raise ConfigurationError("an ENGAGE user name cannot contain ':' (HTTP Basic)")
        raw = f"{username}:{password.reveal()}".encode()
        self._header = Secret("Basic " + base64.b64encode(raw).decode("ascii"))

    async def authorize(self) -> tuple[Mapping[str, str], TokenLease | None]:
        return {"Authorization": self._header.reveal()}, None

    async def refresh(self, lease: TokenLease | None) -> None:  # pragma: no cover
        return None

    def secrets(self) -> Iterable[str]:
        value = self._header.reveal()
        return (value, value.removeprefix("Basic "))


def _timestamp(value: dt.datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


class EngageClient(BaseClient):
    """Async client of ENGAGE Cloud Credentialing (seed 001): HTTP Basic plus the key.

    Settings left as None are read from ``ENGAGE_BASE_URL``, ``ENGAGE_USERNAME``,
    ``ENGAGE_PASSWORD`` and ``SCHLAGE_SUBSCRIPTION_KEY``; one missing everywhere is a
    :class:`ConfigurationError`, as for :class:`SchlageClient`: no silent default to
    production (the seed's server is :data:`DEFAULT_ENGAGE_BASE_URL`, to pass knowingly).
    Retries, errors, the lifecycle and the telemetry (``tracer_provider``,
    ``meter_provider``, ``propagate``) are those of :class:`SchlageClient`.
    """

    __slots__ = ("_auth",)

    _routes = ENGAGE_ROUTES

    def __init__(
        self,
        *,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        subscription_key: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float | aiohttp.ClientTimeout = 30.0,
        retry: RetryPolicy | None = None,
        validate: bool = True,
        allow_insecure_http: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        connector_limit: int = 100,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        random: Random | int | None = None,
        clock: Callable[[], float] | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        propagate: bool = False,
    ) -> None:
        user = setting(username, "ENGAGE_USERNAME", what="username")
        secret = Secret(setting(password, "ENGAGE_PASSWORD", what="password"))
        auth = _BasicAuthorizer(user, secret)
        super().__init__(
            base_url=setting(base_url, "ENGAGE_BASE_URL", what="base_url"),
            username=user,
            password=secret,
            subscription_key=Secret(
                setting(subscription_key, "SCHLAGE_SUBSCRIPTION_KEY", what="subscription_key")
            ),
            session=session,
            timeout=timeout,
            retry=retry,
            validate=validate,
            allow_insecure_http=allow_insecure_http,
            ssl_context=ssl_context,
            connector_limit=connector_limit,
            sleep=sleep,
            random=random,
            clock=clock,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            propagate=propagate,
            extra_secrets=[Secret(s) for s in auth.secrets()],
        )
        self._auth = auth

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Build a client from the ``ENGAGE_*`` environment variables; keywords override."""
        return cls(**overrides)

    @property
    def _authorizer(self) -> _BasicAuthorizer:
        return self._auth

    def _check_path(self, operation: Operation, name: str, value: str) -> None:
        self._require(operation, name, value)

    def _require(self, operation: Operation, name: str, value: str) -> None:
        # An empty path id would change the route, so it is refused even unvalidated.
        if not value.strip() and (self._validate or name == "credentialId"):
            refuse_text(operation, f"The '{name}' must be provided.")

    async def list_credentials(
        self,
        *,
        user_id: str | None = None,
        status: EngageCredentialStatus | None = None,
        retry: RetryPolicy | None = None,
    ) -> EngageCredentialList:
        """Return the tenant's credentials, optionally one user's or one status's.

        Raises:
            ValidationError: a status the service does not know.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        op = _O.ENGAGE_LIST_CREDENTIALS
        if self._validate and status is not None and status not in _STATUSES:
            refuse_text(op, f"The 'status' must be one of {', '.join(sorted(_STATUSES))}.")
        query = {k: v for k, v in (("userId", user_id), ("status", status)) if v is not None}
        return await self._call(op, expect=EngageCredentialList, query=query, retry=retry)

    async def upload_credential(
        self,
        *,
        user_id: str,
        access_profile: str,
        user_email: str | None = None,
        user_name: str | None = None,
        valid_from: dt.datetime | str | None = None,
        valid_to: dt.datetime | str | None = None,
        retry: RetryPolicy | None = None,
    ) -> EngageCredential:
        """Upload (create) a mobile credential; never replayed on an unknown outcome.

        Raises:
            ValidationError: a required field missing or a rule of the service.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        op = _O.ENGAGE_UPLOAD_CREDENTIAL
        self._require(op, "userId", user_id)
        self._require(op, "accessProfile", access_profile)
        body = {
            k: v
            for k, v in (
                ("userId", user_id),
                ("accessProfile", access_profile),
                ("userEmail", user_email),
                ("userName", user_name),
                ("validFrom", _timestamp(valid_from)),
                ("validTo", _timestamp(valid_to)),
            )
            if v is not None
        }
        return await self._call(
            op, expect=EngageCredential, body=body, retry=retry, log_fields={"user_id": user_id}
        )

    async def get_credential(
        self, credential_id: str, *, retry: RetryPolicy | None = None
    ) -> EngageCredential:
        """Return one credential.

        Raises:
            ValidationError: an empty credential id.
            NotFoundError: no such credential.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        return await self._call(
            _O.ENGAGE_GET_CREDENTIAL,
            expect=EngageCredential,
            path={"credentialId": credential_id},
            retry=retry,
            log_fields={"credential_id": credential_id},
        )

    async def delete_credential(
        self, credential_id: str, *, retry: RetryPolicy | None = None
    ) -> None:
        """Revoke (delete) a credential.

        Raises:
            ValidationError: an empty credential id.
            NotFoundError: no such credential.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        await self._call(
            _O.ENGAGE_DELETE_CREDENTIAL,
            path={"credentialId": credential_id},
            retry=retry,
            log_fields={"credential_id": credential_id},
        )

    async def list_devices(self, *, retry: RetryPolicy | None = None) -> EngageDeviceList:
        """Return the ENGAGE devices enrolled in the tenant.

        Raises:
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        return await self._call(_O.ENGAGE_LIST_DEVICES, expect=EngageDeviceList, retry=retry)
