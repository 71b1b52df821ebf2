"""External ids map to stable, UUIDv4-shaped user ids under a per-integration namespace."""

from __future__ import annotations

import uuid

import pytest

from bulk._user_ids import DEFAULT_NAMESPACE, integration_namespace, user_id_for
from schlage_async._validation import check_create_credential


def test_the_same_external_id_always_maps_to_the_same_user_id() -> None:
    """A re-run or a resume sends the same user id for the same resident."""
    assert user_id_for("PACS-000123") == user_id_for("PACS-000123")
    assert user_id_for("  PACS-000123 ") == user_id_for("PACS-000123")


def test_the_mapping_is_pinned() -> None:
    """The documented recipe (uuid5, then version 4 and RFC 4122 variant) never drifts."""
    raw = uuid.uuid5(DEFAULT_NAMESPACE, "PACS-000123").int
    raw = (raw & ~(0xF << 76)) | (0x4 << 76)
    raw = (raw & ~(0x3 << 62)) | (0x2 << 62)
    assert user_id_for("PACS-000123") == str(uuid.UUID(int=raw))


@pytest.mark.parametrize("external_id", ["1", "PACS-000123", "résident-ü", "x" * 500], ids=str)
def test_user_ids_have_the_shape_of_a_uuid4(external_id: str) -> None:
    """Version nibble 4 and variant 10xx: the service accepts it as a UUIDv4."""
    value = uuid.UUID(user_id_for(external_id))
    assert value.version == 4
    assert value.variant == uuid.RFC_4122
    problems = check_create_credential(
        {"userId": str(value), "mobileNumber": "+15551234567", "cardFormat": "37H"}
    )
    assert problems == []


def test_integrations_with_the_same_external_ids_get_different_user_ids() -> None:
    """Two PACS that both number residents from 1 do not collide."""
    acme = integration_namespace("acme")
    other = integration_namespace("other")
    assert user_id_for("1", acme) != user_id_for("1", other)
    assert integration_namespace("acme") == acme


def test_distinct_external_ids_give_distinct_user_ids() -> None:
    """No collisions across a portfolio-sized set of ids."""
    ids = {user_id_for(f"PACS-{n}") for n in range(20_000)}
    assert len(ids) == 20_000


@pytest.mark.parametrize("bad", ["", "   "], ids=["empty", "blank"])
def test_an_empty_external_id_is_refused(bad: str) -> None:
    """An empty id cannot name a resident."""
    with pytest.raises(ValueError, match="empty"):
        user_id_for(bad)
