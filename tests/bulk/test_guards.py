"""The one guarded path: every library entry and command refuses the same things the same way.

Each test here failed on main before the guards were shared (issue 18's defects 4, 5, 13,
14, 15, 17, 22 and 24): a client without an identity, reordered rows resumed as complete,
a line given twice, two runs on one store object, a dry run over a library run's reports,
a known block ignored by a library call, limits that differed between commands.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

import bulk
from bulk import (
    AccountBlockedError,
    BulkError,
    InputError,
    InputMismatchError,
    LeaseLostError,
    MemoryCheckpointStore,
    MigrationOptions,
    MigrationOptionsError,
    MigrationStatus,
    PlanError,
    RejectedRow,
    ReportFolderTakenError,
    ServiceIdentity,
    StateInUseError,
    dry_run,
    read_input,
    run_migration,
)
from bulk._guards import check_fraction, check_options, check_rate
from bulk.cli.main import main

from .conftest import FakeService


class _Anonymous:
    """A client of one's own that does not say which service it talks to."""

    def __init__(self, inner: FakeService) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("base_url", "username"):
            raise AttributeError(name)
        return getattr(self._inner, name)


async def test_a_client_without_an_identity_is_refused_unless_one_is_given(
    service: FakeService, make_resident: Any
) -> None:
    """A checkpoint bound to "nobody" would resume against any service: refused, or named."""
    client = _Anonymous(service)
    store = MemoryCheckpointStore()
    with pytest.raises(MigrationOptionsError, match="service"):
        await run_migration(client, [make_resident(1)], store=store, input_id="x")
    assert sum(service.calls.values()) == 0
    named = ServiceIdentity.of("https://one.example/smc-api", "ops@example.com")
    summary = await run_migration(
        client, [make_resident(1)], store=store, input_id="x", service=named
    )
    assert summary.status is MigrationStatus.COMPLETED
    other = ServiceIdentity.of("https://two.example/smc-api", "ops@example.com")
    with pytest.raises(InputMismatchError):
        await run_migration(client, [make_resident(1)], store=store, input_id="x", service=other)


async def test_reordered_rows_under_the_same_input_id_are_refused(
    service: FakeService, make_resident: Any
) -> None:
    """Rows that moved between lines are not "already done": the resume is refused."""
    store = MemoryCheckpointStore()
    a, b = make_resident(1), make_resident(2)
    await run_migration(service, [a, b], store=store, input_id="export-1")
    moved_a = bulk.Resident(**{**_fields(a), "line": 2})
    moved_b = bulk.Resident(**{**_fields(b), "line": 1})
    with pytest.raises(InputMismatchError) as refused:
        await run_migration(service, [moved_b, moved_a], store=store, input_id="export-1")
    assert refused.value.lines == (1,)
    assert service.calls["create"] == 2  # nothing created twice


async def test_raw_lines_that_changed_under_the_same_input_id_are_refused(
    service: FakeService, make_resident: Any
) -> None:
    """Raw JSON Lines are compared by their digest too."""
    store = MemoryCheckpointStore()
    lines = [_jsonl(make_resident(1)), _jsonl(make_resident(2))]
    first = await run_migration(service, lines, store=store, input_id="raw")
    assert first.succeeded == 2
    with pytest.raises(InputMismatchError):
        await run_migration(service, list(reversed(lines)), store=store, input_id="raw")
    again = await run_migration(service, lines, store=store, input_id="raw")
    assert again.status is MigrationStatus.COMPLETED
    assert service.calls["create"] == 2


async def test_a_fixed_rejected_row_is_read_as_new_work(
    service: FakeService, make_resident: Any
) -> None:
    """A rejected row never reached the service: fixed at the same line, it is provisioned."""
    store = MemoryCheckpointStore()
    first = await run_migration(
        service,
        [make_resident(1), RejectedRow(line=2, reason="bad number")],
        store=store,
        input_id="fix",
    )
    assert (first.succeeded, first.failed) == (1, 1)
    again = await run_migration(
        service, [make_resident(1), make_resident(2)], store=store, input_id="fix"
    )
    assert again.status is MigrationStatus.COMPLETED
    assert len(service.credentials) == 2


