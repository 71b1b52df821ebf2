"""Local phone formats normalise to E.164 with a default region; logs see them masked."""

from __future__ import annotations

import pytest

from bulk import PhoneNumberError
from bulk._phones import normalize_mobile
from schlage_async import mask_mobile


@pytest.mark.parametrize(
    ("given", "region", "expected"),
    [
        ("(555) 123-4567", "US", "+15551234567"),
        ("555.123.4567", "US", "+15551234567"),
        ("1-555-123-4567", "US", "+15551234567"),
        ("+1 555 123 4567", "US", "+15551234567"),
        ("001 555 123 4567", "DE", "+15551234567"),
        ("+15551234567", "GB", "+15551234567"),
        ("  5551234567  ", "us", "+15551234567"),
        ("020 7946 0018", "GB", "+442079460018"),
    ],
    ids=[
        "parens",
        "dots",
        "leading-1",
        "spaced-e164",
        "intl-prefix-de",
        "e164-other-region",
        "padded-lowercase-region",
        "uk-local",
    ],
)
def test_local_formats_become_e164(given: str, region: str, expected: str) -> None:
    """A PACS export's number reaches the service in E.164."""
    assert normalize_mobile(given, region) == expected


@pytest.mark.parametrize(
    "given", ["", "12345", "not a number", "+1 555 123"], ids=["empty", "short", "words", "cut"]
)
def test_impossible_numbers_are_refused_with_a_masked_reason(given: str) -> None:
    """A bad number is a reason for failed.csv, never echoed in clear."""
    with pytest.raises(PhoneNumberError) as info:
        normalize_mobile(given)
    if len(given) > 8:
        assert given not in str(info.value)


def test_masking_keeps_only_the_country_prefix_and_last_four_digits() -> None:
    """Logs show +1******4567, enough to tell numbers apart and no more."""
    assert mask_mobile("+15551234567") == "+1******4567"
