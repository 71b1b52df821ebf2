"""The simulator's aiohttp application: routes from the shared table, one pipeline each.

Every surface-A request goes through the same steps, in this order ([I] where the
guide is silent): the gateway's subscription-key check (401), fault injection (login
and credential operations only), the bearer token (400 malformed / 401), the
per-integration token bucket (429), the role (403, "(203)") and onboarding (403)
checks, the path id (404 malformed / 400 zero UUID), the body, and the state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from .._lanes import LANE_HEADER, Lane
from .._models import AuthToken
from .._routes import ENGAGE_ROUTES, ROUTES, Operation, Route
from .._seed_errors import ErrorCode, lookup
from .._validation import (
    check_list_query,
    check_login,
    check_path_id,
    check_serial_number_path,
    decode_serial_number,
)
from ._accounts import Account, AccountStatus, Integration, Role
from ._answers import (
    HTML,
    Answer,
    Refusal,
    decode_body,
    error_answer,
    gateway_message,
    lower_keys,
)
from ._clock import SimClock
from ._config import DEFAULT_PAGE_SIZE, SimulatorConfig
from ._engage import EngageError
from ._faults import PRE_PROCESSING, FaultInjector, FaultKind, FaultSpec
from ._gateway import CredentialRateLimiter, LoginLimiter
from ._jwt import TokenMalformed, TokenRejected, TokenSigner
from ._state import SimulatorState
from ._variance import Variance

__all__ = ["API_PREFIX", "ENGAGE_PREFIX", "SUBSCRIPTION_KEY_HEADER", "Caller", "SimulatorApp"]

API_PREFIX: Final = "/{env}/smc-api"
"""Surface A's base path; the live test service uses ``/test/smc-api``."""

ENGAGE_PREFIX: Final = "/engage"
"""Surface B's base path."""

SUBSCRIPTION_KEY_HEADER: Final = "alle-subscription-key"
_RATE_REMAINING: Final = "x-ratelimit-remaining"
_C = ErrorCode
_O = Operation
_LANES: Final = {lane.value: lane.value for lane in Lane}  # any other header value: "other"

