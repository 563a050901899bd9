"""OpenTelemetry spans, attributes and metrics of scoped calls, on all three backends.

The SDK's in-memory exporter and metric reader stand in for a collector; the sink gets
its providers explicitly (the global ones are left alone).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentinel_vectors import audit
from sentinel_vectors.audit_otel import OTelSink
from sentinel_vectors.errors import AccessDeniedError
from sentinel_vectors.testing.conformance.world import World, chunks


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    auditor: audit.Auditor
    provider: TracerProvider

    def finished(self) -> list[ReadableSpan]:
        self.auditor.flush(10)
        return list(self.spans.get_finished_spans())

    def points(self) -> dict[str, Any]:
        """Metric name -> its data points' values (sum, or histogram count), summed."""
        self.auditor.flush(10)
        data = self.metrics.get_metrics_data()
        out: dict[str, Any] = {}
        if data is None:  # nothing recorded yet
            return out
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    total = 0
                    for p in metric.data.data_points:
                        total += getattr(p, "value", None) or getattr(p, "count", 0)
                    out[metric.name] = total
        return out


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    sink = OTelSink(
        tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader])
    )
    auditor = audit.Auditor([sink])
    previous = audit.use(auditor)
    try:
        yield Telemetry(spans, reader, auditor, tracer_provider)
    finally:
        audit.use(previous)
        auditor.close()


def _by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_a_read_is_one_span_with_lookup_store_and_recheck_children(
    conformance_loaded: World, telemetry: Telemetry
) -> None:
    w = conformance_loaded
    telemetry.spans.clear()
    before = telemetry.points()
    app = telemetry.provider.get_tracer("the-app")
    with app.start_as_current_span("GET /search") as request_span:
        hits = await w.search(w.viewer, k=10)
    spans = telemetry.finished()
    (read,) = _by_name(spans, "sentinel_vectors.top_k")
    # In the caller's trace, under the span that was current when the call started.
    assert read.parent is not None
    assert read.parent.span_id == request_span.get_span_context().span_id
    assert read.context.trace_id == request_span.get_span_context().trace_id
    attrs = dict(read.attributes or {})
    assert attrs["sentinel_vectors.returned"] == len(hits) == 3
    assert attrs["sentinel_vectors.accessible"] == 3
    assert attrs["sentinel_vectors.full_access"] is False
    assert attrs["enduser.id"] == str(w.viewer.id)
    assert attrs["sentinel_vectors.workspace_id"] == str(w.ws_a)
    assert attrs["sentinel_vectors.strategy"] in ("prefilter", "chunked-prefilter", "postfilter")
    assert attrs["sentinel_vectors.complete"] is True
    children = [
        s for s in spans if s.parent is not None and s.parent.span_id == read.context.span_id
    ]
    names = {s.name for s in children}
    assert names == {
        "sentinel_vectors.permission_lookup",
        "sentinel_vectors.store_query",
        "sentinel_vectors.recheck",
    }
    for child in children:
        assert child.context.trace_id == read.context.trace_id
    store = _by_name(children, "sentinel_vectors.store_query")
    assert all((s.attributes or {}).get("db.operation.name") for s in store)
    after = telemetry.points()
    assert after["sentinel_vectors.reads"] - before.get("sentinel_vectors.reads", 0) == 1
    returned = after["sentinel_vectors.records.returned"]
    assert returned - before.get("sentinel_vectors.records.returned", 0) == 3
    for histogram in ("lookup", "store", "recheck"):
        name = f"sentinel_vectors.{histogram}.duration"
        assert after[name] - before.get(name, 0) == 1


async def test_writes_and_refusals_are_spans_and_counted(
    conformance_world: World, telemetry: Telemetry
) -> None:
    w = conformance_world
    await w.index(w.owner).put_chunks(w.private, chunks("one"))
    with pytest.raises(AccessDeniedError):
        await w.index(w.editor).put_chunks(w.private, chunks("squat"))
    spans = telemetry.finished()
    puts = [
        s for s in spans if s.name == "sentinel_vectors.upsert" or s.name == "sentinel_vectors.add"
    ]
    outcomes = sorted(str((s.attributes or {}).get("sentinel_vectors.outcome")) for s in puts)
    assert outcomes == ["ok", "refused"]
    (refused,) = [
        s for s in puts if (s.attributes or {}).get("sentinel_vectors.outcome") == "refused"
    ]
    assert (refused.attributes or {})["sentinel_vectors.rule"] == "write-rule"
    assert refused.status.description == "AccessDeniedError"
    points = telemetry.points()
    assert points["sentinel_vectors.writes"] == 2
    assert points["sentinel_vectors.refusals"] == 1
