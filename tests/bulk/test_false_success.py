"""Nothing reported that did not happen (issue 9, items 2, 3, 7, 8, 11): one test per item."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulk import (
    InputError,
    MemoryCheckpointStore,
    MigrationOptions,
    MigrationStatus,
    MigrationSummary,
    RejectedRow,
    Resident,
    ServiceIdentity,
    StopReason,
    generate_portfolio,
    migrate,
    read_input,
    verify_against_state,
    write_reports,
)
from bulk._binding import default_state_path
from bulk._input import CSV_COLUMNS, Deduplicator, iter_csv, parse_jsonl_line, parse_resident
from bulk._masking import mask_numbers
from bulk._phones import normalize_mobile
from bulk._reports import ReportError
from bulk.cli.exits import exit_code_for
from bulk.cli.main import main
from schlage_async import ConnectionFailedError, RetryPolicy, SchlageClient, SlidingWindowLimiter

UID = "3f1c6d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5f"
FULL_NUMBER = re.compile(r"\+?1?[2-9]\d{2}[ .-]?\d{3}[ .-]?\d{4}")
CSV_HEADER = ",".join(CSV_COLUMNS)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _migrate(base_url: str, path: Path, *extra: str) -> int:
    return main(
        ["migrate", str(path), "--base-url", base_url, "--rate", "0", "--progress", "none", *extra]
    )


def _report_dir(base_url: str, path: Path, username: str) -> Path:
    state = default_state_path(path, ServiceIdentity.of(base_url, username))
    return state.with_name(state.name.removesuffix(".state.sqlite") + ".reports")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- item 2: a stray quote ---------------------------------------------------------------


@pytest.mark.usefixtures("sim_env")
def test_a_stray_quote_costs_its_own_line_and_nothing_after(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``"Oak Terrace`` never closed on line 11: that line fails, all others are provisioned."""
    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.csv", 60, seed=2).path
    lines = path.read_text().splitlines()
    cells = lines[10].split(",")
    cells[CSV_COLUMNS.index("siteName")] = '"Oak Terrace'
    lines[10] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    assert _migrate(sim.handle.api_base_url, path) == 0
    err = capsys.readouterr().err
    reports = _report_dir(sim.handle.api_base_url, path, "admin@sim.example")
    failed = _csv(reports / "failed.csv")
    assert [r["line"] for r in failed] == ["11"]
    assert "a quote opened and never closed" in failed[0]["reason"]
    assert len(_csv(reports / "succeeded.csv")) == 59
    state = sim.call(lambda: sim.handle.state.snapshot())
    assert len(state["credentials"]) == 59
    names = [str((c.get("attributes") or {}).get("siteName", "")) for c in state["credentials"]]
    assert not any("," in name or "+1" in name for name in names)  # no row swallowed
    verification = verify_against_state(read_input(path), state)
    assert verification.ok, str(verification)
    assert not FULL_NUMBER.search((reports / "failed.csv").read_text() + err)


def test_a_swallowed_row_never_leaks_its_number_through_the_user_id() -> None:
    """A user id cell holding another row's text is masked and cut in the rejected row."""
    text = json.dumps({"userId": "x,+15551234567,26A,Elm Court", "mobileNumber": "+15559876543"})
    row = parse_jsonl_line(text, 4)
    assert isinstance(row, RejectedRow)
    assert row.user_id is not None
    assert "5551234567" not in row.user_id
    assert "4567" in row.user_id


# --- item 3: an account problem --------------------------------------------------------


