"""The engine's invariant, checked on generated inputs with injected defects (issue 9).

Every physical line of the input that holds a row is in exactly one report; every line
reported succeeded has its credential (its user id, its mobile number, its doors) on the
service that run talked to; an exit 0 means every row reached a final state there.

Hypothesis draws a portfolio (JSON Lines or CSV, some rows malformed on purpose), breaks
some lines (a stray quote, odd digits in a numeric cell, any Unicode, blank lines), runs
``python -m bulk migrate`` on the first part, edits the file between runs (rows appended;
a rejected row fixed, or a done row changed, which must be refused without a call), runs
again, then runs the same command against a second service. After every run the
invariant is checked against that run's simulator.
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulk import Resident, ServiceIdentity, generate_portfolio, read_input
from bulk._binding import default_state_path
from bulk._input import CSV_COLUMNS, iter_row_numbers
from bulk._reports import default_report_dir
from bulk.cli.main import main

from .conftest import SIM_KEY, SIM_PASSWORD, SIM_USERNAME

DEFECTS = ("quote", "digits", "unicode", "blank", "none")
_TEXT = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
"""Any Unicode but NUL (a NUL makes the whole file binary, refused as such) and lone
surrogates (not text)."""


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _inject(line: str, defect: str, fmt: str, text: str) -> list[str]:
    """``line`` with ``defect`` applied (a blank line is inserted before it)."""
    if defect == "quote":
        at = len(line) // 2
        return [line[:at] + '"' + line[at:]]
    if defect == "digits":
        if fmt == "csv":
            cells = line.split(",")
            at = CSV_COLUMNS.index("facilityCode")
            if len(cells) > at:
                cells[at] = "²" + text[:3]
            return [",".join(cells)]
        try:
            row = json.loads(line)
        except ValueError:  # a row malformed on purpose already
            return [line]
        row["facilityCode"] = "¹²" + text[:3]
        return [json.dumps(row, ensure_ascii=False)]
    if defect == "unicode":
        cleaned = text.replace("\n", " ").replace("\r", " ")
        return [line + cleaned] if fmt == "csv" else [line[:-1] + cleaned + "}"]
    if defect == "blank":
        return ["", line]
    return [line]


def _run(sim: Any, path: Path) -> int:
    return main(
        ["migrate", str(path), "--base-url", sim.handle.api_base_url, "--rate", "0",
         "--progress", "none", "--concurrency", "4"]
    )  # fmt: skip


def _check(sim: Any, path: Path, fmt: str, code: int, folder: Path | None = None) -> None:
    """The invariant for the run that just ended against ``sim`` with exit ``code``."""
    if folder is None:
        state = default_state_path(path, ServiceIdentity.of(sim.handle.api_base_url, SIM_USERNAME))
        folder = default_report_dir(state)
    reported: list[int] = []
    by_state: dict[str, list[dict[str, str]]] = {}
    for name in ("succeeded", "failed", "unprocessed"):
        rows = _csv(folder / f"{name}.csv")
        by_state[name] = rows
        reported += [int(r["line"]) for r in rows]
    physical = list(iter_row_numbers(path, fmt))  # type: ignore[arg-type]
    assert sorted(reported) == physical, "every row line in exactly one report"
    snapshot = sim.call(lambda: sim.handle.state.snapshot())
    active = {str(c["userId"]).lower(): c for c in snapshot["credentials"] if not c.get("deleted")}
    residents = {r.line: r for r in read_input(path, input_format=fmt) if isinstance(r, Resident)}  # type: ignore[arg-type]
    for row in by_state["succeeded"]:
        resident = residents[int(row["line"])]
        credential = active.get(resident.user_id.lower())
        assert credential is not None, f"line {row['line']} succeeded without a credential"
        assert credential["mobileNumber"] == resident.mobile_number
        assert credential["credentialId"] == row["credential_id"]
    if code == 0:
        assert by_state["unprocessed"] == []
        assert all(r["retryable"] == "false" for r in by_state["failed"])


@pytest.mark.usefixtures("sim_env")
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_line_in_one_report_and_every_success_on_that_service(
    data: st.DataObject,
    threaded_simulator: Any,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Generated inputs, injected defects, edits between runs, a second service: it holds."""
    folder = tmp_path_factory.mktemp("inv")
    fmt = data.draw(st.sampled_from(["jsonl", "csv"]), label="format")
    count = data.draw(st.integers(6, 24), label="rows")
    seed = data.draw(st.integers(0, 10_000), label="seed")
    bad = data.draw(st.integers(0, 2), label="bad rows")
    source = generate_portfolio(folder / f"source.{fmt}", count, seed=seed, bad_rows=bad).path
    lines = source.read_text(encoding="utf-8").splitlines()
    header, body = (lines[:1], lines[1:]) if fmt == "csv" else ([], lines)
    out: list[str] = []
    for line in body:
        defect = data.draw(st.sampled_from(DEFECTS), label="defect")
        text = data.draw(st.text(_TEXT, min_size=1, max_size=6), label="text")
        out += _inject(line, defect, fmt, text)
    cut = data.draw(st.integers(1, len(out)), label="first run's rows")
    path = folder / f"residents.{fmt}"
    sim_a, sim_b = threaded_simulator(), threaded_simulator()

    # Run 1 on the first part; run 2 after rows were appended.
    path.write_text("\n".join(header + out[:cut]) + "\n", encoding="utf-8")
    code = _run(sim_a, path)
    assert code in (0, 75), capsys.readouterr().err
    _check(sim_a, path, fmt, code)
    path.write_text("\n".join(header + out) + "\n", encoding="utf-8")
    code = _run(sim_a, path)
    assert code in (0, 75), capsys.readouterr().err
    _check(sim_a, path, fmt, code)

    # An edit between runs: a done row changed is refused (nothing sent); put back, it runs.
    state = default_state_path(path, ServiceIdentity.of(sim_a.handle.api_base_url, SIM_USERNAME))
    succeeded = _csv(default_report_dir(state) / "succeeded.csv")
    if succeeded and data.draw(st.booleans(), label="edit a done row"):
        target = int(data.draw(st.sampled_from(succeeded), label="row")["line"])
        edited = (header + out)[:]
        edited[target - 1] += " "  # one more byte: another row to the checkpoint
        path.write_text("\n".join(edited) + "\n", encoding="utf-8")
        before = sim_a.call(lambda: sim_a.handle.state.snapshot()["counters"])
        assert _run(sim_a, path) == 2
        assert f"{target}" in capsys.readouterr().err
        assert sim_a.call(lambda: sim_a.handle.state.snapshot()["counters"]) == before
        path.write_text("\n".join(header + out) + "\n", encoding="utf-8")
    code = _run(sim_a, path)
    assert code == 0, capsys.readouterr().err
    _check(sim_a, path, fmt, code)

    # The same command against a second service: its own state, everyone provisioned there.
    code = _run(sim_b, path)
    assert code == 0, capsys.readouterr().err
    _check(sim_b, path, fmt, code)
    capsys.readouterr()


