"""Typed audit events from the engine, the same on every backend (tests/audit/conftest.py)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest

from sentinel_vectors.errors import AccessDeniedError
from sentinel_vectors.events import ReadEvent, RefusalEvent, WriteEvent
from sentinel_vectors.index import Chunk
from sentinel_vectors.testing.conformance.world import NEAR, World, chunks
from tests.audit.conftest import Collect


async def test_a_search_reports_one_read_event_with_who_what_and_which_ids(
    conformance_loaded: World, collected: Collect
) -> None:
    w = conformance_loaded
    collected.events.clear()
    hits = await w.search(w.viewer, k=10)
    (read,) = collected.of("read")
    assert isinstance(read, ReadEvent)
    assert (read.workspace_id, read.user_id, read.role) == (
        str(w.ws_a),
        str(w.viewer.id),
        "viewer",
    )
    assert read.resource_type == "document"
    assert (read.full_access, read.accessible) == (False, 3)
    assert read.returned == len(hits) == 3
    # The ids as the caller wrote them on every backend (Qdrant stores UUIDs derived from them).
    assert sorted(read.returned_ids) == sorted(h.id for h in hits)
    assert read.examined - read.dropped == read.returned
    assert read.complete is True
    assert read.lookup_ms > 0
    assert read.store_ms > 0
    assert read.request_id is None  # nothing bound this request
    assert collected.of("violation") == []
    assert collected.of("refusal") == []
    # The JSON form is plain values, kind first.
    line = json.loads(json.dumps(read.to_dict()))
    assert next(iter(line)) == "kind"
    assert line["kind"] == "read"


async def test_a_write_reports_its_ids_and_resources(
    conformance_world: World, collected: Collect
) -> None:
    w = conformance_world
    await w.index(w.owner).put_chunks(w.private, chunks("one", "two"))
    (write,) = collected.of("write")
    assert isinstance(write, WriteEvent)
    assert write.outcome == "ok"
    assert write.resources == (w.private,)
    assert sorted(write.ids) == [f"{w.private}:0", f"{w.private}:1"]
    assert write.user_id == str(w.owner.id)


@pytest.mark.invariant(9)
async def test_invariant_9_a_refusal_for_a_hidden_resource_is_the_event_of_an_absent_one(
    conformance_world: World, collected: Collect
) -> None:
    """The editor may not write chunks of the owner's private document (hidden from the
    editor) nor of a document nobody registered: both refusals report the same events."""
    w = conformance_world
    hidden, absent = w.private, str(uuid.uuid4())
    seen: list[list[dict[str, Any]]] = []
    for rid in (hidden, absent):
        collected.events.clear()
        with pytest.raises(AccessDeniedError):
            await w.index(w.editor).put_chunks(rid, [Chunk("x", NEAR, {})])
        seen.append([_comparable(e, rid) for e in collected.events])
    assert seen[0] == seen[1]
    kinds = [e["kind"] for e in seen[0]]
    assert kinds == ["write", "refusal"]
    refusal = seen[0][1]
    assert (refusal["rule"], refusal["error"]) == ("write-rule", "AccessDeniedError")
    assert set(refusal) == {f.name for f in dataclasses.fields(RefusalEvent)} - {"at"} | {"kind"}


def _comparable(event: Any, rid: str) -> dict[str, Any]:
    """The event without its time, the id the caller named blanked."""
    out = event.to_dict()
    del out["at"]
    return json.loads(json.dumps(out).replace(rid, "<id>"))
