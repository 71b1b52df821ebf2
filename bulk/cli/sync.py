"""The sync commands of ``python -m bulk``: plan, apply, decommission, chase.

``_cli.py`` registers them with :func:`add_sync_commands` and hands them its helpers
(secrets, limiter, signals, progress) in a :class:`CliTools`, so this module never
imports it (no import cycle).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import json
import os
import shlex
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from rich.console import Console
from rich.table import Table

from schlage_async import AccountBudget, ConfigurationError, RetryPolicy, SchlageClient

from .._block import KnownBlock, block_message
from .._calls import ENGINE_RETRY_POLICY
from .._errors import (
    AccountBlockedError,
    InputError,
    InputMismatchError,
    MigrationOptionsError,
    ReportFolderTakenError,
    StateInUseError,
    StoreError,
)
from .._guards import claim_report_folder, report_owner
from .._input import DEFAULT_ENCODING, ParseOptions
from .._limiter import RateLimiter
from .._options import DEFAULT_CONCURRENCY
from .._phones import DEFAULT_REGION
from .._progress import ProgressSink
from .._reports import ReportPaths, default_report_dir, format_summary, write_reports
from .._summary import MigrationStatus, MigrationSummary, StopReason
from ..store import open_store
from ..sync.apply import (
    DEFAULT_MAX_DELETE_FRACTION,
    ApplyOptions,
    apply_plan,
    archive_finished_apply,
    check_plan_rails,
)
from ..sync.chase import ChaseResult, chase_invites
from ..sync.decommission import DecommissionResult, decommission_locks
from ..sync.history import PREVIOUS_KEY
from ..sync.plan import DEFAULT_RESEND_AFTER_HOURS, SyncPlan, plan_sync
from ..sync.plan_file import (
    ACTIONS_THAT_CALL,
    PlanError,
    SyncAction,
    count_steps,
    read_plan_header,
)
from ._common import (
    UsageError,
    add_output_options,
    add_run_options,
    fraction_arg,
    migration_options,
    open_budget,
    parse_options,
)
from .exits import EXIT_RESUMABLE, EXIT_USAGE, exit_code_for
from .logs import configure_logging

__all__ = ["SYNC_COMMANDS", "CliTools", "add_sync_commands", "format_plan", "run_sync_command"]

_T = TypeVar("_T")

SYNC_COMMANDS: Final = frozenset({"plan", "apply", "decommission", "chase"})


@dataclass(frozen=True, slots=True)
class CliTools:
    """What the sync commands borrow from ``_cli.py``."""

    read_secrets: Callable[[], tuple[str, str, str]]
    limiter: Callable[[float | None, bool], RateLimiter]
    install_signals: Callable[[asyncio.Event], Sequence[object]]
    progress_sink: Callable[[str], ProgressSink | None]


def _moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _hours(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of hours >= 0, not {text}")
    return value


def _add_service(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="the service's base URL (default: $SCHLAGE_BASE_URL)")
    parser.add_argument(
        "--now",
        type=_moment,
        metavar="ISO",
        help="measure invite ages from this time, not the system clock (replays, tests)",
    )


def add_sync_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``plan`` (and the other sync commands) to ``python -m bulk``."""
    plan = commands.add_parser(
        "plan", help="compare a PACS export with the service; write a sync plan"
    )
    plan.add_argument("input", metavar="INPUT", help="the PACS export (JSON Lines or CSV)")
    plan.add_argument("--out", metavar="PLAN", help="plan file (default: INPUT.plan.jsonl)")
    plan.add_argument(
        "--history",
        action="append",
        default=[],
        metavar="STATE",
        help="state file of an earlier migrate/apply/chase/decommission run (repeatable)",
    )
    plan.add_argument(
        "--resend-after",
        type=_hours,
        default=DEFAULT_RESEND_AFTER_HOURS,
        metavar="HOURS",
        help="resend invites unopened for this long (default 24)",
    )
    plan.add_argument(
        "--resave-unknown",
        action="store_true",
        help="save the doors again where no history says which payloads are stored",
    )
    plan.add_argument(
        "--site",
        action="append",
        default=[],
        metavar="ID",
        help="plan only the credentials of this site (attributes.siteId; repeatable): the "
        "others are left alone, never orphans",
    )
    plan.add_argument("--format", choices=("jsonl", "csv"), help="override the suffix's format")
    plan.add_argument("--region", default=DEFAULT_REGION, help="region of local phone numbers")
    plan.add_argument("--namespace", default=None, metavar="NAME")
    plan.add_argument(
        "--encoding",
        default=DEFAULT_ENCODING,
        help="the export's text encoding, e.g. cp1252 (default %(default)s)",
    )
    _add_service(plan)
    add_output_options(plan)

    apply = commands.add_parser("apply", help="execute a sync plan exactly once (resumable)")
    apply.add_argument("plan", metavar="PLAN", help="the plan file `plan` wrote")
    apply.add_argument("--state", help="checkpoint file (default: PLAN.state.sqlite)")
    apply.add_argument("--restart", action="store_true", help="discard the checkpoint")
    apply.add_argument("--sync", choices=("normal", "full"), default="normal")
    apply.add_argument(
        "--report-dir",
        help="where the reports go (default: beside the state file, STATE minus .state.sqlite "
        "plus .reports/); a folder holding another run's reports is refused",
    )
    apply.add_argument(
        "--allow-delete",
        action="store_true",
        help="allow the plan's deletes (orphans, and number changes: delete then create)",
    )
    apply.add_argument(
        "--max-delete-fraction",
        type=fraction_arg,
        default=DEFAULT_MAX_DELETE_FRACTION,
        metavar="F",
        help="refuse a plan deleting more than this share of the active credentials (0.05)",
    )
    apply.add_argument("--dry-run", action="store_true", help="check the rails, send nothing")
    add_run_options(apply)
    _add_service(apply)
    add_output_options(apply)

    decom = commands.add_parser(
        "decommission", help="delete every no-tour payload of the given locks, once each"
    )
    decom.add_argument(
        "--serial", action="append", required=True, metavar="SN", help="a lock (repeatable)"
    )
    decom.add_argument(
        "--state", default="decommission.state.sqlite", help="checkpoint (history for plan)"
    )
    decom.add_argument(
        "--report-dir", help="where the report goes (default: beside the state file)"
    )
    add_run_options(decom)
    _add_service(decom)
    add_output_options(decom)

    chase = commands.add_parser(
        "chase", help="resend invites never downloaded, older than N hours, within a daily cap"
    )
    chase.add_argument(
        "--older-than",
        type=_hours,
        default=DEFAULT_RESEND_AFTER_HOURS,
        metavar="HOURS",
        help="resend when the last invite is this old (default 24)",
    )
    chase.add_argument("--daily-cap", type=int, metavar="N", help="at most N resends a UTC day")
    chase.add_argument(
        "--history", action="append", default=[], metavar="STATE", help="as for plan"
    )
    chase.add_argument("--state", default="chase.state.sqlite", help="checkpoint and history")
    chase.add_argument("--report-dir", help="where the reports go (default: beside the state file)")
    add_run_options(chase)
    _add_service(chase)
    add_output_options(chase)


