"""The seams through which a client shares its pacing with other processes.

In one process the client needs none of them. A fleet passes implementations backed by a
shared server (``schlage_async.shared`` has Redis ones): a request rate the processes hold
together, a 429 pause that holds them all, and a login budget counted across them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

__all__ = ["LoginLimiter", "RateFeedback", "RequestLimiter", "RequestPause"]


@runtime_checkable
class RequestLimiter(Protocol):
    """Waits until one more request may be sent (``SchlageClient(rate_limiter=...)``)."""

    async def acquire(self) -> None:
        """Wait for a slot."""


@runtime_checkable
class RateFeedback(Protocol):
    """A limiter that hears how each call went (an account budget's steers its rate by it)."""

    def on_success(self) -> None:
        """An answer other than 429 came back."""

    def on_throttled(self) -> None:
        """A 429 came back."""


@runtime_checkable
class RequestPause(Protocol):
    """A pause every request awaits; a 429 with Retry-After extends it (latest wins)."""

    async def wait(self) -> None:
        """Return once requests may go."""

    def pause_for(self, seconds: float) -> bool:
        """Hold requests for ``seconds`` from now; True when the pause began or grew."""


@runtime_checkable
class LoginLimiter(Protocol):
    """The login budget (``SchlageClient(login_limiter=...)``)."""

    async def acquire(self, *, max_wait: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Admit one login, waiting at most ``max_wait`` seconds; else raise a 429 error."""

    def refund(self) -> None:
        """Give back the latest slot: its login never reached the service."""
