"""The sync commands of ``python -m bulk``: plan, apply, decommission, chase.

``_cli.py`` registers them with :func:`add_sync_commands` and hands them its helpers
(secrets, limiter, signals, progress) in a :class:`CliTools`, so this module never
imports it (no import cycle).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import phonenumbers
from rich.console import Console
from rich.table import Table

from schlage_async import ConfigurationError, SchlageClient

from ._cli_exits import EXIT_USAGE
from ._engine import DEFAULT_CONCURRENCY, ENGINE_RETRY_POLICY
from ._errors import InputError
from ._input import ParseOptions
from ._limiter import RateLimiter
from ._logs import configure_logging
from ._phones import DEFAULT_REGION
from ._progress import ProgressSink
from ._sync_plan import DEFAULT_RESEND_AFTER_HOURS, SyncPlan, plan_sync
from ._sync_plan_file import PlanError, SyncAction
from ._user_ids import DEFAULT_NAMESPACE, integration_namespace

__all__ = ["SYNC_COMMANDS", "CliTools", "add_sync_commands", "format_plan", "run_sync_command"]

SYNC_COMMANDS: Final = frozenset({"plan"})


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


def add_sync_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    add_output_options: Callable[[argparse.ArgumentParser], None],
) -> None:
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
    plan.add_argument("--format", choices=("jsonl", "csv"), help="override the suffix's format")
    plan.add_argument("--region", default=DEFAULT_REGION, help="region of local phone numbers")
    plan.add_argument("--namespace", default=None, metavar="NAME")
    _add_service(plan)
    add_output_options(plan)


def _client(args: argparse.Namespace, tools: CliTools) -> SchlageClient:
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
            retry=ENGINE_RETRY_POLICY,
            connector_limit=max(getattr(args, "concurrency", DEFAULT_CONCURRENCY), 10),
        )
    except ConfigurationError as exc:
        raise PlanError(str(exc)) from None


def _parse_options(args: argparse.Namespace) -> ParseOptions:
    if args.region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise PlanError(f"--region {args.region!r} is not a region code (e.g. US, CA, GB)")
    namespace = integration_namespace(args.namespace) if args.namespace else DEFAULT_NAMESPACE
    return ParseOptions(region=args.region, namespace=namespace)


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
    for note in plan.notes:
        console.print(f"History: {note}")
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
            )

    plan = asyncio.run(run())
    format_plan(plan, Console(width=max(Console().width, 120)))
    return 0


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace, Sequence[str], CliTools], int]]] = {
    "plan": _cmd_plan,
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
