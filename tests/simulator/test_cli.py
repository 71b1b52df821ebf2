"""The command line: the listening line, clean signals, one-line errors, accounts files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from schlage_async._routes import Operation
from schlage_async.simulator import SimulatorConfig, load_accounts
from schlage_async.simulator.__main__ import main

from .conftest import Api


@pytest.mark.slow
def test_serves_prints_the_listening_line_and_stops_on_sigterm() -> None:
    """``--port 0`` prints the root, then each surface's full base URL; SIGTERM exits 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "schlage_async.simulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        assert int(line.rsplit(":", 1)[1]) > 0
        root = line.removeprefix("listening on ").strip()
        surface_a = proc.stdout.readline().split()
        surface_b = proc.stdout.readline().split()
        assert surface_a[:3] == ["API-Only", "base", "URL:"]
        assert surface_a[3] == root + "/test/smc-api"  # what a client's base_url must be
        assert surface_b == ["ENGAGE", "base", "URL:", root + "/engage"]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert err == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--faults", "bogus=1"], "unknown fault spec key 'bogus'"),
        (["--faults", "500=2"], "between 0 and 1"),
        (["--max-card-number", "26A=x"], "whole number"),
        (["--max-card-number", "99Z=5"], "FORMAT one of"),
        (["--max-card-number", "26A"], "FORMAT=N"),
        (["--accounts", "/nonexistent/accounts.json"], "cannot read accounts file"),
        (["--rate-limit", "-1"], "--rate-limit"),
        (["--rate-limit", "nan"], "--rate-limit"),
        (["--page-size-max", "0"], "--page-size-max"),
        (["--port", "70000"], "--port"),
        (["--port", "x"], "invalid int value"),
        (["--unknown"], "unrecognized arguments"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_bad_options_stop_with_one_line_and_exit_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every bad option ends the program with one clear stderr line and exit code 2."""
    err = _fails(argv, capsys)
    assert err.startswith("schlage-simulator: error: ")
    assert needle in err


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "is not JSON"),
        ("[]", "Expected `object`"),
        ('{"subscriptionKeys": ["k"], "integrations": [], "accounts": []}', "active administrator"),
        (
            json.dumps(
                {
                    "subscriptionKeys": ["k"],
                    "integrations": [{"id": "i", "onboarded": True}],
                    "accounts": [{"username": "a@x.example", "password": "p", "integration": "j"}],
                }
            ),
            "unknown integration 'j'",
        ),
        ('{"subscriptionKeys": [], "integrations": [], "accounts": []}', "subscriptionKeys"),
        (
            '{"subscriptionKeys": ["k"], "integrations": [], "accounts": [], "extra": 1}',
            "extra",
        ),
    ],
    ids=["not-json", "not-object", "no-admin", "unknown-integration", "no-keys", "unknown-field"],
)
def test_bad_accounts_files_stop_with_one_line(
    tmp_path: Path, content: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unusable accounts file is one clear error line and exit 2."""
    path = tmp_path / "accounts.json"
    path.write_text(content)
    assert needle in _fails(["--accounts", str(path)], capsys)


def test_help_lists_default_accounts_faults_and_sim_endpoints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--help`` documents the defaults other suites code against."""
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for text in (
        "sim-subscription-key",
        "admin@sim.example / sim-admin-password / administrator / active / sim-integration",
        "sim-pending-integration: not onboarded",
        "48X facility code 1234 issue code 20",
        "block_after=N",
        "/_sim/tokens/revoke",
        "no key or token needed",
    ):
        assert text in out


async def test_custom_accounts_file_replaces_the_defaults(tmp_path: Path, make_api: Any) -> None:
    """Accounts from a file log in with their own key; the defaults no longer exist."""
    path = tmp_path / "accounts.json"
    path.write_text(
        json.dumps(
            {
                "subscriptionKeys": ["my-key"],
                "integrations": [
                    {
                        "id": "acme",
                        "onboarded": True,
                        "restrictedFacilityCode": 77,
                        "restrictedIssueCode": 5,
                    }
                ],
                "accounts": [
                    {
                        "username": "ops@acme.example",
                        "password": "pw",
                        "role": "administrator",
                        "status": "active",
                        "integration": "acme",
                    }
                ],
            }
        )
    )
    api: Api = await make_api(SimulatorConfig(accounts=load_accounts(path)))
    assert api.sim.admin.username == "ops@acme.example"
    assert api.sim.admin.subscription_key == "my-key"
    assert "pw" not in repr(api.sim.admin)
    ok = await api.call(
        Operation.LOGIN, key="my-key", json={"username": "ops@acme.example", "password": "pw"}
    )
    assert ok.status == 200
    old = await api.call(
        Operation.LOGIN,
        key="my-key",
        json={"username": "admin@sim.example", "password": "sim-admin-password"},
    )
    assert old.status == 404


@pytest.mark.parametrize(
    ("argv", "wording", "vary"),
    [
        pytest.param([], "live", None, id="defaults"),
        pytest.param(["--wording", "guide"], "guide", None, id="guide"),
        pytest.param(["--vary", "7"], "live", 7, id="vary"),
    ],
)
def test_wording_and_vary_reach_the_config(argv: list[str], wording: str, vary: int | None) -> None:
    """``--wording`` and ``--vary SEED`` configure the simulator; live wording by default."""
    from schlage_async.simulator.__main__ import _config, _parser

    parser = _parser()
    config = _config(parser, parser.parse_args(argv))
    assert (config.wording, config.vary) == (wording, vary)


def test_an_unknown_wording_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """``--wording other`` ends with exit 2 and one line naming the choices."""
    from schlage_async.simulator.__main__ import _parser

    with pytest.raises(SystemExit) as caught:
        _parser().parse_args(["--wording", "other"])
    assert caught.value.code == 2
    assert "live" in capsys.readouterr().err
