"""What a handler hands back: an answer to send, or a refusal naming the guide's row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import msgspec

from .._routes import Operation
from .._seed_errors import ErrorCode, Wording, lookup, message_for, worded_message
from .._validation import Problem

__all__ = [
    "HTML",
    "JSON",
    "Answer",
    "Refusal",
    "decode_body",
    "encode",
    "error_answer",
    "gateway_message",
    "lower_keys",
]

JSON: Final = "application/json"
HTML: Final = "text/html"

_encoder = msgspec.json.Encoder()
encode = _encoder.encode
_INVALID: Final = object()  # what decode_body returns for a body that is not JSON


class _ErrorBody(msgspec.Struct):
    message: str
    messages: list[str]


class Answer:
    """An HTTP answer before it becomes an aiohttp response (faults may still alter it)."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str | None = JSON,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type if body else None
        self.headers = headers

    @classmethod
    def json(cls, status: int, value: object) -> Answer:
        """An answer whose body is ``value`` encoded as JSON."""
        return cls(status, encode(value))


def error_answer(
    status: int, messages: Sequence[str], headers: dict[str, str] | None = None
) -> Answer:
    """The error body both sides agree on: ``{"message": joined, "messages": [...]}``."""
    msgs = list(messages)
    return Answer(status, encode(_ErrorBody(" ".join(msgs), msgs)), headers=headers)


class Refusal(Exception):
    """The service refuses the request: status, the guide's messages, extra headers."""

    def __init__(
        self,
        status: int,
        messages: Sequence[str],
        *,
        code: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
        operation: Operation | None = None,
        fields: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(status, code)
        self.status = status
        self.messages = list(messages)
        self.code = code
        self.headers = headers
        self.operation = operation  # set for a single row, so it can be worded either way
        self.fields = dict(fields or {})  # the row's placeholders

    @classmethod
    def row(
        cls,
        operation: Operation,
        code: ErrorCode,
        *,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        **fields: object,
    ) -> Refusal:
        """Refuse with the status and message of ``code``'s row in ``operation``'s table.

        ``status`` overrides the row's (an expired token answered 400 in variance mode).
        """
        return cls(
            status if status is not None else lookup(operation, code).status,
            [message_for(operation, code, **fields)],
            code=code,
            headers=headers,
            operation=operation,
            fields=fields,
        )

    def worded(self, wording: Wording) -> list[str]:
        """The messages in ``wording`` (the live service's words where they differ)."""
        if self.operation is None or self.code is None:
            return self.messages
        return [worded_message(wording, self.operation, self.code, **self.fields)]

    @classmethod
    def of(cls, operation: Operation, problems: Sequence[Problem]) -> Refusal:
        """Refuse with every problem a validation found (the first one picks the status)."""
        status = lookup(operation, problems[0].code).status
        return cls(status, [p.message for p in problems], code=problems[0].code)

    def answer(self) -> Answer:
        """This refusal as an error answer."""
        return error_answer(self.status, self.messages, self.headers)


def gateway_message(code: ErrorCode, **fields: object) -> str:
    """The gateway's wording for ``code`` (the same for every operation of surface A)."""
    return message_for(Operation.LIST_CREDENTIALS, code, **fields)


def decode_body(raw: bytes) -> object:
    """Decode a request body; anything that is not JSON becomes a non-object sentinel.

    The validation functions answer a non-object with the operation's "not a JSON
    object" row, so invalid JSON and ``[1, 2]`` are refused alike.
    """
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: absurdly deep nesting
        return _INVALID


def lower_keys(body: Mapping[str, object]) -> dict[str, object]:
    """Property names lower-cased, first spelling winning (as the validation reads them)."""
    out: dict[str, object] = {}
    for key, value in body.items():
        out.setdefault(key.lower(), value)
    return out