# --- the same invariant through the fleet (PostgreSQL) and the library over rows ----------


@pytest.fixture
def postgres_url() -> str:
    """The test PostgreSQL (``SCHLAGE_TEST_POSTGRES_URL``); must answer in CI."""
    import psycopg

    url = os.environ.get("SCHLAGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL does not answer at {url}", pytrace=False)
        pytest.skip("PostgreSQL does not answer: set SCHLAGE_TEST_POSTGRES_URL")
    return url


def _portfolio(data: st.DataObject, folder: Path) -> tuple[str, list[str], list[str]]:
    fmt = data.draw(st.sampled_from(["jsonl", "csv"]), label="format")
    count = data.draw(st.integers(6, 20), label="rows")
    seed = data.draw(st.integers(0, 10_000), label="seed")
    bad = data.draw(st.integers(0, 2), label="bad rows")
    source = generate_portfolio(folder / f"source.{fmt}", count, seed=seed, bad_rows=bad).path
    lines = source.read_text(encoding="utf-8").splitlines()
    header, body = (lines[:1], lines[1:]) if fmt == "csv" else ([], lines)
    out: list[str] = []
    for line in body:
        defect = data.draw(st.sampled_from(DEFECTS), label="defect")
        text = data.draw(st.text(_TEXT, min_size=1, max_size=6), label="text")
        out += _inject(line, defect, fmt, text)
    return fmt, header, out


