"""Accessible lists of 10,000+ resource ids: chunked pre-filter, merged top-k, exact answer."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from sentinel_vectors.testing.conformance import Tenancy
from sentinel_vectors_chroma import ScopedCollection

N_RESOURCES = 12_000
N_CHUNKS = 400


@pytest.mark.invariant(1)
@pytest.mark.parametrize("max_ids", [10_000, 1_500])
async def test_invariant_1_large_accessible_list_is_exact(
    tenancy: Tenancy, chroma_collection: Any, max_ids: int
) -> None:
    ws = tenancy.workspace()
    owner = tenancy.member("editor", ws)
    viewer = tenancy.member("viewer", ws)
    emulator = tenancy.running.emulator
    rng = np.random.default_rng(7)
    shared = [uuid.uuid4() for _ in range(N_RESOURCES)]
    for rid in shared:
        emulator.register("document", rid, ws, owner.id, visibility="private")
        emulator.share("document", rid, "user", viewer.id, "view")
    hidden = uuid.uuid4()
    emulator.register("document", hidden, ws, owner.id, visibility="private")

    query = rng.normal(size=8)
    picks = rng.choice(N_RESOURCES, size=N_CHUNKS, replace=False)
    vectors = rng.normal(size=(N_CHUNKS, 8))
    ids = [f"c{i}" for i in range(N_CHUNKS)]
    metas = [{"resource_id": str(shared[p])} for p in picks]
    # Decoys of a resource the viewer may not see, right on top of the query.
    ids += ["hidden-1", "hidden-2"]
    metas += [{"resource_id": str(hidden)}] * 2
    vectors = np.vstack([vectors, query + 1e-3, query - 1e-3])
    writer = ScopedCollection(chroma_collection, owner.auth, resource_type="document")
    await writer.add(ids=ids, embeddings=vectors, metadatas=metas)

    docs = ScopedCollection(
        chroma_collection, viewer.auth, resource_type="document", max_ids_per_query=max_ids
    )
    hits = await docs.query(query_embeddings=[query], n_results=10, include=["distances"])
    dist = ((vectors[:N_CHUNKS] - query) ** 2).sum(axis=1)
    expected = [f"c{i}" for i in np.argsort(dist)[:10]]
    assert hits["ids"][0] == expected
    assert await docs.count() == N_CHUNKS
