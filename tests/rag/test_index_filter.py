"""``ChunkIndex.search(filter=...)``: a caller filter narrows, never widens, on every backend."""

from __future__ import annotations

import pytest

from sentinel_vectors import filters as F
from sentinel_vectors.embedders import StaticModelEmbedder
from sentinel_vectors.errors import ReservedKeyError
from tests.rag.conftest import World

QUESTION = "How many days do customers have to request a refund?"


async def test_filter_narrows_the_search(
    corpus_world: World, embedder: StaticModelEmbedder
) -> None:
    index = corpus_world.store.backend.index(corpus_world.auth("carol"))
    vector = embedder.embed_query(QUESTION)
    unfiltered = await index.search(vector, 20)
    assert len({h.metadata["title"] for h in unfiltered}) > 1
    hits = await index.search(vector, 20, filter=F.eq("title", "Acme pricing change for 2026"))
    assert hits, "the filter should keep the pricing document's chunks"
    assert {h.metadata["title"] for h in hits} == {"Acme pricing change for 2026"}
    assert {h.id for h in hits} <= {h.id for h in unfiltered}


async def test_filter_cannot_reach_past_the_scope(
    corpus_world: World, embedder: StaticModelEmbedder
) -> None:
    vector = embedder.embed_query(QUESTION)
    other_workspace = F.eq("title", "Globex refund policy")
    unshared = F.eq("title", "Acme engineering salary bands")
    admin = corpus_world.store.backend.index(corpus_world.auth("carol"))
    assert await admin.search(vector, 20, filter=other_workspace) == []
    viewer = corpus_world.store.backend.index(corpus_world.auth("bob"))
    assert await viewer.search(vector, 20, filter=unshared) == []
    assert await viewer.search(vector, 20, filter=F.or_(other_workspace, unshared)) == []
    # The same filter does match for someone who may see the document.
    assert await admin.search(vector, 20, filter=unshared)


@pytest.mark.parametrize("key", ["workspace_id", "owner_id", "resource_id"])
async def test_filter_on_a_tenancy_key_is_refused(
    corpus_world: World, embedder: StaticModelEmbedder, key: str
) -> None:
    index = corpus_world.store.backend.index(corpus_world.auth("bob"))
    other = str(corpus_world.corpus.workspace_id("globex"))
    with pytest.raises(ReservedKeyError):
        await index.search(embedder.embed_query(QUESTION), 5, filter=F.eq(key, other))
