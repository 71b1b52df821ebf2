"""Property: whatever a server answers, the client returns a typed value or one clear error.

A tiny aiohttp server on 127.0.0.1 answers each request with what hypothesis drew: any
status, any body (arbitrary bytes, JSON of any shape, a real answer cut short, an HTML
page, nothing, an error object that echoes the secrets), any ``Retry-After``, or a
connection cut in the middle of the body. The client decodes it through its real path
(aiohttp, then the transport's decoding and error classification). Checked every time:
the call returns the operation's type or raises a :class:`SchlageError` subclass (never
aiohttp's, msgspec's or anything else), the error's text is not empty, and neither the
password, the subscription key nor the token appears in it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schlage_async import (
    APIError,
    CreatedCredential,
    Credential,
    CredentialPage,
    InvalidResponseError,
    NoTourPayload,
    RetryPolicy,
    SchlageClient,
    SchlageError,
)

PASSWORD: Final = "pw-Hyp0thesis-pass-7431"
KEY: Final = "key-hypothesis-subscription-9a8b7c"
TOKEN: Final = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJoeXAifQ.c2lnbmF0dXJlLWh5cG90aGVzaXM"
CREDENTIAL_ID: Final = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
USER_ID: Final = "3f2c9a4e-8b1d-4c7e-9f0a-1b2c3d4e5f60"
CREDENTIAL: Final = {
    "credentialId": CREDENTIAL_ID,
    "userId": USER_ID,
    "mobileNumber": "+15551237890",
    "payloadType": "Tour",
    "cardNumber": 17,
    "facilityCode": 12,
    "issueCode": 0,
    "isDownloaded": False,
    "attributes": {"siteId": "S1", "siteName": "Elm"},
}
PAGE: Final = {"credentials": [CREDENTIAL], "pageNumber": 1, "pageSize": 50, "totalPages": 1}
HTML: Final = (
    "<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
)


@dataclass
class Reply:
    """What the server answers next."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    cut: bool = False  # promise more body than is sent, then drop the connection


@dataclass
class Server:
    """The tiny server: the login always works; every other route answers ``reply``."""

    reply: Reply = field(default_factory=Reply)
    login_reply: Reply | None = None
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        reply = self.reply
        if request.path.endswith("/authentication/token"):
            reply = self.login_reply or Reply(200, json.dumps({"token": TOKEN}).encode())
        if reply.cut:
            response = web.StreamResponse(status=reply.status, headers=reply.headers)
            response.content_length = len(reply.body) + 100
            await response.prepare(request)
            await response.write(reply.body)
            assert request.transport is not None
            request.transport.abort()
            return response
        response = web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        if reply.content_type is not None:
            response.content_type = reply.content_type
        return response


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """The tiny server on 127.0.0.1 (its reply is set per example)."""
    state = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    state.url = str(test_server.make_url("/smc-api"))
    yield state
    await test_server.close()


Call = Callable[[SchlageClient], Awaitable[object]]
CALLS: Final[dict[str, tuple[Call, type]]] = {
    "get": (lambda c: c.get_credential(credential_id=CREDENTIAL_ID), Credential),
    "create": (
        lambda c: c.create_credential(
            user_id=USER_ID, mobile_number="+15551237890", card_format="26A", facility_code=1
        ),
        CreatedCredential,
    ),
    "list": (lambda c: c.list_credentials(page_number=1), CredentialPage),
    "save": (
        lambda c: c.save_no_tour_payloads(
            credential_id=CREDENTIAL_ID,
            payloads=[NoTourPayload(lock_id=1, serial_number="SN", no_tour_payload="ab" * 48)],
        ),
        type(None),
    ),
}

