"""What an error answer means: per (operation, status), the exception class and the engine's move.

This table sits beside the route table (:mod:`._routes`) and is the one place that says
what an error status means. **The status and the operation decide the class**; the
service's words only refine it to a subclass the table allows (which uniqueness rule a
409 broke, whether a 403 is the role or the onboarding). Words never move an answer to
another status's class, and an answer whose words are unknown, or that has no readable
words at all, still gets its status's class — never ``InvalidResponseError``.

Message matching ignores letter case, punctuation, articles (a, an, the) and whitespace,
and knows both the guide's wording and the live service's (``LIVE_MESSAGES`` in
:mod:`._seed_errors`), so both map to the same :class:`ErrorCode`.

Readings chosen where the guide and the live service leave it open ([I], the reading that
loses nothing for the user):

- An expired or invalid token may come back as 400 (the guide's tables list "invalid,
  expired or incorrect" tokens under 400 in places) as well as 401: a 400 whose words
  name the token is renewed once, like a 401 (:mod:`._transport`).
- Every 409 on a create is "the user may already have a credential": the engine looks
  the user up before it calls the row failed, whatever the words.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Final

from ._errors import (
    AccountBlockedError,
    AccountInactiveError,
    AccountNotFoundError,
    AccountNotVerifiedError,
    APIError,
    AuthenticationError,
    CardNumbersExhaustedError,
    ConflictError,
    CredentialDownloadedError,
    CredentialNotFoundError,
    CredentialNotOwnedError,
    GoneError,
    InvalidTokenError,
    LoginError,
    MobileNumberConflictError,
    NotFoundError,
    NotOnboardedError,
    PermissionDeniedError,
    RateLimitedError,
    RestrictedFormatError,
    RoleForbiddenError,
    ServerError,
    ServiceUnavailableError,
    SubscriptionKeyError,
    UserIdConflictError,
    UserNotFoundError,
    ValidationError,
    WrongCredentialsError,
)
from ._routes import Operation
from ._seed_errors import LIVE_MESSAGES, SEED_ERROR_ROWS, ErrorCode

__all__ = [
    "ERROR_TABLE",
    "EngineAction",
    "Outcome",
    "classify_error",
    "match_code",
    "normalize_message",
    "outcome_for",
]


class EngineAction(enum.StrEnum):
    """What the bulk engine (and a careful caller) does with an error."""

    RETRY = "retry"
    """Transient: try again after a backoff; the resident is deferred when tries run out."""
    RECONCILE = "reconcile"
    """The effect may exist: look the user up first, adopt what is there, else retry."""
    ABSENT = "absent"
    """Nothing exists (a lookup's 404): go on and create."""
    PAUSE = "pause"
    """Throttled: every worker waits ``Retry-After``, then the call is sent again."""
    RENEW = "renew"
    """The token: the client renews it once and resends; if refused again, STOP."""
    STOP = "stop"
    """The account or integration is refused: the run stops, resumable once fixed."""
    GIVE_UP = "give_up"
    """The service refused this request for good: the resident fails, with the reason."""
    DONE = "done"
    """Already in the state the call asked for (a delete of what is already deleted)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The meaning of one (operation, status): the class, what words may refine, the move."""

    error: type[APIError]
    """The class an answer with this status gets, whatever its body says."""
    action: EngineAction
    """What the engine does with it."""
    also: tuple[type[APIError], ...] = ()
    """Classes outside ``error``'s subtree that the words may still pick (400 + token)."""

    def allows(self, cls: type[APIError]) -> bool:
        """Whether the words may refine this outcome to ``cls``."""
        return issubclass(cls, self.error) or any(issubclass(cls, a) for a in self.also)


_O = Operation
_A = EngineAction

# The class a matched code refines to (when the table allows it).
_BY_CODE: Final[Mapping[ErrorCode, type[APIError]]] = MappingProxyType(
    {
        ErrorCode.TOKEN_MALFORMED: InvalidTokenError,
        ErrorCode.TOKEN_INVALID: InvalidTokenError,
        ErrorCode.SUBSCRIPTION_KEY_INVALID: SubscriptionKeyError,
        ErrorCode.ROLE_FORBIDDEN: RoleForbiddenError,
        ErrorCode.NOT_ONBOARDED: NotOnboardedError,
        ErrorCode.WRONG_CREDENTIALS: WrongCredentialsError,
        ErrorCode.ACCOUNT_NOT_FOUND: AccountNotFoundError,
        ErrorCode.ACCOUNT_INACTIVE: AccountInactiveError,
        ErrorCode.ACCOUNT_NOT_VERIFIED: AccountNotVerifiedError,
        ErrorCode.RESTRICTED_FORMAT_FORBIDDEN: RestrictedFormatError,
        ErrorCode.CREDENTIAL_NOT_OWNED: CredentialNotOwnedError,
        ErrorCode.CREDENTIAL_DOWNLOADED: CredentialDownloadedError,
        ErrorCode.CREDENTIAL_NOT_FOUND: CredentialNotFoundError,
        ErrorCode.USER_NOT_FOUND: UserNotFoundError,
        ErrorCode.USER_ID_CONFLICT: UserIdConflictError,
        ErrorCode.MOBILE_NUMBER_CONFLICT: MobileNumberConflictError,
        ErrorCode.CARD_NUMBERS_EXHAUSTED: CardNumbersExhaustedError,
        ErrorCode.ACCOUNT_BLOCKED: AccountBlockedError,
        ErrorCode.SERVICE_UNAVAILABLE: ServiceUnavailableError,
    }
)

# What every surface-A operation shares, by status.
_COMMON: Final[Mapping[int, Outcome]] = MappingProxyType(
    {
        # A 400 is a rule of the guide broken, or the token ("Invalid authentication token").
        400: Outcome(ValidationError, _A.GIVE_UP, also=(InvalidTokenError,)),
        401: Outcome(AuthenticationError, _A.RENEW),
        403: Outcome(PermissionDeniedError, _A.STOP),
        404: Outcome(NotFoundError, _A.GIVE_UP),
        409: Outcome(ConflictError, _A.GIVE_UP),
        410: Outcome(GoneError, _A.DONE),
        417: Outcome(CardNumbersExhaustedError, _A.GIVE_UP),
        429: Outcome(RateLimitedError, _A.PAUSE),
        500: Outcome(ServerError, _A.RETRY),
        502: Outcome(ServiceUnavailableError, _A.RETRY),
        503: Outcome(ServiceUnavailableError, _A.RETRY),
        504: Outcome(ServiceUnavailableError, _A.RETRY),
    }
)

_BY_USER_404: Final = Outcome(UserNotFoundError, _A.GIVE_UP)
_BY_CREDENTIAL_404: Final = Outcome(CredentialNotFoundError, _A.GIVE_UP)

# Where an operation departs from the common meaning.
_SPECIFIC: Final[Mapping[Operation, Mapping[int, Outcome]]] = {
    _O.LOGIN: {
        400: Outcome(ValidationError, _A.STOP),  # the configured user name or password
        401: Outcome(AuthenticationError, _A.STOP),  # the subscription key: no token yet
        403: Outcome(LoginError, _A.STOP),  # wrong password, inactive, not verified
        404: Outcome(AccountNotFoundError, _A.STOP),
        429: Outcome(RateLimitedError, _A.STOP),  # never retried: it escalates to a block
    },
    _O.CREATE_CREDENTIAL: {
        # Any 409: the user (or our own lost create) may hold it: look the user up first.
        409: Outcome(ConflictError, _A.RECONCILE),
        # A create answered 5xx may have been carried out: the next try looks up first.
        500: Outcome(ServerError, _A.RECONCILE),
        502: Outcome(ServiceUnavailableError, _A.RECONCILE),
        503: Outcome(ServiceUnavailableError, _A.RECONCILE),
        504: Outcome(ServiceUnavailableError, _A.RECONCILE),
    },
    _O.RESEND_INVITE: {
        # The resend table answers "credential not found" with a 400 (row 4).
        400: Outcome(ValidationError, _A.GIVE_UP, also=(InvalidTokenError, NotFoundError)),
        404: _BY_USER_404,
    },
    _O.SAVE_NO_TOUR_PAYLOADS: {404: _BY_CREDENTIAL_404},
    _O.GET_CREDENTIAL: {404: _BY_CREDENTIAL_404},
    _O.GET_CREDENTIAL_BY_USER: {404: Outcome(UserNotFoundError, _A.ABSENT)},
    _O.LIST_CREDENTIALS: {404: Outcome(NotFoundError, _A.DONE)},  # past the last page
    _O.DELETE_NO_TOUR_PAYLOADS: {404: _BY_CREDENTIAL_404},
    _O.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE: {404: Outcome(NotFoundError, _A.DONE)},
    _O.DELETE_CREDENTIAL: {404: _BY_CREDENTIAL_404},
    _O.DELETE_CREDENTIAL_BY_USER: {404: _BY_USER_404},
    # Surface B (seed 001): its own 404s are about the credential in the path.
    _O.ENGAGE_GET_CREDENTIAL: {404: _BY_CREDENTIAL_404},
    _O.ENGAGE_DELETE_CREDENTIAL: {404: _BY_CREDENTIAL_404},
}

ERROR_TABLE: Mapping[tuple[Operation, int], Outcome] = MappingProxyType(
    {
        (op, status): _SPECIFIC.get(op, {}).get(status, common)
        for op in Operation
        for status, common in _COMMON.items()
    }
)
"""Every (operation, status) the contract or the gateway can answer with, and its meaning."""


def outcome_for(operation: Operation, status: int) -> Outcome:
    """Return the meaning of ``status`` for ``operation`` (a status outside the table too)."""
    outcome = ERROR_TABLE.get((operation, status))
    if outcome is not None:
        return outcome
    if status >= 500:
        action = _A.RECONCILE if operation is _O.CREATE_CREDENTIAL else _A.RETRY
        return Outcome(ServerError, action)
    return Outcome(APIError, _A.GIVE_UP)


# --- message matching ------------------------------------------------------------------

_ARTICLES: Final = frozenset({"a", "an", "the"})
_WORD: Final = re.compile(r"[0-9a-z]+")
_HOLE: Final = "qqholeqq"  # stands for a {placeholder} while a template is normalized
_PLACEHOLDER: Final = re.compile(r"\{[a-z_]+\}")


def normalize_message(text: str) -> str:
    """Return ``text`` as the matcher compares it: lower case, words only, no articles."""
    return " ".join(w for w in _WORD.findall(text.lower()) if w not in _ARTICLES)


def _template(message: str) -> re.Pattern[str]:
    literal = _PLACEHOLDER.sub(f" {_HOLE} ", message.replace("{{}}", ""))
    words = re.escape(normalize_message(literal))
    return re.compile(words.replace(_HOLE, r"[0-9a-z ]*?"))


def _wordings(operation: Operation, status: int) -> Iterable[tuple[str, ErrorCode]]:
    for row in SEED_ERROR_ROWS:
        if row.operation is operation and row.status == status:
            yield row.message, row.code
            live = LIVE_MESSAGES.get((operation, row.code))
            if live is not None:
                yield live, row.code


@cache
def _patterns(operation: Operation, status: int) -> tuple[tuple[re.Pattern[str], ErrorCode], ...]:
    """The operation's rows for ``status`` (both wordings) as normalized patterns."""
    return tuple((_template(message), code) for message, code in _wordings(operation, status))


def match_code(operation: Operation, status: int, message: str) -> ErrorCode | None:
    """Return the guide's code for a message the service sent, if a row matches.

    Letter case, punctuation, articles and whitespace do not count; the guide's and the
    live service's wording of a row both match it.
    """
    text = normalize_message(message)
    if not text:
        return None
    for pattern, code in _patterns(operation, status):
        if pattern.fullmatch(text):
            return code
    # A token refusal is one whatever sentence follows (the guide's rows go on with "The
    # authentication token provided in the header is either expired or incorrect."): the
    # token words anywhere in the message name the token.
    for pattern, code in _patterns(operation, status):
        if code in _TOKEN_CODES and pattern.search(text):
            return code
    return None


_TOKEN_CODES: Final = frozenset({ErrorCode.TOKEN_MALFORMED, ErrorCode.TOKEN_INVALID})


def classify_error(
    operation: Operation,
    status: int,
    messages: Sequence[str],
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
    sent: bool = True,
    code: ErrorCode | None = None,
) -> APIError:
    """Build the :class:`APIError` for an error answer: the status's class, refined by words.

    The table gives the class for (operation, status); a message that matches one of the
    guide's rows (in either wording) may pick a subclass the table allows. ``code`` is
    the row matched, kept even when its class is not allowed here (it still tells which
    case the service meant).
    """
    outcome = outcome_for(operation, status)
    if code is None:
        for message in messages:
            code = match_code(operation, status, message)
            if code is not None:
                break
    cls = outcome.error
    refined = _BY_CODE.get(code) if code is not None else None
    if refined is not None and outcome.allows(refined):
        cls = refined
    if issubclass(cls, RateLimitedError):
        return cls(
            operation,
            status,
            messages,
            code=code,
            request_id=request_id,
            sent=sent,
            retry_after=retry_after,
        )
    return cls(operation, status, messages, code=code, request_id=request_id, sent=sent)
