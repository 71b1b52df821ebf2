"""Report folders: one per state file by default, never another run's, dry runs apart."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest

from bulk import ServiceIdentity, generate_portfolio
from bulk._binding import default_state_path
from bulk._reports import default_report_dir
from bulk.cli.main import main


def _rows(path: Path) -> int:
    with path.open() as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _migrate(sim: Any, path: Path, *extra: str) -> int:
    return main(
        [
            "migrate", str(path), "--base-url", sim.handle.api_base_url, "--rate", "0",
            "--progress", "none", *extra,
        ]
    )  # fmt: skip


def test_the_default_folder_sits_beside_the_state_file() -> None:
    """``p.csv.state.sqlite`` reports to ``p.csv.reports``; a dry run to ``.dry-run-reports``."""
    state = Path("site") / "p.csv.state.sqlite"
    assert default_report_dir(state) == Path("site") / "p.csv.reports"
    assert default_report_dir(state, dry_run=True) == Path("site") / "p.csv.dry-run-reports"
    assert default_report_dir(Path("x.db")) == Path("x.db.reports")


def _state(sim: Any, path: Path) -> Path:
    """The default state file of ``path`` against ``sim`` (per service and account)."""
    service = ServiceIdentity.of(sim.handle.api_base_url, os.environ["SCHLAGE_USERNAME"])
    return default_state_path(path, service)


def _reports(sim: Any, path: Path) -> Path:
    """The default report folder of a real run of ``path`` against ``sim``."""
    return default_report_dir(_state(sim, path))


@pytest.mark.usefixtures("sim_env")
def test_inputs_with_the_same_stem_keep_their_own_reports(
    threaded_simulator: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """residents.csv, residents.jsonl and siteB/residents.csv: three folders, none overwritten."""
    monkeypatch.chdir(tmp_path)
    sim = threaded_simulator()
    (tmp_path / "siteA").mkdir()
    (tmp_path / "siteB").mkdir()
    inputs = {
        generate_portfolio(tmp_path / "siteA" / "residents.csv", 7, seed=1).path: 7,
        generate_portfolio(tmp_path / "siteA" / "residents.jsonl", 9, seed=2).path: 9,
        generate_portfolio(tmp_path / "siteB" / "residents.csv", 11, seed=3).path: 11,
    }
    for path in inputs:
        assert _migrate(sim, path) == 0
        assert f"Reports: {_reports(sim, path)}/" in capsys.readouterr().out
    for path, rows in inputs.items():
        folder = _reports(sim, path)
        assert _rows(folder / "succeeded.csv") == rows
        assert json.loads((folder / "summary.json").read_text())["counts"]["succeeded"] == rows
    assert not (tmp_path / "reports").exists()


@pytest.mark.usefixtures("sim_env")
def test_a_folder_of_another_input_is_refused(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--report-dir pointing at another input's reports: exit 2, the reports untouched."""
    sim = threaded_simulator()
    shared = tmp_path / "reports"
    first = generate_portfolio(tmp_path / "a.jsonl", 6, seed=1).path
    second = generate_portfolio(tmp_path / "b.jsonl", 4, seed=2).path
    assert _migrate(sim, first, "--report-dir", str(shared)) == 0
    before = (shared / "summary.json").read_bytes()
    assert _migrate(sim, second, "--report-dir", str(shared)) == 2
    err = capsys.readouterr().err
    assert "holds the reports of the state file" in err
    assert _state(sim, first).name in err
    assert (shared / "summary.json").read_bytes() == before
    assert _rows(shared / "succeeded.csv") == 6
    assert _migrate(sim, first, "--report-dir", str(shared)) == 0  # its own folder: fine


@pytest.mark.usefixtures("sim_env")
def test_a_dry_run_never_overwrites_real_reports(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a real run, --dry-run writes to its own folder, says where; real reports stay."""
    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 8, seed=5).path
    real = _reports(sim, path)
    assert _migrate(sim, path) == 0
    capsys.readouterr()
    assert main(["migrate", str(path), "--dry-run", "--progress", "none"]) == 0
    out = capsys.readouterr().out
    dry = Path(f"{path}.dry-run-reports")
    assert f"Dry-run reports are in {dry}/" in out
    assert _rows(real / "succeeded.csv") == 8
    assert _rows(dry / "succeeded.csv") == 0
    assert json.loads((real / "summary.json").read_text())["status"] == "completed"
    # Pointed at the real reports, a dry run is refused rather than overwriting them.
    code = main(
        ["migrate", str(path), "--dry-run", "--report-dir", str(real), "--progress", "none"]
    )
    assert code == 2
    assert "holds the reports of the state file" in capsys.readouterr().err
    assert _rows(real / "succeeded.csv") == 8
