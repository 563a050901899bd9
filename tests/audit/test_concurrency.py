"""The JSON-lines sink under load: 50 concurrent requests over 10 workspaces.

Every event the engine reported is one line (events in = lines out), and every line is
the request's own: its workspace, its user, ids of its workspace's documents only.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from sentinel_vectors import audit
from sentinel_vectors.index import Chunk
from sentinel_vectors.testing.conformance import BackendFactory
from sentinel_vectors.testing.conformance.world import NEAR, Member, World
from tests.audit.conftest import Collect, _chroma

WORKSPACES = 10
REQUESTS = 50


@pytest.fixture
def backend_factory(chroma_http: Any) -> BackendFactory:
    return _chroma(chroma_http)


async def test_jsonl_loses_no_event_and_mixes_no_workspace_under_concurrency(
    conformance_world: World, tmp_path: Path
) -> None:
    w = conformance_world
    members: list[Member] = []
    docs: list[str] = []
    for _ in range(WORKSPACES):
        member = w.t.member("editor", w.t.workspace())
        doc = w.t.resource(member, "workspace")
        await w.target.backend.index(member.auth).put_chunks(doc, [Chunk("text", NEAR, {})])
        members.append(member)
        docs.append(doc)

    path = tmp_path / "audit.jsonl"
    counted = Collect()  # inline: sees each event once, as it is reported
    auditor = audit.Auditor([counted, audit.JsonLinesSink(path)], queue_size=REQUESTS * 4)
    expected: dict[str, tuple[str, str, str]] = {}

    async def request(i: int) -> None:
        who = w.t.fresh(members[i % WORKSPACES])
        rid = audit.bind_request(who.auth, auditor, f"req-{i}")
        expected[rid] = (str(who.user.workspace_id), str(who.id), docs[i % WORKSPACES])
        hits = await w.target.backend.index(who.auth).search(NEAR, 5)
        assert [h.resource_id for h in hits] == [docs[i % WORKSPACES]]

    try:
        await asyncio.gather(*(request(i) for i in range(REQUESTS)))
        assert auditor.flush(30)
    finally:
        auditor.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == len(counted.events) == REQUESTS  # one read event per request
    assert (auditor.dropped, auditor.errors) == (0, 0)
    assert sorted(x["request_id"] for x in lines) == sorted(expected)
    for line in lines:
        workspace, user, doc = expected[line["request_id"]]
        assert (line["workspace_id"], line["user_id"]) == (workspace, user)
        assert line["returned_ids"] == [f"{doc}:0"]
