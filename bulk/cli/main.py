"""The ``python -m bulk`` / ``schlage-bulk`` command line: generate, migrate, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import getpass
import os
import signal
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from schlage_async import AccountBudget, ConfigurationError, SchlageClient, check_base_url

from .. import _signals
from .._binding import ServiceIdentity, default_state_path
from .._block import KnownBlock, block_message
from .._engine import (
    DEFAULT_CONCURRENCY,
)
from .._errors import (
    AccountBlockedError,
    InputError,
    InputMismatchError,
    ReportFolderTakenError,
    StateFileError,
    StoreError,
)
from .._generate import generate_portfolio
from .._input import (
    DEFAULT_ENCODING,
    check_input,
    detect_format,
)
from .._masking import mask_numbers
from .._phones import DEFAULT_REGION
from .._progress import LogProgress, ProgressSink, RichProgress
from .._reports import (
    ReportError,
    default_report_dir,
    format_summary,
    report_paths,
)
from .._service import dry_run, run_migration
from .._summary import MigrationStatus, MigrationSummary
from ..store import is_postgres_url, open_store
from ._common import (
    UsageError,
    add_metrics_option,
    add_output_options,
    add_run_options,
    concurrency_arg,
    format_stop,
    limiter_for,
    migration_options,
    open_budget,
    parse_options,
    rate_arg,
    rerun_command,
)
from .exits import EXIT_RESUMABLE, EXIT_USAGE, exit_code_for
from .fleet_args import add_fleet_commands, add_fleet_options
from .logs import configure_logging
from .metrics import metrics_endpoint
from .sync import SYNC_COMMANDS, CliTools, add_sync_commands, run_sync_command

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = [
    "UsageError",
    "build_parser",
    "format_summary",
    "main",
]

_SECRET_VARS: Final = ("SCHLAGE_USERNAME", "SCHLAGE_PASSWORD", "SCHLAGE_SUBSCRIPTION_KEY")


class PromptCancelledError(Exception):
    """Ctrl-C at the credential prompt: nothing was sent (exit 130, like a shell)."""


EXIT_CANCELLED: Final = 130
"""Ctrl-C at the credential prompt (128 + SIGINT, as shells report it)."""


def _namespace(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must name the integration, not be blank")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m bulk``."""
    parser = argparse.ArgumentParser(
        prog="schlage-bulk",
        description="Exactly-once, resumable bulk provisioning of Schlage mobile credentials.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = commands.add_parser("generate", help="write a synthetic portfolio (JSON Lines or CSV)")
    gen.add_argument("--count", type=int, required=True, metavar="N", help="residents to write")
    gen.add_argument("--out", required=True, metavar="FILE", help="file to write (.csv for CSV)")
    gen.add_argument("--seed", type=int, default=0, help="same seed, same file (default 0)")
    gen.add_argument(
        "--bad-rows", type=int, default=0, metavar="K", help="malformed rows among them (0)"
    )
    gen.add_argument("--format", choices=("jsonl", "csv"), help="override the suffix's format")
    gen.add_argument(
        "--ids",
        choices=("mixed", "user", "external"),
        default="mixed",
        help="userId UUIDs, PACS externalIds, or both alternating (default)",
    )

    mig = commands.add_parser(
        "migrate",
        help="provision every resident of INPUT (resumable)",
        description=(
            "Provision every resident of INPUT exactly once; rerun the same command to "
            "resume after a stop."
        ),
        epilog=MIGRATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mig.add_argument("input", metavar="INPUT", help="JSON Lines or CSV file of residents")
    mig.add_argument(
        "--base-url",
        metavar="URL",
        help="the service's base URL, e.g. https://api.securewebserv.com/test/smc-api "
        "(default: $SCHLAGE_BASE_URL)",
    )
    mig.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow plain http:// to a host that is not loopback: only for a test rig you "
        "control, the key and token travel in clear (loopback http is always allowed)",
    )
    mig.add_argument(
        "--state",
        metavar="FILE",
        help="checkpoint file (default: INPUT.<host>-<digest>.state.sqlite, one per service "
        "and account)",
    )
    mig.add_argument("--restart", action="store_true", help="discard the checkpoint, start over")
    mig.add_argument(
        "--sync",
        choices=("normal", "full"),
        default="normal",
        help=(
            "checkpoint commits survive a killed process (normal, the default) or also a "
            "power loss (full: an fsync per commit, slower); exactly-once holds either way"
        ),
    )
    mig.add_argument(
        "--report-dir",
        metavar="DIR",
        help=(
            "where the reports go (default: beside the state file, STATE minus "
            ".state.sqlite plus .reports/, or .dry-run-reports/ for --dry-run); a folder "
            "holding another run's reports is refused"
        ),
    )
    add_run_options(mig)
    mig.add_argument("--dry-run", action="store_true", help="check the rows, send nothing")
    mig.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        help="the input's format (default: csv for a .csv file, jsonl otherwise)",
    )
    mig.add_argument(
        "--encoding",
        default=DEFAULT_ENCODING,
        metavar="NAME",
        help="the input's text encoding, e.g. cp1252 for a Windows export (default %(default)s)",
    )
    mig.add_argument(
        "--region",
        default=DEFAULT_REGION,
        metavar="CC",
        help="region of phone numbers written without +country code (default %(default)s)",
    )
    mig.add_argument(
        "--namespace",
        type=_namespace,
        default=None,
        metavar="NAME",
        help="integration name whose namespace maps externalIds to user ids "
        '(default: "default"; keep it the same across runs)',
    )
    add_output_options(mig)
    add_metrics_option(mig)
    add_fleet_options(mig)  # --shared, --lease: a fleet with --state postgresql://...

    demo = commands.add_parser("demo", help="simulator + synthetic portfolio + migration")
    demo.add_argument("--count", type=int, default=2000, help="residents (default 2,000)")
    demo.add_argument(
        "--rate",
        type=rate_arg,
        default=200.0,
        metavar="R",
        help="the simulator's limit and the engine's rate, req/s (default 200; 0: unlimited)",
    )
    demo.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help='simulator fault spec, e.g. "block_after=800,reset_after=0.02" (default: none)',
    )
    demo.add_argument(
        "--dir", metavar="DIR", help="where the portfolio, state and reports go (default: temp)"
    )
    demo.add_argument(
        "--seed", type=int, default=0, help="seed of the portfolio and the faults (default 0)"
    )
    demo.add_argument(
        "--bad-rows",
        type=int,
        default=10,
        metavar="K",
        help="malformed rows in the portfolio (default %(default)s)",
    )
    demo.add_argument(
        "--concurrency",
        type=concurrency_arg,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help="residents in flight at once (default %(default)s)",
    )
    add_output_options(demo)
    add_sync_commands(commands)  # plan, apply, decommission, chase
    add_fleet_commands(commands)  # work, report
    return parser