@pytest.mark.parametrize("suffix", ["\r", " "], ids=["cr", "space"])
def test_an_account_problem_stops_with_exit_2_and_leaves_every_resident(
    threaded_simulator: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
) -> None:
    """A user name the client refuses: exit 2, nobody failed; the right name then does all."""
    from tests.bulk.conftest import SIM_KEY, SIM_PASSWORD, SIM_USERNAME

    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 25, seed=3).path
    monkeypatch.setenv("SCHLAGE_PASSWORD", SIM_PASSWORD)
    monkeypatch.setenv("SCHLAGE_SUBSCRIPTION_KEY", SIM_KEY)
    monkeypatch.setenv("SCHLAGE_USERNAME", SIM_USERNAME + suffix)
    state = tmp_path / "s.sqlite"
    assert _migrate(sim.handle.api_base_url, path, "--state", str(state)) == 2
    err = capsys.readouterr().err
    assert "refused the account" in err
    summary = json.loads((tmp_path / "s.reports" / "summary.json").read_text())
    assert summary["stop_reason"] == "access_refused"
    assert summary["counts"]["failed"] == 0
    assert summary["counts"]["succeeded"] == 0
    assert summary["counts"]["unprocessed"] == 25
    assert sim.call(lambda: sim.handle.state.snapshot())["credentials"] == []
    # The state file is bound to the user name: the corrected one gets its own by default.
    monkeypatch.setenv("SCHLAGE_USERNAME", SIM_USERNAME)
    assert _migrate(sim.handle.api_base_url, path) == 0
    assert len(sim.call(lambda: sim.handle.state.snapshot())["credentials"]) == 25


# --- item 7: any text in a cell --------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("facilityCode", "²"),
        ("facilityCode", "¹²"),
        ("issueCode", "9" * 5000),
        ("facilityCode", "١٢"),
        ("issueCode", "1_000"),
    ],
    ids=["superscript", "superscripts", "5000-digits", "arabic-indic", "underscore"],
)
def test_an_odd_numeric_cell_is_a_rejected_row_not_a_crash(field: str, value: str) -> None:
    """``int()`` never stops a run: the row is refused with the service's message."""
    row = parse_resident(
        {"userId": UID, "mobileNumber": "+15551234567", "cardFormat": "26A", field: value}, 7
    )
    assert isinstance(row, RejectedRow | Resident)
    if isinstance(row, Resident):  # only a real number may pass, and then as a number
        assert isinstance(
            getattr(row, "facility_code" if field == "facilityCode" else "issue_code"), int
        )


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_unicode_line_of_json_lines_parses_or_is_rejected(text: str) -> None:
    """Arbitrary Unicode as a JSON Lines line: a row, a rejected row or blank, never raises."""
    row = parse_jsonl_line(text, 1)
    assert row is None or isinstance(row, Resident | RejectedRow)


_CELL = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(categories=("Nd", "No", "Nl")), max_size=12),
    st.sampled_from(["", "12", "26A", UID, "+15551234567", '"', '"x', 'a"b', "1:SN:" + "A" * 96]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_CELL, min_size=0, max_size=len(CSV_COLUMNS) + 2))
def test_any_unicode_csv_line_parses_or_is_rejected(cells: list[str]) -> None:
    """Arbitrary cells (quotes, odd digits, any script) on a CSV line never raise."""
    line = ",".join(cells)
    for row in iter_csv([CSV_HEADER + "\n", line + "\n"]):
        assert isinstance(row, Resident | RejectedRow)
        assert row.line == 2


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["userId", "externalId", "mobileNumber", "cardFormat", "facilityCode",
                         "issueCode", "attributes", "doors", "USERID"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
            max_leaves=6,
        ),
    )
)  # fmt: skip
def test_any_json_fields_parse_or_are_rejected(fields: dict[str, object]) -> None:
    """Whatever a JSON row's fields hold, the answer is a row, never an exception."""
    assert isinstance(parse_resident(fields, 3), Resident | RejectedRow)


# --- item 8: an unreachable service ---------------------------------------------------


