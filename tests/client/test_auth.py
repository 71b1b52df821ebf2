"""The bearer token: lazy, cached, renewed ahead of expiry, one login however many wait."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schlage_async import (
    CachedToken,
    InMemoryTokenCache,
    InvalidTokenError,
    RateLimitedError,
    RetryPolicy,
    ServiceUnavailableError,
    SlidingWindowLimiter,
    TokenCache,
    WrongCredentialsError,
)
from schlage_async._auth import TokenRefresher, issue_token, jwt_expiry
from schlage_async._routes import Operation

CREDENTIAL_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
GET_PATH = f"/credentials/mobile/basic/{CREDENTIAL_ID}"
CREDENTIAL_JSON = {"credentialId": CREDENTIAL_ID, "userId": "u", "mobileNumber": "+15551237890"}
TOKEN_401 = {"message": "Invalid authentication token."}


def _accept_issued_only(fake: Any) -> Any:
    """A handler answering 200 to the latest issued token and 401 to anything else."""

    def handler(rec: Any) -> Any:
        if fake.issued and rec.headers.get("Authorization") == f"Bearer {fake.issued[-1]}":
            return fake.Reply(200, CREDENTIAL_JSON)
        return fake.Reply(401, TOKEN_401)

    return handler


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_no_login_until_first_call(fake: Any, client: Any) -> None:
    """Creating and entering the client sends nothing; the first call logs in."""
    async with client:
        assert fake.requests == []
        fake.on("GET", GET_PATH, fake.Reply(200, CREDENTIAL_JSON))
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert len(fake.logins()) == 1


@pytest.mark.parametrize(
    ("token_exp_in", "margin", "quiet_until", "renews_at"),
    [
        pytest.param(1000.0, 300.0, 699.0, 701.0, id="jwt-exp-minus-margin"),
        pytest.param(None, 300.0, 35_699.0, 35_701.0, id="no-exp-means-36000s"),
        pytest.param(None, 0.0, 35_999.0, 36_000.0, id="margin-zero"),
        pytest.param(400.0, 300.0, 199.0, 201.0, id="short-token-renewed-halfway"),
    ],
)
async def test_token_renewed_ahead_of_expiry(
    fake: Any,
    make_client: Any,
    clock: Any,
    token_exp_in: float | None,
    margin: float,
    quiet_until: float,
    renews_at: float,
) -> None:
    """The token is reused until ``exp`` (or 36,000 s) minus the margin, then renewed."""
    fake.token_exp = None if token_exp_in is None else clock.now + token_exp_in
    fake.on("GET", GET_PATH, fake.Reply(200, CREDENTIAL_JSON))
    client = make_client(token_refresh_margin=margin)
    start = clock.now
    await client.get_credential(credential_id=CREDENTIAL_ID)
    clock.now = start + quiet_until
    await client.get_credential(credential_id=CREDENTIAL_ID)
    assert len(fake.logins()) == 1
    clock.now = start + renews_at
    await client.get_credential(credential_id=CREDENTIAL_ID)
    assert len(fake.logins()) == 2
    assert fake.calls()[-1].headers["Authorization"] == f"Bearer {fake.issued[-1]}"


@pytest.mark.slow
async def test_thousand_concurrent_calls_on_expired_token_one_login(
    fake: Any, make_client: Any, clock: Any
) -> None:
    """1,000 concurrent calls that find the token expired cause exactly one login."""
    cache = InMemoryTokenCache()
    client = make_client(token_cache=cache)
    await cache.set(
        f"{client.base_url}|{client.username}",
        CachedToken("old.expired.token", clock.now - 10, clock.now - 310),
    )
    fake.on("GET", GET_PATH, _accept_issued_only(fake))
    results = await asyncio.gather(
        *(client.get_credential(credential_id=CREDENTIAL_ID) for _ in range(1000))
    )
    assert len(results) == 1000
    assert len(fake.logins()) == 1
    assert len(fake.calls()) == 1000  # nobody sent the expired token
    assert client.stats.logins == 1


@pytest.mark.slow
async def test_thousand_concurrent_401s_one_login(fake: Any, make_client: Any, clock: Any) -> None:
    """1,000 concurrent calls refused with 401 for a revoked token share one login."""
    cache = InMemoryTokenCache()
    client = make_client(token_cache=cache)
    await cache.set(
        f"{client.base_url}|{client.username}",
        issue_token("revoked.by.server", now=clock.now, margin=300.0),
    )
    fake.on("GET", GET_PATH, _accept_issued_only(fake))
    results = await asyncio.gather(
        *(client.get_credential(credential_id=CREDENTIAL_ID) for _ in range(1000))
    )
    assert len(results) == 1000
    assert len(fake.logins()) == 1
    assert len(fake.calls()) == 2000  # each: one 401, one retry with the new token
    assert client.stats.by_status[401] == 1000


async def test_late_401_for_an_older_token_does_not_log_in_again() -> None:
    """A 401 that arrives for a token already replaced reuses the replacement."""
    logins = 0

    async def login() -> str:
        nonlocal logins
        logins += 1
        return f"token-{logins}"

    refresher = TokenRefresher(
        key="k", cache=InMemoryTokenCache(), login=login, clock=_Clock(0.0), margin=300.0
    )
    first = await refresher.current()
    second = await refresher.refresh(first)  # the first 401: one login
    late = await refresher.refresh(first)  # a late 401 for the same old token
    assert logins == 2
    assert late.token.token == second.token.token == "token-2"
    assert late.generation == second.generation == 2


async def test_second_401_raises_invalid_token_without_looping(fake: Any, client: Any) -> None:
    """After one renewal a second 401 raises InvalidTokenError: two logins, two tries."""
    fake.on("GET", GET_PATH, fake.Reply(401, TOKEN_401))
    with pytest.raises(InvalidTokenError) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert caught.value.status == 401
    assert len(fake.logins()) == 2
    assert len(fake.calls()) == 2


async def test_login_limiter_holds_against_a_server_that_always_says_401(
    fake: Any, make_client: Any
) -> None:
    """However often the service answers 401, at most 100 logins go out per 15 minutes."""
    monotonic = _Clock(5_000.0)
    client = make_client(login_limiter=SlidingWindowLimiter(clock=monotonic))
    fake.on("GET", GET_PATH, fake.Reply(401, TOKEN_401))
    refused: RateLimitedError | None = None
    for _ in range(200):
        try:
            await client.get_credential(credential_id=CREDENTIAL_ID)
        except InvalidTokenError:
            monotonic.now += 1.0
        except RateLimitedError as exc:
            refused = exc
            break
    assert len(fake.logins()) == 100
    assert refused is not None
    assert refused.sent is False
    assert refused.operation is Operation.LOGIN
    # The first login was at 5,000 s: its slot frees 900 s later.
    assert refused.retry_after == pytest.approx(5_000.0 + 900.0 - monotonic.now)
    # Once the window has slid past the first logins, logging in works again.
    monotonic.now += refused.retry_after
    fake.on("GET", GET_PATH, fake.Reply(200, CREDENTIAL_JSON))
    await client.get_credential(credential_id=CREDENTIAL_ID)
    assert len(fake.logins()) == 101


async def test_login_waits_for_a_slot_when_allowed(fake: Any, make_client: Any) -> None:
    """With login_max_wait, a spent budget waits (through the injected sleep) then logs in."""
    monotonic = _Clock(0.0)
    limiter = SlidingWindowLimiter(1, 60.0, clock=monotonic)
    assert limiter.try_acquire() == 0.0  # spend the only slot
    waited: list[float] = []

    async def sleep(delay: float) -> None:
        waited.append(delay)
        monotonic.now += delay

    client = make_client(login_limiter=limiter, login_max_wait=120.0, sleep=sleep)
    fake.on("GET", GET_PATH, fake.Reply(200, CREDENTIAL_JSON))
    await client.get_credential(credential_id=CREDENTIAL_ID)
    assert waited == [60.0]
    assert len(fake.logins()) == 1


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        pytest.param(
            403, "The User Name or Password is incorrect.", WrongCredentialsError, id="403-wrong"
        ),
        pytest.param(
            503,
            "The service is temporarily unavailable. Please try again later or contact support "
            "if the issue persists.",
            ServiceUnavailableError,
            id="503",
        ),
        pytest.param(
            429,
            "We have detected too many logins with the same User Name. Please try again later.",
            RateLimitedError,
            id="429",
        ),
    ],
)
async def test_failed_login_is_never_retried(
    fake: Any, client: Any, status: int, message: str, error: type[Exception]
) -> None:
    """A refused login fails fast: one login request, whatever the retry policy."""
    fake.on("POST", "/authentication/token", fake.Reply(status, {"message": message}))
    with pytest.raises(error):
        await client.get_credential(credential_id=CREDENTIAL_ID, retry=RetryPolicy(attempts=5))
    assert len(fake.logins()) == 1
    assert fake.calls() == []


async def test_concurrent_calls_with_wrong_password_share_one_failed_login(
    fake: Any, client: Any
) -> None:
    """Fifty calls meeting a wrong password cause one login; all fifty see the error."""
    fake.on(
        "POST",
        "/authentication/token",
        fake.Reply(403, {"message": "The User Name or Password is incorrect."}),
    )
    results = await asyncio.gather(
        *(client.get_credential(credential_id=CREDENTIAL_ID) for _ in range(50)),
        return_exceptions=True,
    )
    assert all(isinstance(r, WrongCredentialsError) for r in results)
    assert len(fake.logins()) == 1


async def test_token_cache_shared_between_clients(fake: Any, make_client: Any) -> None:
    """Two clients sharing a TokenCache log in once between them."""
    cache = InMemoryTokenCache()
    fake.on("GET", GET_PATH, fake.Reply(200, CREDENTIAL_JSON))
    await make_client(token_cache=cache).get_credential(credential_id=CREDENTIAL_ID)
    await make_client(token_cache=cache).get_credential(credential_id=CREDENTIAL_ID)
    assert len(fake.logins()) == 1


async def test_custom_token_cache_satisfies_the_protocol(fake: Any, make_client: Any) -> None:
    """Any object with async get/set/invalidate_if_equal can hold the tokens."""

    class DictCache:
        def __init__(self) -> None:
            self.data: dict[str, CachedToken] = {}
            self.invalidated: list[str] = []

        async def get(self, key: str) -> CachedToken | None:
            return self.data.get(key)

        async def set(self, key: str, token: CachedToken) -> None:
            self.data[key] = token

        async def invalidate_if_equal(self, key: str, token: str) -> None:
            self.invalidated.append(key)
            if key in self.data and self.data[key].token == token:
                del self.data[key]

    cache = DictCache()
    assert isinstance(cache, TokenCache)
    fake.on("GET", GET_PATH, fake.Reply(401, TOKEN_401), fake.Reply(200, CREDENTIAL_JSON))
    await make_client(token_cache=cache).get_credential(credential_id=CREDENTIAL_ID)
    assert len(cache.invalidated) == 1  # the refused token was dropped before the login
    (token,) = cache.data.values()
    assert token.token == fake.issued[-1]


async def test_cache_renewed_by_another_process_is_adopted(
    fake: Any, make_client: Any, clock: Any
) -> None:
    """A 401 after another process stored a new token in the shared cache: no login."""
    ours = issue_token("ours.refused.token", now=clock.now, margin=300.0)
    theirs = issue_token(fake.make_jwt(clock.now + 36_000, seq=99), now=clock.now, margin=300.0)

    class SharedCache:
        """Reads our token once; by the next read the other process has stored theirs."""

        def __init__(self) -> None:
            self.reads = [ours]
            self.value = theirs

        async def get(self, key: str) -> CachedToken | None:
            return self.reads.pop(0) if self.reads else self.value

        async def set(self, key: str, token: CachedToken) -> None:
            self.value = token

        async def invalidate_if_equal(self, key: str, token: str) -> None:
            raise AssertionError("their token must not be dropped")

    def handler(rec: Any) -> Any:
        if rec.headers["Authorization"] == f"Bearer {theirs.token}":
            return fake.Reply(200, CREDENTIAL_JSON)
        return fake.Reply(401, TOKEN_401)

    fake.on("GET", GET_PATH, handler)
    client = make_client(token_cache=SharedCache())
    await client.get_credential(credential_id=CREDENTIAL_ID)
    assert fake.logins() == []
    assert [r.headers["Authorization"] for r in fake.calls()] == [
        f"Bearer {ours.token}",
        f"Bearer {theirs.token}",
    ]


def test_jwt_expiry_reads_the_payload() -> None:
    """``exp`` is read from the JWT payload; tokens without one give None."""
    from base64 import urlsafe_b64encode

    payload = urlsafe_b64encode(b'{"exp": 1700036000}').decode().rstrip("=")
    assert jwt_expiry(f"h.{payload}.s") == 1_700_036_000.0
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.!!!.c") is None
    no_exp = urlsafe_b64encode(b'{"sub": "x"}').decode().rstrip("=")
    assert jwt_expiry(f"h.{no_exp}.s") is None


def test_cached_token_repr_hides_the_token() -> None:
    """A cached token's repr shows its times, never the token."""
    token = issue_token("eyJ.secret.sig", now=0.0, margin=300.0)
    assert "secret" not in repr(token)
    assert token.expires_at == 36_000.0
    assert token.refresh_at == 35_700.0


