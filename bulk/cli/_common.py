"""What every command of ``python -m bulk`` shares: the run options and their one set of limits.

The limits are the library's (:mod:`bulk._guards`); here they become ``argparse`` types,
so every command refuses the same values with the same words. :func:`add_run_options`
gives every command that sends (migrate, work, apply, chase, decommission) the same
pacing and stopping flags; :func:`add_output_options` the same log and progress flags.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable, Sequence
from typing import Final, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import phonenumbers

from schlage_async import AccountBudget, ConfigurationError

from .._block import SUPPORT_ADVICE
from .._errors import MigrationOptionsError
from .._guards import MAX_CONCURRENCY, check_fraction, check_rate, check_seconds
from .._input import ParseOptions, check_encoding
from .._lanes import check_weight
from .._limiter import AdaptiveRateLimiter, FixedRateLimiter, RateLimiter, UnlimitedLimiter
from .._options import DEFAULT_CONCURRENCY, MigrationOptions
from .._summary import MigrationStatus, MigrationSummary, StopReason
from .._user_ids import DEFAULT_NAMESPACE, integration_namespace

__all__ = [
    "UsageError",
    "add_metrics_option",
    "add_output_options",
    "add_run_options",
    "concurrency_arg",
    "format_stop",
    "fraction_arg",
    "limiter_for",
    "migration_options",
    "non_negative_seconds_arg",
    "open_budget",
    "parse_options",
    "port_arg",
    "positive_int_arg",
    "rate_arg",
    "rerun_command",
    "seconds_arg",
    "shared_url",
    "weight_arg",
    "without_passwords",
]


class UsageError(Exception):
    """A problem the user must fix before running again (exit 2, one line on stderr)."""


_T = TypeVar("_T")


def _argument(check: Callable[[str], _T]) -> Callable[[str], _T]:
    """An argparse type from a library check: its refusal becomes argparse's one line."""

    def convert(text: str) -> _T:
        try:
            return check(text)
        except MigrationOptionsError as exc:
            raise argparse.ArgumentTypeError(str(exc).strip()) from None

    convert.__name__ = check.__name__.strip("_")  # argparse names it in "invalid X value"
    return convert


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise MigrationOptionsError(f"must be a number, not {text!r}") from None


