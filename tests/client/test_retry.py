"""Retries only where safe: reads and deletes retried, creates never replayed blindly."""

from __future__ import annotations

import asyncio
import email.utils
import socket
from random import Random
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from schlage_async import (
    AccountBlockedError,
    ConnectionFailedError,
    CreatedCredential,
    OutcomeUnknownError,
    RateLimitedError,
    RequestTimeoutError,
    RetryPolicy,
    SchlageError,
    ServerError,
    ServiceUnavailableError,
)

USER_ID = "3f2c9a4e-8b1d-4c7e-9f0a-1b2c3d4e5f60"
CREDENTIAL_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
GET_PATH = f"/credentials/mobile/basic/{CREDENTIAL_ID}"
CREATE_PATH = "/credentials/mobile/basic"
RESEND_PATH = f"/credentials/mobile/basic/users/{USER_ID}/resendinvite"
CREDENTIAL_JSON = {"credentialId": CREDENTIAL_ID, "userId": USER_ID, "mobileNumber": "+15551237890"}
CREATED_JSON = {"credentialId": CREDENTIAL_ID, "cardNumber": 7}
CREATE_ARGS = {
    "user_id": USER_ID,
    "mobile_number": "+15551237890",
    "card_format": "26A",
    "facility_code": 1,
}
UNAVAILABLE = {"message": "The service is temporarily unavailable."}
RATE = {"message": "Rate limit is exceeded. Try again in 30 seconds."}
BLOCKED = {
    "message": "Your account has been temporarily blocked due to multiple login attempts. "
    "Please contact your site administrator for more information."
}


def _connector_error() -> aiohttp.ClientConnectorError:
    key = SimpleNamespace(host="127.0.0.1", port=1, ssl=True)
    return aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))  # type: ignore[arg-type]


async def test_read_retried_after_503(fake: Any, client: Any, sleeps: Any) -> None:
    """A read answered 503 is tried again after a backoff, and succeeds."""
    fake.on("GET", GET_PATH, fake.Reply(503, UNAVAILABLE), fake.Reply(200, CREDENTIAL_JSON))
    credential = await client.get_credential(credential_id=CREDENTIAL_ID)
    assert credential.credential_id == CREDENTIAL_ID
    assert len(fake.calls()) == 2
    assert len(sleeps.delays) == 1
    assert 0.0 <= sleeps.delays[0] <= RetryPolicy().base_delay
    assert client.stats.retries == 1


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        pytest.param({"Retry-After": "7"}, RATE, 7.0, id="seconds"),
        pytest.param(
            {"Retry-After": email.utils.formatdate(1_700_000_012.0, usegmt=True)},
            RATE,
            12.0,
            id="http-date",
        ),
        pytest.param({}, RATE, 30.0, id="gateway-message-seconds"),
    ],
)
async def test_retry_after_honoured(
    fake: Any, client: Any, sleeps: Any, headers: dict[str, str], body: Any, expected: float
) -> None:
    """A 429's Retry-After (seconds, HTTP date or the gateway's text) is the wait."""
    fake.on(
        "GET", GET_PATH, fake.Reply(429, body, headers=headers), fake.Reply(200, CREDENTIAL_JSON)
    )
    await client.get_credential(credential_id=CREDENTIAL_ID)
    assert sleeps.delays == [pytest.approx(expected)]
    assert client.stats.rate_limited == 1


async def test_retry_after_longer_than_cap_raises_instead_of_sleeping(
    fake: Any, client: Any, sleeps: Any
) -> None:
    """A Retry-After above max_retry_after raises RateLimitedError carrying it; no sleep."""
    fake.on("GET", GET_PATH, fake.Reply(429, RATE, headers={"Retry-After": "120"}))
    with pytest.raises(RateLimitedError) as caught:
        await client.get_credential(
            credential_id=CREDENTIAL_ID, retry=RetryPolicy(max_retry_after=60.0)
        )
    assert caught.value.retry_after == 120.0
    assert sleeps.delays == []
    assert len(fake.calls()) == 1


