"""``--metrics-port N``: the run's metrics in Prometheus's text format on 127.0.0.1:N.

The library records through OpenTelemetry and never configures an exporter; the command
line is the application, so it does: an SDK ``MeterProvider`` whose reader is
OpenTelemetry's Prometheus exporter (``opentelemetry-exporter-prometheus``, serving with
``prometheus-client``), handed to the client and the engine. The exporter reads the same
instruments an OTLP user gets, so no metric is defined twice; ``prometheus-client`` alone
would have needed a second set of metrics or a bridge of our own. The endpoint listens on
loopback only (a scraper on the same host, or a tunnel), and needs the ``metrics`` extra:
without it, ``--metrics-port`` is a one-line usage error naming the extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

from ._common import UsageError

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = ["METRICS_HOST", "metrics_endpoint"]

METRICS_HOST: Final = "127.0.0.1"
"""Where the endpoint listens: loopback only, never every interface."""

_SHUTDOWN_WAIT: Final = 5.0  # seconds to wait for the server's thread at the end


@contextmanager
def metrics_endpoint(port: int | None) -> Iterator[MeterProvider | None]:
    """Serve ``/metrics`` on ``127.0.0.1:port`` for the block; yield the meter provider.

    None in, None out: no endpoint, and the library records nothing (unless the process
    set global providers). Raises :class:`UsageError` when the ``metrics`` extra is
    missing or the port cannot be listened on.
    """
    if port is None:
        yield None
        return
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from prometheus_client import start_http_server
    except ImportError as exc:
        raise UsageError(
            f"--metrics-port needs the metrics extra (no module {exc.name!r}): "
            "pip install 'schlage-async[metrics]'"
        ) from None
    reader = PrometheusMetricReader()  # registers with prometheus-client's registry
    provider = MeterProvider(metric_readers=[reader])
    try:
        server, thread = start_http_server(port, addr=METRICS_HOST)
    except OSError as exc:
        provider.shutdown()  # unregisters the reader
        raise UsageError(
            f"--metrics-port {port}: cannot listen on {METRICS_HOST}:{port} ({exc.strerror or exc})"
        ) from None
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(_SHUTDOWN_WAIT)
        provider.shutdown()