@contextlib.asynccontextmanager
async def _shared(
    args: argparse.Namespace, tools: CliTools, client: SchlageClient
) -> AsyncIterator[tuple[SchlageClient, AccountBudget | None]]:
    """``client``, or with ``--shared`` one on the account's budget; the budget, closed after."""
    try:
        budget = await open_budget(args, client.base_url, client.username)
    except UsageError as exc:
        raise PlanError(str(exc)) from None
    if budget is None:
        yield client, None
        return
    try:
        yield _client(args, tools, budget=budget), budget
    finally:
        await budget.aclose()


def _limiter(
    args: argparse.Namespace, tools: CliTools, budget: AccountBudget | None
) -> RateLimiter | None:
    """The run's limiter without ``--shared``; with it, the budget's sync lane paces."""
    return None if budget is not None else tools.limiter(args.rate, args.adaptive)


def _client(
    args: argparse.Namespace, tools: CliTools, *, budget: AccountBudget | None = None
) -> SchlageClient:
    base_url = args.base_url or os.environ.get("SCHLAGE_BASE_URL")
    if not base_url:
        raise PlanError("--base-url is required (or set SCHLAGE_BASE_URL)")
    username, password, key = tools.read_secrets()
    try:
        return SchlageClient(
            base_url=base_url,
            username=username,
            password=password,
            subscription_key=key,
            # plan only lists: the client's own policy waits out a 429; the others go
            # through the engine's call path, which pauses every worker once instead.
            retry=RetryPolicy() if args.command == "plan" else ENGINE_RETRY_POLICY,
            connector_limit=max(getattr(args, "concurrency", DEFAULT_CONCURRENCY), 10),
            budget=budget,
            lane=None,  # the call path paces, in the budget's sync lane when shared
            send_lane_header=getattr(args, "send_lane_header", False),
        )
    except ConfigurationError as exc:
        raise PlanError(str(exc)) from None


