"""The observability page's console example runs and prints the spans it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

_PAGE = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def test_the_console_example_prints_the_login_the_renewal_and_the_call() -> None:
    """``python -c <the example>``: three spans on stdout, the call's holding the others."""
    pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra and opentelemetry-sdk")
    text = _PAGE.read_text(encoding="utf-8")
    section = text[text.index("## Spans on the console") :]
    (code,) = re.findall(r"```python\n(.*?)```", section[: section.index("## Spans\n")], re.S)
    done = subprocess.run(  # noqa: S603  # our interpreter, the page's code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = re.findall(r'"name": "([^"]+)"', done.stdout)
    assert names == [
        "schlage.authentication_token",
        "schlage.token_renewal",
        "schlage.list_credentials",
    ]
