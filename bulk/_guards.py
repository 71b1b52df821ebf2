"""The one guarded path every entry point takes before anything is sent.

Every command (migrate, work, report, plan, apply, chase, decommission, demo) and every
library entry (:func:`~bulk.run_migration`, :func:`~bulk.dry_run`, :func:`~bulk.plan_sync`,
:func:`~bulk.apply_plan`, :func:`~bulk.chase_invites`, :func:`~bulk.decommission_locks`)
goes through these, never a copy of them:

1. :func:`check_options` (and :func:`check_rate`, :func:`check_fraction`): one set of
   limits, the same for the library and for every command's flags (``bulk.cli._common``
   turns them into argument types);
2. :func:`service_identity`: the service and account a run talks to; a client that cannot
   say (no ``base_url`` or ``username``) must be given one, or the call is refused;
3. :func:`guarded_store`: the store opened from its location (:func:`~bulk.store.open_store`)
   or, for a store object the caller opened, claimed for this run alone (a second
   concurrent run on one object is refused with :class:`StateInUseError`); then a known
   account block is honoured (:class:`AccountBlockedError`, nothing sent);
4. :func:`claim_report_folder`: a report folder holding another run's reports is refused
   (:class:`ReportFolderTakenError`), and :func:`report_owner` names who writes them.

Binding the store to the service, the account and the input is
:mod:`bulk._binding`'s (:func:`~bulk.bind_input`, :func:`~bulk._binding.bind_source`),
called by each entry once :func:`guarded_store` has handed it the store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Final, Protocol

from ._binding import ServiceIdentity
from ._block import current_block
from ._errors import AccountBlockedError, MigrationOptionsError, StateInUseError
from ._options import MigrationOptions
from ._reports import check_report_folder
from .store import open_store
from .store.protocol import CheckpointStore

__all__ = [
    "MAX_CONCURRENCY",
    "StoreLocation",
    "check_fraction",
    "check_options",
    "check_rate",
    "check_seconds",
    "claim_report_folder",
    "guarded_store",
    "report_owner",
    "service_identity",
]

MAX_CONCURRENCY: Final = 1024
"""The most workers a run takes (each holds a connection and a task)."""

StoreLocation = str | os.PathLike[str]
"""Where a store is: an SQLite file's path or a ``postgresql://`` URL."""


def _finite(name: str, value: object, *, minimum: float, strict: bool, unit: str = "") -> float:
    """``value`` as a float, refused unless a finite number above ``minimum`` (or at it)."""
    what = f"a finite number{unit}"
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise MigrationOptionsError(f"{name} must be {what}, not {value!r}".strip())
    bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        raise MigrationOptionsError(f"{name} must be {what} {bound}, not {value:g}".strip())
    return float(value)


def check_seconds(name: str, value: float, *, zero: bool = False) -> float:
    """``value`` as a finite number of seconds (> 0, or >= 0 with ``zero``)."""
    return _finite(name, value, minimum=0.0, strict=not zero, unit=" of seconds")


def check_rate(rate: float | None, name: str = "rate") -> float | None:
    """A client-side rate in requests per second: finite and >= 0 (0 or None: no limit)."""
    if rate is None:
        return None
    return _finite(name, rate, minimum=0.0, strict=False)


def check_fraction(name: str, value: float) -> float:
    """A share between 0 and 1 inclusive (``nan``, negatives and > 1 are refused)."""
    value = _finite(name, value, minimum=0.0, strict=False)
    if value > 1:
        raise MigrationOptionsError(f"{name} must be at most 1, not {value:g}")
    return value


