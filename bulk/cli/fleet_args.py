"""The fleet's command-line options: ``migrate --state postgresql://... --shared redis://...``,
``work`` and ``report``. Only argparse here, so ``python -m bulk`` starts without the
``scale`` extra installed; the commands themselves are in :mod:`bulk.cli.fleet`.
"""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

__all__ = ["add_fleet_commands", "add_fleet_options", "is_postgres_url"]

_STATE_HELP = "postgresql://[user@]host[:port]/db[?schema=NAME] (one schema per run)"
_SHARED_HELP = (
    "redis://host[:port][/db][?prefix=P]: one token, login budget, rate and 429 pause "
    "for every worker (needs --rate R: the fleet's rate)"
)


def is_postgres_url(text: str | None) -> bool:
    """Whether ``--state`` names a PostgreSQL database rather than a file."""
    return bool(text) and urlsplit(str(text)).scheme in ("postgres", "postgresql")


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_fleet_options(parser: argparse.ArgumentParser) -> None:
    """``--shared`` and ``--lease``: what ``migrate`` and ``work`` take for a fleet."""
    parser.add_argument("--shared", metavar="REDIS_URL", help=_SHARED_HELP)
    parser.add_argument(
        "--lease",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="with a PostgreSQL state: a dead worker's residents are taken over after "
        "this long (default 60; renewed every third of it)",
    )


def add_fleet_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``work`` and ``report``."""
    work = commands.add_parser(
        "work", help="join a run kept in PostgreSQL (started by migrate) from any machine"
    )
    work.add_argument("--state", required=True, metavar="POSTGRES_URL", help=_STATE_HELP)
    work.add_argument("--base-url", help="the service's base URL (default: $SCHLAGE_BASE_URL)")
    work.add_argument(
        "--rate",
        type=_non_negative_float,
        metavar="R",
        help="requests per second (the fleet's with --shared; 0: no client-side limit)",
    )
    work.add_argument(
        "--concurrency", type=_positive_int, default=16, help="residents in flight (default 16)"
    )
    work.add_argument(
        "--patience",
        type=_non_negative_float,
        default=900.0,
        metavar="SECONDS",
        help="stop resumably after this much 429 pausing in all (default 900)",
    )
    work.add_argument(
        "--max-consecutive-429",
        type=_positive_int,
        default=50,
        metavar="N",
        help="stop resumably after N 429s in a row (default 50)",
    )
    work.add_argument("--report-dir", help="also write the run's reports here at the end")
    add_fleet_options(work)
    _add_output(work)

    report = commands.add_parser(
        "report", help="write the reports of a run from its state (SQLite file or PostgreSQL)"
    )
    report.add_argument("--state", required=True, help="the state file or PostgreSQL URL")
    report.add_argument("--report-dir", required=True, help="where the reports go")


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=("console", "json"),
        default="console",
        help="log lines for people (console) or machines (json)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "bar", "log", "none"),
        default="auto",
        help="a live bar on a terminal, log lines otherwise (auto)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request too")
