"""When a request may be tried again, and how long to wait first."""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import random
from dataclasses import dataclass, field
from typing import Final, Literal

from ._errors import ConfigurationError

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "NoAnswer",
    "RetryDecision",
    "RetryPolicy",
    "Verdict",
    "decide_retry",
    "exponential_backoff",
    "parse_retry_after",
]

DEFAULT_RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
_UNKNOWN_AT_GATEWAY: Final = frozenset({502, 504})  # the gateway may have lost the answer

NoAnswer = Literal["connect", "connect_timeout", "timeout", "lost", "failed", "fatal"]
"""Why no answer came. Nothing was sent: ``connect`` (refused), ``connect_timeout``,
``fatal`` (TLS, a bad URL: will not get better). It may have been sent: ``timeout`` (no
answer in time), ``lost`` (connection lost), ``failed`` (any other failure)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a client retries the failures that are safe to retry.

    Only what cannot duplicate an effect is retried: reads and deletes on connection
    errors, timeouts and ``retry_statuses``; a create or a resend only when nothing can
    have happened (a 429, or a connection that never opened). The wait is capped
    exponential backoff with full jitter, or the server's ``Retry-After`` when it sends
    one; a ``Retry-After`` longer than ``max_retry_after`` is raised instead of slept.
    """

    attempts: int = 4
    """Tries in all, the first included (1 = never retry)."""
    base_delay: float = 0.5
    """Upper bound of the first backoff, in seconds; doubles on each retry."""
    max_delay: float = 30.0
    """Upper bound of any one backoff, in seconds."""
    max_retry_after: float = 60.0
    """The longest ``Retry-After`` slept; a longer one raises ``RateLimitedError``."""
    retry_statuses: frozenset[int] = field(default=DEFAULT_RETRY_STATUSES)
    """Statuses retried for reads and deletes (creates: only 429 of these)."""
    retry_timeouts: bool = True
    """Whether a timed-out read or delete is tried again."""
    retry_connection_errors: bool = True
    """Whether a failed or lost connection is tried again (when that is safe)."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError(f"attempts must be at least 1, not {self.attempts}")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ConfigurationError("retry delays must not be negative")

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries (each call is tried exactly once)."""
        return cls(attempts=1)

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Return the wait before retry ``retry_number`` (1-based): full jitter, capped."""
        return exponential_backoff(
            retry_number, base_delay=self.base_delay, max_delay=self.max_delay, rng=rng
        )


def exponential_backoff(
    retry_number: int,
    *,
    base_delay: float,
    max_delay: float,
    rng: random.Random | None = None,
) -> float:
    """The one backoff formula (the client's retries, the bulk engine's tries and pauses).

    ``base_delay`` doubles with each retry (``retry_number`` is 1-based), capped at
    ``max_delay``; with ``rng`` the wait is drawn uniformly below that ceiling (full
    jitter), without it the ceiling itself.
    """
    ceiling = min(max_delay, base_delay * 2.0 ** min(retry_number - 1, 60))
    return ceiling if rng is None else rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (delta-seconds or HTTP date).

    ``now`` is the wall clock (epoch seconds) the date form is measured from. Returns
    None when the header is absent or unreadable; never a negative number.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


class Verdict(enum.Enum):
    """What happens to a request after a failure or an error answer."""

    RETRY = "retry"
    """Send it again after ``RetryDecision.wait`` seconds."""
    RAISE = "raise"
    """The failure or the error answer stands."""
    OUTCOME_UNKNOWN = "outcome_unknown"
    """It may have been carried out and cannot be replayed: ``OutcomeUnknownError``."""
    WAIT_TOO_LONG = "wait_too_long"
    """The service asked for a longer wait than ``max_retry_after``: raise, say how long."""


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """A :func:`decide_retry` verdict and, for a retry, the wait before it."""

    verdict: Verdict
    wait: float = 0.0


def decide_retry(
    policy: RetryPolicy,
    *,
    replay_safe: bool,
    tries: int,
    retry_number: int,
    rng: random.Random,
    no_answer: NoAnswer | None = None,
    status: int | None = None,
    retry_after: float | None = None,
    blocked: bool = False,
) -> RetryDecision:
    """Decide whether a request is sent again: the one place that says what is replayed.

    ``replay_safe`` is whether sending it twice is harmless (reads, deletes, saves; not
    a create or a resend). Give ``no_answer`` when nothing came back, ``status`` for an
    error answer. The rules:

    - a connection that never opened sent nothing: retried for any operation;
    - no answer after the request may have left (a timeout, a lost connection): a
      replay-safe request is retried, any other's outcome is unknown (never replayed);
    - 502/504 from the gateway to a request that is not replay-safe: outcome unknown
      (the service behind it may have carried it out);
    - 429 did nothing: retried for every operation; 503 and the other retry statuses
      only for replay-safe requests; an account block never;
    - a ``Retry-After`` above ``policy.max_retry_after`` is raised, not slept;
    - never more than ``policy.attempts`` tries in all.
    """
    if status is None:
        if no_answer is None or no_answer == "fatal":
            return RetryDecision(Verdict.RAISE)
        if no_answer in ("timeout", "lost", "failed") and not replay_safe:
            return RetryDecision(Verdict.OUTCOME_UNKNOWN)
        if no_answer == "failed":
            return RetryDecision(Verdict.RAISE)
        timeout = no_answer in ("timeout", "connect_timeout")
        allowed = policy.retry_timeouts if timeout else policy.retry_connection_errors
        if allowed and tries < policy.attempts:
            return RetryDecision(Verdict.RETRY, policy.backoff(retry_number, rng))
        return RetryDecision(Verdict.RAISE)
    if status not in policy.retry_statuses or blocked:
        return RetryDecision(Verdict.RAISE)
    if not replay_safe and status in _UNKNOWN_AT_GATEWAY:
        return RetryDecision(Verdict.OUTCOME_UNKNOWN)
    if not replay_safe and status != 429:
        return RetryDecision(Verdict.RAISE)  # a create answered 503 may have started
    if retry_after is not None and retry_after > policy.max_retry_after:
        return RetryDecision(Verdict.WAIT_TOO_LONG, retry_after)
    if tries >= policy.attempts:
        return RetryDecision(Verdict.RAISE)
    wait = retry_after if retry_after is not None else policy.backoff(retry_number, rng)
    return RetryDecision(Verdict.RETRY, wait)
