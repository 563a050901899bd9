"""OpenTelemetry for scoped calls: spans, counters and histograms (``sentinel-vectors[otel]``).

Depends on ``opentelemetry-api`` only: the SDK, its exporters and processors stay your
choice (without an SDK every call here is OpenTelemetry's no-op). Add the sink to the
auditor::

    from sentinel_vectors import audit
    from sentinel_vectors.audit_otel import OTelSink

    audit.configure(sinks=[audit.LoggingSink(), OTelSink()])

Spans, in the caller's trace (under the FastAPI request's span if there is one). They
are made from the call's recorded times on the auditor's worker thread after the call
ends, never in the request: the request only notes the caller's context and two
timestamps per step.

- ``sentinel_vectors.<operation>`` (``top_k``, ``listing``, ``counting``, ``put``, ...)
  per call, with the read's or write's attributes (``sentinel_vectors.*``, below) and an
  error status (the error type only) when it raised;
- ``sentinel_vectors.permission_lookup`` around each question to the permission service;
- ``sentinel_vectors.store_query`` around each call of the store's client
  (``db.operation.name``: the client method);
- ``sentinel_vectors.recheck``: the re-check of the read's hits. Its length is the time
  the re-check took in total; it is placed at the end of the read (a post-filter
  re-checks between its store rounds).

Metrics (from the events, also recorded off the request path by the worker): the
counters ``sentinel_vectors.reads``, ``sentinel_vectors.writes``,
``sentinel_vectors.refusals``, ``sentinel_vectors.violations``,
``sentinel_vectors.records.returned``, ``sentinel_vectors.records.dropped``, and the
histograms ``sentinel_vectors.lookup.duration``, ``sentinel_vectors.store.duration``,
``sentinel_vectors.recheck.duration`` (ms). Metric attributes are low-cardinality
(collection, resource type, strategy, operation, outcome, rule): no user, workspace or id.

This is the only module of the core that imports ``opentelemetry``.
"""

from __future__ import annotations

from typing import Any

try:
    from opentelemetry import context, metrics, trace
    from opentelemetry.context import Context
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - the extra is not installed
    raise ImportError(
        "sentinel_vectors.audit_otel needs opentelemetry-api: pip install 'sentinel-vectors[otel]'"
    ) from exc

from sentinel_vectors.events import (
    AuditEvent,
    CallRecord,
    EventKind,
    ReadEvent,
    RefusalEvent,
    ViolationEvent,
    WriteEvent,
)

__all__ = ["OTelSink", "record_call"]

_SCOPE = "sentinel_vectors"


def record_call(tracer: trace.Tracer, call: CallRecord) -> None:
    """Make the spans of one finished call, with its own times, under its parent."""
    parent: Context | None = call.parent if isinstance(call.parent, Context) else None
    span = tracer.start_span(
        f"sentinel_vectors.{call.operation}",
        context=parent,
        kind=SpanKind.INTERNAL,
        start_time=call.start_ns,
    )
    ctx = trace.set_span_in_context(span)
    for step in call.steps:
        if step.what == "store":
            name, attrs = "sentinel_vectors.store_query", {"db.operation.name": step.detail}
        else:
            name, attrs = (
                "sentinel_vectors.permission_lookup",
                {"sentinel_vectors.question": step.detail},
            )
        child = tracer.start_span(
            name, context=ctx, kind=SpanKind.CLIENT, attributes=attrs, start_time=step.start_ns
        )
        if step.error is not None:
            child.set_status(Status(StatusCode.ERROR, step.error))
        child.end(end_time=step.end_ns)
    for event in call.events:
        span.set_attributes(_span_attributes(event))
        if isinstance(event, ReadEvent):
            # The re-check ran between the store's answers and the end of the read.
            recheck = tracer.start_span(
                "sentinel_vectors.recheck",
                context=ctx,
                start_time=call.end_ns - call.recheck_ns,
                attributes={
                    "sentinel_vectors.examined": event.examined,
                    "sentinel_vectors.dropped": event.dropped,
                },
            )
            recheck.end(end_time=call.end_ns)
    if call.error is not None:
        span.set_status(Status(StatusCode.ERROR, call.error))
    span.end(end_time=call.end_ns)


