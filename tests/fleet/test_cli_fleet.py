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


def test_a_shared_redis_that_does_not_answer_is_one_line_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``migrate --shared`` (a file state sharing the account): no Redis, exit 2, one line."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "p.jsonl"
    path.write_text("", encoding="utf-8")
    code = main(
        ["migrate", str(path), "--base-url", "http://127.0.0.1:1/x",
         "--shared", "redis://user:s3cret@127.0.0.1:1/0"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "does not answer" in err
    assert "s3cret" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_shared_account_cannot_be_unlimited(
    postgres_url: str, state_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """``--shared`` with ``--rate 0``: an account shared with others needs its rate (or
    none, to find it together): one line, exit 2."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    code = main(
        ["work", "--state", state_url, "--base-url", "http://127.0.0.1:1/x",
         "--shared", "redis://127.0.0.1:6379/0", "--rate", "0"]
    )  # fmt: skip
    assert code == 2
    assert "--shared with --rate 0" in capsys.readouterr().err


def test_a_weight_without_a_shared_account_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--weight`` shares a lane: without ``--shared`` there is none; one line, exit 2."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "p.jsonl"
    path.write_text("", encoding="utf-8")
    code = main(["migrate", str(path), "--base-url", "http://127.0.0.1:1/x", "--weight", "3"])
    assert code == 2
    assert "--weight shares a lane" in capsys.readouterr().err


@pytest.mark.parametrize("weight", ["0", "-1", "nan", "inf", "1001", "three"])
def test_a_bad_weight_is_one_line(
    weight: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--weight`` takes a finite number above 0, at most 1,000: else argparse's line."""
    path = tmp_path / "p.jsonl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["migrate", str(path), "--weight", weight])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--weight" in err
    assert "Traceback" not in err


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