async def test_retry_after_too_long_on_empty_429_still_rate_limited(
    fake: Any, client: Any, sleeps: Any
) -> None:
    """Even with an empty body, a long Retry-After on a 429 is a RateLimitedError."""
    fake.on("GET", GET_PATH, fake.Reply(429, body=b"", headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitedError) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert caught.value.retry_after == 3600.0
    assert sleeps.delays == []


async def test_attempts_exhausted_raise_last_answer(fake: Any, client: Any, sleeps: Any) -> None:
    """When every try fails, the last answer's error is raised after ``attempts`` tries."""
    fake.on("GET", GET_PATH, fake.Reply(503, UNAVAILABLE))
    policy = RetryPolicy(attempts=3, base_delay=1.0, max_delay=1.5)
    with pytest.raises(ServiceUnavailableError):
        await client.get_credential(credential_id=CREDENTIAL_ID, retry=policy)
    assert len(fake.calls()) == 3
    assert len(sleeps.delays) == 2
    assert 0.0 <= sleeps.delays[0] <= 1.0
    assert 0.0 <= sleeps.delays[1] <= 1.5


@pytest.mark.parametrize(
    ("policy", "tries"),
    [
        pytest.param(RetryPolicy.none(), 1, id="none"),
        pytest.param(RetryPolicy(attempts=2), 2, id="two"),
    ],
)
async def test_per_call_policy_overrides_the_clients(
    fake: Any, make_client: Any, policy: RetryPolicy, tries: int
) -> None:
    """retry= on a call replaces the client's policy for that call only."""
    client = make_client(retry=RetryPolicy(attempts=5))
    fake.on("GET", GET_PATH, fake.Reply(503, UNAVAILABLE))
    with pytest.raises(ServiceUnavailableError):
        await client.get_credential(credential_id=CREDENTIAL_ID, retry=policy)
    assert len(fake.calls()) == tries


async def test_retry_statuses_configurable(fake: Any, client: Any) -> None:
    """A read is retried on a status only when the policy lists it."""
    fake.on(
        "GET",
        GET_PATH,
        fake.Reply(500, {"message": "An error has occurred."}),
        fake.Reply(200, CREDENTIAL_JSON),
    )
    await client.get_credential(
        credential_id=CREDENTIAL_ID, retry=RetryPolicy(retry_statuses=frozenset({500}))
    )
    assert len(fake.calls()) == 2


async def test_500_is_not_retried_by_default(fake: Any, client: Any) -> None:
    """A 500 is the service's own failure, not a gateway hiccup: raised at once."""
    fake.on("GET", GET_PATH, fake.Reply(500, {"message": "An error has occurred."}))
    with pytest.raises(ServerError):
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert len(fake.calls()) == 1


async def test_account_blocked_is_never_retried(fake: Any, client: Any, sleeps: Any) -> None:
    """A 429 saying the account is blocked is raised at once, even on a read."""
    fake.on("GET", GET_PATH, fake.Reply(429, BLOCKED, headers={"Retry-After": "1"}))
    with pytest.raises(AccountBlockedError) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert caught.value.blocked is True
    assert len(fake.calls()) == 1
    assert sleeps.delays == []


async def test_create_refused_with_429_is_retried(fake: Any, client: Any, sleeps: Any) -> None:
    """A create refused with 429 did nothing, so it is sent again."""
    fake.on(
        "POST",
        CREATE_PATH,
        fake.Reply(429, RATE, headers={"Retry-After": "2"}),
        fake.Reply(201, CREATED_JSON),
    )
    created = await client.create_credential(**CREATE_ARGS)
    assert isinstance(created, CreatedCredential)
    assert len(fake.calls()) == 2
    assert sleeps.delays == [2.0]


@pytest.mark.parametrize(
    ("name", "kwargs", "method", "path"),
    [
        pytest.param("create_credential", CREATE_ARGS, "POST", CREATE_PATH, id="create"),
        pytest.param("resend_invite", {"user_id": USER_ID}, "POST", RESEND_PATH, id="resend"),
    ],
)
async def test_not_idempotent_503_is_not_retried(
    fake: Any, client: Any, name: str, kwargs: dict[str, Any], method: str, path: str
) -> None:
    """A create or a resend answered 503 is raised, not repeated."""
    fake.on(method, path, fake.Reply(503, UNAVAILABLE))
    with pytest.raises(ServiceUnavailableError):
        await getattr(client, name)(**kwargs)
    assert len(fake.calls()) == 1


@pytest.mark.parametrize("status", [502, 504])
async def test_create_through_a_failing_gateway_is_outcome_unknown(
    fake: Any, client: Any, status: int
) -> None:
    """A 502/504 on a create means the gateway lost the answer: OutcomeUnknownError."""
    fake.on("POST", CREATE_PATH, fake.Reply(status, body="<html>Bad Gateway</html>"))
    with pytest.raises(OutcomeUnknownError):
        await client.create_credential(**CREATE_ARGS)
    assert len(fake.calls()) == 1


@pytest.mark.parametrize(
    ("name", "kwargs", "method", "path"),
    [
        pytest.param("create_credential", CREATE_ARGS, "POST", CREATE_PATH, id="create"),
        pytest.param("resend_invite", {"user_id": USER_ID}, "POST", RESEND_PATH, id="resend"),
    ],
)
@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(TimeoutError(), id="total-timeout"),
        pytest.param(aiohttp.SocketTimeoutError("read timeout"), id="read-timeout"),
        pytest.param(aiohttp.ServerDisconnectedError(), id="server-disconnected"),
        pytest.param(aiohttp.ClientOSError(104, "Connection reset by peer"), id="reset"),
    ],
)
async def test_unknown_outcome_never_replayed(
    fake: Any,
    client: Any,
    faults: Any,
    sleeps: Any,
    name: str,
    kwargs: dict[str, Any],
    method: str,
    path: str,
    exc: BaseException,
) -> None:
    """A create or resend whose answer was lost raises OutcomeUnknownError, sent once."""
    faults.add(method, path, exc)
    with pytest.raises(OutcomeUnknownError) as caught:
        await getattr(client, name)(**kwargs)
    assert len(faults.raised) == 1
    assert fake.calls() == []  # the one try was the faulted one; no replay reached the server
    assert sleeps.delays == []
    assert caught.value.__cause__ is exc
    assert not isinstance(caught.value, aiohttp.ClientError | asyncio.TimeoutError)


