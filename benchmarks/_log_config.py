"""structlog configured like an application would, for the span of one measurement."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import structlog

__all__ = ["structlog_configured"]


@contextlib.contextmanager
def structlog_configured(level: int = logging.INFO) -> Iterator[None]:
    """Configure structlog (level filter, stderr) as the CLI does; reset it afterwards.

    With structlog configured the client hands its events to structlog instead of the
    standard library's ``logging``, which changes its per-request cost: the harness
    measures both, and runs the engine's Python API with it (quiet, like the CLI).
    """
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,  # as bulk's CLI
    )
    try:
        yield
    finally:
        structlog.reset_defaults()
