"""Fixtures of the telemetry tests: SDK providers with in-memory exporters, passed in.

No test sets a global provider: every client and run here is handed its own
``tracer_provider`` and ``meter_provider``, so the tests never leak into each other (the
global providers can be set only once per process). Tests that need the SDK skip when it
is not installed (``nox -s tests_without_otel``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from schlage_async import SchlageClient
from schlage_async.simulator import SimulatorHandle

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Recorded:
    """A tracer provider and a meter provider whose output the test can read."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """The finished spans (named ``name``, when given), in the order they ended."""
        spans = list(self.exporter.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def points(self, metric: str) -> list[Any]:
        """The data points of ``metric`` collected now (empty when it has none)."""
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found.extend(item.data.data_points)
        return found

    def total(self, metric: str, **attributes: object) -> float:
        """The sum (counter) or count (histogram) of ``metric``'s points matching ``attributes``."""
        value = 0.0
        for point in self.points(metric):
            if all(point.attributes.get(k) == v for k, v in attributes.items()):
                value += point.value if hasattr(point, "value") else point.count
        return value

    def providers(self) -> dict[str, Any]:
        """``tracer_provider=`` and ``meter_provider=``, to pass to a client or a run."""
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    """Providers recording into memory, shut down after the test (skips without the SDK)."""
    pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra and opentelemetry-sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Recorded(tracer_provider, meter_provider, exporter, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def client_for(
    sim: SimulatorHandle, recorded: Recorded | None = None, **options: Any
) -> SchlageClient:
    """A client of the simulator's administrator, recording into ``recorded``."""
    return SchlageClient(
        base_url=sim.api_base_url,
        username=sim.admin.username,
        password=sim.admin.password,
        subscription_key=sim.admin.subscription_key,
        **(recorded.providers() if recorded is not None else {}),
        **options,
    )


def walk(spans: list[ReadableSpan]) -> Iterator[tuple[str, str, object]]:
    """Every attribute of every span and of every event on it: (span, key, value)."""

    def items(where: str, attributes: Mapping[str, object] | None) -> Iterator[Any]:
        for key, value in (attributes or {}).items():
            yield where, key, value

    for span in spans:
        yield from items(span.name, span.attributes)
        yield "", "name", span.name
        for event in span.events:
            yield from items(f"{span.name}/{event.name}", event.attributes)
        if span.status.description:
            yield span.name, "status.description", span.status.description
        for link in span.links:
            yield from items(f"{span.name}/link", link.attributes)
