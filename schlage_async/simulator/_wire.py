"""The shapes of the simulator's surface-A answers, encoded with msgspec.

They mirror :mod:`schlage_async._models` field for field (a test decodes every answer
with those models), but omit ``attributes`` when a credential has none, which the
shared models, built for decoding, cannot express.
"""

from __future__ import annotations

import msgspec

from .._models import NoTourPayload

__all__ = ["CredentialAnswer", "PageAnswer", "SavedPayloadsAnswer", "SiteAttributes"]


class SiteAttributes(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """A credential's ``attributes``: only the keys that were given."""

    site_id: str | None = None
    site_name: str | None = None


class CredentialAnswer(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """A credential as Create, Get and Get All answer it."""

    credential_id: str
    user_id: str
    mobile_number: str
    payload_type: str
    card_number: int
    card_format: str
    facility_code: int | None
    issue_code: int
    is_downloaded: bool
    created_at: str
    attributes: SiteAttributes | None = None


class PageAnswer(msgspec.Struct, kw_only=True, rename="camel"):
    """One page of Get All Credentials."""

    credentials: list[CredentialAnswer]
    page_number: int
    page_size: int
    total_pages: int
    total_count: int


class SavedPayloadsAnswer(msgspec.Struct, kw_only=True, rename="camel"):
    """Save No-Tour Payloads' answer: every payload now stored for the credential ([I])."""

    credential_id: str
    no_tour_payload_details: list[NoTourPayload]
