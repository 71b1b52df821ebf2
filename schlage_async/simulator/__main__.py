"""``python -m schlage_async.simulator``: serve the simulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._accounts import DEFAULT_ACCOUNTS, Accounts, AccountsFileError, load_accounts
from ._config import (
    DEFAULT_MAX_CARD_NUMBERS,
    DEFAULT_PAGE_SIZE_MAX,
    SimulatorConfig,
    parse_max_card_number,
)
from ._control import CONTROL_ENDPOINTS
from ._faults import FaultSpec, FaultSpecError
from ._handle import run_simulator

__all__ = ["main"]

_PROG = "schlage-simulator"


def _epilog() -> str:
    lines = ["default accounts (replace them with --accounts FILE):"]
    lines.append(f"  subscription key: {sorted(DEFAULT_ACCOUNTS.subscription_keys)[0]}")
    for integration in DEFAULT_ACCOUNTS.integrations.values():
        extra = (
            f", 48X facility code {integration.restricted_facility_code}"
            f" issue code {integration.restricted_issue_code}"
            if integration.restricted is not None
            else ""
        )
        state = "onboarded" if integration.onboarded else "not onboarded"
        lines.append(f"  integration {integration.id}: {state}{extra}")
    for account in DEFAULT_ACCOUNTS.accounts.values():
        lines.append(
            f"  {account.username} / {account.password} / {account.role} / "
            f"{account.status} / {account.integration}"
        )
    lines += [
        "",
        "fault spec: comma-separated key=value, e.g. 500=0.05,503=0.01,reset_after=0.01",
        "  shares (0..1, summing to <= 1): 500 fail 502 503 reset_before reset_after slow",
        "  truncate html storm; slow_seconds=S (default 5); block_after=N (0 = off);",
        "  block_seconds=S (default 900). Faults hit the login and credential operations only.",
        "",
        "simulator-only endpoints (no key or token needed: this is a test server):",
    ]
    lines += [f"  {method:4} {path}: {purpose}" for method, path, purpose in CONTROL_ENDPOINTS]
    lines += ["", "Surface A is served under /{env}/smc-api (e.g. /test/smc-api), B under /engage."]
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> _Parser:
    parser = _Parser(
        prog=_PROG,
        description="Serve a simulator of Allegion's API-Only service and ENGAGE Cloud API.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (8080; 0 = a free port)")
    parser.add_argument("--accounts", metavar="FILE", help="JSON accounts file")
    parser.add_argument(
        "--rate-limit",
        metavar="R",
        type=float,
        default=0.0,
        help="credential operations per second per integration (0 = no limit)",
    )
    parser.add_argument(
        "--burst",
        metavar="N",
        type=float,
        default=None,
        help="requests the rate limit's bucket lets through at once (default: R, one second)",
    )
    parser.add_argument("--faults", metavar="SPEC", default="", help="fault spec (see below)")
    parser.add_argument("--seed", metavar="N", type=int, default=0, help="seed of fault draws")
    parser.add_argument(
        "--max-card-number",
        metavar="FORMAT=N",
        action="append",
        default=[],
        help="highest card number for FORMAT, repeatable (defaults: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_MAX_CARD_NUMBERS.items())
        + ")",
    )
    parser.add_argument(
        "--page-size-max",
        metavar="N",
        type=int,
        default=DEFAULT_PAGE_SIZE_MAX,
        help=f"largest page size of Get All Credentials ({DEFAULT_PAGE_SIZE_MAX})",
    )
    parser.add_argument(
        "--wording",
        choices=("live", "guide"),
        default="live",
        help="error messages as the live service words them (default) or as the guide does",
    )
    parser.add_argument(
        "--vary",
        metavar="SEED",
        type=int,
        default=None,
        help="variance mode: every answer picks, seeded, among the forms the guide leaves "
        "open (wording, error body shape, 400/401 for an expired token, extra fields, "
        "attribute key case, numbers as strings)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request (slower)")
    return parser


def _config(parser: _Parser, args: argparse.Namespace) -> SimulatorConfig:
    """Turn parsed options into a config; any bad value ends in one line and exit 2."""
    try:
        accounts: Accounts = load_accounts(args.accounts) if args.accounts else DEFAULT_ACCOUNTS
        faults = FaultSpec.parse(args.faults)
        maxima = dict(parse_max_card_number(text) for text in args.max_card_number)
    except (AccountsFileError, FaultSpecError, ValueError) as exc:
        parser.error(str(exc))
    if args.rate_limit < 0 or args.rate_limit != args.rate_limit:
        parser.error("--rate-limit must be a number >= 0")
    if args.burst is not None and not args.burst >= 1:
        parser.error("--burst must be a number >= 1")
    if args.page_size_max < 1:
        parser.error("--page-size-max must be >= 1")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    return SimulatorConfig(
        accounts=accounts,
        rate_limit=args.rate_limit,
        burst=args.burst,
        faults=faults,
        seed=args.seed,
        max_card_numbers={**DEFAULT_MAX_CARD_NUMBERS, **maxima},
        page_size_max=args.page_size_max,
        access_log=args.access_log,
        wording=args.wording,
        vary=args.vary,
    )


async def _serve(config: SimulatorConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    async with run_simulator(config, host=host, port=port) as sim:
        # Everything loaded so far (the interpreter, aiohttp, the app) lives as long as
        # the process: out of the collector's sight, so that a full collection never
        # stalls the simulator for tens of milliseconds. Such a stall answers the calls
        # queued behind it at once, and the gateway bucket (read at answer time) would
        # refuse a burst the client never sent: an artefact of the instrument.
        gc.collect()
        gc.freeze()
        # The first line stays "listening on ROOT" (scripts read it); the next two give the
        # base URL of each surface, which is what a client's base_url must be.
        print(
            f"listening on {sim.url}\n"
            f"  API-Only base URL: {sim.api_base_url}  (any /{{env}}/smc-api works)\n"
            f"  ENGAGE base URL:   {sim.engage_base_url}",
            flush=True,
        )
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the options, serve until SIGINT/SIGTERM, exit 0 (2 on a bad option)."""
    parser = _parser()
    args = parser.parse_args(argv)
    config = _config(parser, args)
    if config.access_log:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        asyncio.run(_serve(config, args.host, args.port))
    except OSError as exc:  # e.g. the port is taken
        sys.exit(f"{_PROG}: error: cannot listen on {args.host}:{args.port}: {exc.strerror}")
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        pass


if __name__ == "__main__":
    main()