async def test_a_line_given_twice_is_refused(service: FakeService, make_resident: Any) -> None:
    """Two parsed rows with one line number would share one report line: refused."""
    twin = bulk.Resident(**{**_fields(make_resident(2)), "line": 1})
    with pytest.raises(InputError, match="line 1 is given twice"):
        await run_migration(
            service, [make_resident(1), twin], store=MemoryCheckpointStore(), input_id="dup"
        )


async def test_two_runs_on_one_store_object_are_refused(
    service: FakeService, make_resident: Any
) -> None:
    """The second concurrent run on the same open store fails before sending anything."""
    store = MemoryCheckpointStore()
    rows = [make_resident(n) for n in range(1, 21)]
    service.hold = asyncio.Event()
    first = asyncio.create_task(run_migration(service, rows, store=store, input_id="a"))
    while not service.calls:  # noqa: ASYNC110  # until the first run holds the store
        await asyncio.sleep(0)
    with pytest.raises(StateInUseError):
        await run_migration(service, rows, store=store, input_id="a")
    service.hold.set()
    summary = await first
    assert summary.succeeded == 20
    assert service.calls["create"] == 20


async def test_a_dry_run_never_overwrites_a_library_runs_reports(
    service: FakeService, make_resident: Any, tmp_path: Path
) -> None:
    """A library run writes its reports' owner; a dry run into that folder is refused."""
    source = tmp_path / "residents.jsonl"
    source.write_text("".join(_jsonl(make_resident(n)) + "\n" for n in (1, 2)), "utf-8")
    reports = tmp_path / "reports"
    await run_migration(service, source, store=tmp_path / "s.sqlite", reports_dir=reports)
    owner = json.loads((reports / "summary.json").read_text("utf-8"))["report_owner"]
    assert owner == f"state:{(tmp_path / 's.sqlite').resolve()}"
    before = (reports / "succeeded.csv").read_bytes()
    with pytest.raises(ReportFolderTakenError):
        await dry_run(source, reports_dir=reports)
    with pytest.raises(ReportFolderTakenError):
        await run_migration(service, source, store=tmp_path / "other.sqlite", reports_dir=reports)
    assert (reports / "succeeded.csv").read_bytes() == before


async def test_a_library_run_honours_a_known_block(
    service: FakeService, make_resident: Any
) -> None:
    """A store that remembers a block still in force: nothing sent, unless forced."""
    store = MemoryCheckpointStore()
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
    await store.set_meta("account_block", json.dumps({"resume_at": until.isoformat()}))
    with pytest.raises(AccountBlockedError) as blocked:
        await run_migration(service, [make_resident(1)], store=store, input_id="b")
    assert blocked.value.resume_at.replace(microsecond=0) == until.replace(microsecond=0)
    assert sum(service.calls.values()) == 0
    summary = await run_migration(
        service, [make_resident(1)], store=store, input_id="b", force=True
    )
    assert summary.succeeded == 1


@pytest.mark.parametrize(
    "options",
    [
        MigrationOptions(concurrency=0),
        MigrationOptions(concurrency=5000),
        MigrationOptions(patience=math.nan),
        MigrationOptions(patience=-1),
        MigrationOptions(unreachable_after=0),
        MigrationOptions(unreachable_after=math.inf),
        MigrationOptions(max_consecutive_429=0),
    ],
    ids=["no-workers", "too-many", "nan-patience", "negative", "zero", "inf", "no-429"],
)
async def test_options_outside_the_limits_are_refused_before_anything_is_sent(
    options: MigrationOptions, service: FakeService, make_resident: Any
) -> None:
    """One set of limits for the library: refused with MigrationOptionsError, no call made."""
    with pytest.raises(MigrationOptionsError):
        check_options(options)
    with pytest.raises(MigrationOptionsError):
        await run_migration(
            service, [make_resident(1)], store=MemoryCheckpointStore(), input_id="o",
            options=options,
        )  # fmt: skip
    assert sum(service.calls.values()) == 0


