"""How the simulator words and shapes its answers: one fixed reading, or seeded variance.

The guide fixes the statuses; it leaves open much of what a client must read. By
default the simulator answers as the live service does where the public QA suite shows
it (``wording="live"``), in one error shape (``{"message", "messages"}``). With a seed
(``--vary SEED``) every answer picks, among the forms the guide leaves open:

- the guide's or the live service's wording of an error;
- the error body: ``message`` and ``messages``, ``message`` only, ``messages`` only,
  ProblemDetails (``title``/``detail``/``errors``), plain text, or empty — except where
  the words alone carry the meaning a client needs (a 400 about the token, an account
  block), which always keep readable words in some form;
- 400 or 401 for an expired or revoked token;
- in success answers: extra unknown fields, another letter case for ``attributes`` keys,
  numbers as numeric strings, ``null`` in optional fields.
"""

from __future__ import annotations

import random
from typing import Any, Final

import msgspec

from .._seed_errors import ErrorCode, Wording
from ._answers import JSON, Answer, Refusal, encode, error_answer

__all__ = ["ERROR_FORMS", "Variance"]

ERROR_FORMS: Final = ("both", "message", "messages", "problem", "text", "empty")
"""The error body shapes variance picks from ("both" is the fixed reading's)."""

_WORDS_NEEDED: Final = frozenset({ErrorCode.ACCOUNT_BLOCKED})
_TOKEN: Final = frozenset({ErrorCode.TOKEN_INVALID, ErrorCode.TOKEN_MALFORMED})
_NUMBERS: Final = frozenset(
    {
        "cardNumber",
        "facilityCode",
        "issueCode",
        "lockId",
        "pageNumber",
        "pageSize",
        "totalPages",
        "totalCount",
    }
)
_OPTIONAL: Final = ("createdAt", "cardFormat", "payloadType")
_TEXT: Final = "text/plain"
_PROBLEM: Final = "application/problem+json"
_REASONS: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    417: "Expectation Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Variance:
    """The wording and shapes of one simulator's answers (seeded when varying)."""

    __slots__ = ("_rng", "wording")

    def __init__(self, *, wording: Wording = "live", seed: int | None = None) -> None:
        self.wording = wording  # the fixed reading's wording (unused when varying)
        self._rng = random.Random(seed) if seed is not None else None  # None: no variance

    @property
    def varying(self) -> bool:
        """Whether answers vary (``--vary SEED``)."""
        return self._rng is not None

    def expired_token_status(self) -> int:
        """The status of an expired or revoked token: 401, or 400 half the time when varying."""
        if self._rng is None:
            return 401
        return self._rng.choice((400, 401))

    def refusal(self, refusal: Refusal) -> Answer:
        """The error answer for ``refusal``, worded and shaped."""
        rng = self._rng
        if rng is None:
            return error_answer(refusal.status, refusal.worded(self.wording), refusal.headers)
        messages = refusal.worded(rng.choice(("guide", "live")))
        needs_words = refusal.code in _WORDS_NEEDED or (
            refusal.status == 400 and refusal.code in _TOKEN
        )
        forms = ERROR_FORMS[:-1] if needs_words else ERROR_FORMS
        return self.shape(refusal.status, messages, refusal.headers, form=rng.choice(forms))

    @staticmethod
    def shape(
        status: int, messages: list[str], headers: dict[str, str] | None, *, form: str
    ) -> Answer:
        """An error answer with ``messages`` in body ``form`` (one of :data:`ERROR_FORMS`)."""
        joined = " ".join(messages)
        if form == "both":
            return error_answer(status, messages, headers)
        if form == "message":
            return Answer(status, encode({"message": joined}), headers=headers)
        if form == "messages":
            return Answer(status, encode({"messages": messages}), headers=headers)
        if form == "problem":
            problem: dict[str, Any] = {
                "type": "https://tools.ietf.org/html/rfc9110",
                "title": _REASONS.get(status, "Error"),
                "status": status,
            }
            if status == 400:
                problem["title"] = "One or more validation errors occurred."
                problem["errors"] = {"request": messages}
            else:
                problem["detail"] = joined
            return Answer(status, encode(problem), content_type=_PROBLEM, headers=headers)
        if form == "text":
            return Answer(status, joined.encode(), content_type=_TEXT, headers=headers)
        return Answer(status, b"", headers=headers)

    def success(self, answer: Answer) -> Answer:
        """``answer`` (a 2xx) with the liberties a success answer may take, when varying."""
        rng = self._rng
        if rng is None or not answer.body or answer.content_type != JSON:
            return answer
        value = msgspec.json.decode(answer.body)
        if isinstance(value, dict) and "token" in value:
            if rng.random() < 0.5:
                value["expiresIn"] = 36_000
            return Answer(answer.status, encode(value), headers=answer.headers)
        flags = (rng.random() < 0.5, rng.random() < 0.5, rng.random() < 0.5, rng.random() < 0.3)
        varied = _vary(value, rng, *flags)
        return Answer(answer.status, encode(varied), headers=answer.headers)


def _vary(value: Any, rng: random.Random, extra: bool, case: bool, text: bool, null: bool) -> Any:
    """``value`` with extra fields, attribute key case, numbers as strings, optional nulls."""
    if isinstance(value, list):
        return [_vary(v, rng, extra, case, text, null) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "attributes" and isinstance(item, dict) and case:
            spell = rng.choice((str.upper, str.lower, lambda k: k[:1].upper() + k[1:]))
            item = {spell(k): v for k, v in item.items()}
        elif key in _NUMBERS and isinstance(item, int) and not isinstance(item, bool) and text:
            item = str(item)
        else:
            item = _vary(item, rng, extra, case, text, null)
        out[key] = item
    if null:
        for key in _OPTIONAL:
            if key in out:
                out[key] = None
    if extra:
        out["etag"] = f'W/"{rng.getrandbits(32):08x}"'
        out["links"] = {"self": {"href": "/smc-api/credentials"}, "note": None}
    return out