def _parse_options(args: argparse.Namespace) -> ParseOptions:
    try:
        return parse_options(args)
    except UsageError as exc:
        raise PlanError(str(exc)) from None


_ORDER: Final = (
    (SyncAction.CREATE, "create", "new residents: create (each gets an invite)"),
    (SyncAction.DELETE, "delete", "orphans: active, billed, still opening doors"),
    (SyncAction.REPLACE, "replace", "number changed: delete then create (a new invite)"),
    (SyncAction.SAVE_PAYLOADS, "save payloads", "doors added or changed (replaces per device)"),
    (SyncAction.RESEND, "resend invite", "never downloaded, last invite too old"),
    ("equal", "equal", "nothing to do"),
    (SyncAction.UNKNOWN, "unknown", "the plan cannot know without history: not acted on"),
    (SyncAction.REJECTED, "rejected", "export rows that cannot be used"),
)


def format_plan(plan: SyncPlan, console: Console) -> None:
    """Print the plan as a table: counts per action and a sample of each."""
    header = plan.header
    table = Table(title=f"Sync plan: {plan.path}", title_justify="left")
    table.add_column("action")
    table.add_column("count", justify="right")
    table.add_column("what it means")
    table.add_column("sample (user ids)", overflow="fold")
    for key, label, meaning in _ORDER:
        count = header.counts.get(str(key), 0)
        sample = ", ".join(header.samples.get(str(key), [])[:3])
        table.add_row(label, f"{count:,}", meaning, sample)
    console.print(table)
    active = header.service.total
    fraction = header.deletes_orphans / active if active else 0.0
    console.print(
        f"Service: {active:,} active credentials (newest {header.service.newest_created_at or '-'})"
        f"; export: {plan.export_rows:,} rows; planned in {plan.seconds:.1f} s. "
        f"Deletes {header.deletes_orphans:,} = {fraction:.1%} of the active credentials."
    )
    if header.sites:
        console.print(
            f"Scoped to site(s) {', '.join(header.sites)}: {header.outside_sites:,} "
            "credential(s) of other sites left alone."
        )
    for note in plan.notes:
        console.print(f"Note: {note}")
    if not header.history:
        console.print(
            "No --history given: which payloads are stored and whether invites were resent "
            "are unknown; those rows are 'unknown', never guessed."
        )
    console.print(f"Apply with: python -m bulk apply {plan.path} [--allow-delete]")


def _cmd_plan(args: argparse.Namespace, argv: Sequence[str], tools: CliTools) -> int:
    parse_options = _parse_options(args)
    client = _client(args, tools)

    async def run() -> SyncPlan:
        async with client:
            return await plan_sync(
                client,
                Path(args.input),
                out=args.out,
                history=args.history,
                input_format=args.format,
                parse_options=parse_options,
                resend_after_hours=args.resend_after,
                resave_unknown=args.resave_unknown,
                now=args.now,
                sites=args.site,
            )

    plan = asyncio.run(run())
    format_plan(plan, Console(width=max(Console().width, 120)))
    return 0


def _rerun(argv: Sequence[str]) -> str:
    return shlex.join(["python", "-m", "bulk", *(a for a in argv if a != "--restart")])


def _report_stop(summary: MigrationSummary, argv: Sequence[str]) -> None:
    if exit_code_for(summary) == 0:
        return
    why = summary.stop_detail or (summary.stop_reason.value if summary.stop_reason else "")
    when = f" after {summary.resume_at:%Y-%m-%d %H:%M:%S} UTC" if summary.resume_at else ""
    if summary.status is MigrationStatus.STOPPED:
        print(f"Stopped resumably ({why}). Resume{when} with:\n  {_rerun(argv)}", file=sys.stderr)
    else:
        print(
            f"{summary.deferred:,} step(s) deferred after retryable errors; rerun:\n"
            f"  {_rerun(argv)}",
            file=sys.stderr,
        )


