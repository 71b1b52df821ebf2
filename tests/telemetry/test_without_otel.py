"""Without OpenTelemetry installed: everything imports and works, and nothing is recorded.

``nox -s tests_without_otel`` runs the suite in an environment without it; this test also
runs in the ordinary one, hiding ``opentelemetry`` from a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CHECK = textwrap.dedent(
    """
    import sys
    sys.modules["opentelemetry"] = None  # as if the otel extra were not installed

    import bulk
    import schlage_async
    from bulk._telemetry import EngineTelemetry
    from bulk.cli.main import main
    from schlage_async import ConfigurationError, SchlageClient
    from schlage_async._telemetry import OTEL_AVAILABLE

    assert not OTEL_AVAILABLE
    options = dict(base_url="https://api.example.com/test/smc-api", username="u",
                   password="p", subscription_key="k")
    client = SchlageClient(**options)
    assert client._transport.telemetry is None  # one `is None` test per call, no more
    assert not EngineTelemetry().metering
    try:
        SchlageClient(**options, propagate=True)
    except ConfigurationError as exc:
        assert "schlage-async[otel]" in str(exc)
    else:
        raise AssertionError("propagate=True without opentelemetry must be refused")
    code = main(["migrate", sys.argv[1], "--dry-run", "--progress", "none",
                 "--metrics-port", "9464"])
    assert code == 2, code
    print("ok")
    """
)


def test_without_opentelemetry_the_packages_work_and_record_nothing(tmp_path: Path) -> None:
    """Imports, a client, the engine's telemetry off; ``--metrics-port`` names the extra."""
    portfolio = tmp_path / "p.jsonl"
    portfolio.write_text("", encoding="utf-8")
    done = subprocess.run(  # noqa: S603  # our interpreter
        [sys.executable, "-c", CHECK, str(portfolio)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
    assert "--metrics-port needs the metrics extra" in done.stderr
    assert "pip install 'schlage-async[metrics]'" in done.stderr
