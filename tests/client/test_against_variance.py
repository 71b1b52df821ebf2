"""The client against a simulator in variance mode: every reading holds, whatever the form."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import msgspec
import pytest

from schlage_async import (
    ConflictError,
    CredentialNotFoundError,
    MobileNumberConflictError,
    NoTourPayload,
    RetryPolicy,
    SchlageClient,
    UserIdConflictError,
    UserNotFoundError,
)
from schlage_async._models import error_messages
from schlage_async._outcomes import classify_error
from schlage_async._routes import Operation
from schlage_async._seed_errors import ErrorCode
from schlage_async.simulator._answers import Refusal
from schlage_async.simulator._variance import ERROR_FORMS, Variance

HEX = "0123456789abcdef" * 6


def _client(sim: Any) -> SchlageClient:
    return SchlageClient(
        base_url=sim.api_base_url,
        username=sim.admin.username,
        password=sim.admin.password,
        subscription_key=sim.admin.subscription_key,
        retry=RetryPolicy.none(),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_every_operation_reads_right_under_variance(
    simulator_factory: Any, seed: int
) -> None:
    """Varied wording, body shapes, number strings, key case, extras: the same results."""
    sim = await simulator_factory(vary=seed)
    async with _client(sim) as client:
        for n in range(12):
            user_id = str(uuid.uuid4())
            mobile = f"+1555{seed}{n:06d}"
            created = await client.create_credential(
                user_id=user_id,
                mobile_number=mobile,
                card_format="26A",
                facility_code=3,
                attributes={"siteId": "s-1", "siteName": "Maple"},
            )
            got = await client.get_credential_by_user(user_id=user_id)
            assert got.credential_id == created.credential_id
            assert got.card_number == created.card_number
            assert (got.facility_code, got.mobile_number) == (3, mobile)
            assert got.attributes is not None
            assert (got.attributes.site_id, got.attributes.site_name) == ("s-1", "Maple")
            await client.save_no_tour_payloads(
                credential_id=created.credential_id,
                payloads=[
                    NoTourPayload(lock_id=n + 1, serial_number=f"SN{n}", no_tour_payload=HEX)
                ],
            )
            await client.resend_invite(user_id=user_id)
            with pytest.raises(ConflictError) as taken:
                await client.create_credential(
                    user_id=user_id,
                    mobile_number=f"+1666{seed}{n:06d}",
                    card_format="26A",
                    facility_code=3,
                )
            assert isinstance(taken.value, UserIdConflictError) or not taken.value.messages
            with pytest.raises(ConflictError) as held:
                await client.create_credential(
                    user_id=str(uuid.uuid4()),
                    mobile_number=mobile,
                    card_format="26A",
                    facility_code=3,
                )
            assert isinstance(held.value, MobileNumberConflictError) or not held.value.messages
            with pytest.raises(UserNotFoundError):
                await client.get_credential_by_user(user_id=str(uuid.uuid4()))
            with pytest.raises(UserNotFoundError):
                await client.resend_invite(user_id=str(uuid.uuid4()))
            with pytest.raises(CredentialNotFoundError):
                await client.get_credential(credential_id=str(uuid.uuid4()))
        listed = [c async for c in client.iter_credentials(page_size=5)]
        assert len(listed) == 12


async def test_an_expired_token_answered_400_or_401_is_renewed(simulator_factory: Any) -> None:
    """Tokens revoked again and again: each call renews once and succeeds, 400 or 401."""
    sim = await simulator_factory(vary=11)
    async with _client(sim) as client:
        created = await client.create_credential(
            user_id=str(uuid.uuid4()),
            mobile_number="+15557770000",
            card_format="26A",
            facility_code=3,
        )
        for _ in range(16):
            sim._app.signer.revoke_all()  # the simulator's own control, as /_sim/ does it
            got = await client.get_credential(credential_id=created.credential_id)
            assert got.credential_id == created.credential_id
        assert client.stats.logins == 17
    statuses = Counter(
        status
        for (operation, status), count in sim.state.counters.requests.items()
        if operation == "get_credential"
        for _ in range(count)
    )
    assert statuses[400] > 0
    assert statuses[401] > 0
    assert statuses[200] == 16


def test_variance_is_seeded_and_uses_every_error_form() -> None:
    """The same seed gives the same forms; over many answers every form appears."""
    refusal = Refusal.row(Operation.CREATE_CREDENTIAL, ErrorCode.USER_ID_CONFLICT)
    runs = [[Variance(seed=5).refusal(refusal).body for _ in range(1)] for _ in range(2)]
    assert runs[0] == runs[1]
    variance = Variance(seed=5)
    bodies = [variance.refusal(refusal) for _ in range(300)]
    kinds = Counter(
        "empty"
        if not a.body
        else "problem"
        if a.content_type == "application/problem+json"
        else "text"
        if a.content_type and a.content_type.startswith("text/")
        else ",".join(sorted(msgspec.json.decode(a.body)))
        for a in bodies
    )
    assert len(kinds) == len(ERROR_FORMS), kinds
    for answer in bodies:  # whatever the form, the client reads the same meaning
        error = classify_error(Operation.CREATE_CREDENTIAL, 409, error_messages(answer.body))
        if answer.body:
            assert type(error) is UserIdConflictError


def test_a_token_400_and_a_block_always_keep_readable_words() -> None:
    """Where only the words carry the meaning, variance never sends an empty body."""
    variance = Variance(seed=9)
    token = Refusal.row(Operation.GET_CREDENTIAL, ErrorCode.TOKEN_INVALID, status=400)
    block = Refusal.row(Operation.GET_CREDENTIAL, ErrorCode.ACCOUNT_BLOCKED)
    for _ in range(200):
        assert variance.refusal(token).body
        assert variance.refusal(block).body