async def test_a_login_that_never_reached_the_service_spends_no_budget() -> None:
    """Connection refused on every login: ConnectionFailedError each time, the budget intact."""
    limiter = SlidingWindowLimiter(limit=2)
    async with SchlageClient(
        base_url=f"http://127.0.0.1:{_closed_port()}/api",
        username="ops@example.com",
        password="pw",
        subscription_key="key",
        login_limiter=limiter,
        allow_insecure_http=True,
        retry=RetryPolicy.none(),
    ) as client:
        for _ in range(5):
            with pytest.raises(ConnectionFailedError) as caught:
                await client.get_credential_by_user(user_id=UID)
            assert caught.value.sent is False
    assert limiter.remaining() == 2


async def _rows(n: int) -> AsyncIterator[Resident]:
    for line in range(1, n + 1):
        yield Resident(
            line=line, user_id=str(__import__("uuid").UUID(int=line, version=4)),
            mobile_number=f"+1555{line:07d}", card_format="26A", facility_code=1,
        )  # fmt: skip


@pytest.mark.parametrize("kind", ["refused", "silent"])
async def test_an_unreachable_service_stops_the_run_saying_so(kind: str) -> None:
    """Closed port or a host that never answers: stopped, "unreachable", the URL; no 429."""
    holding: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        holding.append(writer)  # accept, read nothing, answer nothing

    server = await asyncio.start_server(hold, "127.0.0.1", 0) if kind == "silent" else None
    port = server.sockets[0].getsockname()[1] if server is not None else _closed_port()
    url = f"http://127.0.0.1:{port}/api"
    try:
        async with SchlageClient(
            base_url=url, username="ops@example.com", password="pw", subscription_key="key",
            allow_insecure_http=True, timeout=0.3, retry=RetryPolicy.none(),
        ) as client:  # fmt: skip
            summary = await migrate(
                client,
                _rows(50),
                MemoryCheckpointStore(),
                options=MigrationOptions(
                    concurrency=4, unreachable_after=1.0, retry_base_delay=0.05, total_rows=50
                ),
            )
    finally:
        for writer in holding:
            writer.close()
        if server is not None:
            server.close()
            await server.wait_closed()
    assert summary.status is MigrationStatus.STOPPED
    assert summary.stop_reason is StopReason.UNREACHABLE
    assert summary.stop_detail is not None
    assert "unreachable" in summary.stop_detail
    assert url in summary.stop_detail
    assert summary.rate_limited == 0
    assert summary.pauses == 0
    assert summary.succeeded == summary.failed == 0
    assert exit_code_for(summary) == 75


