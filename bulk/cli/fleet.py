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
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlsplit

import psycopg
import structlog

from schlage_async import AccountBudget, ConfigurationError, Lane, SchlageClient
from schlage_async.shared import RedisPause

from .._block import KnownBlock, block_message
from .._engine import ENGINE_RETRY_POLICY, MigrationOptions
from .._errors import (
    AccountBlockedError,
    InputError,
    InputMismatchError,
    MigrationOptionsError,
    ReportFolderTakenError,
    StateFileError,
    StateInUseError,
    StoreClosedError,
    StoreError,
    StoreNotFoundError,
)
from .._fleet_pause import FleetPauseGate
from .._input import (
    InputFormat,
    ParseOptions,
    detect_format,
)
from .._progress import ProgressSink, ProgressSnapshot
from .._reports import format_summary, report_paths
from .._service import report_run, run_migration
from .._summary import MigrationSummary
from ..store import is_postgres_url, open_store
from ..store.postgres import DEFAULT_SCHEMA, LeaseLostError, PostgresCheckpointStore
from ..store.protocol import ResidentState
from ._common import (
    UsageError,
    format_stop,
    migration_options,
    open_budget,
    parse_options,
    rerun_command,
    without_passwords,
)
from .exits import EXIT_OK, EXIT_RESUMABLE, EXIT_USAGE, exit_code_for
from .logs import configure_logging
from .metrics import metrics_endpoint
from .sync import CliTools

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = ["run_fleet_migrate", "run_report", "run_work"]

_log = structlog.get_logger("bulk")


_LOAD_BATCH: Final = 1000  # rows parsed per hop to the reader thread while loading
_FLEET_PROGRESS_INTERVAL: Final = 5.0  # seconds between whole-run progress lines


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


async def _report_fleet(
    store: PostgresCheckpointStore,
    progress: _FleetProgress,
    done: asyncio.Event,
    budget: AccountBudget | None = None,
) -> None:
    """Every few seconds until ``done``: how far the whole run is, and this worker's share
    (with a shared account, each lane's part of the rate and this run's part of its lane).

    It ends on ``done`` (never by cancellation, which a pool checkout may swallow) or
    when the store is closed.
    """
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), _FLEET_PROGRESS_INTERVAL)
        if done.is_set():
            return
        try:
            total = await store.loaded_rows() or 0
            counts = await store.counts()
        except StoreClosedError:
            return
        except psycopg.Error:
            continue  # a passing fault: the next tick tries again
        final = counts.get(ResidentState.DONE, 0) + counts.get(ResidentState.FAILED, 0)
        mine = progress.last
        sharing: dict[str, Any] = {}
        if budget is not None:
            shares = await budget.shares()
            sharing = {
                "rate": round(shares.rate, 2) if shares.rate else None,
                "lane_shares": {k: round(shares.lane_share(k), 3) for k in sorted(shares.lanes)},
                "job_share": round(shares.job_share(Lane.BULK, store.schema), 3),
            }
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
            **sharing,
        )


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
    options = migration_options(args)
    username, password, key = tools.read_secrets()
    with metrics_endpoint(args.metrics_port) as meter_provider:
        return await _work_sharing(
            args, argv, tools, base_url, (username, password, key), options,
            load=load, report_dir=report_dir, meter_provider=meter_provider,
        )  # fmt: skip


async def _work_sharing(
    args: argparse.Namespace,
    argv: Sequence[str],
    tools: CliTools,
    base_url: str,
    secrets: tuple[str, str, str],
    options: MigrationOptions,
    *,
    load: tuple[Path, InputFormat, ParseOptions] | None,
    report_dir: Path | None,
    meter_provider: MeterProvider | None,
) -> int:
    """One worker with the account budget ``--shared`` names, closed at the end."""
    budget = await open_budget(args, base_url, secrets[0])
    try:
        return await _work_with(
            args, argv, tools, budget, base_url, secrets, options,
            load=load, report_dir=report_dir, meter_provider=meter_provider,
        )  # fmt: skip
    finally:
        if budget is not None:
            with contextlib.suppress(Exception):
                await budget.aclose()


