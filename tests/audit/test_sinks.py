"""The sinks and the queue: never blocking or failing a read, unless fail-closed.

One backend is enough here (the events come from the engine, the same on each): Chroma
on the session's server.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from sentinel_vectors import audit
from sentinel_vectors.errors import ReservedKeyError
from sentinel_vectors.events import AuditEvent, EventKind, digest_id
from sentinel_vectors.filters import eq
from sentinel_vectors.testing.conformance import BackendFactory
from sentinel_vectors.testing.conformance.world import World
from tests.audit.conftest import Collect, _chroma, install


@pytest.fixture
def backend_factory(chroma_http: Any) -> BackendFactory:
    return _chroma(chroma_http)


class Gate:
    """A queued sink that blocks until released (to fill the queue deterministically)."""

    inline = False

    def __init__(self) -> None:
        self.open = threading.Event()
        self.events: list[AuditEvent] = []

    def wants(self, kind: EventKind) -> bool:
        return True

    def emit(self, event: AuditEvent) -> None:
        self.open.wait(10)
        self.events.append(event)

    def close(self) -> None:
        self.open.set()


async def test_the_logging_sink_is_the_default_and_keeps_the_records_of_before(
    conformance_loaded: World, caplog: pytest.LogCaptureFixture
) -> None:
    w = conformance_loaded
    with caplog.at_level(logging.INFO, logger=audit.AUDIT_LOGGER):
        await w.search(w.viewer, k=10)
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "sentinel_vectors.read"]
    assert record.getMessage() == "sentinel-vectors scoped read"
    assert record.levelno == logging.INFO
    fields = record.__dict__
    assert (fields["returned"], fields["dropped"], fields["strategy"]) == (3, 0, "prefilter")
    assert fields["user_id"] == str(w.viewer.id)
    assert len(fields["returned_ids"]) == 3


async def test_jsonl_lines_are_events_and_ids_can_be_keyed_digests(
    conformance_loaded: World, tmp_path: Path, installed: list[audit.Auditor]
) -> None:
    w = conformance_loaded
    path = tmp_path / "audit.jsonl"
    key = b"auditor-secret"
    auditor = install(installed, audit.Auditor([audit.JsonLinesSink(path)], digest_key=key))
    hits = await w.search(w.viewer, k=10)
    assert auditor.flush(10)
    (line,) = [json.loads(x) for x in path.read_text().splitlines()]
    assert line["kind"] == "read"
    assert line["ids_digested"] is True
    ids = [f"{h.resource_id}:0" for h in hits]
    assert sorted(line["returned_ids"]) == sorted(digest_id(key, i) for i in ids)
    assert not any(i in path.read_text() for i in ids)


async def test_a_full_queue_or_a_failing_sink_is_counted_never_raised(
    conformance_loaded: World, installed: list[audit.Auditor], caplog: pytest.LogCaptureFixture
) -> None:
    w = conformance_loaded
    gate = Gate()
    auditor = install(installed, audit.Auditor([gate, Collect(fail=True)], queue_size=1))
    with caplog.at_level(logging.WARNING, logger=audit.AUDIT_LOGGER):
        for _ in range(4):  # one in the gate, one queued, the rest overflow
            assert len(await w.search(w.viewer, k=10)) == 3
    assert auditor.dropped >= 1
    assert auditor.errors == 4  # the failing inline sink, once per read
    gate.open.set()
    assert auditor.flush(10)
    assert len(gate.events) + auditor.dropped == 4  # nothing lost without being counted
    logged = {getattr(r, "event", "") for r in caplog.records}
    assert {"sentinel_vectors.audit_dropped", "sentinel_vectors.audit_sink_error"} <= logged


async def test_a_refused_read_reports_the_rule(
    conformance_world: World, collected: Collect
) -> None:
    w = conformance_world
    with pytest.raises(ReservedKeyError):
        await w.search(w.viewer, filter=eq("workspace_id", str(w.ws_b)))
    (refusal,) = collected.of("refusal")
    assert refusal.rule == "reserved-key"
    assert refusal.operation in ("top_k", "query")  # refused by the engine or the facade
    assert collected.of("read") == []