_BAD_GATEWAY_PAGE: Final = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    b"</h1></center><hr><center>simulated gateway</center></body></html>"
)
_HTML_PAGE: Final = (
    b"<!DOCTYPE html><html><head><title>Service notice</title></head><body><h1>We'll be "
    b"back soon</h1><p>The site is undergoing maintenance.</p></body></html>"
)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling a credential operation: the account and its integration."""

    account: Account
    integration: Integration


_Handler = Callable[[web.Request, Caller], Awaitable[Answer]]
_WebHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_EngageHandler = Callable[[web.Request, Account], Awaitable[Answer]]


class _Dropped(web.Response):
    """A response for a connection the simulator already cut; aiohttp fails to send it."""


class SimulatorApp:
    """One simulated service: state, gateway, faults and the aiohttp application."""

    def __init__(self, config: SimulatorConfig, *, clock: SimClock | None = None) -> None:
        self.config = config
        self.clock = clock or SimClock()
        self.accounts = config.accounts
        self.faults = FaultInjector(config.faults, seed=config.seed, clock=self.clock)
        self.state = SimulatorState(config, self.clock, self.faults)
        self.signer = TokenSigner()
        self.rate_limiter = CredentialRateLimiter(config.rate_limit, self.clock, burst=config.burst)
        self.login_limiter = LoginLimiter(self.clock)
        self.variance = Variance(wording=config.wording, seed=config.vary)

    # --- lifecycle ---------------------------------------------------------------------

    def reset(self) -> None:
        """Back to a fresh start: no credentials, counters, windows, blocks or runtime faults.

        Tokens already issued stay valid ([I]); the clock goes back to real time.
        """
        self.clock.reset()
        self.state.reset()
        self.faults.reset(self.config.faults)
        self.rate_limiter.reset()
        self.login_limiter.reset()

    def set_faults(self, spec: FaultSpec) -> None:
        """Switch fault injection to ``spec`` now."""
        self.faults.set_spec(spec)

    def build(self) -> web.Application:
        """The aiohttp application with every route of both surfaces and ``/_sim/``."""
        from ._control import add_control_routes  # the control routes need this class

        app = web.Application()
        handlers: dict[Operation, _Handler] = {
            _O.CREATE_CREDENTIAL: self._create,
            _O.RESEND_INVITE: self._resend,
            _O.SAVE_NO_TOUR_PAYLOADS: self._save_payloads,
            _O.GET_CREDENTIAL: self._get,
            _O.GET_CREDENTIAL_BY_USER: self._get_by_user,
            _O.LIST_CREDENTIALS: self._list,
            _O.DELETE_NO_TOUR_PAYLOADS: self._delete_payloads,
            _O.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE: self._delete_payloads_by_device,
            _O.DELETE_CREDENTIAL: self._delete,
            _O.DELETE_CREDENTIAL_BY_USER: self._delete_by_user,
        }
        for route in ROUTES.values():
            app.router.add_route(
                route.method,
                API_PREFIX + route.path,
                self._surface_a(route, handlers.get(route.operation)),
            )
        engage: dict[Operation, _EngageHandler] = {
            _O.ENGAGE_LIST_CREDENTIALS: self._engage_list,
            _O.ENGAGE_UPLOAD_CREDENTIAL: self._engage_upload,
            _O.ENGAGE_GET_CREDENTIAL: self._engage_get,
            _O.ENGAGE_DELETE_CREDENTIAL: self._engage_delete,
            _O.ENGAGE_LIST_DEVICES: self._engage_devices,
        }
        for route in ENGAGE_ROUTES.values():
            app.router.add_route(
                route.method,
                ENGAGE_PREFIX + route.path,
                self._surface_b(route, engage[route.operation]),
            )
        add_control_routes(app, self)
        # [\s\S], not ".": a path whose decoded form holds a newline is unknown too.
        app.router.add_route("*", "/{tail:[\\s\\S]*}", self._unknown)
        return app

    # --- the pipelines -------------------------------------------------------------------

    def _respond(self, answer: Answer, request_id: str) -> web.Response:
        headers = answer.headers if answer.headers is not None else {}
        headers["x-request-id"] = request_id
        return web.Response(
            body=answer.body or None,
            status=answer.status,
            content_type=answer.content_type,
            headers=headers,
        )

    def _count(self, operation: str, status: int, request: web.Request | None = None) -> None:
        counters = self.state.counters
        counters.requests[(operation, status)] += 1
        if status == 429:
            counters.too_many_requests += 1
        if request is not None:
            lane = request.headers.get(LANE_HEADER)
            counters.lanes[(_LANES.get(lane, "other") if lane is not None else "none", status)] += 1

    def _surface_a(self, route: Route, handler: _Handler | None) -> _WebHandler:
        op = route.operation
        name = op.value
        login = op is _O.LOGIN
        keys = self.accounts.subscription_keys

        async def handle(request: web.Request) -> web.StreamResponse:
            request_id = str(uuid.uuid4())
            fault: FaultKind | None = None
            if request.headers.get(SUBSCRIPTION_KEY_HEADER) not in keys:
                answer = error_answer(401, [gateway_message(_C.SUBSCRIPTION_KEY_INVALID)])
            else:
                fault = self.faults.draw()
                if fault is not None and fault in PRE_PROCESSING:
                    if fault is FaultKind.RESET_BEFORE:
                        return self._drop(request, name)
                    answer = self._fault_answer(op, fault)
                else:
                    try:
                        if login:
                            answer = await self._login(request)
                        else:
                            assert handler is not None
                            answer = await handler(request, self._authorize(request, op))
                    except Refusal as refusal:
                        answer = self.variance.refusal(refusal)
                    except web.HTTPException as exc:  # e.g. 413 from request.read()
                        answer = error_answer(exc.status, [exc.reason])
                    else:
                        answer = self.variance.success(answer)
            if login and (answer.headers is None or _RATE_REMAINING not in answer.headers):
                username = await self._login_username(request)
                answer.headers = answer.headers or {}
                answer.headers[_RATE_REMAINING] = str(self.login_limiter.remaining(username))
            if fault is not None and fault not in PRE_PROCESSING:
                if fault is FaultKind.RESET_AFTER:
                    return self._drop(request, name)
                if fault is FaultKind.SLOW:
                    await asyncio.sleep(self.faults.spec.slow_seconds)
                elif fault is FaultKind.TRUNCATE:
                    answer.body = answer.body[: len(answer.body) // 2]
                elif fault is FaultKind.HTML:
                    answer = Answer(200, _HTML_PAGE, content_type=HTML, headers=answer.headers)
            self._count(name, answer.status, request)
            return self._respond(answer, request_id)

        return handle

    def _drop(self, request: web.Request, operation: str) -> web.Response:
        """Cut the connection without answering (a reset, as the client sees it)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        self._count(operation, 0, request)
        return _Dropped(status=204)

    def _fault_answer(self, op: Operation, fault: FaultKind) -> Answer:
        if fault is FaultKind.BAD_GATEWAY:
            return Answer(502, _BAD_GATEWAY_PAGE, content_type=HTML)
        if fault is FaultKind.UNAVAILABLE:
            return self.variance.refusal(Refusal.row(op, _C.SERVICE_UNAVAILABLE))
        if fault is FaultKind.STORM:
            return self.variance.refusal(
                Refusal.row(op, _C.RATE_LIMITED, seconds=1, headers={"Retry-After": "1"})
            )
        if fault is FaultKind.BLOCK:
            seconds = self.faults.block_retry_after()
            return self.variance.refusal(
                Refusal.row(op, _C.ACCOUNT_BLOCKED, headers={"Retry-After": str(seconds)})
            )
        # 500: "500" prefers the generic message, "fail" the operation's own failure.
        order = (
            (_C.SERVER_ERROR, _C.OPERATION_FAILED)
            if fault is FaultKind.SERVER_ERROR
            else (_C.OPERATION_FAILED, _C.SERVER_ERROR)
        )
        for code in order:
            try:
                lookup(op, code)
            except KeyError:
                continue
            return self.variance.refusal(Refusal.row(op, code))
        raise AssertionError(f"{op} has no 500 row")  # every table has one

    def _authorize(self, request: web.Request, op: Operation) -> Caller:
        header = request.headers.get("Authorization")
        if not header:
            raise Refusal.row(op, _C.TOKEN_INVALID)
        token = header[7:].strip() if header[:7].lower() == "bearer " else header.strip()
        try:
            claims = self.signer.verify(token, now=self.clock.time())
        except TokenMalformed:
            raise Refusal.row(op, _C.TOKEN_MALFORMED) from None
        except TokenRejected:
            # Expired or revoked: 401 by the guide; 400 too in variance mode.
            status = self.variance.expired_token_status()
            raise Refusal.row(op, _C.TOKEN_INVALID, status=status) from None
        account = self.accounts.account(claims.sub)
        if account is None or account.status is not AccountStatus.ACTIVE:
            raise Refusal.row(op, _C.TOKEN_INVALID)
        integration = self.accounts.integrations[account.integration]
        retry_after = self.rate_limiter.acquire(integration.id)
        if retry_after is not None:
            raise Refusal.row(
                op, _C.RATE_LIMITED, seconds=retry_after, headers={"Retry-After": str(retry_after)}
            )
        if account.role is not Role.ADMINISTRATOR:
            raise Refusal.row(op, _C.ROLE_FORBIDDEN)
        if not integration.onboarded:
            raise Refusal.row(op, _C.NOT_ONBOARDED)
        return Caller(account, integration)

    def _surface_b(self, route: Route, handler: _EngageHandler) -> _WebHandler:
        name = route.operation.value
        keys = self.accounts.subscription_keys
        refused_key = gateway_message(_C.SUBSCRIPTION_KEY_INVALID)

        async def handle(request: web.Request) -> web.StreamResponse:
            request_id = str(uuid.uuid4())
            if request.headers.get(SUBSCRIPTION_KEY_HEADER) not in keys:
                answer = EngageError(401, "subscription_key_invalid", refused_key).answer()
            else:
                try:
                    account = self.state.engage.authenticate(request.headers.get("Authorization"))
                    answer = await handler(request, account)
                except EngageError as error:
                    answer = error.answer()
                except web.HTTPException as exc:
                    answer = EngageError(exc.status, "bad_request", exc.reason).answer()
            self._count(name, answer.status, request)
            return self._respond(answer, request_id)

        return handle

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        answer = error_answer(404, ["Resource not found"])
        self._count("unknown", 404)
        return self._respond(answer, str(uuid.uuid4()))

    # --- surface A handlers ------------------------------------------------------------

    async def _login_username(self, request: web.Request) -> str | None:
        try:
            body = decode_body(await request.read())
        except web.HTTPException:
            return None
        if isinstance(body, dict):
            username = lower_keys(body).get("username")
            if isinstance(username, str) and username.strip():
                return username.strip()
        return None

    async def _login(self, request: web.Request) -> Answer:
        op = _O.LOGIN
        body = decode_body(await request.read())
        problems = check_login(body)
        if problems:
            raise Refusal.of(op, problems)
        assert isinstance(body, dict)  # check_login refused anything else
        fields = lower_keys(body)
        username = str(fields["username"]).strip()
        counters = self.state.counters
        counters.login_attempts += 1
        verdict = self.login_limiter.attempt(username)
        headers = {_RATE_REMAINING: str(verdict.remaining)}
        if verdict.code is not None:
            headers["Retry-After"] = str(verdict.retry_after)
            raise Refusal.row(op, verdict.code, headers=headers)
        account = self.accounts.account(username)
        if account is None:
            raise Refusal.row(op, _C.ACCOUNT_NOT_FOUND, headers=headers)
        if account.status is AccountStatus.DELETED:
            raise Refusal.row(op, _C.ACCOUNT_INACTIVE, headers=headers)
        if account.status is AccountStatus.UNVERIFIED:
            raise Refusal.row(op, _C.ACCOUNT_NOT_VERIFIED, headers=headers)
        if account.password != fields["password"]:
            raise Refusal.row(op, _C.WRONG_CREDENTIALS, headers=headers)
        counters.logins_succeeded += 1
        answer = Answer.json(
            200, AuthToken(token=self.signer.issue(account.username, now=self.clock.time()))
        )
        answer.headers = headers
        return answer

    @staticmethod
    def _path_id(request: web.Request, op: Operation, name: str, kind: str) -> str:
        value = request.match_info[name]
        problem = check_path_id(op, value, kind=kind)
        if problem is not None:
            raise Refusal.of(op, [problem])
        return value

    async def _create(self, request: web.Request, caller: Caller) -> Answer:
        body = decode_body(await request.read())
        record = self.state.create_credential(caller.integration, body)
        return Answer.json(201, record.answer())

    async def _resend(self, request: web.Request, caller: Caller) -> Answer:
        user_id = self._path_id(request, _O.RESEND_INVITE, "userId", "user")
        self.state.resend_invite(caller.integration, user_id)
        return Answer(204)

    async def _save_payloads(self, request: web.Request, caller: Caller) -> Answer:
        op = _O.SAVE_NO_TOUR_PAYLOADS
        credential_id = self._path_id(request, op, "credentialId", "credential")
        body = decode_body(await request.read())
        saved = self.state.save_no_tour_payloads(caller.integration, credential_id, body)
        return Answer.json(200, saved)

    async def _get(self, request: web.Request, caller: Caller) -> Answer:
        credential_id = self._path_id(request, _O.GET_CREDENTIAL, "credentialId", "credential")
        return Answer.json(
            200, self.state.get_credential(caller.integration, credential_id).answer()
        )

    async def _get_by_user(self, request: web.Request, caller: Caller) -> Answer:
        user_id = self._path_id(request, _O.GET_CREDENTIAL_BY_USER, "userId", "user")
        record = self.state.get_credential_by_user(caller.integration, user_id)
        return Answer.json(200, record.answer())

    async def _list(self, request: web.Request, caller: Caller) -> Answer:
        query: dict[str, str] = {}
        for key, value in request.query.items():
            if value:  # [I] an empty value (``?startDate=``) means "not given"
                query.setdefault(key.lower(), value)  # names bind case-insensitively
        number, size = query.get("pagenumber"), query.get("pagesize")
        start, end = query.get("startdate"), query.get("enddate")
        problems = check_list_query(
            page_number=number,
            page_size=size,
            start_date=start,
            end_date=end,
            max_page_size=self.config.page_size_max,
        )
        if problems:
            raise Refusal.of(_O.LIST_CREDENTIALS, problems)
        page = self.state.list_credentials(
            caller.integration,
            page_number=int(number) if number is not None else 1,
            page_size=int(size) if size is not None else DEFAULT_PAGE_SIZE,
            start=dt.date.fromisoformat(start) if start is not None else None,
            end=dt.date.fromisoformat(end) if end is not None else None,
        )
        return Answer.json(200, page)

    async def _delete_payloads(self, request: web.Request, caller: Caller) -> Answer:
        op = _O.DELETE_NO_TOUR_PAYLOADS
        credential_id = self._path_id(request, op, "credentialId", "credential")
        self.state.delete_no_tour_payloads(caller.integration, credential_id)
        return Answer(204)

    async def _delete_payloads_by_device(self, request: web.Request, caller: Caller) -> Answer:
        raw = request.match_info["serialNumber"]
        problem = check_serial_number_path(raw)
        if problem is not None:
            raise Refusal.of(_O.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE, [problem])
        serial = decode_serial_number(raw)
        assert serial is not None  # check_serial_number_path accepted it
        self.state.delete_no_tour_payloads_by_device(caller.integration, serial)
        return Answer(204)

    async def _delete(self, request: web.Request, caller: Caller) -> Answer:
        credential_id = self._path_id(request, _O.DELETE_CREDENTIAL, "credentialId", "credential")
        self.state.delete_credential(caller.integration, credential_id)
        return Answer(204)

    async def _delete_by_user(self, request: web.Request, caller: Caller) -> Answer:
        user_id = self._path_id(request, _O.DELETE_CREDENTIAL_BY_USER, "userId", "user")
        self.state.delete_credential_by_user(caller.integration, user_id)
        return Answer(204)

    # --- surface B handlers ------------------------------------------------------------

    async def _engage_list(self, request: web.Request, account: Account) -> Answer:
        listing = self.state.engage.list_credentials(
            account, user_id=request.query.get("userId"), status=request.query.get("status")
        )
        return Answer.json(200, listing)

    async def _engage_upload(self, request: web.Request, account: Account) -> Answer:
        body = decode_body(await request.read())
        return Answer.json(201, self.state.engage.upload(account, body))

    async def _engage_get(self, request: web.Request, account: Account) -> Answer:
        credential = self.state.engage.get(account, request.match_info["credentialId"])
        return Answer.json(200, credential)

    async def _engage_delete(self, request: web.Request, account: Account) -> Answer:
        self.state.engage.delete(account, request.match_info["credentialId"])
        return Answer(204)

    async def _engage_devices(self, request: web.Request, account: Account) -> Answer:
        return Answer.json(200, self.state.engage.list_devices(account))
