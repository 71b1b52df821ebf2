"""``--help`` names the account variables, documents every flag and agrees with the README."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bulk import generate_portfolio
from bulk.cli.main import build_parser, main

_README = Path(__file__).resolve().parents[2] / "README.md"
_RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:  # argparse keeps its subparsers here
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise AssertionError(name)


def _help(name: str) -> str:
    return " ".join(_subparser(name).format_help().split())


@pytest.mark.parametrize("command", ["migrate", "demo", "generate"])
def test_every_flag_has_a_help_text(command: str) -> None:
    """No option of migrate, demo or generate is left without a help line."""
    missing = [
        action.option_strings or action.dest
        for action in _subparser(command)._actions
        if not action.help
    ]
    assert missing == []


def test_migrate_help_names_the_account_variables_the_prompt_and_defaults() -> None:
    """The SCHLAGE_* variables, the prompt, and the defaults of concurrency/region/namespace."""
    text = _help("migrate")
    for name in ("SCHLAGE_USERNAME", "SCHLAGE_PASSWORD", "SCHLAGE_SUBSCRIPTION_KEY"):
        assert name in text
    assert "SCHLAGE_BASE_URL" in text
    assert "prompts for it" in text
    assert "residents in flight at once (default 16)" in text
    assert "(default US)" in text
    assert '(default: "default"' in text
    assert "--allow-insecure-http" in text


def test_migrate_help_and_the_readme_agree() -> None:
    """Every migrate flag is in the runbook's usage; the adaptive cut is 95 % in both."""
    readme = _RUNBOOK.read_text(encoding="utf-8")
    usage = readme[readme.index("python -m bulk migrate residents.jsonl") :]
    usage = usage[: usage.index("```")]
    documented = set(re.findall(r"--[a-z0-9-]+", usage))
    flags = {
        option
        for action in _subparser("migrate")._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    assert flags - documented == set()
    assert documented - flags == set()
    assert "halve" not in _help("migrate")
    assert "cut to 95 % of the ceiling each 429 marks" in _help("migrate")
    assert "cuts to 95 % of that" in readme


def test_plain_http_to_another_host_names_the_flag_not_the_python_keyword(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The refusal points at --allow-insecure-http; with it, the client is built to allow it."""
    monkeypatch.setenv("SCHLAGE_USERNAME", "u@example.com")
    monkeypatch.setenv("SCHLAGE_PASSWORD", "p")
    monkeypatch.setenv("SCHLAGE_SUBSCRIPTION_KEY", "k")
    path = generate_portfolio(tmp_path / "p.jsonl", 2).path
    url = "http://rig.example.test:8080/test/smc-api"
    assert main(["migrate", str(path), "--base-url", url, "--progress", "none"]) == 2
    err = capsys.readouterr().err
    assert "--allow-insecure-http" in err
    assert "allow_insecure_http=True" not in err

    built: dict[str, Any] = {}

    class Refused(Exception):
        pass

    def client(**kwargs: Any) -> None:
        built.update(kwargs)
        raise Refused

    monkeypatch.setattr("bulk.cli.main.SchlageClient", client)
    with pytest.raises(Refused):
        main(["migrate", str(path), "--base-url", url, "--allow-insecure-http"])
    assert built["allow_insecure_http"] is True


@pytest.mark.slow
def test_benchmarks_help_without_the_bench_extra_is_one_line() -> None:
    """Without psutil: one line naming the extra to install, no traceback."""
    code = (
        "import sys, runpy; sys.modules['psutil'] = None; sys.argv = ['benchmarks', '--help'];"
        "runpy.run_module('benchmarks', run_name='__main__')"
    )
    done = subprocess.run(  # noqa: S603  # our interpreter
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=_README.parent,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "python -m benchmarks: error: the benchmarks need the bench extra "
        "(missing module 'psutil'): pip install -e '.[bench]'"
    ]
