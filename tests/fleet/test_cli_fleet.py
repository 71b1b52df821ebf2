"""The fleet's command line: usage errors are one line and exit 2; reports from any store."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from bulk import ResidentRecord, ResidentState, SQLiteCheckpointStore
from bulk.cli.main import main

ENV = {
    "SCHLAGE_USERNAME": "admin@sim.example",
    "SCHLAGE_PASSWORD": "sim-admin-password",
    "SCHLAGE_SUBSCRIPTION_KEY": "sim-subscription-key",
}


def test_work_needs_a_postgres_state(capsys: pytest.CaptureFixture[str]) -> None:
    """``work`` with a file state says it needs PostgreSQL, exit 2."""
    assert main(["work", "--state", "run.sqlite", "--base-url", "http://127.0.0.1:1"]) == 2
    assert "work needs --state postgresql://" in capsys.readouterr().err


def test_shared_without_a_postgres_state_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``migrate --shared`` with an SQLite state is a usage error, nothing sent."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "p.jsonl"
    path.write_text("", encoding="utf-8")
    code = main(
        ["migrate", str(path), "--base-url", "http://127.0.0.1:1/x", "--shared", "redis://x"]
    )
    assert code == 2
    assert "--shared is for a fleet" in capsys.readouterr().err


def test_shared_needs_the_fleets_rate(
    postgres_url: str, state_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Without ``--rate`` a fleet cannot share a rate: one line, exit 2."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    code = main(
        ["work", "--state", state_url, "--base-url", "http://127.0.0.1:1/x",
         "--shared", "redis://127.0.0.1:6379/0"]
    )  # fmt: skip
    assert code == 2
    assert "--shared needs --rate R" in capsys.readouterr().err


def test_report_regenerates_the_reports_of_an_sqlite_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report --state FILE`` writes every row into exactly one report file."""

    async def fill() -> None:
        async with SQLiteCheckpointStore(tmp_path / "s.sqlite") as store:
            await store.write(ResidentRecord(line=1, state=ResidentState.DONE, user_id="u1",
                                             credential_id="c1"))  # fmt: skip
            await store.write(
                ResidentRecord(line=2, state=ResidentState.FAILED, user_id="u2", reason="bad")
            )
            await store.write(ResidentRecord(line=3, state=ResidentState.PENDING, user_id="u3"))

    asyncio.run(fill())
    out = tmp_path / "r"
    assert main(["report", "--state", str(tmp_path / "s.sqlite"), "--report-dir", str(out)]) == 0
    rows = {
        name: list(csv.DictReader((out / name).read_text(encoding="utf-8").splitlines()))
        for name in ("succeeded.csv", "failed.csv", "unprocessed.csv")
    }
    assert [r["line"] for r in rows["succeeded.csv"]] == ["1"]
    assert [r["line"] for r in rows["failed.csv"]] == ["2"]
    assert [r["line"] for r in rows["unprocessed.csv"]] == ["3"]
    assert "1 succeeded, 1 failed, 0 deferred, 1 open, of 3 rows" in capsys.readouterr().out


def test_report_of_a_missing_state_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state file that is not there: one line, exit 2."""
    code = main(["report", "--state", str(tmp_path / "no.sqlite"), "--report-dir", "r"])
    assert code == 2
    assert "no state file" in capsys.readouterr().err


def test_the_rerun_command_never_shows_a_url_password() -> None:
    """Passwords in --state / --shared URLs are masked in the printed rerun command."""
    from bulk.cli._common import rerun_command as _rerun_command

    shown = _rerun_command(
        ["work", "--state", "postgresql://bob:s3cret@db/test?schema=x",
         "--shared", "redis://:p4ss@r:6379/0", "--restart"]
    )  # fmt: skip
    assert "s3cret" not in shown
    assert "p4ss" not in shown
    assert "--restart" not in shown
    assert "postgresql://bob:***@db/test?schema=x" in shown
