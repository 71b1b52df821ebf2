"""The one retry decision: what is replayed, and when a create's outcome is unknown."""

from __future__ import annotations

import inspect
from random import Random
from typing import Any

import pytest

from schlage_async import EngageClient, RetryPolicy, SchlageClient
from schlage_async._retry import Verdict, decide_retry

POLICY = RetryPolicy(attempts=3, max_retry_after=60.0)
R, U, X, W = Verdict.RETRY, Verdict.OUTCOME_UNKNOWN, Verdict.RAISE, Verdict.WAIT_TOO_LONG


@pytest.mark.parametrize(
    ("what", "safe", "create"),
    [
        # No answer: (no_answer kind) -> verdict for a replay-safe read, and for a create.
        (("connect", None), R, R),
        (("connect_timeout", None), R, R),
        (("timeout", None), R, U),
        (("lost", None), R, U),
        (("failed", None), X, U),
        (("fatal", None), X, X),
        # An answer: (None, status) -> verdict.
        ((None, 429), R, R),
        ((None, 502), R, U),
        ((None, 504), R, U),
        ((None, 503), R, X),
        ((None, 500), X, X),
        ((None, 400), X, X),
        ((None, 409), X, X),
    ],
    ids=lambda v: str(v),
)
def test_the_decision_for_each_failure_and_status(
    what: Any, safe: Verdict, create: Verdict
) -> None:
    """Replay-safe reads retry whatever cannot duplicate; creates only what did nothing."""
    no_answer, status = what
    for replay_safe, expected in ((True, safe), (False, create)):
        decision = decide_retry(
            POLICY,
            replay_safe=replay_safe,
            tries=1,
            retry_number=1,
            rng=Random(1),
            no_answer=no_answer,
            status=status,
        )
        assert decision.verdict is expected, (what, replay_safe)


def test_tries_retry_after_and_blocks_bound_the_retries() -> None:
    """No retry past the attempts, a long Retry-After raised, a block never retried."""
    common: dict[str, Any] = {"replay_safe": True, "retry_number": 1, "rng": Random(1)}
    assert decide_retry(POLICY, tries=3, status=503, **common).verdict is X
    assert decide_retry(POLICY, tries=1, status=429, retry_after=61, **common).verdict is W
    wait = decide_retry(POLICY, tries=1, status=429, retry_after=7, **common)
    assert (wait.verdict, wait.wait) == (R, 7)
    assert decide_retry(POLICY, tries=1, status=429, blocked=True, **common).verdict is X
    quiet = RetryPolicy(retry_timeouts=False)
    assert decide_retry(quiet, tries=1, no_answer="timeout", **common).verdict is X


ONE_ID = {
    SchlageClient: {
        "resend_invite": "user_id",
        "save_no_tour_payloads": "credential_id",
        "get_credential": "credential_id",
        "get_credential_by_user": "user_id",
        "delete_no_tour_payloads": "credential_id",
        "delete_no_tour_payloads_by_device": "serial_number",
        "delete_credential": "credential_id",
        "delete_credential_by_user": "user_id",
    },
    EngageClient: {"get_credential": "credential_id", "delete_credential": "credential_id"},
}


@pytest.mark.parametrize("cls", [SchlageClient, EngageClient], ids=lambda c: c.__name__)
def test_only_the_one_identifier_may_be_positional(cls: type[Any]) -> None:
    """``get_credential(cid)`` works; every other parameter of every operation is keyword-only."""
    for name, member in inspect.getmembers(cls, inspect.iscoroutinefunction):
        if name.startswith("_") or name in {"aclose", "__aenter__", "__aexit__"}:
            continue
        params = list(inspect.signature(member).parameters.values())[1:]
        positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        expected = [ONE_ID[cls][name]] if name in ONE_ID[cls] else []
        assert positional == expected, name


async def test_an_identifier_passed_positionally_reaches_the_path(fake: Any, client: Any) -> None:
    """``get_credential(cid)`` sends the same request as ``credential_id=cid``."""
    cid = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    body = {"credentialId": cid, "userId": "3f2c9a4e-8b1d-4c7e-9f0a-1b2c3d4e5f60"}
    fake.on(
        "GET",
        f"/credentials/mobile/basic/{cid}",
        fake.Reply(200, {**body, "mobileNumber": "+15551237890"}),
    )
    assert (await client.get_credential(cid)).credential_id == cid
    assert (await client.get_credential(credential_id=cid)).credential_id == cid


async def test_a_long_retry_after_on_a_503_keeps_the_503(fake: Any, client: Any) -> None:
    """A Retry-After beyond the policy is raised, not slept, as the status it came with."""
    from schlage_async import ServiceUnavailableError

    cid = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    fake.on(
        "GET",
        f"/credentials/mobile/basic/{cid}",
        fake.Reply(503, body=b"", headers={"Retry-After": "100"}),
    )
    with pytest.raises(ServiceUnavailableError) as caught:
        await client.get_credential(cid)
    assert caught.value.status == 503
    assert len(fake.calls()) == 1
