"""``--metrics-port``: a checked port, a one-line error without the extra, a loopback endpoint."""

from __future__ import annotations

import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from bulk import generate_portfolio
from bulk.cli._common import UsageError
from bulk.cli.main import main
from bulk.cli.metrics import metrics_endpoint

BAD_PORTS = {"zero": "0", "too-high": "65536", "negative": "-1", "not-a-number": "http"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("command", ["migrate", "work"])
@pytest.mark.parametrize("port", BAD_PORTS.values(), ids=BAD_PORTS.keys())
def test_a_port_outside_1_to_65535_is_a_usage_error(
    command: str, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse's one line naming the flag, exit 2, as for every other bad value."""
    argv = ["migrate", "in.jsonl"] if command == "migrate" else ["work", "--state", "x"]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, f"--metrics-port={port}"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --metrics-port" in err
    assert "1 to 65535" in err or "whole number" in err


def test_without_the_extra_the_flag_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No Prometheus exporter installed: exit 2 and ``pip install 'schlage-async[metrics]'``."""
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.prometheus", None)
    path = generate_portfolio(tmp_path / "p.jsonl", 3).path
    code = main(["migrate", str(path), "--dry-run", "--progress", "none", "--metrics-port", "9"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("schlage-bulk: error: --metrics-port needs the metrics extra")
    assert "pip install 'schlage-async[metrics]'" in err[0]


def test_the_endpoint_serves_prometheus_text_on_loopback_only_while_open() -> None:
    """``/metrics`` answers on 127.0.0.1 with the instruments' Prometheus names; then closes."""
    pytest.importorskip("opentelemetry.exporter.prometheus")
    port = _free_port()
    with metrics_endpoint(port) as provider:
        assert provider is not None
        meter = provider.get_meter("schlage_async")
        meter.create_counter("schlage.client.requests", unit="{request}").add(
            3, {"schlage.operation": "create_credential", "schlage.status_class": "2xx"}
        )
        meter.create_histogram("schlage.client.duration", unit="s").record(0.02)
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:  # loopback
            text = answer.read().decode()
        with socket.socket() as probe:  # not on every interface: the host's name misses it
            probe.settimeout(1)
            outside = socket.gethostbyname(socket.gethostname())
            if outside != "127.0.0.1":
                assert probe.connect_ex((outside, port)) != 0
    (line,) = [x for x in text.splitlines() if x.startswith("schlage_client_requests_total{")]
    assert 'schlage_operation="create_credential"' in line
    assert 'schlage_status_class="2xx"' in line
    assert line.endswith(" 3.0")
    assert "schlage_client_duration_seconds_bucket" in text
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # closed with the block


def test_a_port_in_use_is_a_usage_error() -> None:
    """Another process holds the port: a usage error naming it, nothing left open."""
    pytest.importorskip("opentelemetry.exporter.prometheus")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{port}"),
            metrics_endpoint(port),
        ):
            pass  # pragma: no cover - never entered
