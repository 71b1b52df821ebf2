"""What surprised a new user of the client: each now says what is wrong, in its own words."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from schlage_async import (
    ConfigurationError,
    EngageClient,
    LoginError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    SchlageClient,
    ServerError,
    UserNotFoundError,
    ValidationError,
)
from schlage_async._routes import Operation
from schlage_async._transport import _log_level

_USER = "3f1c6d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5f"


def _client(sim: Any, base_url: str | None = None) -> SchlageClient:
    admin = sim.admin
    return SchlageClient(
        base_url=base_url or sim.api_base_url,
        username=admin.username,
        password=admin.password,
        subscription_key=admin.subscription_key,
    )


@pytest.mark.parametrize("suffix", ["", "/smc-api", "/test"])
async def test_a_base_url_without_the_env_path_says_the_url_looks_wrong(
    simulator: Any, suffix: str
) -> None:
    """The gateway's 404 on the login is no 'bad credentials': the message names the URL."""
    async with _client(simulator, simulator.url + suffix) as client:
        with pytest.raises(LoginError) as info:
            await client.list_credentials()
    text = str(info.value)
    assert "the base URL looks wrong" in text
    assert f"{simulator.url}{suffix} has no login route" in text
    assert "/<env>/smc-api" in text


async def test_an_unknown_account_is_still_the_accounts_problem(simulator: Any) -> None:
    """The guide's own 404 on the login (no such user name) is not called a URL problem."""
    admin = simulator.admin
    async with SchlageClient(
        base_url=simulator.api_base_url,
        username="nobody@sim.example",
        password=admin.password,
        subscription_key=admin.subscription_key,
    ) as client:
        with pytest.raises(LoginError) as info:
            await client.list_credentials()
    assert "base URL" not in str(info.value)


def test_engage_refuses_a_missing_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like SchlageClient: no silent default to production."""
    monkeypatch.delenv("ENGAGE_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match=r"base_url is missing.*ENGAGE_BASE_URL"):
        EngageClient(username="engage-user", password="p", subscription_key="k-1234")


@pytest.mark.parametrize(
    ("outcome", "error", "level"),
    [
        ("error", UserNotFoundError(Operation.GET_CREDENTIAL_BY_USER, 404, ["No content"]), 20),
        ("error", ValidationError(Operation.CREATE_CREDENTIAL, 400, ["bad"]), logging.INFO),
        ("retry", ServerError(Operation.CREATE_CREDENTIAL, 503, ["busy"]), logging.WARNING),
        ("error", ServerError(Operation.CREATE_CREDENTIAL, 503, ["busy"]), logging.WARNING),
        ("error", RateLimitedError(Operation.LOGIN, 429, ["slow"]), logging.WARNING),
        ("error", OutcomeUnknownError(Operation.CREATE_CREDENTIAL, "no answer"), logging.WARNING),
        ("ok", None, logging.DEBUG),
    ],
    ids=["404", "400", "retry", "5xx-give-up", "429", "no-answer", "ok"],
)
def test_answers_the_caller_handles_are_info_retries_and_give_ups_warnings(
    outcome: str, error: BaseException | None, level: int
) -> None:
    """The level of a request's log line follows what the caller can do about it."""
    assert _log_level(outcome, error) == level


async def test_an_expected_404_writes_no_warning_when_logging_is_unconfigured(
    simulator: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A lookup that finds nothing, handled by the caller: nothing at WARNING or above."""
    monkeypatch.setattr("schlage_async._logging.structlog.is_configured", lambda: False)
    caplog.set_level(logging.INFO, logger="schlage_async")
    async with _client(simulator) as client:
        with pytest.raises(UserNotFoundError):
            await client.get_credential_by_user(user_id=_USER)
    lines = [r for r in caplog.records if r.name.startswith("schlage_async")]
    assert any("user_not_found" in r.getMessage() for r in lines)
    assert all(r.levelno < logging.WARNING for r in lines)


@pytest.mark.parametrize(("value", "what"), [("nope", "is not a UUID"), (" ", "is empty")])
async def test_a_malformed_id_is_a_validation_error_that_says_why(
    simulator: Any, value: str, what: str
) -> None:
    """Not NotFoundError ('HTTP 404: No content'): a ValidationError naming the id's fault."""
    async with _client(simulator) as client:
        with pytest.raises(ValidationError) as info:
            await client.get_credential_by_user(user_id=value)
    assert not isinstance(info.value, NotFoundError)
    assert info.value.sent is False
    assert f"the user id {what}" in str(info.value)
    assert "8-4-4-4-12 hex digits" in str(info.value)


async def test_a_missing_facility_code_is_called_missing(simulator: Any) -> None:
    """The guide's 'must be provided in uint format', then that it is missing."""
    async with _client(simulator) as client:
        with pytest.raises(ValidationError, match="facility_code is missing"):
            await client.create_credential(
                user_id=_USER, mobile_number="+15551234567", card_format="26A"
            )


async def test_a_number_outside_plus_one_is_told_the_service_takes_plus_one_only(
    simulator: Any,
) -> None:
    """A +44 number: the E.164 message, then that the service takes +1 numbers only."""
    async with _client(simulator) as client:
        with pytest.raises(ValidationError, match=r"takes \+1 numbers only") as info:
            await client.create_credential(
                user_id=_USER, mobile_number="+447911123456", card_format="26A", facility_code=1
            )
        assert "+447911123456" not in str(info.value)
        with pytest.raises(ValidationError) as other:
            await client.create_credential(
                user_id=_USER, mobile_number="+1555", card_format="26A", facility_code=1
            )
        assert "+1 numbers only" not in str(other.value)