def _cmd_apply(args: argparse.Namespace, argv: Sequence[str], tools: CliTools) -> int:
    plan_path = Path(args.plan)
    header = read_plan_header(plan_path)
    options = ApplyOptions(
        allow_delete=args.allow_delete,
        max_delete_fraction=args.max_delete_fraction,
        dry_run=args.dry_run,
        migration=migration_options(args),
    )
    check_plan_rails(header, options, count_steps(plan_path))  # before asking for secrets
    state_path = Path(args.state) if args.state else Path(f"{plan_path}.state.sqlite")
    report_dir, owner = _reports_for(args.report_dir, state_path)
    client = _client(args, tools)
    moment: dt.datetime | None = args.now
    clock = (lambda: moment) if moment is not None else None
    extra = {"plan": str(plan_path.resolve()), "rerun": _rerun(argv), "report_owner": owner}

    async def run() -> tuple[MigrationSummary, ReportPaths | None]:
        stop = asyncio.Event()
        installed = tools.install_signals(stop)
        archived = None
        if not args.dry_run and not args.restart:  # the daily cycle: yesterday's run moves
            archived = await archive_finished_apply(state_path, plan_path)
        try:
            async with (
                _shared(args, tools, client) as (shared_client, budget),
                shared_client,
                open_store(
                    state_path, synchronous="FULL" if args.sync == "full" else "NORMAL"
                ) as store,
            ):
                if args.restart and not args.dry_run:
                    await store.reset()
                if archived is not None:  # its history stays readable through this state
                    await store.set_meta(PREVIOUS_KEY, archived.name)
                summary = await apply_plan(
                    shared_client,
                    plan_path,
                    store,
                    options=options,
                    limiter=_limiter(args, tools, budget),
                    budget=budget,
                    weight=args.weight,
                    progress=tools.progress_sink(args.progress),
                    stop=stop,
                    now=clock,
                    force=args.force,
                )
                if args.dry_run:
                    return summary, None
                return summary, await write_reports(store, report_dir, summary, extra=extra)
        finally:
            loop = asyncio.get_running_loop()
            for sig in installed:
                loop.remove_signal_handler(sig)  # type: ignore[arg-type]  # signals

    try:
        summary, reports = _run_store(run)
    except _Blocked as blocked:
        print(blocked.message(argv), file=sys.stderr)
        return EXIT_RESUMABLE
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(
            f"aborted; the checkpoint keeps every step. Resume with:\n  {_rerun(argv)}",
            file=sys.stderr,
        )
        return EXIT_RESUMABLE
    if reports is None:
        steps = count_steps(plan_path)
        counts = ", ".join(f"{steps.get(a.value, 0):,} {a.value}" for a in ACTIONS_THAT_CALL)
        print(f"Dry run: the plan is fresh and passes the rails; it would do {counts}.")
        return 0
    print(format_summary(summary, reports).replace("Migration", "Apply", 1))
    _report_stop(summary, argv)
    return exit_code_for(summary)


