"""Every row of every error table of seed 000 answers with its status and its message."""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from schlage_async._routes import ROUTES, Operation
from schlage_async._seed_errors import (
    SEED_ERROR_ROWS,
    ErrorCode,
    SeedErrorRow,
    Wording,
    worded_message,
)
from schlage_async._validation import ZERO_UUID

from .conftest import PAYLOAD, Api, Reply, new_mobile, new_user_id

Op = Operation
C = ErrorCode
Outcome = Reply | tuple[Reply, dict[str, Any]]
Run = Callable[[Api, Operation], Awaitable[Outcome]]


@dataclass(frozen=True)
class Scenario:
    """How to make the simulator answer one row: a config and the calls to send."""

    run: Run
    config: dict[str, Any] = field(default_factory=dict)


_SCENARIOS: dict[tuple[Operation | None, ErrorCode, bool | None], Scenario] = {}


def scenario(
    code: ErrorCode, *ops: Operation, inferred: bool | None = None, **config: Any
) -> Callable[[Run], Run]:
    """Register ``run`` as the way to trigger ``code`` (for ``ops``, or any operation)."""

    def register(run: Run) -> Run:
        for op in ops or (None,):
            _SCENARIOS[(op, code, inferred)] = Scenario(run, config)
        return run

    return register


def find(row: SeedErrorRow) -> Scenario:
    """The most specific scenario registered for ``row``."""
    for key in (
        (row.operation, row.code, row.inferred),
        (row.operation, row.code, None),
        (None, row.code, row.inferred),
        (None, row.code, None),
    ):
        if key in _SCENARIOS:
            return _SCENARIOS[key]
    raise LookupError(f"no scenario for {row}")


def path_for(op: Operation, **given: str) -> dict[str, str]:
    """Path parameters for ``op``: fresh ids (or a base64 serial) unless given."""
    names = re.findall(r"\{(\w+)\}", ROUTES[op].path)
    defaults = {
        "userId": new_user_id(),
        "credentialId": new_user_id(),
        "serialNumber": base64.b64encode(b"SN-UNKNOWN").decode(),
    }
    return {name: given.get(name, defaults[name]) for name in names}


def payloads(*items: dict[str, Any]) -> dict[str, Any]:
    """A Save No-Tour Payloads body."""
    return {"noTourPayloadDetails": list(items)}


def item(**overrides: Any) -> dict[str, Any]:
    """One valid no-tour payload entry, with overrides."""
    return {"lockId": 7, "serialNumber": "SN-1", "noTourPayload": PAYLOAD, **overrides}