async def test_create_lost_after_the_server_received_it(fake: Any, client: Any) -> None:
    """The server got the create and hung up: OutcomeUnknownError, and it got it once."""
    fake.on("POST", CREATE_PATH, fake.Reply(disconnect=True))
    with pytest.raises(OutcomeUnknownError) as caught:
        await client.create_credential(**CREATE_ARGS)
    assert len(fake.calls()) == 1
    assert "get_credential_by_user" in (type(caught.value).__doc__ or "")


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(_connector_error(), id="connect-refused"),
        pytest.param(aiohttp.ConnectionTimeoutError("connect timeout"), id="connect-timeout"),
    ],
)
async def test_create_retried_when_nothing_was_sent(
    fake: Any, client: Any, faults: Any, sleeps: Any, exc: BaseException
) -> None:
    """A connection that never opened sent nothing: the create is safely tried again."""
    fake.on("POST", CREATE_PATH, fake.Reply(201, CREATED_JSON))
    faults.add("POST", CREATE_PATH, exc)
    created = await client.create_credential(**CREATE_ARGS)
    assert created.card_number == 7
    assert len(fake.calls()) == 1
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        pytest.param(TimeoutError(), RequestTimeoutError, id="timeout"),
        pytest.param(aiohttp.ServerDisconnectedError(), ConnectionFailedError, id="disconnect"),
        pytest.param(_connector_error(), ConnectionFailedError, id="connect"),
    ],
)
async def test_read_retried_on_transport_failures_then_mapped(
    fake: Any, client: Any, faults: Any, exc: BaseException, error: type[SchlageError]
) -> None:
    """A read is retried on timeouts and lost connections; the last failure is mapped."""
    fake.on("GET", GET_PATH, fake.Reply(200, CREDENTIAL_JSON))
    faults.add("GET", GET_PATH, exc, exc, exc)
    with pytest.raises(error) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID, retry=RetryPolicy(attempts=3))
    assert caught.value.attempts == 3  # type: ignore[attr-defined]
    assert len(faults.raised) == 3
    assert client.stats.transport_errors == 3
    # and with one more try allowed, the read succeeds
    faults.add("GET", GET_PATH, exc)
    await client.get_credential(credential_id=CREDENTIAL_ID)


async def test_read_survives_a_real_disconnect(fake: Any, client: Any) -> None:
    """A server hanging up on a read is retried and the answer arrives."""
    fake.on("GET", GET_PATH, fake.Reply(disconnect=True), fake.Reply(200, CREDENTIAL_JSON))
    credential = await client.get_credential(credential_id=CREDENTIAL_ID)
    assert credential.user_id == USER_ID
    assert len(fake.calls()) == 2


async def test_nothing_listening_is_connection_failed(make_client: Any, sleeps: Any) -> None:
    """A port nobody listens on raises ConnectionFailedError (not aiohttp's error)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}/smc-api")
    with pytest.raises(ConnectionFailedError) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    assert sleeps.delays == []  # the login is never retried


@pytest.mark.parametrize("retry_number", [1, 2, 3, 8, 40])
def test_backoff_is_full_jitter_capped(retry_number: int) -> None:
    """Each backoff lies in [0, min(max_delay, base * 2**(n-1))] and is seedable."""
    policy = RetryPolicy(base_delay=0.5, max_delay=10.0)
    ceiling = min(10.0, 0.5 * 2 ** (retry_number - 1))
    draws = [policy.backoff(retry_number, Random(seed)) for seed in range(50)]
    assert all(0.0 <= d <= ceiling for d in draws)
    assert draws == [policy.backoff(retry_number, Random(seed)) for seed in range(50)]


def test_retry_policy_is_frozen_and_checked() -> None:
    """RetryPolicy is immutable and refuses nonsense."""
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.attempts = 9  # type: ignore[misc]
    assert RetryPolicy.none().attempts == 1
    with pytest.raises(SchlageError):
        RetryPolicy(attempts=0)