def _whole(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise MigrationOptionsError(f"must be a whole number, not {text!r}") from None


def _positive_int(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise MigrationOptionsError(f"must be at least 1, not {value:,}")
    return value


def _concurrency(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_CONCURRENCY:
        raise MigrationOptionsError(f"must be at most {MAX_CONCURRENCY:,}, not {value:,}")
    return value


def _rate(text: str) -> float:
    rate = check_rate(_number(text), name="")
    assert rate is not None  # a number in, a number out
    return rate


def _seconds(text: str) -> float:
    return check_seconds("", _number(text))


def _non_negative_seconds(text: str) -> float:
    return check_seconds("", _number(text), zero=True)


def _fraction(text: str) -> float:
    return check_fraction("", _number(text))


positive_int_arg: Final = _argument(_positive_int)
"""A whole number >= 1."""
concurrency_arg: Final = _argument(_concurrency)
"""Workers: 1 to :data:`~bulk._guards.MAX_CONCURRENCY`."""
rate_arg: Final = _argument(_rate)
"""Requests per second: finite, >= 0 (0: no client-side limit)."""
seconds_arg: Final = _argument(_seconds)
"""A finite number of seconds > 0."""
non_negative_seconds_arg: Final = _argument(_non_negative_seconds)
"""A finite number of seconds >= 0."""
fraction_arg: Final = _argument(_fraction)
"""A share from 0 to 1."""


def _weight(text: str) -> float:
    return check_weight(_number(text), name="")


weight_arg: Final = _argument(_weight)
"""A job's weight in its lane: > 0, at most 1,000."""


def _port(text: str) -> int:
    value = _whole(text)
    if not 1 <= value <= 65535:
        raise MigrationOptionsError(f"must be a TCP port from 1 to 65535, not {value:,}")
    return value


port_arg: Final = _argument(_port)
"""A TCP port: 1 to 65535."""


def add_metrics_option(parser: argparse.ArgumentParser) -> None:
    """``--metrics-port N``: the run's metrics for Prometheus on 127.0.0.1:N (``metrics``)."""
    parser.add_argument(
        "--metrics-port",
        type=port_arg,
        metavar="PORT",
        help="serve the run's metrics in Prometheus's text format on 127.0.0.1:PORT/metrics "
        "while it runs (needs the metrics extra: pip install 'schlage-async[metrics]')",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The flags of every command that sends: pacing, workers, when to stop, ``--force``."""
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--rate",
        type=rate_arg,
        metavar="R",
        help="hold every call to R requests per second (0: no client-side limit)",
    )
    pace.add_argument(
        "--adaptive",
        action="store_true",
        help="find the rate (the default when neither is given): calls evenly spaced; "
        "double while calls succeed, then cut to 95 %% of the ceiling each 429 marks "
        "(the rate it met; below 100/s, 2.5 %% under it), climb back just below the "
        "ceiling and probe above it only after 45 s or more (90 s once it measured the limit)",
    )
    parser.add_argument(
        "--concurrency",
        type=concurrency_arg,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"residents in flight at once (default %(default)s), at most {MAX_CONCURRENCY:,}",
    )
    parser.add_argument(
        "--patience",
        type=non_negative_seconds_arg,
        default=900.0,
        metavar="SECONDS",
        help="stop resumably after this much 429 pausing in all (default 900)",
    )
    parser.add_argument(
        "--max-consecutive-429",
        type=positive_int_arg,
        default=50,
        metavar="N",
        help="stop resumably after N 429s in a row (default 50)",
    )
    parser.add_argument(
        "--unreachable-after",
        type=seconds_arg,
        default=60.0,
        metavar="SECONDS",
        help="stop resumably when the service has not answered for this long (default 60)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="send even though the last run was told the account is blocked until later",
    )
    parser.add_argument(
        "--shared",
        metavar="REDIS_URL",
        help="redis://host[:port][/db][?prefix=P]: share the account with every process on "
        "it (one token, login budget, rate and 429 pause; interactive calls first, then "
        "sync, then migrations); with --rate R, R is the account's, for all of them",
    )
    parser.add_argument(
        "--weight",
        type=weight_arg,
        default=1.0,
        metavar="N",
        help="with --shared: this job's share of its lane against the other jobs' weights "
        "(default 1; two migrations of weights 1 and 3 get a quarter and three quarters)",
    )
    parser.add_argument(
        "--send-lane-header",
        action="store_true",
        help="name each call's lane in an X-Schlage-Lane header (for the simulator's "
        "counts; a real service needs none)",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--log-format``, ``--progress`` and ``--verbose``."""
    parser.add_argument(
        "--log-format",
        choices=("console", "json"),
        default="console",
        help="log lines for a person, or JSON lines for a collector (default console)",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "bar", "log", "none"),
        default="auto",
        help="a live bar on a terminal, log lines otherwise (auto)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request too")


def migration_options(args: argparse.Namespace, *, dry_run: bool = False) -> MigrationOptions:
    """The engine's options from :func:`add_run_options`' flags."""
    return MigrationOptions(
        concurrency=args.concurrency,
        patience=args.patience,
        max_consecutive_429=args.max_consecutive_429,
        unreachable_after=args.unreachable_after,
        dry_run=dry_run,
    )


def limiter_for(rate: float | None, adaptive: bool) -> RateLimiter:
    """The limiter the flags ask for: adaptive unless a rate is given (0: none)."""
    if rate is None or adaptive:
        return AdaptiveRateLimiter()
    if rate == 0:
        return UnlimitedLimiter()
    return FixedRateLimiter(rate)


_URL_PASSWORD: Final = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^/@:\s]*:)[^/@\s]*@", re.IGNORECASE
)


