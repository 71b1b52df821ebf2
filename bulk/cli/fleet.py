"""The fleet's commands: ``migrate`` into PostgreSQL, ``work`` from any machine, ``report``.

``migrate INPUT --state postgresql://...`` loads the input once as the run's work list
(or finds it loaded) and works it; ``work --state ...`` joins the same run from anywhere;
both take ``--shared redis://...`` so that every worker shares one token, one login
budget, one rate and one 429 pause. Each worker stops when no resident is open any more
(other workers' dead leases are waited out and taken over), so exit 0 still means every
row reached a final state. ``report --state ...`` writes the reports from either store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import phonenumbers
import psycopg
import structlog
from redis.asyncio import Redis

from schlage_async import ConfigurationError, SchlageClient
from schlage_async.shared import (
    DEFAULT_PREFIX,
    RedisLoginBudget,
    RedisPause,
    RedisRateLimiter,
    RedisTokenCache,
    account_key,
)

from .._binding import BINDING_KEY, ServiceIdentity, bind_input
from .._engine import ENGINE_RETRY_POLICY, MigrationOptions, migrate
from .._errors import InputMismatchError, StateInUseError, StoreClosedError, StoreError
from .._fleet_pause import FleetPauseGate
from .._input import (
    Deduplicator,
    InputFormat,
    ParseOptions,
    check_encoding,
    detect_format,
    read_input,
)
from .._limiter import (
    AdaptiveRateLimiter,
    FixedRateLimiter,
    RateLimiter,
    RateReport,
    UnlimitedLimiter,
)
from .._progress import ProgressSink, ProgressSnapshot
from .._reports import format_summary, write_reports
from .._resident import ParsedRow
from .._summary import MigrationStatus, MigrationSummary
from .._user_ids import DEFAULT_NAMESPACE, integration_namespace
from ..store import is_postgres_url
from ..store.postgres import LeaseLostError, PostgresCheckpointStore
from ..store.protocol import CheckpointStore, ResidentState
from ..store.sqlite import SQLiteCheckpointStore
from ._common import UsageError, format_stop, rerun_command, without_passwords
from .exits import EXIT_OK, EXIT_RESUMABLE, EXIT_USAGE, exit_code_for
from .logs import configure_logging
from .sync import CliTools

__all__ = ["run_fleet_migrate", "run_report", "run_work"]

_log = structlog.get_logger("bulk")


_LOAD_BATCH: Final = 1000  # rows parsed per hop to the reader thread while loading
_FLEET_PROGRESS_INTERVAL: Final = 5.0  # seconds between whole-run progress lines


def _redis_from(url: str) -> tuple[Redis, str]:
    """A Redis client for ``--shared`` and the key prefix (``?prefix=``, else the default)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise UsageError(f"--shared must be a redis:// URL, not {parts.scheme or url!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), DEFAULT_PREFIX)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    client = Redis.from_url(
        urlunsplit(parts._replace(query=rest)), socket_connect_timeout=2.0, socket_timeout=5.0
    )
    return client, prefix


@dataclasses.dataclass(slots=True)
class _Shared:
    """What the workers share through Redis (absent without ``--shared``)."""

    redis: Redis
    prefix: str


class _FleetProgress:
    """The engine's progress (this worker's share) plus, now and then, the whole run."""

    def __init__(self, inner: ProgressSink | None) -> None:
        self.inner = inner
        self.last: ProgressSnapshot | None = None

    def start(self, total: int | None) -> None:
        if self.inner is not None:
            self.inner.start(total)

    def update(self, snapshot: ProgressSnapshot) -> None:
        self.last = snapshot
        if self.inner is not None:
            self.inner.update(snapshot)

    def finish(self, snapshot: ProgressSnapshot) -> None:
        self.last = snapshot
        if self.inner is not None:
            self.inner.finish(snapshot)


