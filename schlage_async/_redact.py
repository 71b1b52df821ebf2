"""Keeping secrets and residents' numbers out of logs, reprs and exception text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

__all__ = ["Secret", "mask_mobile", "mask_mobiles_in", "scrub"]

_KEEP_TAIL: Final = 4  # digits left visible at the end, enough to tell numbers apart
_MASK: Final = "***"
_E164: Final = re.compile(r"\+[1-9][0-9]{7,14}")  # a phone number in E.164, anywhere in text


def mask_mobile(number: str) -> str:
    """Return a mobile number fit for a log line: ``+15551237890`` becomes ``+1******7890``.

    The ``+`` and the first digit of the country code and the last four digits stay;
    everything between is starred, one star per character, so lengths still compare.
    A value too short to mask meaningfully is starred completely.
    """
    text = number.strip()
    head = 2 if text.startswith("+") else 0
    if len(text) < head + _KEEP_TAIL + 4:
        return "*" * len(text)
    middle = len(text) - head - _KEEP_TAIL
    return text[:head] + "*" * middle + text[-_KEEP_TAIL:]


class Secret:
    """A password, key or token that shows as ``***`` in every repr and str."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value  # the secret itself; only reveal() hands it out

    def reveal(self) -> str:
        """Return the secret, for the one place that must send it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with every occurrence of each (non-trivial) secret replaced by ``***``.

    For text that comes from outside (a gateway's error page may echo request headers).
    """
    for secret in secrets:
        if len(secret) >= 4:  # a one-letter "secret" would star ordinary words
            text = text.replace(secret, _MASK)
    return text


def mask_mobiles_in(text: str) -> str:
    """Return ``text`` with every E.164 number in it masked (see :func:`mask_mobile`).

    For text that comes from outside: an answer's body, quoted in an error, may hold a
    resident's number (a truncated credential does).
    """
    return _E164.sub(lambda found: mask_mobile(found.group()), text)