def shared_url(url: str) -> tuple[str, str | None]:
    """``--shared``'s Redis URL without its ``?prefix=`` and the key prefix (None: default)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise UsageError(
            f"--shared must be a redis:// URL, not {without_passwords(parts.scheme or url)!r}"
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), None)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


async def open_budget(
    args: argparse.Namespace, base_url: str, username: str
) -> AccountBudget | None:
    """The account budget ``--shared`` names (None without it); refused in one line.

    The rate is ``--rate`` when given and not 0, else the budget finds it with every
    process on the URL. ``--weight`` without ``--shared`` is refused: there is no lane
    to share.
    """
    url = getattr(args, "shared", None)
    if not url:
        if getattr(args, "weight", 1.0) != 1.0:
            raise UsageError("--weight shares a lane of the account: give --shared REDIS_URL too")
        return None
    plain, prefix = shared_url(url)
    rate = None if getattr(args, "adaptive", False) else getattr(args, "rate", None)
    if rate == 0:
        raise UsageError(
            "--shared with --rate 0: an account shared with others needs its rate, or none "
            "(the processes then find it together)"
        )
    try:
        return await AccountBudget.connect(
            plain, base_url=base_url, username=username, rate=rate or None, prefix=prefix
        )
    except ConfigurationError as exc:
        raise UsageError(
            f"--shared {without_passwords(url)}: {exc}; nothing was claimed or sent"
        ) from None


def without_passwords(text: str) -> str:
    """``text`` with the password of any URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


def rerun_command(argv: Sequence[str]) -> str:
    """The command that resumes this run: the same arguments, never ``--restart``.

    A password written into a ``--state`` or ``--shared`` URL is shown as ``***``
    (better: give it in ``PGPASSWORD`` / a ``.pgpass`` file and Redis's ACL file).
    """
    kept = [without_passwords(a) for a in argv if a != "--restart"]
    return shlex.join(["python", "-m", "bulk", *kept])


def format_stop(summary: MigrationSummary, rerun: str) -> str:
    """What a run that did not finish says on stderr: why, and the command that resumes."""
    if summary.stop_reason is StopReason.ACCESS_REFUSED:
        return (
            f"Stopped: the service refused the account ({summary.stop_detail}).\n"
            "Fix SCHLAGE_USERNAME / SCHLAGE_PASSWORD / SCHLAGE_SUBSCRIPTION_KEY (or the "
            f"account's role), then rerun; the checkpoint keeps all progress:\n  {rerun}"
        )
    if summary.status is MigrationStatus.STOPPED:
        why = summary.stop_detail or (summary.stop_reason.value if summary.stop_reason else "")
        when = (
            f"after {summary.resume_at:%Y-%m-%d %H:%M:%S} UTC"
            if summary.resume_at is not None
            else "when ready"
        )
        text = f"Stopped resumably ({why}).\nResume {when} with:\n  {rerun}"
        if summary.stop_reason is StopReason.ACCOUNT_BLOCKED:
            text += f"\n{SUPPORT_ADVICE}"
        return text
    return (
        f"{summary.deferred:,} resident(s) deferred after retryable errors (see failed.csv, "
        f"retryable=true); rerun to retry them:\n  {rerun}"
    )


def parse_options(args: argparse.Namespace) -> ParseOptions:
    """How every command reads rows: ``--region``, ``--namespace`` and ``--encoding``.

    Raises :class:`UsageError` (exit 2, one line) for a region or an encoding Python does
    not know, the same for every command that reads an input.
    """
    if args.region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise UsageError(f"--region {args.region!r} is not a region code (e.g. US, CA, GB)")
    namespace = integration_namespace(args.namespace) if args.namespace else DEFAULT_NAMESPACE
    try:
        encoding = check_encoding(args.encoding)
    except ValueError as exc:
        raise UsageError(f"--encoding: {exc}") from None
    return ParseOptions(region=args.region, namespace=namespace, encoding=encoding)
