"""The post-filter strategy on real Chroma: re-checked hits, over-fetch, ``complete``.

The world: in the caller's workspace, chunks of hidden resources sit right on top of
the query (decoys), the caller's visible chunks further out; another workspace holds
copies of everything. A post-filter asks the store for the workspace only, so every
decoy comes back as a candidate and must be dropped by the re-check.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from sentinel_vectors import filters as F
from sentinel_vectors.policy import AUDIT_LOGGER
from sentinel_vectors.strategy import OverFetch
from sentinel_vectors.testing.conformance import Member, Tenancy
from sentinel_vectors_chroma import ChromaWhereCompiler, ScopedCollection

DIM = 8
QUERY = np.ones(DIM) / np.sqrt(DIM)


def _near(rng: np.random.Generator, scale: float) -> list[float]:
    return [float(x) for x in QUERY + rng.normal(scale=scale, size=DIM)]


async def _world(tenancy: Tenancy, collection: Any) -> tuple[Member, list[str], dict[str, Any]]:
    """Viewer, the ids they may see (nearest first), and every record's resource."""
    rng = np.random.default_rng(3)
    ws, other_ws = tenancy.workspace(), tenancy.workspace()
    owner = tenancy.member("editor", ws)
    viewer = tenancy.member("viewer", ws)
    stranger = tenancy.member("editor", other_ws)
    visible = [tenancy.resource(owner) for _ in range(3)]
    for rid in visible:
        tenancy.share(rid, viewer)
    hidden = [tenancy.resource(owner) for _ in range(4)]
    ids, vectors, metas = [], [], []
    for i in range(20):  # decoys: the 20 nearest chunks of the workspace are hidden
        ids.append(f"h{i}")
        vectors.append(_near(rng, 0.01 + i * 0.001))
        metas.append({"resource_id": hidden[i % 4], "lang": "en"})
    for i in range(12):
        ids.append(f"v{i}")
        vectors.append(_near(rng, 0.2 + i * 0.05))
        metas.append({"resource_id": visible[i % 3], "lang": "en" if i % 2 == 0 else "de"})
    await ScopedCollection(collection, owner.auth, resource_type="document").add(
        ids=ids, embeddings=vectors, metadatas=metas
    )
    # Another workspace: the same resource ids, nearest of all.
    foreign = [tenancy.resource(stranger, resource_id=None) for _ in range(1)]
    await ScopedCollection(collection, stranger.auth, resource_type="document").add(
        ids=[f"x{i}" for i in range(10)],
        embeddings=[_near(rng, 0.001) for _ in range(10)],
        metadatas=[{"resource_id": foreign[0]}] * 10,
    )
    dist = {
        i: float(np.linalg.norm(np.array(v) - QUERY)) for i, v in zip(ids, vectors, strict=True)
    }
    seen = sorted((i for i in ids if i.startswith("v")), key=dist.__getitem__)
    return viewer, seen, dict(zip(ids, metas, strict=True))


@pytest.mark.invariant(7)
async def test_postfilter_returns_the_visible_top_k_and_drops_every_decoy(
    tenancy: Tenancy, chroma_collection: Any, caplog: pytest.LogCaptureFixture
) -> None:
    viewer, seen, _ = await _world(tenancy, chroma_collection)
    docs = ScopedCollection(
        chroma_collection, viewer.auth, resource_type="document", strategy="postfilter"
    )
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        res = await docs.query(query_embeddings=[QUERY], n_results=5, include=["metadatas"])
    assert res["ids"][0] == seen[:5]
    assert res.complete is True
    assert docs.violations == 0  # denied candidates are expected, not violations
    (event,) = [r for r in caplog.records if getattr(r, "event", "") == "sentinel_vectors.read"]
    assert event.strategy == "postfilter"  # type: ignore[attr-defined]
    assert event.examined > 5  # type: ignore[attr-defined]
    assert event.complete is True  # type: ignore[attr-defined]
    assert set(res.keys()) == {
        "ids",
        "embeddings",
        "documents",
        "uris",
        "data",
        "metadatas",
        "distances",
        "included",
    }


async def test_postfilter_reports_incomplete_when_over_fetch_cannot_fill_k(
    tenancy: Tenancy, chroma_collection: Any
) -> None:
    viewer, seen, _ = await _world(tenancy, chroma_collection)
    docs = ScopedCollection(
        chroma_collection,
        viewer.auth,
        resource_type="document",
        strategy="postfilter",
        overfetch=OverFetch(first=1, growth=2, max_candidates=22),
    )
    res = await docs.query(query_embeddings=[QUERY], n_results=5)
    assert res.complete is False
    assert res["ids"][0] == seen[:2]  # 22 candidates: 20 decoys, then 2 visible


@pytest.mark.invariant(9)  # auto never exposes complete=False (a side channel)
async def test_auto_falls_back_to_the_prefilter_when_over_fetch_falls_short(
    tenancy: Tenancy, chroma_collection: Any
) -> None:
    viewer, seen, _ = await _world(tenancy, chroma_collection)
    docs = ScopedCollection(
        chroma_collection,
        viewer.auth,
        resource_type="document",
        postfilter_min_ids=1,
        overfetch=OverFetch(first=1, growth=2, max_candidates=22),
    )
    res = await docs.query(query_embeddings=[QUERY, QUERY], n_results=5)
    assert res["ids"] == [seen[:5], seen[:5]]
    assert res.complete is True


async def test_postfilter_keeps_the_caller_filter(tenancy: Tenancy, chroma_collection: Any) -> None:
    viewer, seen, metas = await _world(tenancy, chroma_collection)
    docs = ScopedCollection(
        chroma_collection, viewer.auth, resource_type="document", strategy="postfilter"
    )
    res = await docs.query(query_embeddings=[QUERY], n_results=3, where={"lang": "en"})
    assert res["ids"][0] == [i for i in seen if metas[i]["lang"] == "en"][:3]
    assert res.complete is True


@pytest.mark.invariant(7)
async def test_postfiltered_hits_are_rechecked_when_the_store_ignores_the_workspace(
    tenancy: Tenancy, chroma_collection: Any
) -> None:
    viewer, seen, _ = await _world(tenancy, chroma_collection)

    class DropsTheWorkspace(ChromaWhereCompiler):
        """A broken compiler: the workspace condition never reaches Chroma."""

        def compile(self, node: F.Filter) -> Any:
            if isinstance(node, F.Comparison) and node.key == "workspace_id":
                return {"resource_id": {"$ne": ""}}
            return super().compile(node)

    docs = ScopedCollection(
        chroma_collection,
        viewer.auth,
        resource_type="document",
        strategy="postfilter",
        compiler=DropsTheWorkspace(),
    )
    res = await docs.query(query_embeddings=[QUERY], n_results=5)
    assert res["ids"][0] == seen[:5]  # no foreign record, no decoy
    assert docs.violations == 10  # the other workspace's 10 nearest records, each counted
