"""Sending one operation over HTTP: headers, honest retries, error translation, logs, stats.

Both clients send every request through :class:`Transport`, so the retry rules, the
mapping of aiohttp's exceptions (:func:`translate_exception`, the one place that does
it) and the reading of error answers exist once.
"""

from __future__ import annotations

import enum
import logging
import re
import ssl as _ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from random import Random
from typing import Final, Protocol, TypeVar, overload

import aiohttp
import msgspec
import yarl
from multidict import CIMultiDict

from ._auth import TokenLease
from ._errors import (
    AccountBlockedError,
    APIError,
    ClientClosedError,
    ConfigurationError,
    ConnectionFailedError,
    InvalidResponseError,
    InvalidTokenError,
    OutcomeUnknownError,
    RateLimitedError,
    RequestTimeoutError,
    SchlageError,
    SubscriptionKeyError,
    TransportError,
)
from ._lanes import LANE_HEADER, Lane, current_lane
from ._logging import EventLogger
from ._models import decode_answer, error_messages
from ._outcomes import classify_error
from ._pacing import RateFeedback, RequestLimiter, RequestPause
from ._redact import Secret, mask_mobile, mask_mobiles_in, scrub
from ._retry import NoAnswer, RetryPolicy, Verdict, decide_retry, parse_retry_after
from ._routes import Operation, Route
from ._stats import ClientStats, StatsCounter
from ._telemetry import ClientTelemetry, inject_trace_context

__all__ = [
    "NO_AUTH",
    "Answer",
    "Authorizer",
    "Failure",
    "Transport",
    "translate_exception",
]

_T = TypeVar("_T")

ACCEPT: Final = "application/json;version=1"
REQUEST_ID_HEADERS: Final = ("x-request-id", "request-id", "x-ms-request-id", "apim-request-id")
EXCERPT_LENGTH: Final = 200
_RETRY_IN = re.compile(r"try again in (\d+(?:\.\d+)?) seconds", re.IGNORECASE)
_DEFAULT_PAUSE: Final = 1.0  # seconds a shared pause holds for a 429 without Retry-After

_log = EventLogger("schlage_async")
_NO_FIELDS: Final[Mapping[str, object]] = {}
_MASKED_FIELDS: Final = ("mobile_number",)  # masked when an event is built, not before


class Authorizer(Protocol):
    """How a surface authenticates its requests."""

    @property
    def refreshable(self) -> bool:
        """Whether a 401 can be cured by fetching new credentials (a bearer token can)."""
        ...

    async def authorize(self) -> tuple[Mapping[str, str], TokenLease | None]:
        """Return the headers to add and the token lease they came from, if any."""
        ...

    async def refresh(self, lease: TokenLease | None) -> None:
        """Replace credentials the service refused (only called when refreshable)."""
        ...

    def secrets(self) -> Iterable[str]:
        """Secret strings to scrub from any text taken from an answer."""
        ...


class _NoAuth:
    """The login's authorizer: nothing to add."""

    refreshable = False

    async def authorize(self) -> tuple[Mapping[str, str], TokenLease | None]:
        return {}, None

    async def refresh(self, lease: TokenLease | None) -> None:  # pragma: no cover - not refreshable
        return None

    def secrets(self) -> Iterable[str]:
        return ()


NO_AUTH: Final[Authorizer] = _NoAuth()


class Answer:
    """What came back for one request.

    The request id and the content type are read from the headers when first asked
    for: a success that nobody logs never needs them.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.status = status  # the HTTP status
        self.body = body  # the whole body, read
        self.headers = headers  # the answer's headers (case-insensitive in practice)

    def __repr__(self) -> str:
        return f"Answer(status={self.status}, {len(self.body)} bytes)"

    @property
    def request_id(self) -> str | None:
        """The gateway's or the service's request id, if the answer carries one."""
        return _request_id(self.headers)

    @property
    def content_type(self) -> str | None:
        """The answer's Content-Type, if any."""
        return self.headers.get("Content-Type")


@dataclass(frozen=True, slots=True)
class Failure:
    """A translated aiohttp failure: why no answer came, and the error for each outcome.

    ``error`` is raised when the request is not sent again; ``unknown`` replaces it when
    :func:`decide_retry` says the outcome is unknown (the request may have been carried
    out and cannot be replayed).
    """

    error: SchlageError
    kind: NoAnswer
    unknown: OutcomeUnknownError


