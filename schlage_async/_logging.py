"""Where the library's structured events go.

When the application configured structlog, the events go through its pipeline (and its
level filter). Otherwise they go to the standard library's ``logging`` under the
``schlage_async`` logger, rendered as ``key=value`` text, so a service that never
configured anything sees only warnings, as it would from any well-behaved library.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

__all__ = ["EventLogger"]


class EventLogger:
    """Emits one structured event, to structlog if configured, else to stdlib logging."""

    __slots__ = ("_fallback", "_name", "_std")

    def __init__(self, name: str) -> None:
        self._name = name  # the logger name in both worlds
        self._std = logging.getLogger(name)  # decides the level when structlog is unconfigured
        # The fallback renders the event dict to one line for the stdlib logger.
        self._fallback: Any = structlog.wrap_logger(
            self._std,
            processors=[structlog.processors.KeyValueRenderer(key_order=["event"])],
            wrapper_class=structlog.stdlib.BoundLogger,
        )

    def enabled(self, level: int) -> bool:
        """Whether an event at ``level`` would go anywhere (so callers can skip building it)."""
        if structlog.is_configured():
            return True  # structlog's own filter decides, cheaply, in emit()
        return self._std.isEnabledFor(level)

    def emit(self, level: int, event: str, **fields: object) -> None:
        """Log ``event`` with ``fields`` at ``level`` (a :mod:`logging` level number)."""
        if structlog.is_configured():
            structlog.get_logger(self._name).log(level, event, **fields)
        elif self._std.isEnabledFor(level):
            self._fallback.log(level, event, **fields)
