"""Traces and metrics through OpenTelemetry: optional, and next to free when unused.

``opentelemetry-api`` (the ``schlage-async[otel]`` extra) is imported here and nowhere
else in the client. Without it :data:`OTEL_AVAILABLE` is False and the transport holds no
telemetry at all (one ``is None`` test per call). With it, a call asks :class:`Signals`
for a tracer and a meter, which answers None while no provider records: none was passed
in and the global providers are still the API's own no-op or proxy ones; that answer is
kept for a second (:data:`RECHECK_SECONDS`), so a call then costs a clock read. A global
provider set later is picked up within that second. The library never configures a
provider, a processor or an exporter: that is the application's business.

What is recorded (``docs/observability.md`` has the tables):

* one span per operation call, ``schlage.<operation>``, kind CLIENT, with the HTTP
  semantic conventions' attributes; a retry is an **event** on that span (not a child
  span): the attempts of one call share everything but their status and wait;
* a span per token renewal (``schlage.token_renewal``), the login's own span under it;
* the metrics ``schlage.client.requests``, ``schlage.client.duration`` (one per HTTP
  request, retries included) and ``schlage.client.rate_limited``.

No attribute or event ever holds a value from a request or an answer: only the
operation, the route's template (placeholders, never an id), the host, statuses, counts
and error class names. Secrets, tokens, mobile numbers and user ids cannot get in.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import yarl

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from ._routes import Route

try:
    from opentelemetry import context as _context
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the otel extra is not installed: nothing is ever recorded
    _IMPORTED = False
else:
    _IMPORTED = True

OTEL_AVAILABLE: Final = _IMPORTED
"""Whether ``opentelemetry-api`` is installed (the ``otel`` extra)."""

__all__ = [
    "DURATION_BUCKETS",
    "OTEL_AVAILABLE",
    "RECHECK_SECONDS",
    "CallRecord",
    "ClientTelemetry",
    "Signals",
    "fail",
    "inject_trace_context",
    "status_class",
]


def _version() -> str:
    try:
        return importlib.metadata.version("schlage-async")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source tree
        return "0+unknown"


_VERSION: Final = _version()  # the instrumentation scope's version

RECHECK_SECONDS: Final = 1.0
"""How long "nothing records" is believed before the global providers are asked again."""

DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0,
)  # fmt: skip
"""Histogram bounds in seconds (the HTTP semantic conventions' advice, plus 30 s)."""

# The API's own providers (no-op, and the proxies standing in until a global one is set)
# live in these modules; an SDK's or a vendor's live elsewhere.
_API_MODULES: Final = ("opentelemetry.trace", "opentelemetry.metrics")


def _records(provider: object) -> bool:
    """Whether ``provider`` is a real one (not the API's no-op or proxy stand-in)."""
    return not type(provider).__module__.startswith(_API_MODULES)


class Signals:
    """One component's tracer and meter: the providers passed in, else the global ones.

    :meth:`tracer` and :meth:`meter` return None while nothing would record, so a caller
    skips building spans and attributes at the cost of this one question. A real provider,
    once seen, is kept (a global provider can only be set once).
    """

    __slots__ = ("_meter", "_meter_provider", "_name", "_tracer", "_tracer_provider")

    def __init__(
        self,
        name: str,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._name = name  # the instrumentation scope
        self._tracer_provider = tracer_provider  # None: the global one, looked up per call
        self._meter_provider = meter_provider  # None: the global one, looked up per call
        self._tracer: Tracer | None = None  # from a provider that records, once seen
        self._meter: Meter | None = None  # likewise

    def tracer(self) -> Tracer | None:
        """The tracer, or None while no tracer provider records."""
        tracer = self._tracer
        if tracer is None and OTEL_AVAILABLE:
            provider = self._tracer_provider or _trace.get_tracer_provider()
            if _records(provider):
                tracer = self._tracer = provider.get_tracer(self._name, _VERSION)
        return tracer

    def meter(self) -> Meter | None:
        """The meter, or None while no meter provider records."""
        meter = self._meter
        if meter is None and OTEL_AVAILABLE:
            provider = self._meter_provider or _metrics.get_meter_provider()
            if _records(provider):
                meter = self._meter = provider.get_meter(self._name, _VERSION)
        return meter

    @contextmanager
    def span(
        self, name: str, attributes: Mapping[str, Any], *, parent: Context | None = None
    ) -> Iterator[Span | None]:
        """A span made current for the block (None when not tracing).

        An exception leaving the block sets ``error.type`` (its class name) and the status
        ERROR; its message and traceback are not recorded (they may quote an answer).
        """
        tracer = self.tracer()
        if tracer is None:
            yield None
            return
        span = tracer.start_span(
            name,
            context=parent,
            attributes=dict(attributes),
            record_exception=False,
            set_status_on_exception=False,
        )
        token = _context.attach(_trace.set_span_in_context(span, parent))
        try:
            yield span
        except BaseException as exc:
            fail(span, exc)
            raise
        finally:
            _context.detach(token)
            span.end()


def fail(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed by ``exc``: ``error.type`` and status ERROR, never its text."""
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(_trace.StatusCode.ERROR)


def status_class(status: int | None) -> str:
    """The metric label of an answer: ``2xx`` ... ``5xx``, ``429`` apart, ``error`` for none."""
    if status is None:
        return "error"
    if status == 429:
        return "429"
    return f"{status // 100}xx"


def inject_trace_context(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` plus ``traceparent`` (and ``tracestate``) of the current span, if any.

    Only W3C trace context, through the propagation API's own propagator: never the
    globally configured one, which may carry baggage to a third party's service.
    """
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return {**headers, **carrier} if carrier else headers


if OTEL_AVAILABLE:
    _PROPAGATOR: Final = TraceContextTextMapPropagator()


class _Instruments:
    """The client's three instruments on one meter, and their attribute sets, reused."""

    __slots__ = ("_attributes", "duration", "rate_limited", "requests")

    def __init__(self, meter: Meter) -> None:
        self.requests: Counter = meter.create_counter(
            "schlage.client.requests",
            unit="{request}",
            description="HTTP requests sent, by operation and status class",
        )
        self.duration: Histogram = meter.create_histogram(
            "schlage.client.duration",
            unit="s",
            description="Seconds from sending a request to its whole answer (or its failure)",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.rate_limited: Counter = meter.create_counter(
            "schlage.client.rate_limited",
            unit="{response}",
            description="429 answers, by operation",
        )
        # (operation, status class) -> the attributes of a measurement, built once.
        self._attributes: dict[tuple[str, str], Mapping[str, str]] = {}

    def record(self, operation: str, status: int | None, seconds: float) -> None:
        """One request's answer (``status``) or failure (None), and how long it took."""
        label = status_class(status)
        attributes = self._attributes.get((operation, label))
        if attributes is None:
            attributes = self._attributes[(operation, label)] = {
                "schlage.operation": operation,
                "schlage.status_class": label,
            }
        self.requests.add(1, attributes)
        self.duration.record(seconds, attributes)
        if status == 429:
            self.rate_limited.add(1, {"schlage.operation": operation})


class ClientTelemetry:
    """What one client's transport records: its signals, and the route attributes it reuses."""

    __slots__ = (
        "_instruments",
        "_meter",
        "_quiet_until",
        "_route_attributes",
        "_server",
        "signals",
    )

    def __init__(
        self,
        base_url: yarl.URL,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.signals = Signals(
            "schlage_async", tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        self._server = base_url  # server.address, server.port and the template's prefix
        self._route_attributes: dict[Route, Mapping[str, Any]] = {}  # a call span's, per route
        self._meter: Meter | None = None  # the meter the instruments belong to
        self._instruments: _Instruments | None = None
        # Until when (monotonic) nothing records, as last asked: a call costs a clock read.
        self._quiet_until = -1.0

    def _instruments_now(self) -> _Instruments | None:
        meter = self.signals.meter()
        if meter is None:
            return None
        if meter is not self._meter:
            self._meter, self._instruments = meter, _Instruments(meter)
        return self._instruments

    def begin(self, route: Route) -> CallRecord | None:
        """Start recording one call of ``route``; None when nothing records."""
        now = time.monotonic()
        if now < self._quiet_until:
            return None
        tracer = self.signals.tracer()
        instruments = self._instruments_now()
        if tracer is None and instruments is None:
            self._quiet_until = now + RECHECK_SECONDS
            return None
        span: Span | None = None
        token: object = None
        if tracer is not None:
            attributes = self._route_attributes.get(route)
            if attributes is None:
                attributes = self._route_attributes[route] = self._attributes(route)
            span = tracer.start_span(
                "schlage." + route.operation.value,
                kind=_trace.SpanKind.CLIENT,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            )
            # Current while the call runs: a login it triggers is its child, and a
            # propagated traceparent names it.
            token = _context.attach(_trace.set_span_in_context(span))
        return CallRecord(route.operation.value, span, token, instruments)

    def _attributes(self, route: Route) -> Mapping[str, Any]:
        server = self._server
        attributes: dict[str, Any] = {
            "http.request.method": route.method,
            "server.address": server.host or "",
            "url.template": server.path.rstrip("/") + route.path,
            "schlage.operation": route.operation.value,
        }
        if server.port is not None:
            attributes["server.port"] = server.port
        return attributes

    @contextmanager
    def renewal(self, reason: str) -> Iterator[MutableMapping[str, Any]]:
        """The span of one token renewal; the block fills in ``schlage.token.outcome``."""
        outcome: dict[str, Any] = {}
        with self.signals.span("schlage.token_renewal", {"schlage.token.reason": reason}) as span:
            try:
                yield outcome
            finally:
                if span is not None and outcome:
                    span.set_attributes(outcome)


class CallRecord:
    """One call being recorded: its span (when tracing) and instruments (when metering)."""

    __slots__ = ("_instruments", "_operation", "_span", "_status", "_token")

    def __init__(
        self,
        operation: str,
        span: Span | None,
        token: object,
        instruments: _Instruments | None,
    ) -> None:
        self._operation = operation  # the Operation's value
        self._span = span  # None when only metering
        self._token = token  # the context attached for the span, detached at the end
        self._instruments = instruments  # None when only tracing
        self._status: int | None = None  # the last answer's status

    def answered(self, status: int, seconds: float) -> None:
        """A request got an answer with ``status`` after ``seconds``."""
        self._status = status
        if self._instruments is not None:
            self._instruments.record(self._operation, status, seconds)

    def no_answer(self, seconds: float) -> None:
        """A request got no answer (connection lost, timeout) after ``seconds``."""
        self._status = None
        if self._instruments is not None:
            self._instruments.record(self._operation, None, seconds)

    def retry(self, number: int, wait: float, error: str | None) -> None:
        """The call will be sent again after ``wait`` seconds (an event, not a span)."""
        if self._span is not None:
            attributes: dict[str, Any] = {
                "schlage.retry.number": number,
                "schlage.retry.wait": wait,
            }
            if self._status is not None:
                attributes["http.response.status_code"] = self._status
            if error is not None:
                attributes["error.type"] = error
            self._span.add_event("schlage.retry", attributes)

    def token_refused(self) -> None:
        """The service refused the token: it is renewed and the call sent once more."""
        if self._span is not None:
            attributes = {"http.response.status_code": self._status or 0}
            self._span.add_event("schlage.token_refused", attributes)

    def end(self, error: BaseException | None, retries: int) -> None:
        """The call is over: it succeeded, or ``error`` ends it."""
        span = self._span
        if span is None:
            return
        _context.detach(self._token)  # type: ignore[arg-type]  # the token attach gave
        if self._status is not None:
            span.set_attribute("http.response.status_code", self._status)
        span.set_attribute("schlage.retry_count", retries)
        if error is not None:
            fail(span, error)
        span.end()
