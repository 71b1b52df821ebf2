"""The command line: generate, migrate (exit codes, resume, reports), errors a person can act on."""

from __future__ import annotations

import csv
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bulk import generate_portfolio, read_input, verify_against_state
from bulk.cli.main import main


def _migrate(sim: Any, path: Path, tmp_path: Path, *extra: str) -> int:
    return main(
        [
            "migrate",
            str(path),
            "--base-url",
            sim.handle.api_base_url,
            "--report-dir",
            str(tmp_path / "reports"),
            "--rate",
            "0",
            "--progress",
            "none",
            *extra,
        ]
    )


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_generate_writes_a_portfolio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``generate`` streams N residents to the file and says what it wrote."""
    out = tmp_path / "p.jsonl"
    assert main(["generate", "--count", "50", "--out", str(out), "--bad-rows", "3"]) == 0
    assert len(out.read_text().splitlines()) == 50
    assert "wrote 50 residents (3 malformed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.jsonl", "does not exist"),
        (lambda p: p, "is a directory"),
        (lambda p: (p / "b.jsonl", (p / "b.jsonl").write_bytes(b"\x89PNG\x00\x00"))[0], "binary"),
        (
            lambda p: (p / "h.csv", (p / "h.csv").write_text("name,phone\nx,y\n"))[0],
            "CSV header must name a mobileNumber column",
        ),
    ],
    ids=["missing", "directory", "binary", "csv-without-columns"],
)
def test_an_unreadable_input_exits_2_with_one_line(
    make: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is sent; stderr holds one line saying what is wrong."""
    path = make(tmp_path)
    code = main(["migrate", str(path), "--dry-run", "--progress", "none"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("schlage-bulk: error: ")
    assert message in err[-1]


def test_missing_secrets_without_a_terminal_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No prompt when stdin is not a terminal: a clear error naming the variables."""
    for name in ("SCHLAGE_USERNAME", "SCHLAGE_PASSWORD", "SCHLAGE_SUBSCRIPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = generate_portfolio(tmp_path / "p.jsonl", 3).path
    code = main(["migrate", str(path), "--base-url", "http://127.0.0.1:9/x"])
    assert code == 2
    assert "SCHLAGE_USERNAME is not set and stdin is not a terminal" in capsys.readouterr().err


def test_secrets_are_not_accepted_as_arguments() -> None:
    """There is no --password: secrets never sit in shell history or ps output."""
    with pytest.raises(SystemExit) as info:
        main(["migrate", "x.jsonl", "--password", "hunter2"])
    assert info.value.code == 2


def test_a_dry_run_reports_bad_rows_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No credentials needed; failed.csv lists the malformed rows with their lines."""
    path = generate_portfolio(tmp_path / "p.csv", 60, bad_rows=6).path
    reports = tmp_path / "reports"
    code = main(
        ["migrate", str(path), "--dry-run", "--report-dir", str(reports), "--progress", "none"]
    )
    assert code == 0
    failed = _csv(reports / "failed.csv")
    assert len(failed) == 6
    assert all(int(r["line"]) >= 2 and r["reason"] for r in failed)  # CSV: line 1 is the header
    assert {r["state"] for r in _csv(reports / "unprocessed.csv")} == {"pending"}
    assert "Dry run: 54 resident(s) would be provisioned." in capsys.readouterr().out
    assert not list(path.parent.glob("*.state.sqlite"))


@pytest.mark.usefixtures("sim_env")
def test_migrate_then_rerun_resumes_without_sending_again(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 0, reports written; the same command again skips everything (state file)."""
    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 120, seed=4, bad_rows=2).path
    assert _migrate(sim, path, tmp_path) == 0
    out = capsys.readouterr().out
    assert "Migration completed" in out
    assert len(list(tmp_path.glob("p.jsonl.127.0.0.1_*-*.state.sqlite"))) == 1  # per service
    assert len(_csv(tmp_path / "reports" / "succeeded.csv")) == 118
    requests_before = sim.call(lambda: sim.handle.state.snapshot()["counters"])
    assert _migrate(sim, path, tmp_path) == 0
    assert "120 skipped (done before)" in capsys.readouterr().out
    requests_after = sim.call(lambda: sim.handle.state.snapshot()["counters"])
    assert requests_after["requests"] == requests_before["requests"]  # nothing sent again
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["counts"]["succeeded"] == 118
    assert summary["status"] == "completed"


@pytest.mark.usefixtures("sim_env")
def test_a_state_file_of_another_input_is_refused_unless_restart(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resuming against changed rows is refused with their lines; --restart starts over."""
    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 10, seed=1).path
    assert _migrate(sim, path, tmp_path) == 0
    generate_portfolio(path, 12, seed=2)
    assert _migrate(sim, path, tmp_path) == 2
    err = capsys.readouterr().err
    assert "the input changed since the state file recorded it: line(s) 1, 2, 3" in err
    assert "--restart" in err
    assert _migrate(sim, path, tmp_path, "--restart") == 0


@pytest.mark.slow
@pytest.mark.usefixtures("sim_env")
def test_an_account_block_exits_75_and_a_rerun_after_it_completes(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Blocked mid-run: exit 75, when to resume and the command; after the block, exit 0."""
    from schlage_async.simulator import FaultSpec

    sim = threaded_simulator(faults=FaultSpec.parse("block_after=150,block_seconds=900"))
    path = generate_portfolio(tmp_path / "p.jsonl", 300, seed=9).path
    assert _migrate(sim, path, tmp_path) == 75
    err = capsys.readouterr().err
    assert "Stopped resumably (AccountBlockedError" in err
    assert " UTC with:" in err
    assert f"python -m bulk migrate {path}" in err
    unprocessed = _csv(tmp_path / "reports" / "unprocessed.csv")
    summary = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert summary["exit_code"] == 75
    assert summary["stop_reason"] == "account_blocked"
    assert summary["resume_at"] is not None
    assert len(unprocessed) + summary["counts"]["succeeded"] + summary["counts"]["deferred"] == 300

    request = urllib.request.Request(  # noqa: S310  # the loopback simulator
        sim.handle.url + "/_sim/clock",
        data=json.dumps({"advanceSeconds": 901}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # loopback
        assert answer.status == 200
    # The simulator's clock moved past the block, the wall clock did not: --force.
    assert _migrate(sim, path, tmp_path, "--force") == 0
    state = sim.call(lambda: sim.handle.state.snapshot())
    verification = verify_against_state(read_input(path), state)  # type: ignore[arg-type]
    assert verification.ok, str(verification)


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [
        (EOFError, 2, "no SCHLAGE_USERNAME given at the prompt; nothing was sent"),
        (KeyboardInterrupt, 130, "cancelled at the prompt; nothing was sent"),
    ],
    ids=["ctrl-d", "ctrl-c"],
)
def test_ctrl_d_and_ctrl_c_at_the_credential_prompt_have_documented_exits(
    raised: type[BaseException],
    code: int,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-D: exit 2 with one line; Ctrl-C: exit 130; never a traceback, nothing sent."""
    for name in ("SCHLAGE_USERNAME", "SCHLAGE_PASSWORD", "SCHLAGE_SUBSCRIPTION_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)

    def prompt(_text: str = "") -> str:
        raise raised

    monkeypatch.setattr("builtins.input", prompt)
    path = generate_portfolio(tmp_path / "p.jsonl", 3, seed=1).path
    argv = ["migrate", str(path), "--base-url", "https://api.example.test", "--progress", "none"]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err
    assert not (tmp_path / "p.jsonl.state.sqlite").exists()