async def _report_fleet(store: PostgresCheckpointStore, progress: _FleetProgress) -> None:
    """Every few seconds: how far the whole run is, and this worker's share of it."""
    total = await store.loaded_rows() or 0
    while True:
        await asyncio.sleep(_FLEET_PROGRESS_INTERVAL)
        with contextlib.suppress(psycopg.Error, StoreClosedError):
            counts = await store.counts()
            final = counts.get(ResidentState.DONE, 0) + counts.get(ResidentState.FAILED, 0)
            mine = progress.last
            _log.info(
                "fleet.progress",
                run_final=final,
                run_total=total,
                run_percent=round(100.0 * final / total, 1) if total else None,
                run_deferred=counts.get(ResidentState.DEFERRED, 0),
                worker=store.worker_id,
                worker_succeeded=mine.succeeded if mine else 0,
                worker_failed=mine.failed if mine else 0,
                worker_in_flight=mine.in_flight if mine else 0,
                worker_claimed=store.claimed_count,
            )


async def _load_batches(
    path: Path, input_format: InputFormat, options: ParseOptions
) -> AsyncIterator[list[ParsedRow]]:
    """The input parsed and deduplicated, a batch at a time (read in a thread)."""
    rows: Iterator[ParsedRow] = iter(read_input(path, input_format=input_format, options=options))
    with Deduplicator() as dedup:
        while True:
            batch = await asyncio.to_thread(lambda: list(itertools.islice(rows, _LOAD_BATCH)))
            if not batch:
                return
            yield [dedup.check(row) for row in batch]


class _SharedRate:
    """The fleet's Redis rate as the engine's :class:`RateLimiter`."""

    def __init__(self, shared: RedisRateLimiter) -> None:
        self._shared = shared

    @property
    def rate(self) -> float | None:
        return self._shared.rate

    async def acquire(self) -> None:
        await self._shared.acquire()

    def on_success(self) -> None:
        """A fixed rate learns nothing."""

    def on_throttled(self) -> None:
        """The fleet's pause handles the 429."""

    def report(self) -> RateReport:
        return RateReport(rate=self._shared.rate)


def _limiter(args: argparse.Namespace, shared: _Shared | None, account: str) -> RateLimiter:
    rate: float | None = args.rate
    if shared is not None:
        if rate is None:
            raise UsageError("--shared needs --rate R: the rate the whole fleet holds together")
        if rate == 0:
            return UnlimitedLimiter()
        return _SharedRate(
            RedisRateLimiter(shared.redis, rate, scope=account, prefix=shared.prefix)
        )
    if rate is None or getattr(args, "adaptive", False):
        return AdaptiveRateLimiter()
    return UnlimitedLimiter() if rate == 0 else FixedRateLimiter(rate)


