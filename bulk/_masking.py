"""Masking anything that looks like a phone number, in any text the engine repeats.

The engine masks the numbers it knows (a resident's ``mobileNumber``), but text it did
not write can hold one too: a CSV header that is really a data row, a user id cell that
swallowed a neighbour's number, an answer quoted in an error. :func:`mask_numbers` is
applied to every message, report field and log value the command line writes.

"Looks like a phone number": seven or more digits, optionally led by ``+``, written with
the separators people use (spaces, ``-``, ``.``, ``(``, ``)``), and not part of a longer
word, UUID, URL or timestamp (so ``2026-11-29T17:08:00``, ``127.0.0.1:8080`` and a
user id's ``-12345678-`` group stay readable). Every digit but the last four becomes
``*``; a leading ``+`` and the first digit after it stay, as in
:func:`schlage_async.mask_mobile`.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["mask_numbers"]

_KEEP_TAIL: Final = 4
_MIN_DIGITS: Final = 7
_HEX: Final = "[0-9A-Fa-f]"
_CANDIDATE: Final = re.compile(
    # Kept as they are (tried first at each position): a UUID, a date and time, an IPv4.
    rf"(?P<keep>{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
    r"|\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    r"|\d{1,3}(?:\.\d{1,3}){3}(?!\.?\d))"
    # A phone-number-like run: not inside a word, URL, address or longer number.
    r"|(?<![\w:/.+-])\+?\(?\d[\d ().\-]*\d\)?(?![\w:/-]|\.\w)"
)


def _mask(found: re.Match[str]) -> str:
    text = found.group()
    if found.group("keep") is not None:
        return text
    digits = sum(ch.isdigit() for ch in text)
    if digits < _MIN_DIGITS:
        return text
    keep_head = 1 if text.startswith("+") else 0
    out: list[str] = []
    seen = 0
    for ch in text:
        if ch.isdigit():
            seen += 1
            hidden = seen > keep_head and seen <= digits - _KEEP_TAIL
            out.append("*" if hidden else ch)
        else:
            out.append(ch)
    return "".join(out)


def mask_numbers(text: str) -> str:
    """Return ``text`` with every phone-number-like run of digits masked (see the module)."""
    if not any(ch.isdigit() for ch in text):
        return text
    return _CANDIDATE.sub(_mask, text)