@pytest.mark.parametrize(
    ("stamps", "now", "expected_wait"),
    [
        pytest.param([0.0] * 99, 10.0, 0.0, id="under-limit"),
        pytest.param([float(i) for i in range(100)], 100.0, 800.0, id="full-waits-for-oldest"),
        pytest.param([float(i) for i in range(100)], 900.0, 0.0, id="oldest-slid-out"),
    ],
)
def test_sliding_window_limiter(stamps: list[float], now: float, expected_wait: float) -> None:
    """No 15-minute span ever holds more than 100 logins; the wait names the next slot."""
    clock = _Clock(0.0)
    limiter = SlidingWindowLimiter(clock=clock)
    for t in stamps:
        clock.now = t
        assert limiter.try_acquire() == 0.0
    clock.now = now
    assert limiter.try_acquire() == pytest.approx(expected_wait)


def test_sliding_window_never_admits_more_than_limit_in_any_window() -> None:
    """Hammering the limiter every second for an hour admits at most 100 per 900 s."""
    clock = _Clock(0.0)
    limiter = SlidingWindowLimiter(clock=clock)
    admitted: list[float] = []
    for second in range(3600):
        clock.now = float(second)
        if limiter.try_acquire() == 0.0:
            admitted.append(clock.now)
    for i, t in enumerate(admitted):
        in_window = [a for a in admitted[i:] if a < t + 900.0]
        assert len(in_window) <= 100
    assert len(admitted) == 400
