"""Garbage in never gets a 500 out: bodies, queries, paths and tokens of every shape."""

from __future__ import annotations

import io
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schlage_async._routes import Operation

from .conftest import Api, Reply

Op = Operation

_NAMES = [
    "userId",
    "USERID",
    "mobileNumber",
    "cardFormat",
    "facilityCode",
    "issueCode",
    "attributes",
    "Attributes",
    "noTourPayloadDetails",
    "lockId",
    "serialNumber",
    "noTourPayload",
    "username",
    "password",
]
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        ["26A", "48X", "+11234567890", "0" * 96, "00000000-0000-0000-0000-000000000000"]
    )
)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(_NAMES) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)
_FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _sane(reply: Reply) -> None:
    assert reply.status < 500, reply.body
    assert reply.headers["x-request-id"]
    body = reply.json
    assert isinstance(body, dict)
    if reply.status >= 400:
        assert body["message"] == " ".join(body["messages"])


@pytest.mark.parametrize(
    "op", [Op.CREATE_CREDENTIAL, Op.SAVE_NO_TOUR_PAYLOADS, Op.LOGIN], ids=lambda op: op.value
)
@_FUZZ
@given(body=_json)
async def test_any_json_body_gets_a_4xx_or_success_never_500(
    api: Api, op: Operation, body: Any
) -> None:
    """Arbitrary JSON (wrong types, huge numbers, unicode, nesting) is answered by the rules."""
    token = None if op is Op.LOGIN else await api.token()
    path = {"credentialId": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"}
    reply = await api.call(op, token=token, path=path, data=msgspec.json.encode(body))
    _sane(reply)


_RAW_BODIES = {
    "empty": b"",
    "null": b"null",
    "array": b"[]",
    "string": b'"text"',
    "number": b"42",
    "truncated": b'{"userId": ',
    "not-utf8": b"\xff\xfe\x00{",
    "lone-surrogate": b'{"\\ud800": 1}',
    "float-overflow": b'{"facilityCode": 1e400}',
    "huge-int": b'{"facilityCode": ' + b"9" * 4000 + b"}",
    "deep-nesting": b"[" * 50_000 + b"]" * 50_000,
    "nul-bytes": b'{"userId": "\x00"}',
    "html": b"<html></html>",
}


@pytest.mark.parametrize("raw", _RAW_BODIES.values(), ids=_RAW_BODIES.keys())
@pytest.mark.parametrize(
    "op", [Op.CREATE_CREDENTIAL, Op.SAVE_NO_TOUR_PAYLOADS, Op.LOGIN], ids=lambda op: op.value
)
async def test_raw_garbage_bodies_are_400s(api: Api, op: Operation, raw: bytes) -> None:
    """Bodies that are not a JSON object get the operation's 400, never a 500."""
    token = None if op is Op.LOGIN else await api.token()
    path = {"credentialId": "3f2504e0-4f89-41d3-9a0c-0305e82c3301"}
    reply = await api.call(op, token=token, path=path, data=raw)
    _sane(reply)
    assert reply.status == 400


async def test_oversized_body_is_413_not_500(api: Api) -> None:
    """A body over the server's limit is refused as too large."""
    reply = await api.call(
        Op.CREATE_CREDENTIAL,
        token=await api.token(),
        data=io.BytesIO(b'{"a": "' + b"x" * 2_000_000 + b'"}'),
    )
    assert reply.status == 413
    _sane(reply)


@pytest.mark.parametrize(
    "query",
    [
        {"pageNumber": "abc"},
        {"pageNumber": "1e3"},
        {"pageNumber": "-5"},
        {"pageNumber": "99999999999999999999999"},
        {"pageNumber": "9" * 5000},
        {"pageSize": "\uff11"},
        {"pageSize": ""},
        {"startDate": "\uff12\uff10\uff12\uff14-01-01"},
        {"startDate": "2024-02-30"},
        {"endDate": "2024-01-01T00:00:00"},
        {"PAGENUMBER": "1", "pagesize": "3"},
    ],
    ids=str,
)
async def test_list_queries_of_any_shape_are_answered(api: Api, query: dict[str, str]) -> None:
    """Odd query values are 400, 404 or a page, never a 500."""
    reply = await api.call(Op.LIST_CREDENTIALS, token=await api.token(), query=query)
    _sane(reply)


@given(ident=st.text(min_size=1, max_size=60))
@_FUZZ
async def test_any_path_id_is_answered_by_the_rules(api: Api, ident: str) -> None:
    """Every id in a path gets 400 (zero), 404 (malformed or unknown) and never 500."""
    token = await api.token()
    for op, name in (
        (Op.GET_CREDENTIAL, "credentialId"),
        (Op.DELETE_CREDENTIAL_BY_USER, "userId"),
        (Op.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE, "serialNumber"),
    ):
        reply = await api.call(op, token=token, path={name: ident})
        assert reply.status in (400, 404), reply.body
        _sane(reply)