def test_the_command_exits_75_saying_unreachable_with_the_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--unreachable-after 1`` against a closed port: exit 75, the URL, reports for all."""
    for name in ("SCHLAGE_USERNAME", "SCHLAGE_PASSWORD", "SCHLAGE_SUBSCRIPTION_KEY"):
        monkeypatch.setenv(name, "ops@example.com" if name.endswith("USERNAME") else "x-secret")
    path = generate_portfolio(tmp_path / "p.jsonl", 30, seed=4).path
    url = f"http://127.0.0.1:{_closed_port()}/api"
    code = _migrate(url, path, "--unreachable-after", "1", "--allow-insecure-http")
    assert code == 75
    err = capsys.readouterr().err
    assert "unreachable" in err
    assert url in err
    reports = _report_dir(url, path, "ops@example.com")
    lines = [r["line"] for name in ("succeeded", "failed", "unprocessed")
             for r in _csv(reports / f"{name}.csv")]  # fmt: skip
    assert sorted(lines, key=int) == [str(n) for n in range(1, 31)]


# --- item 11: the smaller ones --------------------------------------------------------


def test_a_csv_header_error_masks_a_number_it_echoes() -> None:
    """A data row where the header should be: the message masks its mobile number."""
    with pytest.raises(InputError) as caught:
        list(iter_csv([f"{UID},(555) 123-4567,26A\n"]))
    assert "123-4567" not in str(caught.value)
    assert "4567" in str(caught.value)


def test_anything_that_looks_like_a_number_is_masked_but_ids_and_times_stay() -> None:
    """Numbers in any text are masked; UUIDs, timestamps and addresses stay readable."""
    assert mask_numbers("call 555-123-4567 or +1 555 987 6543") == (
        "call ***-***-4567 or +1 *** *** 6543"
    )
    for kept in (UID, "2026-11-29T17:08:00+00:00", "http://127.0.0.1:8080/x", "line 1234"):
        assert mask_numbers(kept) == kept


def test_user_ids_that_differ_only_in_case_are_duplicates() -> None:
    """The service compares user ids without case: the second is refused before any call."""
    first = Resident(line=1, user_id=UID, mobile_number="+15551234567", card_format="26A")
    second = Resident(line=2, user_id=UID.upper(), mobile_number="+15559876543", card_format="26A")
    with Deduplicator() as dedup:
        assert dedup.check(first) is first
        refused = dedup.check(second)
    assert isinstance(refused, RejectedRow)
    assert "duplicate user id" in refused.reason


async def test_a_report_that_cannot_be_written_names_its_path_and_leaves_no_tmp(
    tmp_path: Path,
) -> None:
    """A report file that cannot be put in place: ReportError with the path, no .tmp left."""
    folder = tmp_path / "reports"
    (folder / "failed.csv").mkdir(parents=True)  # in the way of os.replace
    with pytest.raises(ReportError, match=re.escape(str(folder / "failed.csv"))):
        await write_reports(
            MemoryCheckpointStore(), folder, MigrationSummary(status=MigrationStatus.COMPLETED)
        )
    assert not list(folder.glob(".*.tmp"))


def test_an_incomplete_run_whose_reports_fail_still_exits_75(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports that cannot be written after a stop: exit 75 (resumable), the path named."""
    for name in ("SCHLAGE_USERNAME", "SCHLAGE_PASSWORD", "SCHLAGE_SUBSCRIPTION_KEY"):
        monkeypatch.setenv(name, "ops@example.com" if name.endswith("USERNAME") else "x-secret")
    path = generate_portfolio(tmp_path / "p.jsonl", 5, seed=4).path
    url = f"http://127.0.0.1:{_closed_port()}/api"
    folder = tmp_path / "r"
    (folder / "succeeded.csv").mkdir(parents=True)
    code = _migrate(
        url,
        path,
        "--unreachable-after",
        "0.5",
        "--allow-insecure-http",
        "--report-dir",
        str(folder),
    )
    assert code == 75
    err = capsys.readouterr().err
    assert str(folder / "succeeded.csv") in err
    assert not list(folder.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--namespace", " ", "must name the integration"),
        ("--rate", "inf", "finite"),
        ("--rate", "nan", "must be a finite number >= 0"),
        ("--rate", "-1", "must be a finite number >= 0"),
        ("--patience", "nan", "finite number of seconds >= 0"),
        ("--concurrency", "0", "at least 1"),
        ("--concurrency", "100000000", "at most 1,024"),
        ("--unreachable-after", "0", "seconds > 0"),
    ],
)
def test_impossible_settings_are_usage_errors(
    flag: str, value: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A blank namespace, an infinite rate, a huge concurrency: exit 2 with a reason."""
    path = generate_portfolio(tmp_path / "p.jsonl", 2, seed=1).path
    with pytest.raises(SystemExit) as stopped:
        main(["migrate", str(path), "--dry-run", flag, value])
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err


def test_the_phone_examples_in_the_docstring_hold() -> None:
    """Every form ``normalize_mobile`` promises for US reads as +15551234567; 001 does not."""
    doc = normalize_mobile.__doc__ or ""
    promised = re.findall(r"``([^`]*\d{4})``", doc.split("(``011`` is")[0])
    assert "011 1 555 123 4567" in promised
    for text in promised:
        assert normalize_mobile(text, "US") == "+15551234567", text
    with pytest.raises(ValueError, match="impossible length"):
        normalize_mobile("001 555 123 4567", "US")
    assert normalize_mobile("001 555 123 4567", "GB") == "+15551234567"
