"""Every operation of both clients against the simulator, over loopback."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from schlage_async import (
    CredentialNotFoundError,
    EngageClient,
    GoneError,
    NotFoundError,
    NoTourPayload,
    SchlageClient,
    UserIdConflictError,
    WrongCredentialsError,
)

HEX = "0123456789abcdef" * 6


def _client(sim: Any, **overrides: Any) -> SchlageClient:
    options: dict[str, Any] = {
        "base_url": sim.api_base_url,
        "username": sim.admin.username,
        "password": sim.admin.password,
        "subscription_key": sim.admin.subscription_key,
    }
    options.update(overrides)
    return SchlageClient(**options)


async def test_every_api_only_operation(simulator: Any) -> None:
    """Create, resend, save and delete payloads, get, list, delete: the whole lifecycle."""
    user_id = str(uuid.uuid4())
    async with _client(simulator) as client:
        created = await client.create_credential(
            user_id=user_id,
            mobile_number="+15551230001",
            card_format="26A",
            facility_code=12,
            issue_code=0,
            attributes={"SiteId": "site-1", "SiteName": "Main"},
        )
        assert created.credential_id
        credential_id = created.credential_id
        await client.resend_invite(user_id=user_id)
        await client.save_no_tour_payloads(
            credential_id=credential_id,
            payloads=[
                NoTourPayload(lock_id=1, serial_number="LOCK/1+A", no_tour_payload=HEX),
                {"lockId": 2, "serialNumber": "LOCK-2", "noTourPayload": HEX},
            ],
        )
        by_id = await client.get_credential(credential_id=credential_id)
        by_user = await client.get_credential_by_user(user_id=user_id)
        assert by_id == by_user
        assert by_id.mobile_number == "+15551230001"
        assert by_id.attributes is not None
        assert by_id.attributes.site_id == "site-1"
        page = await client.list_credentials(page_number=1, page_size=10)
        assert credential_id in {c.credential_id for c in page.credentials}
        assert credential_id in {c.credential_id async for c in client.iter_credentials()}
        await client.delete_no_tour_payloads_by_device(serial_number="LOCK/1+A")
        await client.delete_no_tour_payloads(credential_id=credential_id)
        await client.delete_credential(credential_id=credential_id)
        with pytest.raises((CredentialNotFoundError, GoneError)):
            await client.get_credential(credential_id=credential_id)
        with pytest.raises(GoneError):
            await client.delete_credential(credential_id=credential_id)
        assert client.stats.logins == 1


async def test_delete_by_user_and_conflict(simulator: Any) -> None:
    """A second create for the same user is a 409; delete by user removes the credential."""
    user_id = str(uuid.uuid4())
    async with _client(simulator) as client:
        await client.create_credential(
            user_id=user_id, mobile_number="+15551230002", card_format="37H"
        )
        with pytest.raises(UserIdConflictError):
            await client.create_credential(
                user_id=user_id, mobile_number="+15551230003", card_format="37H"
            )
        await client.delete_credential_by_user(user_id=user_id)
        with pytest.raises(NotFoundError):
            await client.get_credential_by_user(user_id=user_id)


async def test_token_revoked_by_the_service_is_renewed_once(simulator: Any) -> None:
    """When the simulator revokes every token, the next call logs in again and succeeds."""
    async with _client(simulator) as client:
        await client.list_credentials()
        simulator.revoke_tokens()
        await client.list_credentials()
        assert client.stats.logins == 2
        assert client.stats.by_status.get(401) == 1


async def test_wrong_password_against_simulator(simulator: Any) -> None:
    """The simulator's refusal of a wrong password is a WrongCredentialsError."""
    async with _client(simulator, password="not-the-password") as client:
        with pytest.raises(WrongCredentialsError):
            await client.list_credentials()


async def test_every_engage_operation(simulator: Any) -> None:
    """Upload, list, get, delete and list devices on surface B."""
    admin = simulator.admin
    async with EngageClient(
        base_url=simulator.engage_base_url,
        username=admin.username,
        password=admin.password,
        subscription_key=admin.subscription_key,
    ) as client:
        uploaded = await client.upload_credential(
            user_id="acs-42", access_profile="ap-1", user_email="r@example.com"
        )
        listed = await client.list_credentials(user_id="acs-42")
        assert uploaded.credential_id in {c.credential_id for c in listed.credentials}
        fetched = await client.get_credential(credential_id=uploaded.credential_id)
        assert fetched.access_profile == "ap-1"
        await client.delete_credential(credential_id=uploaded.credential_id)
        devices = await client.list_devices()
        assert isinstance(devices.devices, tuple)
