"""P1 with the audit sinks on against off, in the same run (issue #16).

    .venv/bin/python -m benchmarks.audit_p1                       # pgvector, 20,000 x 384
    .venv/bin/python -m benchmarks.audit_p1 --backend qdrant      # Qdrant local mode
    .venv/bin/python -m benchmarks.audit_p1 --n 5000 --dim 64 --queries 60

The data, server, native query and scoped store of ``python -m benchmarks``
(:mod:`benchmarks.backends`). Three variants alternate query by query (the order rotates
each query): the native query; the scoped query with no sink (``Auditor([])``: no event
is built); the scoped query with the JSON-lines sink (to a temporary file) and the
OpenTelemetry sink on the real SDK (a ``TracerProvider`` with a ``BatchSpanProcessor``
and a ``MeterProvider`` with an in-memory reader, so spans and metrics are really made).
Reported per accessible-list size: median ms of each, P1 off (off / native), P1 on
(on / native) and the ratio on / off (the target is <= 1.03). ``--flush`` waits for the
sinks after each "on" query, outside the timing. At the end, the sinks' own CPU time per
read (the worker's work: one JSON line, the call's spans and metrics) is measured alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from benchmarks.backends import PgvectorRunner, QdrantRunner, exit_stack
from benchmarks.workload import FixedAuth, make_cells, make_dataset
from sentinel_vectors import audit
from sentinel_vectors.audit_otel import OTelSink

K = 10


class Discard(SpanExporter):
    """An exporter that counts what it is given (the collector is not what we measure)."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def sinks_on(path: Path) -> tuple[audit.Auditor, Discard]:
    exporter = Discard()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    sink = OTelSink(tracer_provider=tracer_provider, meter_provider=meter_provider)
    return audit.Auditor([audit.JsonLinesSink(path), sink]), exporter


async def main(args: argparse.Namespace) -> None:
    data = make_dataset(args.n, args.dim, args.queries)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    cells = [
        c
        for c in make_cells(data, selectivities=(args.visible,), list_sizes=sizes)
        if c.list_size in sizes
    ]
    off = audit.Auditor([])
    with tempfile.TemporaryDirectory() as tmp:
        on, exporter = sinks_on(Path(tmp) / "audit.jsonl")
        previous = audit.use(off)
        try:
            async with exit_stack() as stack:
                runner: Any = (
                    PgvectorRunner(stack, wardowl=False)
                    if args.backend == "pgvector"
                    else QdrantRunner(stack, wardowl=False, url=None)
                )
                loaded = await runner.load(data)
                print("load: " + ", ".join(f"{k} {v:.1f}s" for k, v in loaded.seconds.items()))
                await run_cells(args, runner, data, cells, off, on)
        finally:
            audit.use(previous)
            on.close()
        lines = (Path(tmp) / "audit.jsonl").read_text().count("\n")
    print(
        f"audit lines written: {lines}; spans exported: {exporter.spans}; "
        f"dropped {on.dropped}, sink errors {on.errors}"
    )
    print(f"sinks' worker CPU per read: {sink_cost_us():.0f} us (JSON line + spans + metrics)")
    with tempfile.TemporaryDirectory() as tmp:
        on, _ = sinks_on(Path(tmp) / "engine.jsonl")
        previous = audit.get_auditor()
        try:
            off_us, on_us = await engine_overhead_us(on)
        finally:
            audit.use(previous)
            on.close()
    print(
        f"engine alone (in-memory source, top-10): off {off_us:.0f} us, on {on_us:.0f} us, "
        f"request path +{on_us - off_us:.0f} us per read"
    )


class _Memory:
    """An in-memory search source: the engine's work without a store's I/O."""

    def __init__(self, ws: str, resources: list[str]) -> None:
        from sentinel_vectors.engine import Row

        self.rows = [
            Row(f"{ws}:c{i}", {"workspace_id": ws, "resource_id": resources[i % 10]}, i / 100)
            for i in range(10)
        ]

    async def nearest(self) -> list[Any]:
        return self.rows

    def search(self, flt: Any, fetch: int, which: Any, ids: Any) -> Any:
        from sentinel_vectors.engine import Native

        found = yield Native("nearest", target=self)
        return [list(found) for _ in which]