MIGRATE_EPILOG: Final = """\
the account:
  SCHLAGE_USERNAME, SCHLAGE_PASSWORD and SCHLAGE_SUBSCRIPTION_KEY hold the account; when
  one is not set and stdin is a terminal, migrate prompts for it (the password and the key
  without echo). Secrets are never taken as arguments. SCHLAGE_BASE_URL stands in for
  --base-url.

exit codes:
  0   every row reached a final state (succeeded, or failed with a reason)
  75  stopped resumably, or nothing sent during a known account block: rerun the same
      command (after the time given)
  2   usage, unreadable input, or the service refused the account: fix it, then rerun

reports go beside the state file (INPUT.<host>-<digest>.reports/ by default, a dry run's
to INPUT.dry-run-reports/); see the README."""


def _progress_sink(choice: str) -> ProgressSink | None:
    if choice == "bar" or (choice == "auto" and sys.stderr.isatty()):
        return RichProgress()
    if choice == "none":
        return None
    return LogProgress(interval=10.0)


def _read_secrets(environ: dict[str, str] | os._Environ[str]) -> tuple[str, str, str]:
    """The account from the environment, or a prompt on a terminal; never from arguments."""
    values: list[str] = []
    interactive = sys.stdin.isatty()
    for name in _SECRET_VARS:
        value = environ.get(name, "")
        if not value and interactive:
            prompt = f"{name.removeprefix('SCHLAGE_').replace('_', ' ').lower()}: "
            try:
                with _signals.interrupting():  # Ctrl-C at a prompt: KeyboardInterrupt
                    value = input(prompt) if name == "SCHLAGE_USERNAME" else getpass.getpass(prompt)
            except EOFError:  # Ctrl-D: the person has nothing to give
                print(file=sys.stderr)
                raise UsageError(f"no {name} given at the prompt; nothing was sent") from None
            except KeyboardInterrupt:  # Ctrl-C: the person changed their mind
                raise PromptCancelledError from None
        if not value:
            raise UsageError(
                f"{name} is not set and stdin is not a terminal to ask for it; "
                "set SCHLAGE_USERNAME, SCHLAGE_PASSWORD and SCHLAGE_SUBSCRIPTION_KEY"
            )
        values.append(value)
    return values[0], values[1], values[2]