def translate_exception(
    exc: BaseException,
    operation: Operation,
    *,
    attempts: int,
    secrets: Iterable[str] = (),
) -> Failure:
    """Map an aiohttp (or timeout) exception to this library's error: the one place.

    What matters is whether the request may have reached the service: a connection that
    never opened (``ClientConnectorError``, connect timeout) sent nothing; a timeout or a
    lost connection after sending leaves the outcome unknown. Whether that is retried
    or raised as :class:`OutcomeUnknownError` is :func:`decide_retry`'s call.
    """
    text = str(exc).strip()
    detail = scrub(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, secrets)
    detail = detail[:EXCERPT_LENGTH]

    def failure(error: SchlageError, kind: NoAnswer, unknown: str = "request failed") -> Failure:
        return Failure(
            error, kind, OutcomeUnknownError(operation, f"{unknown} ({detail})", attempts=attempts)
        )

    if isinstance(exc, aiohttp.ClientSSLError):
        # Certificate or TLS failure: retrying will not fix it, and nothing was sent.
        return failure(
            ConnectionFailedError(
                operation, f"TLS failed ({detail})", attempts=attempts, sent=False
            ),
            "fatal",
        )
    error: TransportError
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error = RequestTimeoutError(
            operation, f"timed out connecting ({detail})", attempts=attempts, sent=False
        )
        return failure(error, "connect_timeout")
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = ConnectionFailedError(
            operation, f"could not connect ({detail})", attempts=attempts, sent=False
        )
        return failure(error, "connect")
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return failure(ConfigurationError(f"{operation}: invalid URL ({detail})"), "fatal")
    if isinstance(exc, TimeoutError):  # includes aiohttp's ServerTimeoutError
        error = RequestTimeoutError(operation, f"no answer in time ({detail})", attempts=attempts)
        return failure(error, "timeout", "sent, but no answer in time")
    if isinstance(
        exc,
        aiohttp.ServerConnectionError | aiohttp.ClientOSError | aiohttp.ClientPayloadError,
    ):
        error = ConnectionFailedError(operation, f"connection lost ({detail})", attempts=attempts)
        return failure(error, "lost", "connection lost after sending")
    error = ConnectionFailedError(operation, f"request failed ({detail})", attempts=attempts)
    return failure(error, "failed")


def _request_id(headers: Mapping[str, str]) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def _log_level(outcome: str, error: BaseException | None) -> int:
    """How loud one request's log line is.

    A success is routine (DEBUG) and a token renewal worth noting (INFO). An answer about
    the request itself (400, 404, 409, 410, 417) goes to the caller, who may well expect
    it (a lookup that finds nothing): INFO, so a service that configured nothing sees no
    stderr line for it. Retries and give-ups (5xx, 429, a refused account, no answer or
    an unreadable one) are WARNINGs.
    """
    if outcome == "ok":
        return logging.DEBUG
    if outcome == "refresh":
        return logging.INFO
    if (
        outcome == "error"
        and isinstance(error, APIError)
        and 400 <= error.status < 500
        and error.status not in (401, 403, 429)
    ):
        return logging.INFO
    return logging.WARNING


