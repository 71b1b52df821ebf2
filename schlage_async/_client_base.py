"""What both clients share: settings, the transport, the lifecycle, stats and refusals."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from random import Random
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, NoReturn, Self, TypeVar, overload

import aiohttp

from ._config import build_timeout, check_base_url
from ._errors import ClientClosedError, ConfigurationError
from ._lanes import Lane
from ._outcomes import classify_error
from ._pacing import RequestLimiter, RequestPause
from ._redact import Secret
from ._retry import RetryPolicy
from ._routes import Operation, Route
from ._seed_errors import lookup
from ._stats import ClientStats
from ._telemetry import OTEL_AVAILABLE, ClientTelemetry
from ._transport import Authorizer, Transport
from ._validation import Problem

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

_T = TypeVar("_T")

__all__ = ["BaseClient", "refuse", "refuse_text"]


def refuse(operation: Operation, problems: Sequence[Problem], *, notes: Sequence[str] = ()) -> None:
    """Raise what the service would answer for ``problems``, marked as never sent.

    The status is the guide's for the first problem's row (400 for body rules, 404 for
    a malformed id in a path), the class is the one the service's answer would map to,
    and ``messages`` are the service's own, followed by ``notes``: what the client can
    add where the service's words mislead. Does nothing when there is no problem.
    """
    if not problems:
        return
    first = problems[0]
    status = lookup(operation, first.code).status
    messages = [*(p.message for p in problems), *notes]
    raise classify_error(operation, status, messages, code=first.code, sent=False)


def refuse_text(operation: Operation, message: str) -> NoReturn:
    """Raise a 400 refusal for a rule no seed table words (surface B's required fields)."""
    raise classify_error(operation, 400, [message], sent=False)


class BaseClient:
    """The lifecycle and plumbing shared by :class:`SchlageClient` and :class:`EngageClient`.

    Every operation of both clients goes out through :meth:`_call`: the path ids are
    checked (:meth:`_check_path`, per surface), the body's problems refused, then the
    route is sent with the surface's authorizer.
    """

    __slots__ = ("_password", "_sleep", "_transport", "_username", "_validate", "_wall_clock")

    _routes: ClassVar[Mapping[Operation, Route]]  # the surface's route table

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: Secret,
        subscription_key: Secret,
        session: aiohttp.ClientSession | None,
        timeout: float | aiohttp.ClientTimeout,
        retry: RetryPolicy | None,
        validate: bool,
        allow_insecure_http: bool,
        ssl_context: ssl.SSLContext | None,
        connector_limit: int,
        sleep: Callable[[float], Awaitable[None]] | None,
        random: Random | int | None,
        clock: Callable[[], float] | None,
        extra_secrets: Sequence[Secret] = (),
        rate_limiter: RequestLimiter | None = None,
        pause: RequestPause | None = None,
        pause_holds: bool = True,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        propagate: bool = False,
        lane_header: Lane | None = None,
    ) -> None:
        if propagate and not OTEL_AVAILABLE:
            raise ConfigurationError(
                "propagate=True sends the trace context through OpenTelemetry, which is not "
                "installed: pip install 'schlage-async[otel]'"
            )
        self._username = username  # shown in repr; not a secret
        self._password = password  # wrapped: never in a repr
        self._validate = validate  # refuse what the service would refuse, before sending
        self._sleep = sleep or asyncio.sleep  # every wait goes through it (tests record)
        self._wall_clock = clock or time.time  # epoch seconds: token expiry, HTTP dates
        checked = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        telemetry = None
        if OTEL_AVAILABLE:  # without the extra the transport records nothing, at no cost
            telemetry = ClientTelemetry(
                checked, tracer_provider=tracer_provider, meter_provider=meter_provider
            )
        self._transport = Transport(
            base_url=checked,
            subscription_key=subscription_key,
            secrets=(password, *extra_secrets),
            session=session,
            timeout=build_timeout(timeout),
            retry=retry if retry is not None else RetryPolicy(),
            sleep=self._sleep,
            rng=random if isinstance(random, Random) else Random(random),
            wall_clock=self._wall_clock,
            ssl_context=ssl_context,
            connector_limit=connector_limit,
            rate_limiter=rate_limiter,
            pause=pause,
            pause_holds=pause_holds,
            telemetry=telemetry,
            propagate=propagate,
            lane=lane_header,
        )

    @property
    def _authorizer(self) -> Authorizer:
        """How this surface authenticates its operations."""
        raise NotImplementedError

    def _check_path(self, operation: Operation, name: str, value: str) -> None:
        """Refuse a path value the service would refuse (or that would change the route)."""
        raise NotImplementedError

    @overload
    def _call(
        self,
        operation: Operation,
        *,
        expect: type[_T],
        path: Mapping[str, str] | None = ...,
        query: Mapping[str, str] | None = ...,
        body: object = ...,
        problems: Sequence[Problem] = ...,
        retry: RetryPolicy | None = ...,
        log_fields: Mapping[str, object] | None = ...,
    ) -> Awaitable[_T]: ...

    @overload
    def _call(
        self,
        operation: Operation,
        *,
        expect: None = ...,
        path: Mapping[str, str] | None = ...,
        query: Mapping[str, str] | None = ...,
        body: object = ...,
        problems: Sequence[Problem] = ...,
        retry: RetryPolicy | None = ...,
        log_fields: Mapping[str, object] | None = ...,
    ) -> Awaitable[None]: ...

    def _call(
        self,
        operation: Operation,
        *,
        expect: type[_T] | None = None,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        body: object = None,
        problems: Sequence[Problem] = (),
        retry: RetryPolicy | None = None,
        log_fields: Mapping[str, object] | None = None,
    ) -> Awaitable[_T | None]:
        """Check, then send one operation: the one path every public method takes.

        Returns the transport's coroutine for the caller to await (every caller awaits
        it at once), not a coroutine of its own: one frame less that every resumption
        of every request passes through. The checks raise when it is called.
        """
        for name, value in (path or {}).items():
            self._check_path(operation, name, value)
        refuse(operation, problems)
        return self._transport.call(
            self._routes[operation],
            auth=self._authorizer,
            expect=expect,
            path_params=path,
            query=query,
            body=body,
            retry=retry,
            log_fields=log_fields,
        )

    @property
    def base_url(self) -> str:
        """The service's base URL."""
        return str(self._transport.base_url)

    @property
    def username(self) -> str:
        """The account's user name."""
        return self._username

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._transport.closed

    @property
    def stats(self) -> ClientStats:
        """A frozen snapshot of this client's traffic (requests, logins, retries, 429s...)."""
        return self._transport.stats

    async def aclose(self) -> None:
        """Close the client (and its session, unless the caller passed one in)."""
        await self._transport.aclose()

    async def __aenter__(self) -> Self:
        if self.closed:
            raise ClientClosedError
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, username={self._username!r})"
