"""The client builds a request's log event only when some logger would take it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from schlage_async._logging import EventLogger


@pytest.fixture
def events() -> Iterator[EventLogger]:
    """A fresh EventLogger; structlog and the stdlib logger are put back afterwards."""
    std = logging.getLogger("schlage_async")
    level = std.level
    yield EventLogger("schlage_async")
    structlog.reset_defaults()
    std.setLevel(level)


def _configure_as_the_cli(level: int) -> None:
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def test_unconfigured_structlog_defers_to_the_stdlib_level(events: EventLogger) -> None:
    """Nothing configured: warnings go out, debug lines are never built."""
    logging.getLogger("schlage_async").setLevel(logging.NOTSET)
    structlog.reset_defaults()
    assert not events.enabled(logging.DEBUG)
    assert events.enabled(logging.WARNING)


def test_structlog_configured_as_the_cli_filters_by_its_level(events: EventLogger) -> None:
    """At INFO (the CLI's default) a success's DEBUG event is not built; --verbose builds it."""
    _configure_as_the_cli(logging.INFO)
    assert not events.enabled(logging.DEBUG)
    assert events.enabled(logging.INFO)
    assert events.enabled(logging.WARNING)
    _configure_as_the_cli(logging.DEBUG)  # a reconfiguration is seen at once
    assert events.enabled(logging.DEBUG)


def test_structlog_filter_by_level_defers_to_the_stdlib_logger(events: EventLogger) -> None:
    """``structlog.stdlib.filter_by_level`` in the chain: the stdlib logger's level decides."""
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
    )
    std = logging.getLogger("schlage_async")
    std.setLevel(logging.INFO)
    assert not events.enabled(logging.DEBUG)
    std.setLevel(logging.DEBUG)
    assert events.enabled(logging.DEBUG)


def test_a_chain_without_a_visible_filter_takes_every_event(events: EventLogger) -> None:
    """A wrapper that cannot say its level: every event is built and handed over."""

    class Plain(structlog.BoundLoggerBase):
        def log(self, level: int, event: str, **kw: object) -> None:
            """Pass the event on."""
            self._proxy_to_logger("msg", event, **kw)

    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        wrapper_class=Plain,
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    assert events.enabled(logging.DEBUG)