def _check_plain_http(base_url: str, *, allowed: bool) -> None:
    """Refuse plain http to a host that is not loopback, naming the flag that allows it."""
    parts = urllib.parse.urlsplit(base_url.strip())
    if parts.scheme != "http" or allowed:
        return
    try:
        check_base_url(base_url, allow_insecure_http=True)
    except ConfigurationError:
        return  # not a usable URL at all: the client says why
    try:
        check_base_url(base_url, allow_insecure_http=False)  # loopback http is fine
    except ConfigurationError:
        pass
    else:
        return
    raise UsageError(
        f"refusing plain http to {parts.hostname}: the subscription key and the token would "
        "travel in clear; use https, or --allow-insecure-http for a test rig you control"
    )


@contextlib.contextmanager
def _signals_installed(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM handlers for the block (see :func:`_install_signals`)."""
    installed = _install_signals(stop)
    try:
        yield
    finally:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
        _signals.hold()  # the loop's handlers are gone: record again until the command ends


def _install_signals(stop: asyncio.Event) -> list[signal.Signals]:
    """First SIGINT/SIGTERM: stop after the calls in flight; the second: abort now."""
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    installed: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():
            print(
                f"\n{sig.name}: stopping after the calls in flight "
                "(the checkpoint keeps every resident; send it again to abort at once)",
                file=sys.stderr,
            )
            stop.set()
        elif main_task is not None:
            main_task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
    early = _signals.received()  # a signal before the loop took over: stop at once
    if early is not None:
        on_signal(early)
    return installed


def _cmd_generate(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        result = generate_portfolio(
            out,
            args.count,
            seed=args.seed,
            bad_rows=args.bad_rows,
            output_format=args.format,
            id_kind=args.ids,
        )
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    print(
        f"wrote {result.rows:,} residents ({result.bad_rows:,} malformed, "
        f"{result.doors:,} doors) to {result.path}"
    )
    return 0


def _cmd_migrate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if is_postgres_url(args.state):
        from .fleet import run_fleet_migrate  # needs the scale extra

        return run_fleet_migrate(args, argv, _tools())
    with metrics_endpoint(args.metrics_port) as meter_provider:
        return _migrate_file(args, argv, meter_provider)


def _migrate_file(
    args: argparse.Namespace, argv: Sequence[str], meter_provider: MeterProvider | None
) -> int:
    """``migrate`` with a state file (or a dry run); metrics through ``meter_provider``."""
    configure_logging(args.log_format, verbose=args.verbose)
    input_path = Path(args.input)
    check_input(input_path)  # InputError: exit 2
    input_format = detect_format(input_path, args.format)
    reading = parse_options(args)
    options = migration_options(args)
    rerun = rerun_command(argv)
    client: SchlageClient | None = None
    state_path: Path | None = None
    extra: dict[str, Any] = {"rerun": rerun}
    if not args.dry_run:
        base_url = args.base_url or os.environ.get("SCHLAGE_BASE_URL")
        if not base_url:
            raise UsageError("--base-url is required (or set SCHLAGE_BASE_URL)")
        _check_plain_http(base_url, allowed=args.allow_insecure_http)
        client = _client(args, base_url, meter_provider)
        # The state file is bound to the service and the account: one per pair by default.
        service = ServiceIdentity.of(client.base_url, client.username)
        state_path = Path(args.state) if args.state else default_state_path(input_path, service)
        extra["service"] = {"base_url": service.base_url, "username": service.username}
    # A dry run has no service, so no state file: its reports go beside the input.
    report_base = state_path or Path(f"{input_path}.state.sqlite")
    report_dir = (
        Path(args.report_dir)
        if args.report_dir
        else default_report_dir(report_base, dry_run=args.dry_run)
    )
    report_owner = (
        f"dry-run:{input_path.resolve()}" if args.dry_run else f"state:{report_base.resolve()}"
    )
    extra.update(
        {
            "state": None if state_path is None else str(state_path.resolve()),
            "report_owner": report_owner,
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    )
    common: dict[str, Any] = {
        "reports_dir": report_dir,
        "options": options,
        "parse_options": reading,
        "input_format": input_format,
        "progress": _progress_sink(args.progress),
        "report_extra": lambda summary: {**extra, "exit_code": exit_code_for(summary)},
    }

    async def check() -> MigrationSummary:
        stop = asyncio.Event()
        with _signals_installed(stop):
            return await dry_run(input_path, stop=stop, **common)

    async def provision(client: SchlageClient, state_path: Path) -> MigrationSummary:
        budget = await open_budget(args, client.base_url, client.username)
        if budget is not None:  # the account shared through Redis: its budget paces
            client = _client(args, client.base_url, meter_provider, budget=budget)
        try:
            return await _provision(client, state_path, budget)
        finally:
            if budget is not None:
                await budget.aclose()

    async def _provision(
        client: SchlageClient, state_path: Path, budget: AccountBudget | None
    ) -> MigrationSummary:
        stop = asyncio.Event()
        with _signals_installed(stop):  # first: a signal from here on stops resumably
            try:
                store = open_store(
                    state_path, synchronous="FULL" if args.sync == "full" else "NORMAL"
                )
                await store.open()
            except (StoreError, StateFileError) as exc:  # in use, or not our checkpoint
                raise UsageError(str(exc)) from None
            try:
                async with client:
                    return await run_migration(
                        client,
                        input_path,
                        store=store,
                        limiter=None if budget else limiter_for(args.rate, args.adaptive),
                        budget=budget,
                        weight=args.weight,
                        stop=stop,
                        restart=args.restart,  # emptied in place, under the store's lock
                        force=args.force,
                        meter_provider=meter_provider,
                        **common,
                    )
            finally:
                await store.aclose()

    try:
        if client is None or state_path is None:
            summary = asyncio.run(check())
        else:
            summary = asyncio.run(provision(client, state_path))
    except ReportError as exc:
        code = exit_code_for(exc.summary) if exc.summary is not None else EXIT_RESUMABLE
        print(
            f"schlage-bulk: error: {exc}; the checkpoint keeps every resident. Free the "
            f"space (or fix the folder), then rerun to write the reports:\n  {rerun}",
            file=sys.stderr,
        )
        return EXIT_USAGE if code == 0 else code
    except AccountBlockedError as exc:  # a rerun during a known block sends nothing
        now = dt.datetime.now(dt.UTC)
        print(block_message(KnownBlock(exc.resume_at, exc.detail), now, rerun), file=sys.stderr)
        return EXIT_RESUMABLE
    except (StateFileError, ReportFolderTakenError) as exc:
        raise UsageError(str(exc)) from None
    except InputMismatchError as exc:
        raise UsageError(
            f"{exc}; pass --restart to discard the state file and start over, "
            "or --state to use another file"
        ) from None
    except StoreError as exc:
        print(
            f"schlage-bulk: error: the checkpoint store failed ({exc}); every resident "
            f"written before it is kept. Fix it, then resume with:\n  {rerun_command(argv)}",
            file=sys.stderr,
        )
        return EXIT_RESUMABLE
    except OSError as exc:  # e.g. a report directory that cannot be made
        where = f" ({exc.filename})" if exc.filename else ""
        raise UsageError(f"{exc.strerror or exc}{where}") from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(
            f"aborted; the checkpoint keeps every resident. Resume with:\n  {rerun_command(argv)}",
            file=sys.stderr,
        )
        return EXIT_RESUMABLE
    print(format_summary(summary, report_paths(report_dir)))
    if summary.status is MigrationStatus.DRY_RUN:
        print(f"Dry run: {summary.unprocessed:,} resident(s) would be provisioned.")
        print(
            f"Dry-run reports are in {report_dir}/ "
            "(a real run reports beside its state file, which is per service, and is left "
            "as it was)."
        )
    elif exit_code_for(summary) != 0:
        print(format_stop(summary, rerun_command(argv)), file=sys.stderr)
    return exit_code_for(summary)


def _client(
    args: argparse.Namespace,
    base_url: str,
    meter_provider: MeterProvider | None = None,
    budget: AccountBudget | None = None,
) -> SchlageClient:
    """The client of a live run, for ``base_url`` and the account's secrets."""
    username, password, key = _read_secrets(os.environ)
    try:
        # No retry policy to choose: the engine passes its own on every call.
        return SchlageClient(
            base_url=base_url,
            username=username,
            password=password,
            subscription_key=key,
            connector_limit=max(args.concurrency, 10),
            allow_insecure_http=args.allow_insecure_http,
            # The reader refuses every row the service would refuse, with the same checks
            # (schlage_async._validation), before a worker sees it: checking each row
            # again per call would only cost CPU.
            validate=False,
            meter_provider=meter_provider,
            budget=budget,
            lane=None,  # the engine paces its calls (through the budget's lane, if shared)
            send_lane_header=getattr(args, "send_lane_header", False),
        )
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


def _cmd_demo(args: argparse.Namespace) -> int:
    configure_logging(args.log_format, verbose=args.verbose)
    from schlage_async.simulator import FaultSpec, FaultSpecError  # only for the demo

    from .demo import run_demo

    try:
        faults = FaultSpec.parse(args.faults)
    except FaultSpecError as exc:
        raise UsageError(str(exc)) from None
    workdir = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="schlage-bulk-demo-"))
    code: int = asyncio.run(
        run_demo(
            workdir,
            count=args.count,
            rate=args.rate,
            faults=faults,
            seed=args.seed,
            bad_rows=args.bad_rows,
            concurrency=args.concurrency,
            progress=_progress_sink(args.progress),
        )
    )
    return code