@pytest.mark.slow
@pytest.mark.usefixtures("sim_env")
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_fleet_path_holds_the_invariant(
    data: st.DataObject,
    threaded_simulator: Any,
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``migrate --state postgresql://``: appended rows, an edited done row refused, a
    second service on its own schema; every line in one report, every success there."""
    import psycopg

    folder = tmp_path_factory.mktemp("fleet-inv")
    fmt, header, out = _portfolio(data, folder)
    cut = data.draw(st.integers(1, len(out)), label="first run's rows")
    path = folder / f"residents.{fmt}"
    schemas = [f"inv_{uuid.uuid4().hex[:10]}", f"inv_{uuid.uuid4().hex[:10]}"]
    sims = [threaded_simulator(), threaded_simulator()]
    reports = [folder / "reports-a", folder / "reports-b"]

    def run(which: int) -> int:
        return main(
            ["migrate", str(path), "--base-url", sims[which].handle.api_base_url, "--rate", "0",
             "--progress", "none", "--concurrency", "4", "--lease", "5",
             "--state", f"{postgres_url}?schema={schemas[which]}",
             "--report-dir", str(reports[which])]
        )  # fmt: skip

    try:
        path.write_text("\n".join(header + out[:cut]) + "\n", encoding="utf-8")
        code = run(0)
        assert code in (0, 75), capsys.readouterr().err
        _check(sims[0], path, fmt, code, reports[0])
        path.write_text("\n".join(header + out) + "\n", encoding="utf-8")
        code = run(0)
        assert code == 0, capsys.readouterr().err
        _check(sims[0], path, fmt, code, reports[0])
        succeeded = _csv(reports[0] / "succeeded.csv")
        if succeeded and data.draw(st.booleans(), label="edit a done row"):
            target = int(data.draw(st.sampled_from(succeeded), label="row")["line"])
            edited = (header + out)[:]
            edited[target - 1] += " "
            path.write_text("\n".join(edited) + "\n", encoding="utf-8")
            before = sims[0].call(lambda: sims[0].handle.state.snapshot()["counters"])
            assert run(0) == 2
            assert sims[0].call(lambda: sims[0].handle.state.snapshot()["counters"]) == before
            path.write_text("\n".join(header + out) + "\n", encoding="utf-8")
        code = run(1)
        assert code == 0, capsys.readouterr().err
        _check(sims[1], path, fmt, code, reports[1])
        capsys.readouterr()
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(
                    psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        psycopg.sql.Identifier(schema)
                    )
                )


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_run_migration_over_rows_holds_the_invariant(
    data: st.DataObject,
    threaded_simulator: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Rows handed over as an iterable: every row in one report, every success on the
    service; the same rows reordered under the same input id are refused, nothing sent."""
    import asyncio

    from bulk import InputMismatchError, MemoryCheckpointStore, run_migration
    from bulk._resident import ParsedRow
    from schlage_async import SchlageClient

    folder = tmp_path_factory.mktemp("rows-inv")
    fmt, header, out = _portfolio(data, folder)
    path = folder / f"residents.{fmt}"
    path.write_text("\n".join(header + out) + "\n", encoding="utf-8")
    rows: list[ParsedRow] = list(read_input(path, input_format=fmt))  # type: ignore[arg-type]
    sim = threaded_simulator()
    store = MemoryCheckpointStore()
    reports = folder / "reports"

    async def run(given: list[ParsedRow]) -> Any:
        async with SchlageClient(
            base_url=sim.handle.api_base_url,
            username=SIM_USERNAME,
            password=SIM_PASSWORD,
            subscription_key=SIM_KEY,
        ) as client:
            return await run_migration(
                client, given, store=store, input_id="export", reports_dir=reports
            )

    summary = asyncio.run(run(rows))
    reported: list[int] = []
    for name in ("succeeded", "failed", "unprocessed"):
        reported += [int(r["line"]) for r in _csv(reports / f"{name}.csv")]
    assert sorted(reported) == sorted(r.line for r in rows)
    snapshot = sim.call(lambda: sim.handle.state.snapshot())
    active = {str(c["userId"]).lower() for c in snapshot["credentials"] if not c.get("deleted")}
    by_line = {r.line: r for r in rows}
    for row in _csv(reports / "succeeded.csv"):
        assert by_line[int(row["line"])].user_id.lower() in active  # type: ignore[union-attr]
    assert summary.unprocessed == 0
    residents = [r for r in rows if isinstance(r, Resident)]
    if len(residents) >= 2 and data.draw(st.booleans(), label="reorder"):
        first, second = residents[0], residents[1]
        swapped = [
            replace(first, line=second.line, row_hash=None) if r is second
            else replace(second, line=first.line, row_hash=None) if r is first
            else r
            for r in rows
        ]  # fmt: skip
        before = sim.call(lambda: sim.handle.state.snapshot()["counters"])
        with pytest.raises(InputMismatchError):
            asyncio.run(run(swapped))
        assert sim.call(lambda: sim.handle.state.snapshot()["counters"]) == before
