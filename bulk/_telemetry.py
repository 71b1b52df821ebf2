"""The engine's spans and metrics through OpenTelemetry (the ``otel`` extra), when recorded.

Like the client, the engine takes the tracer and meter providers passed to the entry
point, else the global ones (as they are when the run starts), and never configures one.
Without the extra, or with no provider that records (the API's own no-op and proxy
providers record nothing), every hook below is a test of one attribute.

Spans: one per run of an entry point (``bulk.migration``, ``bulk.apply``, ``bulk.chase``,
``bulk.decommission``) with the client's spans under it, and one per 429 pause
(``bulk.pause``, from the pause's start to its end, whichever worker began it). Metrics:
``bulk.rows`` (residents reaching a final state, by state), ``bulk.pause.duration``,
``bulk.limiter.wait`` and ``bulk.queue.depth``. Attributes hold names, counts and
outcomes only: never a row's values, a path's contents, a user id or a number.
"""

from __future__ import annotations

import importlib.metadata
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from ._summary import MigrationStatus, MigrationSummary, StopReason

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Meter, Observation
    from opentelemetry.metrics import MeterProvider as MeterProvider
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.trace import TracerProvider as TracerProvider

try:
    from opentelemetry import context as _context
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
except ImportError:  # the otel extra is not installed: nothing is ever recorded
    _IMPORTED = False
else:
    _IMPORTED = True

OTEL_AVAILABLE: Final = _IMPORTED
"""Whether ``opentelemetry-api`` is installed (the ``otel`` extra)."""

__all__ = [
    "EngineTelemetry",
    "PauseSpan",
    "RunSpan",
    "exit_status",
    "summary_attributes",
]

_SCOPE: Final = "bulk"
_API_MODULES: Final = ("opentelemetry.trace", "opentelemetry.metrics")  # no-op and proxies
_SECONDS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0,
)  # fmt: skip


def _version() -> str:
    try:
        return importlib.metadata.version("schlage-async")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source tree
        return "0+unknown"


def _records(provider: object) -> bool:
    """Whether ``provider`` is a real one (not the API's no-op or proxy stand-in)."""
    return not type(provider).__module__.startswith(_API_MODULES)


def exit_status(summary: MigrationSummary) -> str:
    """How a run ended for whoever runs it again: ``ok``, ``resumable`` or ``refused``.

    ``ok``: every row reached a final state (or a dry run); ``refused``: the service
    refused the account (fix it, then rerun); ``resumable``: rerun the same command. The
    command line turns these words into its exit codes (``cli/exits.py``); a run's span
    carries them as ``bulk.exit_status``.
    """
    if summary.stop_reason is StopReason.ACCESS_REFUSED:
        return "refused"
    if summary.status in (MigrationStatus.COMPLETED, MigrationStatus.DRY_RUN):
        return "ok"
    return "resumable"


def summary_attributes(summary: MigrationSummary) -> dict[str, Any]:
    """A run span's closing attributes: the outcome and the counts, nothing of a row."""
    attributes: dict[str, Any] = {
        "bulk.outcome": summary.status.value,
        "bulk.exit_status": exit_status(summary),
        "bulk.rows": summary.total_rows,
        "bulk.rows.succeeded": summary.succeeded_this_run,
        "bulk.rows.failed": summary.failed_this_run,
        "bulk.rows.deferred": summary.deferred,
        "bulk.rows.skipped": summary.skipped,
        "bulk.api_calls": summary.api_calls,
        "bulk.rate_limited": summary.rate_limited,
        "bulk.pauses": summary.pauses,
    }
    if summary.stop_reason is not None:
        attributes["bulk.stop_reason"] = summary.stop_reason.value
    return attributes


class _Instruments:
    """The engine's instruments on one meter (made once per meter, see :func:`_for`)."""

    __slots__ = ("_queues", "limiter_wait", "pause_duration", "rows", "rows_attributes")

    def __init__(self, meter: Meter) -> None:
        self.rows: Counter = meter.create_counter(
            "bulk.rows",
            unit="{row}",
            description="Rows that reached a final state in this process, by state",
        )
        self.pause_duration: Histogram = meter.create_histogram(
            "bulk.pause.duration",
            unit="s",
            description="Seconds each 429 pause held every worker",
            explicit_bucket_boundaries_advisory=(*_SECONDS, 60.0, 300.0, 900.0),
        )
        self.limiter_wait: Histogram = meter.create_histogram(
            "bulk.limiter.wait",
            unit="s",
            description="Seconds a call waited for the rate limiter's slot",
            explicit_bucket_boundaries_advisory=(0.0, *_SECONDS),
        )
        # Every run's queue on this meter, read when the gauge is collected: nothing is
        # spent per row, and runs that ended drop out with their streams.
        self._queues: weakref.WeakKeyDictionary[object, Callable[[], int]] = (
            weakref.WeakKeyDictionary()
        )
        meter.create_observable_gauge(
            "bulk.queue.depth",
            callbacks=[self._observe],
            unit="{row}",
            description="Rows read and waiting for a worker",
        )
        self.rows_attributes = {  # one attribute set per final state, built once
            state: {"bulk.state": state} for state in ("done", "failed", "deferred")
        }

    def _observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        depth = sum(read() for read in list(self._queues.values()))
        return [Observation(depth)]

    def watch(self, owner: object, depth: Callable[[], int]) -> None:
        """Report ``depth()`` in ``bulk.queue.depth`` while ``owner`` lives (or until unwatch)."""
        self._queues[owner] = depth

    def unwatch(self, owner: object) -> None:
        """Stop reporting ``owner``'s queue."""
        self._queues.pop(owner, None)


