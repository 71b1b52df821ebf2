"""The API-Only client (surface A): every operation of seed 000, typed."""

from __future__ import annotations

import datetime as dt
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from random import Random
from typing import TYPE_CHECKING, Any, Self

import aiohttp
import msgspec

from ._auth import BearerAuthorizer, InMemoryTokenCache, TokenCache, TokenRefresher
from ._budget import AccountBudget
from ._client_base import BaseClient, refuse
from ._config import setting
from ._errors import (
    ConfigurationError,
    InvalidResponseError,
    LoginError,
    NotFoundError,
    TransportError,
    ValidationError,
)
from ._lanes import Lane
from ._login_limiter import SlidingWindowLimiter
from ._models import (
    AuthToken,
    CreatedCredential,
    Credential,
    CredentialAttributes,
    CredentialPage,
    NoTourPayload,
)
from ._pacing import LoginLimiter, RequestLimiter, RequestPause
from ._redact import Secret
from ._retry import RetryPolicy
from ._routes import ROUTES, Operation, encode_serial_number
from ._seed_errors import ErrorCode, lookup
from ._transport import NO_AUTH
from ._validation import (
    ATTRIBUTE_KEYS,
    Problem,
    as_uint,
    check_create_credential,
    check_list_query,
    check_login,
    check_path_id,
    check_save_no_tour_payloads,
    check_serial_number_path,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["SchlageClient"]

_O = Operation
# What a bearer token may hold to be sent back in a header: visible ASCII, no spaces.
_TOKEN_TEXT = re.compile(r"[\x21-\x7e]+")

_PAYLOAD_KEYS = {
    "lockid": "lockId",
    "serialnumber": "serialNumber",
    "notourpayload": "noTourPayload",
}


def _attributes_body(
    attributes: Mapping[str, str | None] | CredentialAttributes | None,
) -> dict[str, object] | None:
    """Return ``attributes`` as the service expects them: ``siteId`` and ``siteName``."""
    if attributes is None:
        return None
    if isinstance(attributes, CredentialAttributes):
        pairs: Mapping[str, object] = msgspec.to_builtins(attributes)
        return {k: v for k, v in pairs.items() if v is not None} or None
    # Any letter case (the guide spells SiteID, SiteiD; the QA suite SiteId), snake too.
    return {ATTRIBUTE_KEYS.get(k.replace("_", "").lower(), k): v for k, v in attributes.items()}


def _payload_item(payload: NoTourPayload | Mapping[str, object]) -> dict[str, object]:
    if isinstance(payload, NoTourPayload):
        item: dict[str, object] = msgspec.to_builtins(payload)
        return item
    return {_PAYLOAD_KEYS.get(k.replace("_", "").lower(), k): v for k, v in payload.items()}


def _wire_item(payload: NoTourPayload | Mapping[str, object]) -> object:
    return payload if isinstance(payload, NoTourPayload) else _payload_item(payload)


def _notes(problems: list[Problem], mobile_number: str, facility_code: object) -> list[str]:
    """What a refused create's messages (the service's) leave out, said after them."""
    codes = {problem.code for problem in problems}
    notes: list[str] = []
    if ErrorCode.FACILITY_CODE_NOT_UINT in codes and facility_code is None:
        notes.append("(facility_code is missing: this card format needs one)")
    if (
        ErrorCode.MOBILE_NUMBER_INVALID in codes
        and mobile_number.startswith("+")
        and not mobile_number.startswith("+1")
    ):
        notes.append("(the service takes +1 numbers only: the US and Canada)")
    return notes


def _number(value: object) -> object:
    """A digit string as its int (the service reads both; we send numbers), else as given."""
    number = as_uint(value) if isinstance(value, str) else None
    return number if number is not None else value


def _date_text(value: dt.date | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.isoformat()


class SchlageClient(BaseClient):
    """Async client of Allegion's API-Only service (seed 000): one method per operation.

    Use it as ``async with SchlageClient(...) as client:``. Settings left as None are
    read from ``SCHLAGE_BASE_URL``, ``SCHLAGE_USERNAME``, ``SCHLAGE_PASSWORD`` and
    ``SCHLAGE_SUBSCRIPTION_KEY``. The bearer token is fetched on first use, cached,
    renewed ``token_refresh_margin`` seconds before it expires, and renewed once (by a
    single login however many calls need it) when the service answers 401. Logins are
    held to 100 per 15 minutes. Every method takes ``retry=`` to override the client's
    :class:`RetryPolicy` for that call.

    Several processes share one token, login budget, request rate and 429 pause by
    passing ``token_cache``, ``login_limiter``, ``rate_limiter`` and ``pause`` backed by
    a shared server (``schlage_async.shared`` has Redis ones): every request then waits
    for the pause and a rate slot, and a 429's Retry-After pauses them all.

    With OpenTelemetry installed (the ``otel`` extra) every call is a span and every
    request counted, through ``tracer_provider`` and ``meter_provider`` or else the
    global providers; nothing is recorded while none is configured. ``propagate=True``
    sends the current span's ``traceparent`` to the service (off by default: it tells a
    third party your trace ids). See ``docs/observability.md``.
    """

    __slots__ = ("_auth", "_budget", "_lane", "_limiter", "_login_max_wait", "_refresher")

    _routes = ROUTES

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
        token_cache: TokenCache | None = None,
        token_refresh_margin: float = 300.0,
        login_limiter: LoginLimiter | None = None,
        login_max_wait: float = 0.0,
        rate_limiter: RequestLimiter | None = None,
        pause: RequestPause | None = None,
        allow_insecure_http: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        connector_limit: int = 100,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        random: Random | int | None = None,
        clock: Callable[[], float] | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        propagate: bool = False,
        budget: AccountBudget | None = None,
        lane: Lane | str | None = Lane.INTERACTIVE,
        send_lane_header: bool = False,
    ) -> None:
        if token_refresh_margin < 0 or login_max_wait < 0:
            raise ConfigurationError("token_refresh_margin and login_max_wait must not be negative")
        base_url = setting(base_url, "SCHLAGE_BASE_URL", what="base_url")
        username = setting(username, "SCHLAGE_USERNAME", what="username")
        paced_lane = _lane(lane)
        if budget is not None:
            given = [
                name
                for name, value in (
                    ("token_cache", token_cache),
                    ("login_limiter", login_limiter),
                    ("rate_limiter", rate_limiter),
                    ("pause", pause),
                )
                if value is not None
            ]
            if given:
                raise ConfigurationError(
                    f"budget= holds the token cache, login budget, rate and pause: drop "
                    f"{', '.join(given)}"
                )
            token_cache, login_limiter, pause = (
                budget.token_cache,
                budget.login_limiter,
                budget.pause,
            )
            if paced_lane is not None:
                rate_limiter = budget.limiter(paced_lane)
        self._budget = budget  # shared with the account's other callers, if any
        self._lane = paced_lane if budget is not None else None  # what this client's calls wait in
        super().__init__(
            base_url=base_url,
            username=username,
            password=Secret(setting(password, "SCHLAGE_PASSWORD", what="password")),
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
            rate_limiter=rate_limiter,
            pause=pause,
            # A client its caller paces (lane None) tells the pause of its 429s; its caller
            # waits for the pause before pacing, so no request waits after its slot.
            pause_holds=budget is None or paced_lane is not None,
            lane_header=(paced_lane or Lane.INTERACTIVE) if send_lane_header else None,
        )
        if budget is not None:
            budget.bind(self.base_url, self.username)
        self._limiter: LoginLimiter = login_limiter or SlidingWindowLimiter()  # 100 logins / 15 min
        self._login_max_wait = login_max_wait  # seconds to wait for a login slot
        self._refresher = TokenRefresher(
            key=f"{self.base_url}|{self.username}",
            cache=token_cache if token_cache is not None else InMemoryTokenCache(),
            login=self._login,
            clock=self._wall_clock,
            margin=token_refresh_margin,
            telemetry=self._transport.telemetry,
        )
        self._auth = BearerAuthorizer(self._refresher)

    @property
    def budget(self) -> AccountBudget | None:
        """The account budget this client shares with the account's other callers, if any."""
        return self._budget

    @property
    def lane(self) -> Lane | None:
        """The lane this client's calls wait in on its budget (None: it does not pace)."""
        return self._lane

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Build a client from the ``SCHLAGE_*`` environment variables; keywords override."""
        return cls(**overrides)

    async def aclose(self) -> None:
        """Close the client: cancel a login under way, then close the owned session."""
        await self._refresher.aclose()
        await super().aclose()

    async def _login(self) -> str:
        body = {"username": self._username, "password": self._password.reveal()}
        if self._validate:
            refuse(_O.LOGIN, check_login(body))
        await self._limiter.acquire(max_wait=self._login_max_wait, sleep=self._sleep)
        try:
            answer = await self._transport.call(
                ROUTES[_O.LOGIN],
                auth=NO_AUTH,
                expect=AuthToken,
                body=body,
                # Never retried: every try spends login budget, and 429s escalate to a block.
                retry=RetryPolicy.none(),
                replay_safe=True,  # a repeated login has no effect to reconcile
            )
        except LoginError as exc:
            if exc.status != 404 or exc.code is not None:
                raise
            # Not the guide's "no such account" but the gateway's "no such route": the
            # base URL, not the account, is wrong.
            raise LoginError(
                _O.LOGIN,
                404,
                [
                    f"the base URL looks wrong: {self._transport.base_url} has no login "
                    "route (the gateway answered 404 "
                    f"{exc.message!r}); an API-Only base URL ends in /<env>/smc-api, e.g. "
                    "https://api.securewebserv.com/test/smc-api"
                ],
                request_id=exc.request_id,
            ) from None
        except TransportError as exc:
            if not exc.sent:  # no connection: the service never saw it, nothing to count
                self._limiter.refund()
            raise
        if not _TOKEN_TEXT.fullmatch(answer.token):
            # aiohttp would refuse the header with a ValueError on the next call.
            raise InvalidResponseError(
                _O.LOGIN,
                ROUTES[_O.LOGIN].success,
                "a token that is empty or holds characters a header cannot carry",
            )
        return answer.token

    @property
    def _authorizer(self) -> BearerAuthorizer:
        return self._auth

    def _check_path(self, operation: Operation, name: str, value: str) -> None:
        # An empty id would change the route itself, so it is refused even unvalidated.
        if not (self._validate or not value):
            return
        if name == "serialNumber":
            problem = check_serial_number_path(value)
            refuse(operation, [problem] if problem is not None else [])
            return
        kind = "user" if name == "userId" else "credential"
        problem = check_path_id(operation, value, kind=kind)
        if problem is not None and problem.code is ErrorCode.MALFORMED_ID:
            # The service answers a malformed id with 404 "No content", which reads
            # like "no such user": refused here, say what is wrong with the id.
            what = "is empty" if not value.strip() else "is not a UUID"
            raise ValidationError(
                operation,
                lookup(operation, problem.code).status,
                [
                    problem.message,  # the service's words for it
                    f"(the {kind} id {what}: it must be 8-4-4-4-12 hex digits, e.g. "
                    "3f1c6d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5f)",
                ],
                code=problem.code,
                sent=False,
            )
        refuse(operation, [problem] if problem is not None else [])

    async def create_credential(
        self,
        *,
        user_id: str,
        mobile_number: str,
        card_format: str,
        facility_code: int | None = None,
        issue_code: int | None = None,
        attributes: Mapping[str, str | None] | CredentialAttributes | None = None,
        retry: RetryPolicy | None = None,
    ) -> CreatedCredential:
        """Create a resident's mobile credential; the service texts them an invite.

        Never replayed once sent: when no answer comes back the outcome is unknown and
        :class:`OutcomeUnknownError` is raised (look the user up before trying again).

        Raises:
            ValidationError (RestrictedFormatError): a rule of the guide, refused before
                sending or by the service.
            ConflictError (UserIdConflictError, MobileNumberConflictError): 409.
            CardNumbersExhaustedError: 417, no card number left in the format.
            OutcomeUnknownError: sent and no answer; look the user up before trying
                again.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        body: dict[str, object] = {
            "userId": user_id,
            "mobileNumber": mobile_number,
            "cardFormat": card_format,
        }
        # Numbers go out as JSON numbers, even when handed over as digit strings.
        if facility_code is not None:
            body["facilityCode"] = _number(facility_code)
        if issue_code is not None:
            body["issueCode"] = _number(issue_code)
        attrs = _attributes_body(attributes)
        if attrs is not None:
            body["attributes"] = attrs
        if self._validate:
            problems = check_create_credential(body)
            notes = _notes(problems, mobile_number, facility_code)
            refuse(_O.CREATE_CREDENTIAL, problems, notes=notes)
        return await self._call(
            _O.CREATE_CREDENTIAL,
            expect=CreatedCredential,
            body=body,
            retry=retry,
            # The transport masks the number if, and only if, a line is logged.
            log_fields={"user_id": user_id, "mobile_number": mobile_number},
        )

    async def resend_invite(self, user_id: str, *, retry: RetryPolicy | None = None) -> None:
        """Text the resident their invite again (not replayed: a replay is a second SMS).

        Raises:
            ValidationError (CredentialDownloadedError): a malformed user id, or the
                invite was used.
            NotFoundError (UserNotFoundError): no credential for this user.
            OutcomeUnknownError: sent and no answer (never replayed: a second text
                message).
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        await self._call(
            _O.RESEND_INVITE,
            path={"userId": user_id},
            retry=retry,
            log_fields={"user_id": user_id},
        )

    async def save_no_tour_payloads(
        self,
        credential_id: str,
        *,
        payloads: Sequence[NoTourPayload | Mapping[str, object]],
        retry: RetryPolicy | None = None,
    ) -> None:
        """Save no-tour payloads (one per door) for a credential; saving again replaces.

        Raises:
            ValidationError (CredentialNotOwnedError): a bad payload or id, or another
                integration's credential.
            NotFoundError (CredentialNotFoundError): no such credential.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        body: dict[str, list[object]]
        if self._validate:
            body = {"noTourPayloadDetails": [_payload_item(p) for p in payloads]}
            problems = check_save_no_tour_payloads(body)
        else:
            # Unchecked, a NoTourPayload goes to the encoder as it is: it writes the same
            # JSON as its to_builtins() dict would, without building that dict per door.
            body = {"noTourPayloadDetails": [_wire_item(p) for p in payloads]}
            problems = []
        await self._call(
            _O.SAVE_NO_TOUR_PAYLOADS,
            path={"credentialId": credential_id},
            body=body,
            problems=problems,
            retry=retry,
            log_fields={"credential_id": credential_id, "payloads": len(payloads)},
        )

    async def get_credential(
        self, credential_id: str, *, retry: RetryPolicy | None = None
    ) -> Credential:
        """Return a credential by its id.

        Raises:
            ValidationError: a malformed or empty credential id (refused before
                sending).
            NotFoundError (CredentialNotFoundError): no such credential.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        return await self._call(
            _O.GET_CREDENTIAL,
            expect=Credential,
            path={"credentialId": credential_id},
            retry=retry,
            log_fields={"credential_id": credential_id},
        )

    async def get_credential_by_user(
        self, user_id: str, *, retry: RetryPolicy | None = None
    ) -> Credential:
        """Return a user's credential (the way to reconcile after an unknown outcome).

        Raises:
            ValidationError: a malformed or empty user id (refused before sending).
            NotFoundError (UserNotFoundError): the user has no credential.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        return await self._call(
            _O.GET_CREDENTIAL_BY_USER,
            expect=Credential,
            path={"userId": user_id},
            retry=retry,
            log_fields={"user_id": user_id},
        )

    async def list_credentials(
        self,
        *,
        page_number: int | None = None,
        page_size: int | None = None,
        start_date: dt.date | str | None = None,
        end_date: dt.date | str | None = None,
        retry: RetryPolicy | None = None,
    ) -> CredentialPage:
        """Return one page of credentials (dates are ``datetime.date`` or ``yyyy-MM-dd``).

        Raises:
            ValidationError: a page number or page size the guide refuses.
            NotFoundError: a page past the last one.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        query = {
            name: value
            for name, value in (
                ("pageNumber", None if page_number is None else str(page_number)),
                ("pageSize", None if page_size is None else str(page_size)),
                ("startDate", _date_text(start_date)),
                ("endDate", _date_text(end_date)),
            )
            if value is not None
        }
        problems = (
            check_list_query(
                page_number=query.get("pageNumber"),
                page_size=query.get("pageSize"),
                start_date=query.get("startDate"),
                end_date=query.get("endDate"),
                max_page_size=None,  # only the service knows its maximum
            )
            if self._validate
            else ()
        )
        return await self._call(
            _O.LIST_CREDENTIALS,
            expect=CredentialPage,
            query=query,
            problems=problems,
            retry=retry,
        )

    async def iter_credentials(
        self,
        *,
        page_size: int | None = None,
        start_date: dt.date | str | None = None,
        end_date: dt.date | str | None = None,
        retry: RetryPolicy | None = None,
    ) -> AsyncIterator[Credential]:
        """Yield every credential, page after page, until the last page.

        Raises:
            ValidationError: a page size the guide refuses.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        number = 1
        while True:
            try:
                page = await self.list_credentials(
                    page_number=number,
                    page_size=page_size,
                    start_date=start_date,
                    end_date=end_date,
                    retry=retry,
                )
            except NotFoundError as exc:
                # Past the last page: the guide's words, or any 404 after the first page
                # (the status decides; the live service may word it otherwise).
                if exc.code is ErrorCode.PAGE_NOT_FOUND or number > 1:
                    return
                raise
            for credential in page.credentials:
                yield credential
            if not page.credentials or (page.total_pages and number >= page.total_pages):
                return
            number += 1

    async def delete_no_tour_payloads(
        self, credential_id: str, *, retry: RetryPolicy | None = None
    ) -> None:
        """Delete a credential's no-tour payloads.

        Raises:
            ValidationError: a malformed or empty credential id.
            NotFoundError (CredentialNotFoundError): no such credential.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        await self._call(
            _O.DELETE_NO_TOUR_PAYLOADS,
            path={"credentialId": credential_id},
            retry=retry,
            log_fields={"credential_id": credential_id},
        )

    async def delete_no_tour_payloads_by_device(
        self, serial_number: str, *, retry: RetryPolicy | None = None
    ) -> None:
        """Delete every no-tour payload for a lock, given its plain serial number.

        Raises:
            ValidationError: a blank or undecodable serial number.
            NotFoundError: no payload saved for this device.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        await self._call(
            _O.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE,
            path={"serialNumber": encode_serial_number(serial_number)},
            retry=retry,
            log_fields={"serial_number": serial_number},
        )

    async def delete_credential(
        self, credential_id: str, *, retry: RetryPolicy | None = None
    ) -> None:
        """Delete a credential by its id (a second delete is :class:`GoneError`).

        Raises:
            ValidationError: a malformed or empty credential id.
            NotFoundError (CredentialNotFoundError): no such credential.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        await self._call(
            _O.DELETE_CREDENTIAL,
            path={"credentialId": credential_id},
            retry=retry,
            log_fields={"credential_id": credential_id},
        )

    async def delete_credential_by_user(
        self, user_id: str, *, retry: RetryPolicy | None = None
    ) -> None:
        """Delete a user's credential.

        Raises:
            ValidationError: a malformed or empty user id.
            NotFoundError (UserNotFoundError): the user has no credential.
            AuthenticationError (LoginError, InvalidTokenError, SubscriptionKeyError),
                PermissionDeniedError, RateLimitedError (AccountBlockedError),
                ServerError, TransportError, InvalidResponseError, ClientClosedError: as
                for every call.
        """
        await self._call(
            _O.DELETE_CREDENTIAL_BY_USER,
            path={"userId": user_id},
            retry=retry,
            log_fields={"user_id": user_id},
        )


def _lane(lane: Lane | str | None) -> Lane | None:
    if lane is None:
        return None
    try:
        return Lane.parse(lane)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