def _whole(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MigrationOptionsError(f"{name} must be a whole number, not {value!r}")
    if value < minimum:
        raise MigrationOptionsError(f"{name} must be at least {minimum:,}, not {value:,}")
    if maximum is not None and value > maximum:
        raise MigrationOptionsError(f"{name} must be at most {maximum:,}, not {value:,}")
    return value


def check_options(options: MigrationOptions) -> MigrationOptions:
    """Refuse options that cannot make a run (:class:`MigrationOptionsError`); return them.

    The limits every entry point and every command shares: ``concurrency`` 1 to
    :data:`MAX_CONCURRENCY`; ``patience`` and the delays finite and >= 0;
    ``unreachable_after`` finite and > 0; counts at least 1.
    """
    _whole("concurrency", options.concurrency, minimum=1, maximum=MAX_CONCURRENCY)
    _whole("max_consecutive_429", options.max_consecutive_429, minimum=1)
    _whole("retry_attempts", options.retry_attempts, minimum=1)
    check_seconds("patience", options.patience, zero=True)
    check_seconds("default_retry_after", options.default_retry_after, zero=True)
    check_seconds("retry_base_delay", options.retry_base_delay, zero=True)
    check_seconds("retry_max_delay", options.retry_max_delay, zero=True)
    check_seconds("unreachable_after", options.unreachable_after)
    if options.total_rows is not None:
        _whole("total_rows", options.total_rows, minimum=0)
    return options


class _Identified(Protocol):
    """A client that can say which service and account it talks to."""

    @property
    def base_url(self) -> object:
        """The service's base URL."""

    @property
    def username(self) -> str:
        """The account's user name."""


def service_identity(client: object, service: ServiceIdentity | None = None) -> ServiceIdentity:
    """The service and account ``client`` talks to, which every checkpoint is bound to.

    ``service`` wins when given (a client of one's own that cannot say). A client without
    a non-empty ``base_url`` and ``username`` and no ``service`` is refused: a checkpoint
    bound to "nobody" would resume against any service and report what it never saw.
    """
    if service is not None:
        return service
    base_url = getattr(client, "base_url", None)
    username = getattr(client, "username", None)
    if not base_url or not isinstance(username, str) or not username.strip():
        raise MigrationOptionsError(
            "the client does not say which service and account it talks to (no base_url "
            "and username): pass service=ServiceIdentity.of(base_url, username), so the "
            "checkpoint is bound to them and never resumes against another service"
        )
    return ServiceIdentity.of(str(base_url), username)


_IN_USE: set[int] = set()
"""``id()`` of the store objects a run of this process holds now (one run per object)."""


@contextlib.asynccontextmanager
async def _claimed(store: CheckpointStore) -> AsyncIterator[CheckpointStore]:
    key = id(store)
    if key in _IN_USE:
        raise StateInUseError(
            f"{store!r} is already in use by another run of this process: one run at a "
            "time per store (a second would send every create twice)"
        )
    _IN_USE.add(key)
    try:
        yield store
    finally:
        _IN_USE.discard(key)


@contextlib.asynccontextmanager
async def guarded_store(
    store: CheckpointStore | StoreLocation,
    *,
    force: bool = False,
    clock: Callable[[], dt.datetime] | None = None,
    lease_seconds: float | None = None,
    create: bool = True,
) -> AsyncIterator[CheckpointStore]:
    """The run's store, opened (or claimed) and checked for a known account block.

    ``store`` is a location (:func:`~bulk.store.open_store` opens it here and closes it
    after) or a store object the caller opened (claimed for this run: a second run on the
    same object meanwhile raises :class:`StateInUseError`). When the store remembers that
    the service blocked the account until a time still to come,
    :class:`AccountBlockedError` is raised and nothing is sent, unless ``force``. With
    ``create`` False a location that holds no store raises :class:`StoreNotFoundError`.
    """
    now = (clock or (lambda: dt.datetime.now(dt.UTC)))()
    if isinstance(store, str | os.PathLike):
        location = os.fspath(store)
        async with open_store(location, lease_seconds=lease_seconds, create=create) as opened:
            await _check_block(opened, now, force=force)
            yield opened
        return
    async with _claimed(store) as claimed:
        await _check_block(claimed, now, force=force)
        yield claimed


async def _check_block(store: CheckpointStore, now: dt.datetime, *, force: bool) -> None:
    if force:
        return
    block = await current_block(store, now)
    if block is not None:
        raise AccountBlockedError(block.resume_at, block.detail)


def report_owner(
    store: CheckpointStore | StoreLocation | None, *, dry_run_of: Path | None = None
) -> str:
    """Who a report folder belongs to: a store (``state:<location>``) or a dry run of an input."""
    if dry_run_of is not None:
        return f"dry-run:{dry_run_of.resolve()}"
    if store is None:
        raise MigrationOptionsError("a report needs a store or an input to belong to")
    if isinstance(store, str | os.PathLike):
        from .store import is_postgres_url

        text = os.fspath(store)
        return f"state:{text if is_postgres_url(text) else Path(text).resolve()}"
    return f"state:{store.location}"


def claim_report_folder(directory: StoreLocation, owner: str) -> Path:
    """``directory`` as a path, refused (:class:`ReportFolderTakenError`) when its reports
    belong to another owner (see :func:`report_owner`)."""
    path = Path(directory)
    check_report_folder(path, owner)
    return path
