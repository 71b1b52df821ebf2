"""Structured logging for the command line: console or JSON lines on stderr (structlog)."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from .._masking import mask_numbers

__all__ = ["LogFormat", "configure_logging"]

LogFormat = Literal["console", "json"]


class _StderrLogger:
    """Prints to whatever ``sys.stderr`` is at the time (rich's live bar swaps it)."""

    def msg(self, message: str) -> None:
        stream: TextIO = sys.stderr
        print(message, file=stream, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _logger_factory(*_args: Any) -> _StderrLogger:
    return _StderrLogger()


def _drop_request_lines(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # The client logs every HTTP request; a 50,000-resident run would print 100,000 lines.
    # The engine logs what matters (pauses, failures, stops); --verbose shows them all.
    if event.get("event") == "schlage.request":
        raise structlog.DropEvent
    return event


def _mask_values(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Mobile numbers are masked where the engine knows them; text it did not write (a
    # quoted answer, an echoed cell) is masked here, in every field of every line.
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = mask_numbers(value)
        elif isinstance(value, BaseException):
            event[key] = mask_numbers(f"{type(value).__name__}: {value}")
    return event


def configure_logging(log_format: LogFormat = "console", *, verbose: bool = False) -> None:
    """Send log lines to stderr as ``console`` text or ``json`` lines, INFO and up.

    The client's per-request lines are dropped unless ``verbose``. Mobile numbers reach
    the log already masked (the engine and the client mask them), and anything else that
    looks like a phone number is masked in every field; secrets never reach it.
    """
    processors: list[Any] = []
    if not verbose:
        processors.append(_drop_request_lines)
    processors += [
        _mask_values,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if log_format == "json":
        processors += [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.DEBUG if verbose else logging.INFO
        ),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=False,
    )
