"""The post-filter strategy on Qdrant (local mode; a server with QDRANT_URL).

Hidden resources' points sit right on top of the query (decoys), the caller's visible
points further out, and another workspace holds the nearest points of all. A
post-filter asks for the workspace only, so every decoy is a candidate the re-check
must drop.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.models import QueryResponse

from sentinel_vectors import filters as F
from sentinel_vectors.policy import AUDIT_LOGGER
from sentinel_vectors.strategy import OverFetch
from sentinel_vectors.testing.conformance import Member, Tenancy
from sentinel_vectors_qdrant import QdrantFilterCompiler, ScopedQdrantClient, ScopedQueryResponse
from sentinel_vectors_qdrant.compiler import QdrantCondition
from tests.qdrant.conftest import DIM, Store

QUERY = np.ones(DIM) / np.sqrt(DIM)


def _near(rng: np.random.Generator, scale: float) -> list[float]:
    return [float(x) for x in QUERY + rng.normal(scale=scale, size=DIM)]


async def _world(tenancy: Tenancy, qdrant: Store) -> tuple[Member, list[int], dict[int, str]]:
    rng = np.random.default_rng(9)
    ws, other_ws = tenancy.workspace(), tenancy.workspace()
    owner = tenancy.member("editor", ws)
    viewer = tenancy.member("viewer", ws)
    stranger = tenancy.member("editor", other_ws)
    visible = [tenancy.resource(owner) for _ in range(3)]
    for rid in visible:
        tenancy.share(rid, viewer)
    hidden = [tenancy.resource(owner) for _ in range(4)]
    points, lang = [], {}
    for i in range(20):
        points.append(
            models.PointStruct(
                id=1000 + i,
                vector=_near(rng, 0.01 + i * 0.001),
                payload={"resource_id": hidden[i % 4]},
            )
        )
    for i in range(12):
        lang[i] = "en" if i % 2 == 0 else "de"
        points.append(
            models.PointStruct(
                id=i,
                vector=_near(rng, 0.2 + i * 0.05),
                payload={"resource_id": visible[i % 3], "lang": lang[i]},
            )
        )
    await ScopedQdrantClient(qdrant.client, owner.auth, resource_type="document").upsert(
        qdrant.name, points=points
    )
    foreign = tenancy.resource(stranger)
    await ScopedQdrantClient(qdrant.client, stranger.auth, resource_type="document").upsert(
        qdrant.name,
        points=[
            models.PointStruct(
                id=2000 + i, vector=_near(rng, 0.001), payload={"resource_id": foreign}
            )
            for i in range(10)
        ],
    )

    def cosine(p: models.PointStruct) -> float:
        a = np.array(p.vector)
        return float(1 - a @ QUERY / np.linalg.norm(a))

    seen = [int(p.id) for p in sorted(points[20:], key=cosine)]
    return viewer, seen, {i: lang[i] for i in lang}


def _client(qdrant: Store, viewer: Member, **options: object) -> ScopedQdrantClient:
    return ScopedQdrantClient(qdrant.client, viewer.auth, resource_type="document", **options)  # type: ignore[arg-type]


@pytest.mark.invariant(7)
async def test_postfilter_returns_the_visible_top_k_and_drops_every_decoy(
    tenancy: Tenancy, qdrant: Store, caplog: pytest.LogCaptureFixture
) -> None:
    viewer, seen, _ = await _world(tenancy, qdrant)
    client = _client(qdrant, viewer, strategy="postfilter")
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        res = await client.query_points(qdrant.name, query=QUERY.tolist(), limit=5)
    assert isinstance(res, QueryResponse)
    assert isinstance(res, ScopedQueryResponse)
    assert [p.id for p in res.points] == seen[:5]
    assert res.complete is True
    assert res.model_dump().keys() == {"points"}
    assert client.violations == 0
    (event,) = [r for r in caplog.records if getattr(r, "event", "") == "sentinel_vectors.read"]
    assert event.strategy == "postfilter"  # type: ignore[attr-defined]
    assert event.complete is True  # type: ignore[attr-defined]


async def test_postfilter_reports_incomplete_when_over_fetch_cannot_fill_k(
    tenancy: Tenancy, qdrant: Store
) -> None:
    viewer, seen, _ = await _world(tenancy, qdrant)
    client = _client(
        qdrant,
        viewer,
        strategy="postfilter",
        overfetch=OverFetch(first=1, growth=2, max_candidates=22),
    )
    res = await client.query_points(qdrant.name, query=QUERY.tolist(), limit=5)
    assert res.complete is False  # type: ignore[attr-defined]
    assert [p.id for p in res.points] == seen[:2]


@pytest.mark.invariant(9)  # auto never exposes complete=False (a side channel)
async def test_auto_falls_back_to_the_prefilter_when_over_fetch_falls_short(
    tenancy: Tenancy, qdrant: Store
) -> None:
    viewer, seen, _ = await _world(tenancy, qdrant)
    client = _client(
        qdrant,
        viewer,
        postfilter_min_ids=1,
        overfetch=OverFetch(first=1, growth=2, max_candidates=22),
    )
    res = await client.query_points(qdrant.name, query=QUERY.tolist(), limit=5)
    assert [p.id for p in res.points] == seen[:5]
    assert res.complete is True  # type: ignore[attr-defined]


async def test_postfilter_keeps_the_caller_filter(tenancy: Tenancy, qdrant: Store) -> None:
    viewer, seen, lang = await _world(tenancy, qdrant)
    client = _client(qdrant, viewer, strategy="postfilter")
    native = models.Filter(
        must=[models.FieldCondition(key="lang", match=models.MatchValue(value="en"))]
    )
    res = await client.query_points(qdrant.name, query=QUERY.tolist(), query_filter=native, limit=3)
    assert [p.id for p in res.points] == [i for i in seen if lang[i] == "en"][:3]
    neutral = await client.query_points(
        qdrant.name, query=QUERY.tolist(), query_filter=F.eq("lang", "de"), limit=3
    )
    assert [p.id for p in neutral.points] == [i for i in seen if lang[i] == "de"][:3]


@pytest.mark.invariant(7)
async def test_postfiltered_hits_are_rechecked_when_the_store_ignores_the_workspace(
    tenancy: Tenancy, qdrant: Store
) -> None:
    viewer, seen, _ = await _world(tenancy, qdrant)

    class DropsTheWorkspace(QdrantFilterCompiler):
        """A broken compiler: the workspace condition never reaches Qdrant."""

        def comparison(self, node: F.Comparison) -> QdrantCondition:
            if node.key == "workspace_id":
                return models.Filter(
                    must_not=[
                        models.IsEmptyCondition(is_empty=models.PayloadField(key="resource_id"))
                    ]
                )
            return super().comparison(node)

    client = _client(qdrant, viewer, strategy="postfilter", compiler=DropsTheWorkspace())
    res = await client.query_points(qdrant.name, query=QUERY.tolist(), limit=5)
    assert [p.id for p in res.points] == seen[:5]
    assert client.violations == 10
