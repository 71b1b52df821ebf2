"""Mobile numbers: local formats to E.164 (``phonenumbers``), and masking for logs."""

from __future__ import annotations

import re
from typing import Final

import phonenumbers

from schlage_async import mask_mobile

from ._errors import PhoneNumberError

__all__ = ["DEFAULT_REGION", "PhoneNumberError", "normalize_mobile"]

_NANP_E164: Final = re.compile(r"\+1[2-9][0-9]{9}")

DEFAULT_REGION: Final = "US"
"""The region a number without a ``+country`` prefix is read in (``--region``)."""


def normalize_mobile(text: str, region: str = DEFAULT_REGION) -> str:
    """Return ``text`` as an E.164 number (``+15551234567``), reading local forms in ``region``.

    Accepts what PACS exports hold: ``(555) 123-4567``, ``555.123.4567``, ``1-555-123-4567``,
    ``+1 555 123 4567`` and, dialled from the US, ``011 1 555 123 4567`` (``011`` is the
    US international prefix; ``00`` is not, so ``001 555 123 4567`` is refused for ``US``,
    and read as ``+1`` only in a region that dials ``00``, such as ``GB``). A number is
    accepted when it has a possible length for its country; whether the service takes it
    (``+1`` and 10 to 14 digits) is the service rule's job, checked afterwards with the
    service's message.
    """
    raw = text.strip()
    if _NANP_E164.fullmatch(raw):  # already E.164 (the usual case): phonenumbers agrees
        return raw
    if not raw:
        raise PhoneNumberError("the mobile number is empty")
    try:
        number = phonenumbers.parse(raw, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise PhoneNumberError(
            f"mobile number {mask_mobile(raw)!r} is not a phone number ({exc._msg})"
        ) from None
    if not phonenumbers.is_possible_number(number):
        raise PhoneNumberError(
            f"mobile number {mask_mobile(raw)!r} has an impossible length for region "
            f"{phonenumbers.region_code_for_number(number) or region.upper()}"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