_BY_METER: weakref.WeakKeyDictionary[Meter, _Instruments] = weakref.WeakKeyDictionary()


def _for(meter: Meter) -> _Instruments:
    """The instruments of ``meter``: an observable gauge's callback is registered once."""
    instruments = _BY_METER.get(meter)
    if instruments is None:
        instruments = _BY_METER[meter] = _Instruments(meter)
    return instruments


class PauseSpan:
    """One 429 pause being recorded: its span (when tracing)."""

    __slots__ = ("span",)

    def __init__(self, span: Span | None) -> None:
        self.span = span  # None when only metering


class RunSpan:
    """An entry point's run span, for the attributes known only at its end."""

    __slots__ = ("span",)

    def __init__(self, span: Span | None) -> None:
        self.span = span  # None when not tracing

    def finish(self, attributes: Mapping[str, Any]) -> None:
        """Set the closing attributes (the outcome, the counts)."""
        if self.span is not None:
            self.span.set_attributes(dict(attributes))


class EngineTelemetry:
    """What one run records: a run span, pause spans, and the engine's metrics.

    Built once per run from the providers given (else the global ones, as they are when
    the run starts); each hook costs one attribute test when nothing records.
    """

    __slots__ = ("_instruments", "_parent", "_tracer", "meter_provider", "tracer_provider")

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider  # as given, for the parts a run hands on
        self.meter_provider = meter_provider
        self._tracer: Tracer | None = None  # None: no spans (no provider, or no otel extra)
        self._instruments: _Instruments | None = None  # None: no metrics
        # The context pause spans start in (the run span's), whatever task begins them.
        self._parent: Context | None = None
        if OTEL_AVAILABLE:
            tracers = tracer_provider or _trace.get_tracer_provider()
            if _records(tracers):
                self._tracer = tracers.get_tracer(_SCOPE, _version())
            meters = meter_provider or _metrics.get_meter_provider()
            if _records(meters):
                self._instruments = _for(meters.get_meter(_SCOPE, _version()))

    @classmethod
    def disabled(cls) -> EngineTelemetry:
        """Telemetry that records nothing, whatever the global providers."""
        telemetry = cls.__new__(cls)
        telemetry.tracer_provider = None
        telemetry.meter_provider = None
        telemetry._tracer = None
        telemetry._instruments = None
        telemetry._parent = None
        return telemetry

    @property
    def metering(self) -> bool:
        """Whether metrics are recorded (callers skip timing otherwise)."""
        return self._instruments is not None

    @contextmanager
    def run(self, name: str, attributes: Mapping[str, Any]) -> Iterator[RunSpan]:
        """The span of one run of an entry point, current for the block.

        An exception leaving the block marks it failed: ``error.type`` (the class name),
        ``bulk.outcome`` ``error`` and the status ERROR.
        """
        tracer = self._tracer
        if tracer is None:
            yield RunSpan(None)
            return
        span = tracer.start_span(
            name, attributes=dict(attributes), record_exception=False, set_status_on_exception=False
        )
        token = _context.attach(_trace.set_span_in_context(span))
        self._parent = _context.get_current()
        try:
            yield RunSpan(span)
        except BaseException as exc:
            # The class name only: an error's text may quote an answer or a row.
            span.set_attributes({"error.type": type(exc).__name__, "bulk.outcome": "error"})
            span.set_status(_trace.StatusCode.ERROR)
            raise
        finally:
            _context.detach(token)
            span.end()

    def adopt_parent(self) -> None:
        """Start pause spans in the current context (a run span an outer entry opened)."""
        if self._tracer is not None and self._parent is None:
            self._parent = _context.get_current()

    def row(self, state: str) -> None:
        """A resident reached ``state`` (``done``, ``failed`` or ``deferred``) in this run."""
        instruments = self._instruments
        if instruments is not None:
            instruments.rows.add(1, instruments.rows_attributes[state])

    def limiter_waited(self, seconds: float) -> None:
        """A call waited ``seconds`` for the limiter's slot."""
        if self._instruments is not None:
            self._instruments.limiter_wait.record(seconds)

    def pause_began(self, seconds: float, source: str) -> PauseSpan | None:
        """A pause of ``seconds`` began (``source``: ``local`` 429, or the ``fleet``'s)."""
        tracer = self._tracer
        if tracer is None and self._instruments is None:
            return None
        span = None
        if tracer is not None:
            span = tracer.start_span(
                "bulk.pause",
                context=self._parent,
                attributes={"bulk.pause.requested": seconds, "bulk.pause.source": source},
                record_exception=False,
                set_status_on_exception=False,
            )
        return PauseSpan(span)

    def pause_extended(self, pause: PauseSpan | None, seconds: float) -> None:
        """Another 429 pushed the pause's end to ``seconds`` from now."""
        if pause is not None and pause.span is not None:
            pause.span.add_event("bulk.pause.extended", {"bulk.pause.requested": seconds})

    def pause_ended(self, pause: PauseSpan | None, seconds: float) -> None:
        """The pause ended after ``seconds``."""
        if pause is None:
            return
        if self._instruments is not None:
            self._instruments.pause_duration.record(seconds)
        if pause.span is not None:
            pause.span.set_attribute("bulk.pause.seconds", seconds)
            pause.span.end()

    def watch_queue(self, owner: object, depth: Callable[[], int]) -> None:
        """Report ``depth()`` as ``bulk.queue.depth`` until :meth:`unwatch_queue`."""
        if self._instruments is not None:
            self._instruments.watch(owner, depth)

    def unwatch_queue(self, owner: object) -> None:
        """Stop reporting ``owner``'s queue."""
        if self._instruments is not None:
            self._instruments.unwatch(owner)