def create_body(**overrides: Any) -> dict[str, Any]:
    """A valid Create Credential body, with overrides (None removes a key)."""
    body: dict[str, Any] = {
        "userId": new_user_id(),
        "mobileNumber": new_mobile(),
        "cardFormat": "26A",
        "facilityCode": 3,
        "issueCode": 0,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def send(api: Api, op: Operation, token: str | None, **kw: Any) -> Reply:
    """Send ``op`` as an otherwise valid request (path, body), overridden by ``kw``."""
    kw.setdefault("path", path_for(op))
    if "json" in kw or "data" in kw:
        pass
    elif op is Op.CREATE_CREDENTIAL:
        kw.setdefault("json", create_body())
    elif op is Op.SAVE_NO_TOUR_PAYLOADS:
        kw.setdefault("json", payloads(item()))
    elif op is Op.LOGIN:
        kw.setdefault("json", {"username": api.sim.admin.username, "password": "x"})
    return await api.call(op, token=token, **kw)


async def as_admin(api: Api, op: Operation, **kw: Any) -> Reply:
    """Send ``op`` as the default administrator."""
    return await send(api, op, await api.token(), **kw)


async def with_faults(api: Api, op: Operation, spec: str) -> Reply:
    """Log in first, then switch faults on over ``/_sim/faults`` and send ``op``."""
    token = None if op is Op.LOGIN else await api.token()
    assert (await api.control("POST", "/_sim/faults", {"spec": spec})).status == 200
    return await send(api, op, token)


# --- the gateway and the shared rows ---------------------------------------------------


@scenario(C.SUBSCRIPTION_KEY_INVALID)
async def _wrong_key(api: Api, op: Operation) -> Outcome:
    return await send(api, op, None, key="not-the-key")


@scenario(C.TOKEN_MALFORMED)
async def _not_a_jwt(api: Api, op: Operation) -> Outcome:
    return await send(api, op, "not-a-jwt")


@scenario(C.TOKEN_INVALID)
async def _expired_token(api: Api, op: Operation) -> Outcome:
    token = await api.token()
    api.sim.clock.advance(36_001)
    return await send(api, op, token)


@scenario(C.ROLE_FORBIDDEN)
async def _manager(api: Api, op: Operation) -> Outcome:
    return await send(api, op, await api.token("manager@sim.example"))


@scenario(C.NOT_ONBOARDED)
async def _pending_integration(api: Api, op: Operation) -> Outcome:
    return await send(api, op, await api.token("pending@sim.example"))


@scenario(C.RATE_LIMITED, rate_limit=0.001)
async def _bucket_empty(api: Api, op: Operation) -> Outcome:
    token = await api.token()
    await send(api, op, token)
    reply = await send(api, op, token)
    return reply, {"seconds": int(reply.headers["Retry-After"])}


@scenario(C.RATE_LIMITED, Op.LOGIN)
async def _login_storm(api: Api, op: Operation) -> Outcome:
    reply = await with_faults(api, op, "storm=1")
    assert reply.headers["Retry-After"] == "1"
    return reply, {"seconds": 1}


@scenario(C.ACCOUNT_BLOCKED, inferred=True)
async def _blocked_by_gateway(api: Api, op: Operation) -> Outcome:
    reply = await with_faults(api, op, "block_after=1,block_seconds=900")
    assert reply.headers["Retry-After"] == "900"
    return reply


@scenario(C.SERVICE_UNAVAILABLE)
async def _unavailable(api: Api, op: Operation) -> Outcome:
    return await with_faults(api, op, "503=1")


@scenario(C.SERVER_ERROR)
async def _server_error(api: Api, op: Operation) -> Outcome:
    return await with_faults(api, op, "500=1")


@scenario(C.OPERATION_FAILED)
async def _operation_failed(api: Api, op: Operation) -> Outcome:
    return await with_faults(api, op, "fail=1")


# --- path ids ------------------------------------------------------------------------


@scenario(
    C.USER_ID_EMPTY, Op.RESEND_INVITE, Op.GET_CREDENTIAL_BY_USER, Op.DELETE_CREDENTIAL_BY_USER
)
async def _zero_user_id(api: Api, op: Operation) -> Outcome:
    return await as_admin(api, op, path=path_for(op, userId=ZERO_UUID))


@scenario(C.CREDENTIAL_ID_EMPTY)
async def _zero_credential_id(api: Api, op: Operation) -> Outcome:
    return await as_admin(api, op, path=path_for(op, credentialId=ZERO_UUID))


@scenario(C.MALFORMED_ID)
async def _malformed_id(api: Api, op: Operation) -> Outcome:
    return await as_admin(api, op, path=path_for(op, userId="12345", credentialId="not-a-guid!"))


@scenario(C.CREDENTIAL_NOT_FOUND)
@scenario(C.USER_NOT_FOUND)
@scenario(C.DEVICE_NOT_FOUND)
async def _unknown_id(api: Api, op: Operation) -> Outcome:
    return await as_admin(api, op)


@scenario(C.CREDENTIAL_NOT_OWNED)
async def _other_integrations_credential(api: Api, op: Operation) -> Outcome:
    theirs = await api.create(await api.token("other@sim.example"))
    return await as_admin(api, op, path=path_for(op, credentialId=theirs["credentialId"]))


# --- Authentication Token --------------------------------------------------------------


def _login(body: Any) -> Run:
    async def run(api: Api, op: Operation) -> Outcome:
        return await api.call(Op.LOGIN, json=body)

    return run


scenario(C.USERNAME_MISSING, Op.LOGIN)(_login({"password": "x"}))
scenario(C.USERNAME_FORMAT, Op.LOGIN)(_login({"username": "not-an-email", "password": "x"}))
scenario(C.PASSWORD_MISSING, Op.LOGIN)(_login({"username": "admin@sim.example"}))
scenario(C.ACCOUNT_INACTIVE, Op.LOGIN)(
    _login({"username": "deleted@sim.example", "password": "sim-deleted-password"})
)
scenario(C.ACCOUNT_NOT_VERIFIED, Op.LOGIN)(
    _login({"username": "unverified@sim.example", "password": "sim-unverified-password"})
)
scenario(C.WRONG_CREDENTIALS, Op.LOGIN)(
    _login({"username": "admin@sim.example", "password": "wrong"})
)
scenario(C.ACCOUNT_NOT_FOUND, Op.LOGIN)(_login({"username": "nobody@sim.example", "password": "x"}))


def _flood(extra: int) -> Run:
    async def run(api: Api, op: Operation) -> Outcome:
        for _ in range(100):
            reply = await api.login_reply("flood@sim.example", "x")
            assert reply.status == 404
        for _ in range(extra):
            reply = await api.login_reply("flood@sim.example", "x")
        assert reply.headers["x-ratelimit-remaining"] == "0"
        assert int(reply.headers["Retry-After"]) >= 1
        return reply

    return run


scenario(C.LOGIN_RATE_LIMITED, Op.LOGIN)(_flood(1))
scenario(C.LOGIN_RATE_LIMIT_WARNING, Op.LOGIN)(_flood(2))
scenario(C.ACCOUNT_BLOCKED, Op.LOGIN, inferred=False)(_flood(3))


# --- Create Credential -----------------------------------------------------------------


def _create(body: Any, **fields: Any) -> Run:
    async def run(api: Api, op: Operation) -> Outcome:
        if isinstance(body, str):
            return await as_admin(api, op, data=body), fields
        return await as_admin(api, op, json=body), fields

    return run


_CREATE_BODIES: dict[ErrorCode, Run] = {
    C.USER_ID_EMPTY: _create(create_body(userId=ZERO_UUID)),
    C.CARD_FORMAT_MISSING: _create(create_body(cardFormat=None)),
    C.CARD_FORMAT_INVALID: _create(create_body(cardFormat="99Z")),
    C.ISSUE_CODE_INVALID_FOR_FORMAT: _create(create_body(issueCode=5), card_format="26A"),
    C.RESTRICTED_FORMAT_FORBIDDEN: _create(
        create_body(cardFormat="48X", facilityCode=1234, issueCode=21)
    ),
    C.ISSUE_CODE_NOT_UINT: _create(create_body(issueCode="abc")),
    C.ISSUE_CODE_RANGE: _create(create_body(cardFormat="48X", facilityCode=1234, issueCode=None)),
    C.FACILITY_CODE_NOT_MAPPED: _create(
        create_body(cardFormat="48X", facilityCode=1235, issueCode=20)
    ),
    C.FACILITY_CODE_NOT_UINT: _create(create_body(facilityCode="x")),
    C.MOBILE_NUMBER_INVALID: _create(create_body(mobileNumber="555-1234")),
    C.USER_ID_INVALID: _create(create_body(userId="abc")),
    C.EMPTY_BODY: _create({}),
    C.BODY_NOT_OBJECT: _create('"userId": "x"'),
    C.ATTRIBUTES_INVALID: _create(create_body(attributes="site-1")),
    C.ATTRIBUTE_UNSUPPORTED: _create(create_body(attributes={"key1": "v"}), key="key1"),
    C.ATTRIBUTE_NULL: _create(create_body(Attributes={"SiteiD": None}), key="SiteiD"),
    C.ATTRIBUTE_TOO_LONG: _create(create_body(attributes={"SiteId": "x" * 2001}), key="SiteId"),
    C.FACILITY_CODE_RANGE: _create(create_body(facilityCode=256), minimum=0, maximum=255),
}
for _code, _run in _CREATE_BODIES.items():
    scenario(_code, Op.CREATE_CREDENTIAL)(_run)


@scenario(C.USER_ID_CONFLICT, Op.CREATE_CREDENTIAL)
async def _same_user(api: Api, op: Operation) -> Outcome:
    first = await api.create()
    return await as_admin(api, op, json=create_body(userId=first["userId"]))


@scenario(C.MOBILE_NUMBER_CONFLICT, Op.CREATE_CREDENTIAL)
async def _same_mobile(api: Api, op: Operation) -> Outcome:
    first = await api.create()
    return await as_admin(api, op, json=create_body(mobileNumber=first["mobileNumber"]))


@scenario(C.CARD_NUMBERS_EXHAUSTED, Op.CREATE_CREDENTIAL, max_card_numbers={"26A": 1})
async def _no_card_number_left(api: Api, op: Operation) -> Outcome:
    await api.create(facilityCode=9)
    return await as_admin(api, op, json=create_body(facilityCode=9))


# --- Resend Text Message ---------------------------------------------------------------


@scenario(C.CREDENTIAL_DOWNLOADED, Op.RESEND_INVITE)
async def _downloaded(api: Api, op: Operation) -> Outcome:
    created = await api.create()
    assert (
        await api.control("POST", f"/_sim/credentials/{created['credentialId']}/download")
    ).status == 200
    return await as_admin(api, op, path={"userId": created["userId"]})


@scenario(C.CREDENTIAL_NOT_FOUND, Op.RESEND_INVITE)
async def _resend_deleted(api: Api, op: Operation) -> Outcome:
    created = await api.create()
    token = await api.token()
    deleted = await api.call(
        Op.DELETE_CREDENTIAL, token=token, path={"credentialId": created["credentialId"]}
    )
    assert deleted.status == 204
    return await send(api, op, token, path={"userId": created["userId"]})


# --- Save No-Tour Payloads -------------------------------------------------------------


def _save(body: Any) -> Run:
    async def run(api: Api, op: Operation) -> Outcome:
        if isinstance(body, str):
            return await as_admin(api, op, data=body)
        return await as_admin(api, op, json=body)

    return run


_SAVE_BODIES: dict[ErrorCode, Any] = {
    C.BODY_NOT_OBJECT: "noTourPayloadDetails",
    C.PAYLOAD_DETAILS_INVALID: {},
    C.LOCK_ID_MISSING: payloads(item(lockId=None)),
    C.LOCK_ID_RANGE: payloads(item(lockId=65536)),
    C.SERIAL_NUMBER_MISSING: payloads(item(serialNumber="  ")),
    C.PAYLOAD_MISSING: payloads(item(noTourPayload="")),
    C.PAYLOAD_NOT_HEX: payloads(item(noTourPayload="zz" * 48)),
    C.PAYLOAD_LENGTH: payloads(item(noTourPayload="ab")),
    C.MULTIPLE_LOCK_IDS: payloads(item(lockId=1), item(lockId=2)),
    C.DUPLICATE_DEVICE: payloads(item(), item()),
}
for _code, _body in _SAVE_BODIES.items():
    scenario(_code, Op.SAVE_NO_TOUR_PAYLOADS)(_save(_body))


# --- Get All Credentials ---------------------------------------------------------------


def _list(query: dict[str, str], **fields: Any) -> Run:
    async def run(api: Api, op: Operation) -> Outcome:
        return await as_admin(api, op, query=query), fields

    return run


_LIST_QUERIES: dict[ErrorCode, Run] = {
    C.PAGE_NUMBER_INVALID: _list({"pageNumber": "0"}),
    C.PAGE_SIZE_INVALID: _list({"pageSize": "0"}),
    C.START_DATE_INVALID: _list({"startDate": "2024-13-01"}),
    C.END_DATE_INVALID: _list({"endDate": "15/08/2024"}),
    C.PAGE_SIZE_TOO_LARGE: _list({"pageSize": "101"}, maximum=100),
    C.PAGE_NOT_FOUND: _list({"pageNumber": "2"}),
}
for _code, _run in _LIST_QUERIES.items():
    scenario(_code, Op.LIST_CREDENTIALS)(_run)


# --- Deletes ---------------------------------------------------------------------------


@scenario(C.PAYLOADS_GONE, Op.DELETE_NO_TOUR_PAYLOADS)
async def _no_payloads_left(api: Api, op: Operation) -> Outcome:
    created = await api.create()
    return await as_admin(api, op, path={"credentialId": created["credentialId"]})


@scenario(C.SERIAL_NUMBER_INVALID, Op.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE)
async def _serial_not_base64(api: Api, op: Operation) -> Outcome:
    return await as_admin(api, op, path={"serialNumber": "not*base64"})


@scenario(C.CREDENTIAL_DELETED, Op.DELETE_CREDENTIAL, Op.DELETE_CREDENTIAL_BY_USER)
async def _deleted_twice(api: Api, op: Operation) -> Outcome:
    created = await api.create()
    path = path_for(op, credentialId=created["credentialId"], userId=created["userId"])
    assert (await as_admin(api, op, path=path)).status == 204
    return await as_admin(api, op, path=path)


def _row_id(row: SeedErrorRow) -> str:
    return f"{row.operation.value}-{row.number}-{row.code.value}"


@pytest.mark.parametrize("wording", ["guide", "live"])
@pytest.mark.parametrize("row", SEED_ERROR_ROWS, ids=_row_id)
async def test_seed_row_answers_with_its_status_and_message(
    row: SeedErrorRow, wording: Wording, make_api: Any
) -> None:
    """The row's case gets the row's status and its exact message in the wording asked for."""
    found = find(row)
    api = await make_api(**{"wording": wording, **found.config})
    outcome = await found.run(api, row.operation)
    reply, fields = outcome if isinstance(outcome, tuple) else (outcome, {})
    assert reply.status == row.status, reply.body
    assert reply.headers["x-request-id"]
    expected = worded_message(wording, row.operation, row.code, **fields)
    if wording == "guide":
        assert expected == row.message.format(**fields)
    assert reply.json["message"] == expected
    if row.code is C.EMPTY_BODY:
        assert len(reply.messages) == 3
    else:
        assert reply.messages == [expected]


def test_every_row_has_a_scenario() -> None:
    """No row of the seed is left without a way to trigger it."""
    for row in SEED_ERROR_ROWS:
        find(row)