async def engine_overhead_us(on: audit.Auditor, reps: int = 2000) -> tuple[float, float]:
    """Median microseconds of one top-10 read through the engine and the async driver,
    with no sink and with ``on``, on an in-memory source: the request path's own cost."""
    from sentinel_vectors.drive import run_async
    from sentinel_vectors.engine import ReadSettings, top_k
    from sentinel_vectors.policy import TenancyPolicy
    from sentinel_vectors.scope import Scope

    ws = uuid.uuid4()
    resources = [str(uuid.uuid4()) for _ in range(10)]
    scope = Scope.of(FixedAuth(ws, uuid.uuid4(), resources), resource_type="document")
    policy = TenancyPolicy(scope)
    source = _Memory(str(ws), resources)
    off = audit.Auditor([])
    times: dict[str, list[int]] = {"off": [], "on": []}
    for _ in range(reps):
        for name, auditor in (("off", off), ("on", on)):
            audit.use(auditor)
            t = time.perf_counter_ns()
            step = top_k(policy, source, k=10, n_queries=1, caller=None, settings=ReadSettings())
            await run_async(step, scope)
            times[name].append(time.perf_counter_ns() - t)
            on.flush(10)  # the worker's share lands on no timed read
    return statistics.median(times["off"]) / 1000, statistics.median(times["on"]) / 1000


def sink_cost_us(reps: int = 2000) -> float:
    """The worker's CPU per read: one read event and its call through both sinks."""
    from sentinel_vectors.events import CallRecord, ReadEvent, StepTiming

    with tempfile.TemporaryDirectory() as tmp:
        on, _ = sinks_on(Path(tmp) / "cost.jsonl")
        jsonl, otel = on.queued
        now = time.time_ns()
        event = ReadEvent(
            at=time.time(),
            request_id="r",
            operation="top_k",
            workspace_id=str(uuid.uuid4()),
            user_id=str(uuid.uuid4()),
            role="viewer",
            collection="chunks",
            resource_type="document",
            strategy="prefilter",
            full_access=False,
            accessible=1000,
            examined=10,
            returned=10,
            returned_ids=tuple(f"{uuid.uuid4()}:0" for _ in range(10)),
            dropped=0,
            complete=True,
            lookup_ms=0.1,
            store_ms=5.0,
            recheck_ms=0.05,
        )
        steps = (
            StepTiming("lookup", "AskAccess", now, now + 100_000, None),
            StepTiming("store", "execute", now + 100_000, now + 5_000_000, None),
        )
        call = CallRecord("top_k", None, now, now + 5_100_000, steps, 50_000, (event,), None)
        t = time.thread_time_ns()
        for _ in range(reps):
            jsonl.emit(event)
            otel.emit(event)
            otel.record_call(call)  # type: ignore[attr-defined]
        cost = (time.thread_time_ns() - t) / reps / 1000
        on.close()
    return cost


async def run_cells(
    args: argparse.Namespace,
    runner: Any,
    data: Any,
    cells: list[Any],
    off: audit.Auditor,
    on: audit.Auditor,
) -> None:
    ws = data.workspaces[0]
    viewer = uuid.UUID(int=0xC0FFEE)
    for cell in cells:
        auth = FixedAuth(uuid.UUID(ws), viewer, cell.ids)
        answer = [uuid.UUID(i) for i in cell.ids]
        store = runner.scoped_store(auth, None)

        async def native(q: Any, answer: list[uuid.UUID] = answer) -> None:
            await runner.native(q, ws, answer, K)

        async def scoped_off(q: Any, store: Any = store) -> None:
            audit.use(off)
            await runner.scoped(store, q, K)

        async def scoped_on(q: Any, store: Any = store) -> None:
            audit.use(on)
            await runner.scoped(store, q, K)

        variants: dict[str, Callable[[Any], Awaitable[None]]] = {
            "native": native,
            "off": scoped_off,
            "on": scoped_on,
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for fn in variants.values():  # warm-up
            await fn(data.queries[0])
        names = list(variants)
        for qi in range(args.queries):
            q = data.queries[qi % len(data.queries)]
            shift = qi % len(names)
            for name in names[shift:] + names[:shift]:
                t = time.perf_counter()
                await variants[name](q)
                times[name].append(time.perf_counter() - t)
                if args.flush and name == "on":
                    on.flush(10)  # the sinks' work, outside every timed query
        med = {name: statistics.median(ts) * 1000 for name, ts in times.items()}
        print(
            f"{cell.label:>22}: native {med['native']:7.2f} ms  off {med['off']:7.2f} ms  "
            f"on {med['on']:7.2f} ms  P1 off {med['off'] / med['native']:.2f}  "
            f"P1 on {med['on'] / med['native']:.2f}  on/off {med['on'] / med['off']:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["pgvector", "qdrant"], default="pgvector")
    parser.add_argument("--n", type=int, default=20_000, help="chunks")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=60, help="queries per cell")
    parser.add_argument("--visible", type=float, default=0.01, help="visible share")
    parser.add_argument("--sizes", default="1000,10000,100000", help="list sizes")
    parser.add_argument(
        "--flush",
        action="store_true",
        help="wait for the sinks after each 'on' query, untimed: the request path's cost "
        "alone (otherwise the worker's work overlaps the next queries of every variant)",
    )
    asyncio.run(main(parser.parse_args()))