@pytest.mark.parametrize("value", [math.nan, -1.0, 1.5, math.inf], ids=str)
def test_a_fraction_is_between_zero_and_one(value: float) -> None:
    """``max_delete_fraction``: nan, negatives and more than the whole are refused."""
    with pytest.raises(MigrationOptionsError):
        check_fraction("max_delete_fraction", value)


@pytest.mark.parametrize("value", [math.nan, -1.0, math.inf], ids=str)
def test_a_rate_is_finite_and_not_negative(value: float) -> None:
    """A rate of inf or nan would divide by zero or never pace."""
    with pytest.raises(MigrationOptionsError):
        check_rate(value)


_COMMANDS = {
    "migrate": ["migrate", "in.jsonl"],
    "work": ["work", "--state", "postgresql://localhost/x"],
    "apply": ["apply", "plan.jsonl"],
    "chase": ["chase"],
    "decommission": ["decommission", "--serial", "SN1"],
}


@pytest.mark.parametrize("command", sorted(_COMMANDS))
@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--rate", "inf"),
        ("--rate", "nan"),
        ("--rate", "-1"),
        ("--concurrency", "5000"),
        ("--concurrency", "0"),
        ("--patience", "nan"),
        ("--unreachable-after", "0"),
        ("--max-consecutive-429", "0"),
    ],
)
def test_every_command_refuses_the_same_values(
    command: str, flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same limits on every command that sends: exit 2 and a line naming the flag."""
    with pytest.raises(SystemExit) as stopped:
        main([*_COMMANDS[command], flag, value])
    assert stopped.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "-1", "1.5", "inf"])
def test_apply_refuses_a_delete_fraction_outside_zero_to_one(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--max-delete-fraction nan`` no longer passes the rail."""
    with pytest.raises(SystemExit) as stopped:
        main(["apply", "plan.jsonl", "--max-delete-fraction", value])
    assert stopped.value.code == 2
    assert "--max-delete-fraction" in capsys.readouterr().err


async def test_the_memory_store_is_an_async_context_manager() -> None:
    """``async with MemoryCheckpointStore()`` works like the other stores."""
    async with MemoryCheckpointStore() as store:
        await store.set_meta("k", "v")
        assert await store.get_meta("k") == "v"


def test_read_input_takes_a_string_path(tmp_path: Path, make_resident: Any) -> None:
    """``bulk.read_input("x.jsonl")``: a str is a path like any other."""
    source = tmp_path / "x.jsonl"
    source.write_text(_jsonl(make_resident(1)) + "\n", "utf-8")
    rows = list(read_input(str(source)))
    assert [row.line for row in rows] == [1]


@pytest.mark.parametrize(
    "error", [PlanError, bulk.PhoneNumberError, ReportFolderTakenError, LeaseLostError]
)
def test_every_error_of_bulk_is_a_bulk_error(error: type[Exception]) -> None:
    """One base class: a caller catches the engine's own errors with ``BulkError``."""
    assert issubclass(error, BulkError)


def test_no_bulk_module_imports_a_private_module_of_the_client() -> None:
    """``bulk`` uses ``schlage_async``'s public surface only."""
    package = Path(bulk.__file__).parent
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(
            r"^\s*(from|import) schlage_async(\.[a-z]\w*)*\._", path.read_text("utf-8"), re.M
        )
    ]
    assert offenders == []


def _fields(resident: bulk.Resident) -> dict[str, Any]:
    return {name: getattr(resident, name) for name in resident.__slots__}  # type: ignore[attr-defined]


def _jsonl(resident: bulk.Resident) -> str:
    return json.dumps(
        {
            "userId": resident.user_id,
            "mobileNumber": resident.mobile_number,
            "cardFormat": resident.card_format,
            "facilityCode": resident.facility_code,
            "issueCode": resident.issue_code,
        }
    )