def _tools() -> CliTools:
    """What the sync and fleet commands borrow from this module."""
    return CliTools(
        read_secrets=lambda: _read_secrets(os.environ),
        limiter=limiter_for,
        install_signals=_install_signals,
        progress_sink=_progress_sink,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m bulk``; return the exit code (0, 2, 75, or 130: see the README)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # From here on a signal is recorded, and a migration stops at once when it begins
    # (its reports say where everything is, exit 75); a prompt is interrupted by one.
    _signals.hold()
    try:
        return _main(args_list)
    finally:
        _signals.release()


def _main(args_list: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command in ("generate", "demo"):  # quick, or not resumable: no grace
        early = _signals.received()
        _signals.release()
        if early is not None:
            print(f"{early.name}: stopped before starting; nothing was done.", file=sys.stderr)
            return EXIT_RESUMABLE
    try:
        if args.command == "generate":
            return _cmd_generate(args)
        if args.command == "migrate":
            return _cmd_migrate(args, args_list)
        if args.command in SYNC_COMMANDS:
            return run_sync_command(args, args_list, _tools())
        if args.command in ("work", "report"):
            from .fleet import run_report, run_work  # needs the scale extra

            if args.command == "work":
                return run_work(args, args_list, _tools())
            return run_report(args)
        return _cmd_demo(args)
    except (UsageError, InputError) as exc:
        print(f"schlage-bulk: error: {mask_numbers(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except PromptCancelledError:
        print("\ncancelled at the prompt; nothing was sent", file=sys.stderr)
        return EXIT_CANCELLED
