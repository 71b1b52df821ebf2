"""Fixtures of the chaos suite: the ``migrate`` command and its environment, log capture.

The sizes (``chaos_size``, ``chaos_kills``, ``chaos_seed``: options ``--chaos-size``,
``--chaos-kills``, ``--chaos-seed`` or variables ``CHAOS_SIZE``, ``CHAOS_KILLS``,
``CHAOS_SEED``), the simulators and the fake clock come from ``tests/conftest.py``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from schlage_async.simulator import DEFAULT_ACCOUNTS

ADMIN = DEFAULT_ACCOUNTS.admin

MigrateCommand = Callable[..., list[str]]
"""``migrate_command(input, base_url, reports, *extra)``: argv of ``python -m bulk migrate``."""


@pytest.fixture
def admin_env() -> dict[str, str]:
    """The environment of a ``python -m bulk`` subprocess: the simulator's administrator."""
    return {
        **os.environ,
        "SCHLAGE_USERNAME": ADMIN.username,
        "SCHLAGE_PASSWORD": ADMIN.password,
        "SCHLAGE_SUBSCRIPTION_KEY": ADMIN.subscription_key,
    }


@pytest.fixture
def migrate_command() -> MigrateCommand:
    """Build the argv of ``python -m bulk migrate`` with JSON logs and log-line progress."""

    def build(path: Path, base_url: str, reports: Path, *extra: str) -> list[str]:
        return [
            sys.executable, "-m", "bulk", "migrate", str(path), "--base-url", base_url,
            "--report-dir", str(reports), "--log-format", "json", "--progress", "log", *extra,
        ]  # fmt: skip

    return build


@pytest.fixture(autouse=True)
def log_events() -> Iterator[list[MutableMapping[str, Any]]]:
    """Every structlog event (INFO and up) of the test, as dicts, instead of printed lines.

    Restores the earlier structlog configuration afterwards.
    """
    saved = structlog.get_config()
    events: list[MutableMapping[str, Any]] = []

    def keep(_logger: object, _method: str, event: MutableMapping[str, Any]) -> str:
        events.append(event)
        raise structlog.DropEvent

    structlog.configure(
        processors=[keep],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    yield events
    structlog.configure(**saved)
