"""ENGAGE answers are typed: the status an enum, the times ``datetime``s."""

from __future__ import annotations

import datetime as dt
from typing import Any

from schlage_async import EngageClient, EngageCredentialStatus


async def test_statuses_are_an_enum_and_times_are_datetimes(simulator: Any) -> None:
    """Upload with a date-only validFrom: the answer's times are aware datetimes."""
    admin = simulator.admin
    async with EngageClient(
        base_url=simulator.engage_base_url,
        username=admin.username,
        password=admin.password,
        subscription_key=admin.subscription_key,
    ) as client:
        uploaded = await client.upload_credential(
            user_id="acs-7", access_profile="ap-1", valid_from="2030-01-02"
        )
        await client.delete_credential(credential_id=uploaded.credential_id)
        revoked = await client.get_credential(credential_id=uploaded.credential_id)
        listed = await client.list_credentials(status=EngageCredentialStatus.REVOKED)
    assert uploaded.status is EngageCredentialStatus.ACTIVE
    assert isinstance(uploaded.created_at, dt.datetime)
    assert uploaded.created_at.tzinfo is not None
    assert uploaded.valid_from == dt.datetime(2030, 1, 2, tzinfo=dt.UTC)
    assert revoked.status is EngageCredentialStatus.REVOKED
    assert isinstance(revoked.revoked_at, dt.datetime)
    assert [c.credential_id for c in listed.credentials] == [uploaded.credential_id]
    assert EngageCredentialStatus.ACTIVE == "Active"  # still compares as the wire text