async def _work_with(
    args: argparse.Namespace,
    argv: Sequence[str],
    tools: CliTools,
    budget: AccountBudget | None,
    base_url: str,
    secrets: tuple[str, str, str],
    options: MigrationOptions,
    *,
    load: tuple[Path, InputFormat, ParseOptions] | None,
    report_dir: Path | None,
    meter_provider: MeterProvider | None = None,
) -> int:
    """One worker: ``run_migration`` on the PostgreSQL work list, with what the fleet shares."""
    username, password, key = secrets
    limiter = None if budget is not None else tools.limiter(args.rate, args.adaptive)
    try:
        client = SchlageClient(
            base_url=base_url,
            username=username,
            password=password,
            subscription_key=key,
            retry=ENGINE_RETRY_POLICY,
            connector_limit=max(args.concurrency, 10),
            meter_provider=meter_provider,
            budget=budget,  # the account's token, login budget and 429 pause, if shared
            lane=None,  # run_migration paces the calls, in the budget's bulk lane
            send_lane_header=args.send_lane_header,
        )
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    store = open_store(args.state, lease_seconds=args.lease)
    assert isinstance(store, PostgresCheckpointStore)  # the callers checked the URL
    try:
        await store.open()
    except (psycopg.Error, OSError) as exc:
        raise UsageError(
            f"cannot use the PostgreSQL state {store.schema!r}: {without_passwords(str(exc))}"
        ) from None
    progress = _FleetProgress(tools.progress_sink(args.progress))
    ticker: asyncio.Task[None] | None = None
    ticking = asyncio.Event()  # set: the progress ticker ends
    rerun = rerun_command(argv)
    path, input_format, parse_options = load if load is not None else (None, None, None)
    try:
        gate = None
        if budget is not None and isinstance(budget.pause, RedisPause):
            gate = FleetPauseGate(budget.pause)
        ticker = asyncio.create_task(_report_fleet(store, progress, ticking, budget))
        stop = asyncio.Event()
        installed = list(tools.install_signals(stop))
        try:
            async with client:
                if gate is not None:
                    gate.start()
                summary = await run_migration(
                    client,
                    path,
                    store=store,
                    reports_dir=report_dir,
                    options=options,
                    parse_options=parse_options or ParseOptions(),
                    input_format=input_format,
                    limiter=limiter,
                    budget=budget,
                    weight=args.weight,
                    progress=progress,
                    stop=stop,
                    gate=gate,
                    restart=bool(getattr(args, "restart", False)),
                    force=args.force,
                    meter_provider=meter_provider,
                    report_extra=lambda _: {
                        "state": store.location,
                        "worker": store.worker_id,
                        "worker_claimed": store.claimed_count,
                        "rerun": rerun,
                        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    },
                )
        finally:
            loop = asyncio.get_running_loop()
            for sig in installed:
                loop.remove_signal_handler(sig)  # type: ignore[arg-type]  # signals, as installed
    except AccountBlockedError as exc:  # a rerun during a known block sends nothing
        now = dt.datetime.now(dt.UTC)
        print(block_message(KnownBlock(exc.resume_at, exc.detail), now, rerun), file=sys.stderr)
        return EXIT_RESUMABLE
    except (MigrationOptionsError, ReportFolderTakenError) as exc:
        raise UsageError(str(exc)) from None
    finally:
        ticking.set()
        if ticker is not None:
            await asyncio.gather(ticker, return_exceptions=True)
        await store.aclose()
    if report_dir is not None:
        print(format_summary(summary, report_paths(report_dir)))
    else:
        print(_worker_summary(summary, store))
    if exit_code_for(summary) != 0:
        print(format_stop(summary, rerun), file=sys.stderr)
    return exit_code_for(summary)


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
    reading = parse_options(args)
    # By default beside the input, named after the run's schema (one run per schema), and
    # owned by that run: another run's reports in the folder are refused, never overwritten.
    schema = urlsplit(args.state).query
    schema_name = dict(parse_qsl(schema)).get("schema", DEFAULT_SCHEMA)
    report_dir = (
        Path(args.report_dir)
        if args.report_dir
        else input_path.with_name(f"{input_path.name}.{schema_name}.reports")
    )
    return _run(
        _work(
            args,
            argv,
            tools,
            load=(input_path, input_format, reading),
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


async def _report(state: str, report_dir: Path, input_path: Path | None) -> int:
    try:
        summary = await report_run(state, report_dir, input_path=input_path)
    except (StoreNotFoundError, StateFileError, ReportFolderTakenError, InputError) as exc:
        raise UsageError(without_passwords(str(exc))) from None
    print(
        f"Run {summary.status.value}: {summary.succeeded:,} succeeded, {summary.failed:,} "
        f"failed, {summary.deferred:,} deferred, {summary.unprocessed:,} open, of "
        f"{summary.total_rows:,} rows\nReports: {report_dir}/ "
        "(summary.json, succeeded.csv, failed.csv, unprocessed.csv)"
    )
    return EXIT_OK


def run_report(args: argparse.Namespace) -> int:
    """``report --state ... --report-dir DIR [--input FILE]``: the reports from either store."""
    input_path = Path(args.input) if args.input else None
    return _run(_report(args.state, Path(args.report_dir), input_path), ["report"])