def _cmd_decommission(args: argparse.Namespace, argv: Sequence[str], tools: CliTools) -> int:
    options = migration_options(args)
    report_dir, owner = _reports_for(args.report_dir, Path(args.state))
    client = _client(args, tools)

    async def run() -> DecommissionResult:
        stop = asyncio.Event()
        installed = tools.install_signals(stop)
        try:
            async with (
                _shared(args, tools, client) as (shared_client, budget),
                shared_client,
                open_store(args.state) as store,
            ):
                return await decommission_locks(
                    shared_client,
                    args.serial,
                    store,
                    options=options,
                    limiter=_limiter(args, tools, budget),
                    budget=budget,
                    weight=args.weight,
                    stop=stop,
                    now=_fixed(args.now),
                    force=args.force,
                )
        finally:
            _remove_signals(installed)

    try:
        result = _run_store(run)
    except _Blocked as blocked:
        print(blocked.message(argv), file=sys.stderr)
        return EXIT_RESUMABLE
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "summary.json").write_text(
        json.dumps({"report_owner": owner, "locks": len(result.locks)}) + "\n", "utf-8"
    )
    table = Table(title="Decommission", title_justify="left")
    for column in ("lock (serial)", "outcome", "when", "detail"):
        table.add_column(column, overflow="fold")
    with (report_dir / "locks.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(("serial", "outcome", "at", "this_run", "detail"))
        for lock in result.locks:
            out.writerow((lock.serial, lock.outcome, lock.at or "", lock.this_run, lock.detail))
            when = (lock.at or "-") + ("" if lock.this_run else " (earlier run)")
            table.add_row(lock.serial, lock.outcome, when, lock.detail)
    Console(width=max(Console().width, 120)).print(table)
    print(f"Report: {report_dir / 'locks.csv'}; state (pass to plan --history): {args.state}")
    if result.stop_reason is StopReason.ACCESS_REFUSED:
        print(f"The service refused the account ({result.stop_detail}).", file=sys.stderr)
        return EXIT_USAGE
    if not result.complete:
        print(f"Not every lock is final; rerun:\n  {_rerun(argv)}", file=sys.stderr)
        return EXIT_RESUMABLE
    return 0


def _cmd_chase(args: argparse.Namespace, argv: Sequence[str], tools: CliTools) -> int:
    options = migration_options(args)
    if args.daily_cap is not None and args.daily_cap < 0:
        raise PlanError("--daily-cap must be >= 0")
    report_dir, owner = _reports_for(args.report_dir, Path(args.state))
    client = _client(args, tools)

    async def run() -> tuple[ChaseResult, ReportPaths]:
        stop = asyncio.Event()
        installed = tools.install_signals(stop)
        try:
            async with (
                _shared(args, tools, client) as (shared_client, budget),
                shared_client,
                open_store(args.state) as store,
            ):
                result = await chase_invites(
                    shared_client,
                    store,
                    older_than_hours=args.older_than,
                    daily_cap=args.daily_cap,
                    history=args.history,
                    options=options,
                    limiter=_limiter(args, tools, budget),
                    budget=budget,
                    weight=args.weight,
                    stop=stop,
                    now=_fixed(args.now),
                    force=args.force,
                )
                extra = {"rerun": _rerun(argv), "report_owner": owner}
                return result, await write_reports(store, report_dir, result.summary, extra=extra)
        finally:
            _remove_signals(installed)

    try:
        result, reports = _run_store(run)
    except _Blocked as blocked:
        print(blocked.message(argv), file=sys.stderr)
        return EXIT_RESUMABLE
    print(
        f"Chase: {result.listed:,} credentials listed, {result.due:,} invites due, "
        f"{result.resent:,} resent, {result.capped:,} over the daily cap (left for tomorrow; "
        f"{result.sent_today_before:,} sent earlier today), {result.unknown:,} unknown "
        "(no history records their invites: not sent; pass --history)"
    )
    if result.unknown_sample:
        print(f"  unknown, e.g.: {', '.join(result.unknown_sample)}")
    print(f"Reports: {reports.directory}/; state (pass to plan --history): {args.state}")
    _report_stop(result.summary, argv)
    return exit_code_for(result.summary)


def _fixed(moment: dt.datetime | None) -> Callable[[], dt.datetime] | None:
    return (lambda: moment) if moment is not None else None


def _remove_signals(installed: Sequence[object]) -> None:
    loop = asyncio.get_running_loop()
    for sig in installed:
        loop.remove_signal_handler(sig)  # type: ignore[arg-type]  # signal numbers


class _Blocked(Exception):
    """A known account block: nothing was sent."""

    def __init__(self, error: AccountBlockedError) -> None:
        super().__init__(str(error))
        self.error = error

    def message(self, argv: Sequence[str]) -> str:
        block = KnownBlock(self.error.resume_at, self.error.detail)
        return block_message(block, dt.datetime.now(dt.UTC), _rerun(argv))


def _reports_for(given: str | None, state: Path) -> tuple[Path, str]:
    """The report folder (given, else beside the state) and its owner, checked now."""
    folder = Path(given) if given else default_report_dir(state)
    owner = report_owner(state)
    try:
        claim_report_folder(folder, owner)
    except ReportFolderTakenError as exc:
        raise PlanError(str(exc)) from None
    return folder, owner


def _run_store(run: Callable[[], Coroutine[object, object, _T]]) -> _T:
    try:
        return asyncio.run(run())
    except AccountBlockedError as exc:
        raise _Blocked(exc) from None
    except (
        StateInUseError, InputMismatchError, StoreError, sqlite3.Error, MigrationOptionsError,
        ReportFolderTakenError,
    ) as exc:  # fmt: skip
        raise PlanError(str(exc)) from None


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace, Sequence[str], CliTools], int]]] = {
    "plan": _cmd_plan,
    "apply": _cmd_apply,
    "decommission": _cmd_decommission,
    "chase": _cmd_chase,
}


def run_sync_command(args: argparse.Namespace, argv: Sequence[str], tools: CliTools) -> int:
    """Run one sync command; return its exit code (plan errors: one line, exit 2)."""
    configure_logging(args.log_format, verbose=args.verbose)
    command = _COMMANDS[args.command]
    try:
        return command(args, argv, tools)
    except (PlanError, InputError) as exc:
        print(f"schlage-bulk: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
