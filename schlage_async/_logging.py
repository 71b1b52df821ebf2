"""Where the library's structured events go.

When the application configured structlog, the events go through its pipeline (and its
level filter). Otherwise they go to the standard library's ``logging`` under the
``schlage_async`` logger, rendered as ``key=value`` text, so a service that never
configured anything sees only warnings, as it would from any well-behaved library.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import structlog

__all__ = ["EventLogger"]

# structlog's live configuration object: read per event, so it must cost next to nothing
# (None when a structlog release no longer has it: the public, slower path is taken).
_STRUCTLOG_CONFIG: Any = getattr(importlib.import_module("structlog._config"), "_CONFIG", None)


def _structlog_setup() -> tuple[Any, Any] | None:
    """structlog's (wrapper class, processors) when it is configured, else None.

    ``structlog.get_config()`` copies the whole configuration into a new dict (several
    microseconds); this is asked on every request, so it reads the same two values from
    structlog's configuration object when that exists.
    """
    config = _STRUCTLOG_CONFIG
    if config is not None:
        try:
            configured = config.is_configured
            setup = (config.default_wrapper_class, config.default_processors)
        except AttributeError:  # pragma: no cover - its layout changed: use the public API
            pass
        else:
            return setup if configured else None
    if not structlog.is_configured():
        return None
    public = structlog.get_config()
    return public["wrapper_class"], public["processors"]


class EventLogger:
    """Emits one structured event, to structlog if configured, else to stdlib logging."""

    __slots__ = ("_fallback", "_levels", "_name", "_seen", "_std")

    def __init__(self, name: str) -> None:
        self._name = name  # the logger name in both worlds
        self._std = logging.getLogger(name)  # decides the level when structlog is unconfigured
        # The fallback renders the event dict to one line for the stdlib logger.
        self._fallback: Any = structlog.wrap_logger(
            self._std,
            processors=[structlog.processors.KeyValueRenderer(key_order=["event"])],
            wrapper_class=structlog.stdlib.BoundLogger,
        )
        # What structlog's configuration says per level, for the configuration last seen
        # (its wrapper class and processor list, compared by identity).
        self._seen: tuple[object, object] | None = None
        self._levels: dict[int, bool | None] = {}

    def enabled(self, level: int) -> bool:
        """Whether an event at ``level`` would go anywhere (so callers can skip building it).

        With structlog configured, its own level filter answers: a filtering bound logger
        (``make_filtering_bound_logger``, as the ``bulk`` CLI configures) knows its level,
        and ``structlog.stdlib.filter_by_level`` defers to the stdlib logger's. Only a
        configuration that filters nowhere we can see is taken as "yes".
        """
        seen = _structlog_setup()
        if seen is None:
            return self._std.isEnabledFor(level)
        last = self._seen
        if last is None or seen[0] is not last[0] or seen[1] is not last[1]:
            self._seen = seen
            self._levels = {}
        try:
            known = self._levels[level]
        except KeyError:
            known = self._levels[level] = self._structlog_allows(level, seen)
        return self._std.isEnabledFor(level) if known is None else known

    def _structlog_allows(self, level: int, setup: tuple[Any, Any]) -> bool | None:
        """True/False when structlog's configuration decides; None: the stdlib level does."""
        wrapper_class, processors = setup
        if structlog.stdlib.filter_by_level in processors:
            return None
        if getattr(wrapper_class, "is_enabled_for", None) is None:
            return True
        logger = structlog.get_logger(self._name).bind()
        return bool(logger.is_enabled_for(level))

    def emit(self, level: int, event: str, **fields: object) -> None:
        """Log ``event`` with ``fields`` at ``level`` (a :mod:`logging` level number)."""
        if structlog.is_configured():
            structlog.get_logger(self._name).log(level, event, **fields)
        elif self._std.isEnabledFor(level):
            self._fallback.log(level, event, **fields)