async def _work(
    args: argparse.Namespace,
    argv: Sequence[str],
    tools: CliTools,
    *,
    load: tuple[Path, InputFormat, ParseOptions] | None,
    report_dir: Path | None,
) -> int:
    base_url = args.base_url or os.environ.get("SCHLAGE_BASE_URL")
    if not base_url:
        raise UsageError("--base-url is required (or set SCHLAGE_BASE_URL)")
    username, password, key = tools.read_secrets()
    shared: _Shared | None = None
    if args.shared:
        redis, prefix = _redis_from(args.shared)
        shared = _Shared(redis, prefix)
    account = account_key(base_url, username)
    limiter = _limiter(args, shared, account)
    try:
        client = SchlageClient(
            base_url=base_url,
            username=username,
            password=password,
            subscription_key=key,
            retry=ENGINE_RETRY_POLICY,
            connector_limit=max(args.concurrency, 10),
            token_cache=(RedisTokenCache(shared.redis, prefix=shared.prefix) if shared else None),
            login_limiter=(
                RedisLoginBudget(shared.redis, account=account, prefix=shared.prefix)
                if shared
                else None
            ),
        )
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    store = PostgresCheckpointStore(args.state, lease_seconds=args.lease)
    try:
        await store.open()
    except (psycopg.Error, OSError) as exc:
        raise UsageError(f"cannot use the PostgreSQL state {store.schema!r}: {exc}") from None
    gate = None
    if shared is not None:
        gate = FleetPauseGate(RedisPause(shared.redis, scope=account, prefix=shared.prefix))
        gate.start()
    progress = _FleetProgress(tools.progress_sink(args.progress))
    ticker: asyncio.Task[None] | None = None
    try:
        service = ServiceIdentity.of(base_url, username)
        if load is not None:
            path, input_format, parse_options = load
            # The run's service and each row's content: a store of another service or
            # account, or whose recorded rows changed, is refused before anything is sent.
            await bind_input(
                store,
                path,
                service=service,
                input_format=input_format,
                parse_options=parse_options,
                restart=bool(getattr(args, "restart", False)),
            )
            count, added = await store.load(_load_batches(path, input_format, parse_options))
            _log.info("fleet.loaded", rows=count, added=added, schema=store.schema)
        else:
            await _check_service(store, service)
        if await store.loaded_rows() is None:
            raise UsageError(
                f"the PostgreSQL state {store.schema!r} holds no run yet: start one with "
                "python -m bulk migrate INPUT --state ..."
            )
        ticker = asyncio.create_task(_report_fleet(store, progress))
        stop = asyncio.Event()
        installed = list(tools.install_signals(stop))
        try:
            async with client:
                summary = await migrate(
                    client,
                    store.claimed_rows(),
                    store,
                    options=MigrationOptions(
                        concurrency=args.concurrency,
                        patience=args.patience,
                        max_consecutive_429=args.max_consecutive_429,
                    ),
                    limiter=limiter,
                    progress=progress,
                    stop=stop,
                    gate=gate,
                )
        finally:
            loop = asyncio.get_running_loop()
            for sig in installed:
                loop.remove_signal_handler(sig)  # type: ignore[arg-type]  # signals, as installed
        total = await store.loaded_rows() or summary.total_rows
        summary = dataclasses.replace(summary, total_rows=total)
        extra: dict[str, Any] = {
            "state": f"postgresql schema {store.schema}",
            "worker": store.worker_id,
            "worker_claimed": store.claimed_count,
            "rerun": rerun_command(argv),
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if report_dir is not None:
            reports = await write_reports(store, report_dir, summary, extra=extra)
            print(format_summary(summary, reports))
        else:
            print(_worker_summary(summary, store))
    finally:
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        await store.aclose()
        if shared is not None:
            with contextlib.suppress(Exception):
                await shared.redis.aclose()
    if exit_code_for(summary) != 0:
        print(format_stop(summary, rerun_command(argv)), file=sys.stderr)
    return exit_code_for(summary)


async def _check_service(store: PostgresCheckpointStore, service: ServiceIdentity) -> None:
    """A worker joining a run must talk to the run's service, as the run's account."""
    text = await store.get_meta(BINDING_KEY)
    if text is None:
        return  # no run yet: said just below
    bound = json.loads(text)
    if (bound.get("base_url"), bound.get("username")) != (service.base_url, service.username):
        raise UsageError(
            f"the run in {store.schema!r} migrates to {bound.get('base_url')} as "
            f"{bound.get('username')}, not {service.describe()}: a worker must join with "
            "the run's --base-url and account"
        )


def _worker_summary(summary: MigrationSummary, store: PostgresCheckpointStore) -> str:
    return "\n".join(
        [
            f"Run {summary.status.value}: {summary.succeeded:,} succeeded, "
            f"{summary.failed:,} failed, {summary.deferred:,} deferred, "
            f"{summary.unprocessed:,} open, of {summary.total_rows:,} rows",
            f"This worker ({store.worker_id}): claimed {store.claimed_count:,}, "
            f"{summary.succeeded_this_run:,} succeeded, {summary.failed_this_run:,} failed, "
            f"{summary.reconciled:,} reconciled; {summary.api_calls:,} API calls, "
            f"429s: {summary.rate_limited:,}, logins: {summary.logins:,}",
        ]
    )


def _run(coro: Any, argv: Sequence[str]) -> int:
    try:
        code: int = asyncio.run(coro)
    except UsageError as exc:
        print(f"schlage-bulk: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (StateInUseError, InputMismatchError, ValueError) as exc:
        print(f"schlage-bulk: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (psycopg.Error, StoreError, LeaseLostError) as exc:
        print(
            f"schlage-bulk: error: the checkpoint store failed ({without_passwords(str(exc))}); "
            "every resident "
            f"written before it is kept. Fix it, then resume with:\n  {rerun_command(argv)}",
            file=sys.stderr,
        )
        return EXIT_RESUMABLE
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(
            f"aborted; the checkpoint keeps every resident. Resume with:\n  {rerun_command(argv)}",
            file=sys.stderr,
        )
        return EXIT_RESUMABLE
    return code


def run_fleet_migrate(args: argparse.Namespace, argv: Sequence[str], tools: CliTools) -> int:
    """``migrate INPUT --state postgresql://...``: load the input once, then work it."""
    try:
        return _fleet_migrate(args, argv, tools)
    except UsageError as exc:
        print(f"schlage-bulk: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _fleet_migrate(args: argparse.Namespace, argv: Sequence[str], tools: CliTools) -> int:
    configure_logging(args.log_format, verbose=args.verbose)
    if args.dry_run:
        raise UsageError("--dry-run checks an input on its own: leave out the PostgreSQL --state")
    input_path = Path(args.input)
    input_format = detect_format(input_path, args.format)
    if args.region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise UsageError(f"--region {args.region!r} is not a region code (e.g. US, CA, GB)")
    namespace = integration_namespace(args.namespace) if args.namespace else DEFAULT_NAMESPACE
    parse_options = ParseOptions(
        region=args.region, namespace=namespace, encoding=check_encoding(args.encoding)
    )
    report_dir = Path(args.report_dir) if args.report_dir else Path("reports") / input_path.stem
    return _run(
        _work(
            args,
            argv,
            tools,
            load=(input_path, input_format, parse_options),
            report_dir=report_dir,
        ),
        argv,
    )


def run_work(args: argparse.Namespace, argv: Sequence[str], tools: CliTools) -> int:
    """``work --state postgresql://...``: join a run from any machine."""
    configure_logging(args.log_format, verbose=args.verbose)
    if not is_postgres_url(args.state):
        print(
            "schlage-bulk: error: work needs --state postgresql://... (a run workers share)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    report_dir = Path(args.report_dir) if args.report_dir else None
    return _run(_work(args, argv, tools, load=None, report_dir=report_dir), argv)


async def _report(state: str, report_dir: Path) -> int:
    store: CheckpointStore
    if is_postgres_url(state):
        store = PostgresCheckpointStore(state)
    else:
        store = SQLiteCheckpointStore(state)
    await store.open()
    try:
        counts = await store.counts()
        done = counts.get(ResidentState.DONE, 0)
        failed = counts.get(ResidentState.FAILED, 0)
        deferred = counts.get(ResidentState.DEFERRED, 0)
        total = sum(counts.values())
        unprocessed = total - done - failed - deferred
        status = (
            MigrationStatus.COMPLETED
            if not deferred and not unprocessed
            else MigrationStatus.INCOMPLETE
        )
        summary = MigrationSummary(
            status=status,
            total_rows=total,
            succeeded=done,
            failed=failed,
            deferred=deferred,
            unprocessed=unprocessed,
        )
        reports = await write_reports(
            store,
            report_dir,
            summary,
            extra={
                "regenerated_from": "postgresql" if is_postgres_url(state) else "sqlite",
                "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
        )
    finally:
        await store.aclose()
    print(
        f"Run {status.value}: {done:,} succeeded, {failed:,} failed, {deferred:,} deferred, "
        f"{unprocessed:,} open, of {total:,} rows\nReports: {reports.directory}/ "
        "(summary.json, succeeded.csv, failed.csv, unprocessed.csv)"
    )
    return EXIT_OK


def run_report(args: argparse.Namespace) -> int:
    """``report --state ... --report-dir DIR``: the four report files from either store."""
    if not is_postgres_url(args.state) and not Path(args.state).is_file():
        print(f"schlage-bulk: error: no state file at {args.state!r}", file=sys.stderr)
        return EXIT_USAGE
    return _run(_report(args.state, Path(args.report_dir)), ["report"])