secret_texts = st.sampled_from([PASSWORD, KEY, TOKEN, f"Bearer {TOKEN}", "x"])
texts = st.text(max_size=30) | secret_texts
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=10,
)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A body a broken server, a gateway or the real service might send."""
    kind = draw(st.sampled_from(["bytes", "json", "truncated", "html", "empty", "error", "real"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return _json(draw(json_values))
    if kind == "truncated":
        whole = _json(draw(st.sampled_from([CREDENTIAL, PAGE, {"token": TOKEN}])))
        return whole[: draw(st.integers(0, len(whole) - 1))]
    if kind == "html":
        return HTML.format(title=draw(texts), text=draw(texts)).encode()
    if kind == "empty":
        return draw(st.sampled_from([b"", b" ", b"\n", b"null"]))
    if kind == "error":
        messages = draw(st.lists(texts, max_size=3))
        shape = draw(st.sampled_from(["both", "message", "messages", "code"]))
        error: dict[str, object] = {
            "both": {"message": " ".join(messages), "messages": messages},
            "message": {"message": " ".join(messages)},
            "messages": {"messages": messages},
            "code": {"code": draw(texts), "message": " ".join(messages)},
        }[shape]
        return _json(error)
    return _json(draw(st.sampled_from([CREDENTIAL, PAGE, {"credentialId": CREDENTIAL_ID}])))


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
replies = st.builds(
    Reply,
    status=st.sampled_from([200, 201, 204, 301, 302, 307, 308, 400, 401, 403, 404, 409])
    | st.sampled_from([410, 413, 417, 429, 500, 502, 503, 504])
    | st.integers(200, 599),
    body=bodies(),
    content_type=st.sampled_from(["application/json", "text/html", "text/plain", None]),
    headers=st.fixed_dictionaries(
        {},
        optional={
            "Retry-After": header_text | st.sampled_from(["1", "0", "-5", "1e9", "Wed, 21 Oct"]),
            "x-request-id": header_text,
            "Location": st.just("http://127.0.0.2:1/elsewhere"),
        },
    ),
)


async def _outcome(call: Awaitable[object]) -> object:
    """The call's value, or the exception it raised (any kind: the tests judge it)."""
    try:
        return await call
    except Exception as exc:  # the property under test: which exceptions come out
        return exc


def _assert_clean(error: BaseException, secrets: tuple[str, ...] = (PASSWORD, KEY, TOKEN)) -> None:
    """A SchlageError with a message, and no secret anywhere in what a user sees of it."""
    assert isinstance(error, SchlageError), repr(error)
    text = f"{error} {error!r} {getattr(error, 'excerpt', '')} {getattr(error, 'messages', '')}"
    assert str(error).strip()
    for secret in secrets:
        assert secret not in text, text


SETTINGS: Final = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.slow
@SETTINGS
@given(reply=replies, call=st.sampled_from(sorted(CALLS)), cut=st.booleans())
@example(reply=Reply(200, b"<html>maintenance</html>", "text/html"), call="get", cut=False)
@example(reply=Reply(200, _json(CREDENTIAL)[:20]), call="create", cut=True)
async def test_any_answer_is_a_typed_value_or_one_clear_error(
    server: Server, reply: Reply, call: str, cut: bool
) -> None:
    """Any status, body, header or cut connection: the right type, or a SchlageError."""
    reply.cut = cut and bool(reply.body)
    server.reply = reply
    make, expected = CALLS[call]
    async with SchlageClient(
        base_url=server.url,
        username="chaos@example.com",
        password=PASSWORD,
        subscription_key=KEY,
        retry=RetryPolicy.none(),
        timeout=10.0,
    ) as client:
        value = await _outcome(make(client))
    if isinstance(value, BaseException):
        _assert_clean(value)
        if 300 <= reply.status < 400 and not reply.cut:
            assert isinstance(value, InvalidResponseError), repr(value)
        return
    assert isinstance(value, expected), value
    assert 200 <= reply.status < 300, (reply.status, value)
    assert not reply.cut


@pytest.mark.slow
@SETTINGS
@given(reply=replies)
@example(reply=Reply(200, _json(TOKEN)))  # the token, but not in the {"token": ...} shape
@example(reply=Reply(200, _json({"accessToken": TOKEN})))
@example(reply=Reply(200, _json({"token": "a\r\nX-Injected: 1"})))  # not a header value
@example(reply=Reply(200, _json({"token": ""})))
async def test_any_login_answer_is_a_token_or_one_clear_error(server: Server, reply: Reply) -> None:
    """Whatever the login answers, the call after it works or raises a clean SchlageError.

    A successful login's answer is never quoted, whatever its shape: it holds the token.
    """
    server.login_reply = reply
    server.reply = Reply(200, _json(CREDENTIAL))
    async with SchlageClient(
        base_url=server.url,
        username="chaos@example.com",
        password=PASSWORD,
        subscription_key=KEY,
        retry=RetryPolicy.none(),
    ) as client:
        credential = await _outcome(client.get_credential(credential_id=CREDENTIAL_ID))
    if isinstance(credential, BaseException):
        # A 2xx login answer is the token whatever its shape; a refusal holds none.
        secrets = (PASSWORD, KEY, TOKEN) if 200 <= reply.status < 300 else (PASSWORD, KEY)
        _assert_clean(credential, secrets)
        if isinstance(credential, APIError):
            assert credential.status == reply.status
        return
    assert isinstance(credential, Credential)
    assert credential.credential_id == CREDENTIAL_ID
    assert 200 <= reply.status < 300