class Transport:
    """Sends requests for one surface and one base URL through one aiohttp session."""

    __slots__ = (
        "_base_headers",
        "_base_url",
        "_base_url_text",
        "_closed",
        "_connector_limit",
        "_feedback",
        "_lane",
        "_monotonic",
        "_owns_session",
        "_pause",
        "_pause_holds",
        "_propagate",
        "_rate_limiter",
        "_retry",
        "_rng",
        "_secrets",
        "_session",
        "_sleep",
        "_ssl",
        "_ssl_arg",
        "_stats",
        "_telemetry",
        "_timeout",
        "_urls",
        "_wall_clock",
        "_with_auth",
    )

    def __init__(
        self,
        *,
        base_url: yarl.URL,
        subscription_key: Secret,
        secrets: Iterable[Secret],
        session: aiohttp.ClientSession | None,
        timeout: aiohttp.ClientTimeout,
        retry: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]],
        rng: Random,
        wall_clock: Callable[[], float],
        ssl_context: _ssl.SSLContext | None,
        connector_limit: int,
        monotonic: Callable[[], float] = time.monotonic,
        rate_limiter: RequestLimiter | None = None,
        pause: RequestPause | None = None,
        pause_holds: bool = True,
        telemetry: ClientTelemetry | None = None,
        propagate: bool = False,
        lane: Lane | None = None,
    ) -> None:
        self._base_url = base_url  # no trailing slash; route paths are appended
        self._base_url_text = str(base_url)
        self._urls: dict[Route, yarl.URL] = {}  # the URL of each route without parameters
        self._base_headers = {  # sent on every request of both surfaces
            "alle-subscription-key": subscription_key.reveal(),
            "Accept": ACCEPT,
            "Content-Type": "application/json",
        }
        self._secrets = (subscription_key, *secrets)  # scrubbed from any outside text
        self._session = session  # created lazily (inside the loop) when not given
        self._owns_session = session is None  # a caller's session is theirs to close
        self._timeout = timeout  # per request
        self._retry = retry  # the default policy; calls may pass their own
        self._sleep = sleep  # backoff sleeps go through this (tests record them)
        self._rng = rng  # the jitter source (seedable)
        self._wall_clock = wall_clock  # for Retry-After given as an HTTP date
        self._monotonic = monotonic  # for durations
        self._ssl = ssl_context  # a custom CA; None = the system's, always verified
        self._ssl_arg: _ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._connector_limit = connector_limit  # connections of an owned session
        self._stats = StatsCounter()
        self._closed = False
        # The base headers merged with the last authorizer headers seen (by identity):
        # an authorizer hands out the same mapping while its token stands.
        self._with_auth: tuple[Mapping[str, str], CIMultiDict[str]] | None = None
        self._rate_limiter = rate_limiter  # a request rate shared with other processes
        self._pause = pause  # a 429 pause shared with other processes
        # Whether each request waits for it here (else its caller waits before pacing:
        # a request that had its slot and then waited would leave in a burst).
        self._pause_holds = pause_holds
        # Told how each answer went, when the limiter listens (an account budget's does).
        self._feedback = _feedback_of(rate_limiter)
        self._lane = lane  # the lane the header names (None: no lane header)
        self._telemetry = telemetry  # None without the otel extra: one test per call
        self._propagate = propagate  # send the current span's traceparent

    @property
    def base_url(self) -> yarl.URL:
        """The surface's base URL."""
        return self._base_url

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    @property
    def telemetry(self) -> ClientTelemetry | None:
        """What this transport records through OpenTelemetry (None without the extra)."""
        return self._telemetry

    @property
    def stats(self) -> ClientStats:
        """A frozen snapshot of the traffic so far."""
        return self._stats.snapshot()

    async def aclose(self) -> None:
        """Stop accepting requests and close the session if this transport created it."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session and not session.closed:
            await session.close()

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError
        session = self._session
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=self._connector_limit, ssl=self._ssl if self._ssl is not None else True
            )
            session = self._session = aiohttp.ClientSession(connector=connector)
        elif session.closed:
            raise ClientClosedError
        return session

    def url_for(
        self,
        route: Route,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> yarl.URL:
        """Return the request URL; path values are percent-encoded once, never again."""
        if not path_params and not query:
            url = self._urls.get(route)
            if url is None:
                url = self._urls[route] = yarl.URL(self._base_url_text + route.path, encoded=True)
            return url
        path = route.format(**path_params) if path_params else route.path
        # encoded=True: Route.format already quoted (a base64 serial's "/" is %2F) and yarl
        # must not re-normalise it.
        url = yarl.URL(self._base_url_text + path, encoded=True)
        return url.with_query(dict(query)) if query else url

    def _headers(self, auth_headers: Mapping[str, str]) -> Mapping[str, str]:
        merged = self._with_auth
        if merged is None or merged[0] is not auth_headers:
            # A CIMultiDict, as aiohttp keeps headers: it would convert a dict per request.
            headers = CIMultiDict({**self._base_headers, **auth_headers})
            merged = self._with_auth = (auth_headers, headers)
        return merged[1]

    def _secret_texts(self, auth: Authorizer) -> list[str]:
        return [s.reveal() for s in self._secrets] + list(auth.secrets())

    def _scrub(self, text: str, auth: Authorizer) -> str:
        # Text from an answer: no secret, and residents' numbers masked as in the logs.
        return mask_mobiles_in(scrub(text, self._secret_texts(auth)))

    @overload
    async def call(
        self,
        route: Route,
        *,
        auth: Authorizer,
        expect: type[_T],
        path_params: Mapping[str, str] | None = ...,
        query: Mapping[str, str] | None = ...,
        body: object = ...,
        retry: RetryPolicy | None = ...,
        replay_safe: bool | None = ...,
        log_fields: Mapping[str, object] | None = ...,
    ) -> _T: ...

    @overload
    async def call(
        self,
        route: Route,
        *,
        auth: Authorizer,
        expect: None = ...,
        path_params: Mapping[str, str] | None = ...,
        query: Mapping[str, str] | None = ...,
        body: object = ...,
        retry: RetryPolicy | None = ...,
        replay_safe: bool | None = ...,
        log_fields: Mapping[str, object] | None = ...,
    ) -> None: ...

    async def call(
        self,
        route: Route,
        *,
        auth: Authorizer,
        expect: type[_T] | None = None,
        path_params: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        body: object = None,
        retry: RetryPolicy | None = None,
        replay_safe: bool | None = None,
        log_fields: Mapping[str, object] | None = None,
    ) -> _T | None:
        """Send ``route`` until it succeeds or fails for good; decode into ``expect``.

        ``replay_safe`` overrides the route's own idempotency (the login: repeating it
        has no effect to reconcile). A 401 on a refreshable surface renews the token and
        tries once more; transient failures are retried as ``retry`` allows.
        """
        policy = retry if retry is not None else self._retry
        attempt = _Attempt(
            route,
            policy,
            route.idempotent if replay_safe is None else replay_safe,
            log_fields if log_fields is not None else _NO_FIELDS,
        )
        url = self.url_for(route, path_params, query)
        payload = msgspec.json.encode(body) if body is not None else None
        telemetry = self._telemetry
        record = telemetry.begin(route) if telemetry is not None else None
        try:
            while True:
                session = self._open_session()
                auth_headers, lease = await auth.authorize()
                if self._pause is not None and self._pause_holds:
                    await self._pause.wait()
                if self._rate_limiter is not None:
                    await self._rate_limiter.acquire()
                attempt.tries += 1
                self._stats.requests += 1
                if route.operation is Operation.LOGIN:
                    self._stats.logins += 1
                headers = self._headers(auth_headers)
                if self._lane is not None:
                    headers = {**headers, LANE_HEADER: current_lane() or self._lane}
                if self._propagate:
                    headers = inject_trace_context(headers)
                started = self._monotonic()
                try:
                    # Inline rather than a helper coroutine: one frame less on every resume.
                    async with session.request(
                        route.method,
                        url,
                        headers=headers,
                        data=payload,
                        allow_redirects=False,
                        timeout=self._timeout,
                        ssl=self._ssl_arg,
                    ) as response:
                        answer = Answer(response.status, await response.read(), response.headers)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    if record is not None:
                        record.no_answer(self._monotonic() - started)
                    delay = self._after_failure(exc, attempt, auth, started)
                else:
                    if record is not None:
                        record.answered(answer.status, self._monotonic() - started)
                    self._stats.by_status[answer.status] += 1
                    if self._feedback is not None:
                        if answer.status == 429:
                            self._feedback.on_throttled()
                        else:
                            self._feedback.on_success()
                    if answer.status == 429:
                        self._stats.rate_limited += 1
                        if self._pause is not None:
                            self._pause.pause_for(self._retry_after(answer) or _DEFAULT_PAUSE)
                    if 200 <= answer.status < 300:
                        result = self._after_success(answer, attempt, expect, auth, started)
                        if record is not None:
                            record.end(None, attempt.retries)
                        return result
                    step = self._after_error(answer, attempt, auth, started)
                    if step is _RENEW:
                        if record is not None:
                            record.token_refused()
                        await auth.refresh(lease)
                        continue
                    delay = step
                attempt.retries += 1
                self._stats.retries += 1
                if record is not None:
                    record.retry(attempt.retries, delay, attempt.error)
                await self._sleep(delay)
        except BaseException as exc:
            if record is not None:
                record.end(exc, attempt.retries)
            raise

    def _after_failure(
        self, exc: BaseException, attempt: _Attempt, auth: Authorizer, started: float
    ) -> float:
        """Return the wait before retrying a request that got no answer, or raise."""
        self._stats.transport_errors += 1
        failure = translate_exception(
            exc, attempt.route.operation, attempts=attempt.tries, secrets=self._secret_texts(auth)
        )
        decision = decide_retry(
            attempt.policy,
            replay_safe=attempt.replay_safe,
            tries=attempt.tries,
            retry_number=attempt.retries + 1,
            rng=self._rng,
            no_answer=failure.kind,
        )
        if decision.verdict is Verdict.RETRY:
            attempt.error = type(failure.error).__name__
            self._log(attempt, None, started, "retry", error=failure.error)
            return decision.wait
        error = failure.unknown if decision.verdict is Verdict.OUTCOME_UNKNOWN else failure.error
        self._log(attempt, None, started, "transport_error", error=error)
        raise error from exc

    def _after_success(
        self,
        answer: Answer,
        attempt: _Attempt,
        expect: type[_T] | None,
        auth: Authorizer,
        started: float,
    ) -> _T | None:
        try:
            result = self._decode(attempt.route, answer, expect, auth)
        except InvalidResponseError as exc:
            self._log(attempt, answer, started, "invalid_response", error=exc)
            raise
        self._log(attempt, answer, started, "ok")
        return result

    def _after_error(
        self, answer: Answer, attempt: _Attempt, auth: Authorizer, started: float
    ) -> float | _Renew:
        """Decide what an error answer means: renew the token, wait and retry, or raise."""
        operation, status, policy = attempt.route.operation, answer.status, attempt.policy
        if 300 <= status < 400:
            redirect = InvalidResponseError(
                operation,
                status,
                "a redirect, which is not followed so that the token and the "
                "subscription key never reach another host",
                content_type=answer.content_type,
                request_id=answer.request_id,
            )
            self._log(attempt, answer, started, "invalid_response", error=redirect)
            raise redirect

        retry_after = self._retry_after(answer)
        error = self._error(operation, answer, retry_after, auth)
        if retry_after is None and isinstance(error, RateLimitedError):
            retry_after = error.retry_after  # read from the gateway's message

        # A 401, or a 400 whose words name the token: the guide answers an expired token
        # 401 but lists "invalid, expired or incorrect" tokens under 400 too, so both are
        # renewed once ([I], the reading that loses nothing). A second refusal is final.
        token_refused = status == 401 or (status == 400 and isinstance(error, InvalidTokenError))
        if token_refused and auth.refreshable and not isinstance(error, SubscriptionKeyError):
            if not attempt.renewed:
                attempt.renewed = True
                self._log(attempt, answer, started, "refresh", error=error)
                return _RENEW
            if not isinstance(error, InvalidTokenError):
                error = InvalidTokenError(
                    operation, status, error.messages, request_id=answer.request_id
                )
            self._log(attempt, answer, started, "error", error=error)
            raise error

        decision = decide_retry(
            policy,
            replay_safe=attempt.replay_safe,
            tries=attempt.tries,
            retry_number=attempt.retries + 1,
            rng=self._rng,
            status=status,
            retry_after=retry_after,
            blocked=isinstance(error, AccountBlockedError),
        )
        if decision.verdict is Verdict.RETRY:
            attempt.error = type(error).__name__
            self._log(attempt, answer, started, "retry", error=error)
            return decision.wait
        if decision.verdict is Verdict.OUTCOME_UNKNOWN:
            unknown = OutcomeUnknownError(
                operation,
                f"the gateway answered {status}: the service may have carried it out",
                attempts=attempt.tries,
            )
            self._log(attempt, answer, started, "error", error=unknown)
            raise unknown from error
        too_long = decision.verdict is Verdict.WAIT_TOO_LONG
        if too_long and status == 429 and not isinstance(error, RateLimitedError):
            error = RateLimitedError(
                operation, 429, (), request_id=answer.request_id, retry_after=retry_after
            )
        self._log(attempt, answer, started, "error", error=error)
        raise error

    def _excerpt(self, body: bytes, auth: Authorizer) -> str:
        text = " ".join(body[: EXCERPT_LENGTH * 4].decode("utf-8", "replace").split())
        return self._scrub(text, auth)[:EXCERPT_LENGTH]

    def _decode(
        self, route: Route, answer: Answer, expect: type[_T] | None, auth: Authorizer
    ) -> _T | None:
        reason: str
        if expect is None:
            # No answer model (a save, a resend, a delete): the status says it was done,
            # and nothing in the body is read, so any body is accepted (see _models). It
            # is parsed only to say so at DEBUG, and only when that line goes somewhere.
            if _log.enabled(logging.DEBUG) and answer.body.strip():
                try:
                    msgspec.json.decode(answer.body)
                except (msgspec.DecodeError, RecursionError):
                    _log.emit(
                        logging.DEBUG,
                        "schlage.answer_not_json",
                        operation=str(route.operation),
                        status=answer.status,
                        content_type=answer.content_type,
                        request_id=answer.request_id,
                    )
            return None
        if not answer.body.strip():
            reason = "an empty body"
        else:
            try:
                return decode_answer(expect, answer.body)
            except msgspec.ValidationError as exc:
                reason = f"JSON of the wrong shape ({exc})"
            except (msgspec.DecodeError, RecursionError):
                reason = "a body that is not JSON (or is cut short)"
        # A successful login's answer is the token, whatever its shape: never quote it.
        login = route.operation is Operation.LOGIN
        raise InvalidResponseError(
            route.operation,
            answer.status,
            reason,
            excerpt="" if login else self._excerpt(answer.body, auth),
            content_type=answer.content_type,
            request_id=answer.request_id,
        )

    def _retry_after(self, answer: Answer) -> float | None:
        return parse_retry_after(answer.headers.get("Retry-After"), now=self._wall_clock())

    def _error(
        self, operation: Operation, answer: Answer, retry_after: float | None, auth: Authorizer
    ) -> APIError:
        """Return the error an error answer stands for: its status's class, whatever the body.

        The body's readable text (any form, see ``error_messages``) becomes the messages,
        redacted; words only refine the class (``_outcomes``).
        """
        messages = tuple(self._scrub(m, auth) for m in error_messages(answer.body))
        if retry_after is None and answer.status == 429:
            # The gateway's text says "Try again in N seconds" even without the header.
            for message in messages:
                found = _RETRY_IN.search(message)
                if found:
                    retry_after = float(found.group(1))
                    break
        return classify_error(
            operation,
            answer.status,
            messages,
            request_id=answer.request_id,
            retry_after=retry_after,
        )

    def _log(
        self,
        attempt: _Attempt,
        answer: Answer | None,
        started: float,
        outcome: str,
        *,
        error: BaseException | None = None,
    ) -> None:
        level = _log_level(outcome, error)
        if not _log.enabled(level):
            return
        fields: dict[str, object] = {
            "operation": str(attempt.route.operation),
            "method": attempt.route.method,
            "status": answer.status if answer is not None else None,
            "attempt": attempt.tries,
            "duration_ms": round((self._monotonic() - started) * 1000.0, 1),
            "request_id": answer.request_id if answer is not None else None,
            "outcome": outcome,
            **attempt.log_fields,
        }
        for name in _MASKED_FIELDS:
            value = fields.get(name)
            if isinstance(value, str):
                fields[name] = mask_mobile(value)
        if error is not None:
            fields["error"] = type(error).__name__
            code = getattr(error, "code", None)
            if code is not None:
                fields["code"] = str(code)
        if answer is not None and "x-ratelimit-remaining" in answer.headers:
            fields["ratelimit_remaining"] = answer.headers["x-ratelimit-remaining"]
        _log.emit(level, "schlage.request", **fields)


class _Renew(enum.Enum):
    """The answer to an error that a new token may cure."""

    RENEW = "renew"


_RENEW: Final = _Renew.RENEW


class _Attempt:
    """The running state of one call: what is sent, how, and how it has gone so far."""

    __slots__ = (
        "error",
        "log_fields",
        "policy",
        "renewed",
        "replay_safe",
        "retries",
        "route",
        "tries",
    )

    def __init__(
        self,
        route: Route,
        policy: RetryPolicy,
        replay_safe: bool,
        log_fields: Mapping[str, object],
    ) -> None:
        self.route = route  # what is being sent
        self.policy = policy  # the retry policy in force for this call
        self.replay_safe = replay_safe  # whether an unknown outcome may be sent again
        # Extra fields for every log line; a mobile number is masked when the line is built.
        self.log_fields = log_fields
        self.tries = 0  # requests sent so far for this call
        self.retries = 0  # of which retries after a transient failure
        self.renewed = False  # whether the token was renewed once already
        self.error: str | None = None  # the class name of the last retried failure


def _feedback_of(limiter: object) -> RateFeedback | None:
    """``limiter`` when it listens to how calls went, else None."""
    return limiter if isinstance(limiter, RateFeedback) else None
