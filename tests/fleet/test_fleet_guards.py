"""The fleet's commands go through the same guards as ``migrate`` on one machine.

Each test failed on main before the fleet became ``run_migration`` on a PostgreSQL store
(issue 18's defects 1, 9, 10, 11, 12, 16, 18, 19, 21 and 24): two inputs racing on one
schema, a block ignored by a rerun, a report that created a schema or covered only the
recorded rows, reports overwritten, a Redis error after rows were claimed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bulk import (
    PostgresCheckpointStore,
    ResidentRecord,
    ResidentState,
    ServiceIdentity,
    SQLiteCheckpointStore,
    bind_input,
    generate_portfolio,
    read_input,
    run_migration,
    verify_against_state,
)
from bulk.cli.main import main
from schlage_async import SchlageClient

ENV = {
    "SCHLAGE_USERNAME": "admin@sim.example",
    "SCHLAGE_PASSWORD": "sim-admin-password",
    "SCHLAGE_SUBSCRIPTION_KEY": "sim-subscription-key",
}


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's administrator in the SCHLAGE_* variables."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def _schema(state_url: str) -> str:
    return state_url.rsplit("schema=", 1)[1]


def _schema_exists(postgres_url: str, schema: str) -> bool:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchone()
    return row is not None


def _requests(sim: Any) -> int:
    counters = sim.get("/_sim/state")["counters"]["requests"]
    return sum(sum(by_status.values()) for by_status in counters.values())


@pytest.mark.slow
def test_two_inputs_racing_on_one_fresh_schema_cannot_both_win(
    simulator_process: Any, state_url: str, tmp_path: Path
) -> None:
    """The second input is refused (exit 2), and only the first one's residents exist."""
    sim = simulator_process()
    a = generate_portfolio(tmp_path / "a" / "residents.jsonl", 30, seed=1).path
    b = generate_portfolio(tmp_path / "b" / "residents.jsonl", 30, seed=2).path
    env = {**os.environ, **ENV}
    procs = [
        subprocess.Popen(  # noqa: S603  # our interpreter, our module
            [
                sys.executable,
                "-m",
                "bulk",
                "migrate",
                str(path),
                "--base-url",
                sim.api_base_url,
                "--state",
                state_url,
                "--rate",
                "0",
                "--progress",
                "none",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (a, b)
    ]
    outcomes = [
        (proc.wait(timeout=240), proc.stderr.read() if proc.stderr else "") for proc in procs
    ]
    for proc in procs:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    winner = a if outcomes[0][0] == 0 else b
    loser_err = outcomes[1][1] if outcomes[0][0] == 0 else outcomes[0][1]
    assert "changed" in loser_err or "belongs" in loser_err, loser_err
    verification = verify_against_state(read_input(winner), sim.get("/_sim/state"))
    assert verification.ok, str(verification)


@pytest.mark.slow
def test_a_fleet_rerun_during_a_known_block_sends_nothing(
    simulator_process: Any, state_url: str, tmp_path: Path, account: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The run remembers the block in PostgreSQL: every worker then waits, no request."""
    sim = simulator_process()
    path = generate_portfolio(tmp_path / "p.jsonl", 5, seed=3).path
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20)
    with psycopg.connect(state_url.split("?")[0], autocommit=True) as conn:
        schema = _schema(state_url)
        ident = psycopg.sql.Identifier(schema)
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(ident))
        conn.execute(
            psycopg.sql.SQL(
                "CREATE TABLE {}.meta (key text PRIMARY KEY, value text NOT NULL)"
            ).format(ident)
        )
        conn.execute(
            psycopg.sql.SQL("INSERT INTO {}.meta VALUES ('account_block', %s)").format(ident),
            (json.dumps({"resume_at": until.isoformat()}),),
        )
    for command in (
        ["migrate", str(path), "--state", state_url],
        ["work", "--state", state_url],
    ):
        code = main([*command, "--base-url", sim.api_base_url, "--rate", "0", "--progress", "none"])
        assert code == 75
        assert "Nothing was sent" in capsys.readouterr().err
    assert _requests(sim) == 0


def test_a_report_of_a_schema_that_does_not_exist_is_an_error(
    postgres_url: str, state_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in ``?schema=`` says so (exit 2) and creates nothing."""
    assert main(["report", "--state", state_url, "--report-dir", str(tmp_path / "r")]) == 2
    assert "no run is kept" in capsys.readouterr().err
    assert not _schema_exists(postgres_url, _schema(state_url))
    assert not (tmp_path / "r").exists()


def test_a_report_of_a_file_that_is_not_a_checkpoint_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line and exit 2, not a resumable stop with a rerun command."""
    other = tmp_path / "notes.txt"
    other.write_text("hello\n", encoding="utf-8")
    assert main(["report", "--state", str(other), "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "error" in err
    assert "Resume" not in err
    assert "rerun" not in err
    assert other.read_text(encoding="utf-8") == "hello\n"


def test_a_report_after_a_stop_puts_every_line_in_one_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lines a stop left unread (no record) are listed unprocessed, from the run's input."""
    path = generate_portfolio(tmp_path / "p.jsonl", 12, seed=4).path
    state = tmp_path / "p.state.sqlite"

    async def stopped_early() -> None:
        async with SQLiteCheckpointStore(state) as store:
            service = ServiceIdentity.of("https://x.example/smc-api", "ops@example.com")
            await bind_input(store, path, service=service)
            await store.write_durable(ResidentRecord(line=1, state=ResidentState.DONE))
            await store.write_durable(
                ResidentRecord(line=2, state=ResidentState.FAILED, reason="bad")
            )

    import asyncio

    asyncio.run(stopped_early())
    reports = tmp_path / "reports"
    assert main(["report", "--state", str(state), "--report-dir", str(reports)]) == 0
    lines: list[int] = []
    for name in ("succeeded.csv", "failed.csv", "unprocessed.csv"):
        with (reports / name).open(encoding="utf-8") as handle:
            lines.extend(int(row["line"]) for row in csv.DictReader(handle))
    assert sorted(lines) == list(range(1, 13))
    assert "of 12 rows" in capsys.readouterr().out


def test_a_report_never_overwrites_another_runs_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report --report-dir`` checks the folder's owner like every other command."""
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "summary.json").write_text(
        json.dumps({"report_owner": "state:/elsewhere/other.state.sqlite"}), encoding="utf-8"
    )

    async def make() -> None:
        async with SQLiteCheckpointStore(tmp_path / "s.sqlite"):
            pass

    import asyncio

    asyncio.run(make())
    code = main(["report", "--state", str(tmp_path / "s.sqlite"), "--report-dir", str(reports)])
    assert code == 2
    assert "holds the reports of" in capsys.readouterr().err
    assert "other.state.sqlite" in (reports / "summary.json").read_text(encoding="utf-8")


@pytest.mark.slow
def test_two_sites_with_the_same_input_name_keep_their_own_reports(
    simulator_process: Any, postgres_url: str, tmp_path: Path, account: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Each site's run reports beside its own input: nothing of one lands in the other's."""
    sim = simulator_process()
    schemas = []
    try:
        for site, seed in (("site-a", 11), ("site-b", 12)):
            path = generate_portfolio(tmp_path / site / "residents.jsonl", 6, seed=seed).path
            schema = f"fleet_site_{site[-1]}_{os.getpid()}"
            schemas.append(schema)
            state = f"{postgres_url}?schema={schema}"
            code = main(
                ["migrate", str(path), "--state", state, "--base-url", sim.api_base_url,
                 "--rate", "0", "--progress", "none"]
            )  # fmt: skip
            assert code == 0, capsys.readouterr().err
        reports = sorted(tmp_path.glob("site-*/residents.jsonl.*.reports/succeeded.csv"))
        assert len(reports) == 2
        ids = [set(reports[i].read_text("utf-8").splitlines()[1:]) for i in (0, 1)]
        assert ids[0]
        assert ids[1]
        assert not ids[0] & ids[1]
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]


def test_a_shared_redis_that_answers_with_an_error_is_one_line(
    simulator_process: Any, postgres_url: str, state_url: str, redis_url: str,
    tmp_path: Path, account: None, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A Redis db index out of range: exit 2, one line, nothing claimed (no schema made)."""
    sim = simulator_process()
    path = generate_portfolio(tmp_path / "p.jsonl", 5, seed=5).path
    bad = redis_url.rsplit("/", 1)[0] + "/99999"
    code = main(
        ["migrate", str(path), "--state", state_url, "--base-url", sim.api_base_url,
         "--shared", bad, "--rate", "10", "--progress", "none"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "does not answer as Redis" in err
    assert "Traceback" not in err
    assert not _schema_exists(postgres_url, _schema(state_url))
    assert _requests(sim) == 0


def test_work_on_an_empty_schema_says_so_without_a_redis_warning(
    simulator_process: Any, state_url: str, redis_url: str, account: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Nothing to join: one line, exit 2, and no spurious "lost Redis"."""
    sim = simulator_process()
    code = main(
        ["work", "--state", state_url, "--base-url", sim.api_base_url, "--shared", redis_url,
         "--rate", "10", "--progress", "none"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "holds no run yet" in err
    assert "lost" not in err.lower()
    assert _requests(sim) == 0


@pytest.mark.slow
def test_the_fleet_migrate_honours_unreachable_after(
    state_url: str, tmp_path: Path, account: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A service that never answers stops the fleet's run after ``--unreachable-after``."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connections are refused
    path = generate_portfolio(tmp_path / "p.jsonl", 3, seed=6).path
    started = time.monotonic()
    code = main(
        ["migrate", str(path), "--state", state_url, "--base-url", f"http://127.0.0.1:{port}/x",
         "--unreachable-after", "1", "--rate", "0", "--progress", "none"]
    )  # fmt: skip
    assert code == 75
    assert "unreachable" in capsys.readouterr().err
    assert time.monotonic() - started < 45  # the default (60 s) was not used


async def test_run_migration_works_a_postgres_store_alone(
    simulator: Any, state_url: str, tmp_path: Path
) -> None:
    """The library call with a PostgreSQL store loads, claims and finishes: no lost lease."""
    path = generate_portfolio(tmp_path / "p.jsonl", 25, seed=8, bad_rows=2).path
    async with SchlageClient(
        base_url=simulator.api_base_url,
        username=ENV["SCHLAGE_USERNAME"],
        password=ENV["SCHLAGE_PASSWORD"],
        subscription_key=ENV["SCHLAGE_SUBSCRIPTION_KEY"],
    ) as client:
        async with PostgresCheckpointStore(state_url) as store:
            summary = await run_migration(client, path, store=store)
        again = await run_migration(client, path, store=state_url)
    assert summary.status.value == "completed", summary
    assert (summary.succeeded, summary.failed) == (23, 2)
    assert again.status.value == "completed"
    assert again.succeeded_this_run == 0
    assert verify_against_state(read_input(path), simulator.state.snapshot()).ok


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--encoding", "no-such-codec", "is not a text encoding"),
        ("--region", "ZZ", "is not a region code"),
    ],
    ids=["encoding", "region"],
)
def test_the_fleet_migrate_reads_rows_with_the_same_checks_as_migrate(
    simulator_process: Any, postgres_url: str, state_url: str, tmp_path: Path, account: None,
    capsys: pytest.CaptureFixture[str], flag: str, value: str, words: str,
) -> None:  # fmt: skip
    """A bad --encoding or --region: exit 2 and one line, as the single-machine migrate
    says it (the fleet's copy of the check once let a bad encoding end in a traceback);
    nothing claimed, nothing sent."""
    sim = simulator_process()
    path = generate_portfolio(tmp_path / "p.jsonl", 5, seed=5).path
    code = main(
        ["migrate", str(path), "--state", state_url, "--base-url", sim.api_base_url,
         flag, value, "--rate", "10", "--progress", "none"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert words in err
    assert "Traceback" not in err
    assert not _schema_exists(postgres_url, _schema(state_url))
    assert _requests(sim) == 0