def _span_attributes(event: AuditEvent) -> dict[str, Any]:
    """An event's attributes on the call's span (ids as counts only)."""
    out: dict[str, Any] = {
        "sentinel_vectors.workspace_id": event.workspace_id,
        "enduser.id": event.user_id,
        "enduser.role": event.role,
        "sentinel_vectors.collection": event.collection,
        "sentinel_vectors.resource_type": event.resource_type,
        "sentinel_vectors.operation": event.operation,
    }
    if event.request_id is not None:
        out["sentinel_vectors.request_id"] = event.request_id
    if isinstance(event, ReadEvent):
        out.update(
            {
                "sentinel_vectors.strategy": event.strategy,
                "sentinel_vectors.full_access": event.full_access,
                "sentinel_vectors.examined": event.examined,
                "sentinel_vectors.returned": event.returned,
                "sentinel_vectors.dropped": event.dropped,
                "sentinel_vectors.complete": event.complete,
                "sentinel_vectors.lookup_ms": event.lookup_ms,
                "sentinel_vectors.store_ms": event.store_ms,
            }
        )
        if event.accessible is not None:
            out["sentinel_vectors.accessible"] = event.accessible
    elif isinstance(event, WriteEvent):
        out["sentinel_vectors.outcome"] = event.outcome
        out["sentinel_vectors.ids"] = len(event.ids)
        out["sentinel_vectors.resources"] = len(event.resources)
    elif isinstance(event, RefusalEvent):
        out["sentinel_vectors.rule"] = event.rule
    elif isinstance(event, ViolationEvent):
        out["sentinel_vectors.violation"] = True
    return out


class OTelSink:
    """OpenTelemetry spans (live, :class:`OTelTracer`) and metrics (from the events).

    ``tracer_provider`` / ``meter_provider``: default the global ones
    (``opentelemetry.trace.set_tracer_provider``, ...).
    """

    inline = False

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
        self._reads = meter.create_counter("sentinel_vectors.reads", "{read}", "Scoped reads")
        self._writes = meter.create_counter("sentinel_vectors.writes", "{write}", "Scoped writes")
        self._refusals = meter.create_counter(
            "sentinel_vectors.refusals", "{call}", "Calls a rule refused"
        )
        self._violations = meter.create_counter(
            "sentinel_vectors.violations", "{record}", "Hits the re-check dropped (invariant 7)"
        )
        self._returned = meter.create_counter(
            "sentinel_vectors.records.returned", "{record}", "Records scoped reads returned"
        )
        self._dropped = meter.create_counter(
            "sentinel_vectors.records.dropped", "{record}", "Records the re-check dropped"
        )
        self._lookup = meter.create_histogram(
            "sentinel_vectors.lookup.duration", "ms", "Time asking the permission service"
        )
        self._store = meter.create_histogram(
            "sentinel_vectors.store.duration", "ms", "Time in the store's client per read"
        )
        self._recheck = meter.create_histogram(
            "sentinel_vectors.recheck.duration", "ms", "Time re-checking a read's hits"
        )

    def wants(self, kind: EventKind) -> bool:
        """Every kind."""
        return True

    def capture_parent(self) -> Context:
        """The caller's context when a call starts (its spans' parent): in the request."""
        return context.get_current()

    def record_call(self, call: CallRecord) -> None:
        """Make the call's spans (on the auditor's worker thread)."""
        record_call(self._tracer, call)

    def emit(self, event: AuditEvent) -> None:
        """Record the event's metrics."""
        base: dict[str, Any] = {
            "sentinel_vectors.collection": event.collection,
            "sentinel_vectors.resource_type": event.resource_type,
            "sentinel_vectors.operation": event.operation,
        }
        if isinstance(event, ReadEvent):
            attrs: dict[str, Any] = {
                **base,
                "sentinel_vectors.strategy": event.strategy,
                "sentinel_vectors.complete": event.complete,
            }
            self._reads.add(1, attrs)
            self._returned.add(event.returned, base)
            self._dropped.add(event.dropped, base)
            self._lookup.record(event.lookup_ms, base)
            self._store.record(event.store_ms, base)
            self._recheck.record(event.recheck_ms, base)
        elif isinstance(event, WriteEvent):
            self._writes.add(1, {**base, "sentinel_vectors.outcome": event.outcome})
        elif isinstance(event, RefusalEvent):
            self._refusals.add(1, {**base, "sentinel_vectors.rule": event.rule})
        else:
            self._violations.add(1, base)

    def close(self) -> None:
        """Nothing to release (the providers are the application's)."""
