"""The post-filter strategy on real PostgreSQL + pgvector: re-checked hits, ``complete``.

Hidden resources' chunks sit right on top of the query (decoys), the caller's visible
chunks further out, and another workspace holds the nearest chunks of all. A
post-filter asks for the workspace only, so every decoy is a candidate the re-check
must drop.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
from sqlalchemy import ColumnElement, Table, true
from sqlalchemy.ext.asyncio import AsyncEngine

from sentinel_vectors import filters as F
from sentinel_vectors.policy import AUDIT_LOGGER
from sentinel_vectors.strategy import OverFetch
from sentinel_vectors.testing.conformance import Member, Tenancy
from sentinel_vectors_pgvector import Hits, ScopedVectorStore, SqlFilterCompiler
from tests.pgvector.conftest import DIM

QUERY = np.ones(DIM) / np.sqrt(DIM)


def _near(rng: np.random.Generator, scale: float) -> list[float]:
    return [float(x) for x in QUERY + rng.normal(scale=scale, size=DIM)]


async def _world(
    tenancy: Tenancy, engine: AsyncEngine, table: Table
) -> tuple[Member, list[str], dict[str, dict[str, Any]]]:
    rng = np.random.default_rng(5)
    ws, other_ws = tenancy.workspace(), tenancy.workspace()
    owner = tenancy.member("editor", ws)
    viewer = tenancy.member("viewer", ws)
    stranger = tenancy.member("editor", other_ws)
    visible = [tenancy.resource(owner) for _ in range(3)]
    for rid in visible:
        tenancy.share(rid, viewer)
    hidden = [tenancy.resource(owner) for _ in range(4)]
    ids, vectors, metas = [], [], []
    for i in range(20):
        ids.append(f"h{i}")
        vectors.append(_near(rng, 0.01 + i * 0.001))
        metas.append({"resource_id": hidden[i % 4], "lang": "en"})
    for i in range(12):
        ids.append(f"v{i}")
        vectors.append(_near(rng, 0.2 + i * 0.05))
        metas.append({"resource_id": visible[i % 3], "lang": "en" if i % 2 == 0 else "de"})
    owner_store = ScopedVectorStore(engine, owner.auth, model=table, resource_type="document")
    await owner_store.add(ids, vectors, metas)
    foreign = tenancy.resource(stranger)
    await ScopedVectorStore(engine, stranger.auth, model=table, resource_type="document").add(
        [f"x{i}" for i in range(10)],
        [_near(rng, 0.001) for _ in range(10)],
        [{"resource_id": foreign}] * 10,
    )

    def cosine(v: list[float]) -> float:
        a = np.array(v)
        return float(1 - a @ QUERY / np.linalg.norm(a))

    dist = {i: cosine(v) for i, v in zip(ids, vectors, strict=True)}
    seen = sorted((i for i in ids if i.startswith("v")), key=dist.__getitem__)
    return viewer, seen, dict(zip(ids, metas, strict=True))


@pytest.mark.invariant(7)
async def test_postfilter_returns_the_visible_top_k_and_drops_every_decoy(
    tenancy: Tenancy, async_engine: AsyncEngine, chunks: Table, caplog: pytest.LogCaptureFixture
) -> None:
    viewer, seen, _ = await _world(tenancy, async_engine, chunks)
    store = ScopedVectorStore(
        async_engine, viewer.auth, model=chunks, resource_type="document", strategy="postfilter"
    )
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        hits = await store.query(QUERY, 5)
    assert isinstance(hits, Hits)
    assert isinstance(hits, list)
    assert [h.id for h in hits] == seen[:5]
    assert hits.complete is True
    assert store.violations == 0
    (event,) = [r for r in caplog.records if getattr(r, "event", "") == "sentinel_vectors.read"]
    assert event.strategy == "postfilter"  # type: ignore[attr-defined]
    assert event.complete is True  # type: ignore[attr-defined]


async def test_postfilter_reports_incomplete_when_over_fetch_cannot_fill_k(
    tenancy: Tenancy, async_engine: AsyncEngine, chunks: Table
) -> None:
    viewer, seen, _ = await _world(tenancy, async_engine, chunks)
    store = ScopedVectorStore(
        async_engine,
        viewer.auth,
        model=chunks,
        resource_type="document",
        strategy="postfilter",
        overfetch=OverFetch(first=1, growth=2, max_candidates=22),
    )
    hits = await store.query(QUERY, 5)
    assert hits.complete is False
    assert [h.id for h in hits] == seen[:2]


@pytest.mark.invariant(9)  # auto never exposes complete=False (a side channel)
async def test_auto_falls_back_to_the_prefilter_when_over_fetch_falls_short(
    tenancy: Tenancy, async_engine: AsyncEngine, chunks: Table
) -> None:
    viewer, seen, _ = await _world(tenancy, async_engine, chunks)
    store = ScopedVectorStore(
        async_engine,
        viewer.auth,
        model=chunks,
        resource_type="document",
        postfilter_min_ids=1,
        overfetch=OverFetch(first=1, growth=2, max_candidates=22),
    )
    hits = await store.query(QUERY, 5)
    assert [h.id for h in hits] == seen[:5]
    assert hits.complete is True


async def test_postfilter_keeps_the_caller_filter(
    tenancy: Tenancy, async_engine: AsyncEngine, chunks: Table
) -> None:
    viewer, seen, metas = await _world(tenancy, async_engine, chunks)
    store = ScopedVectorStore(
        async_engine, viewer.auth, model=chunks, resource_type="document", strategy="postfilter"
    )
    hits = await store.query(QUERY, 3, filter={"lang": "en"})
    assert [h.id for h in hits] == [i for i in seen if metas[i]["lang"] == "en"][:3]


@pytest.mark.invariant(7)
async def test_postfiltered_hits_are_rechecked_when_the_store_ignores_the_workspace(
    tenancy: Tenancy, async_engine: AsyncEngine, chunks: Table
) -> None:
    viewer, seen, _ = await _world(tenancy, async_engine, chunks)

    class DropsTheWorkspace(SqlFilterCompiler):
        """A broken compiler: the workspace condition never reaches PostgreSQL."""

        def comparison(self, node: F.Comparison) -> ColumnElement[bool]:
            if node.key == "workspace_id":
                return true()
            return super().comparison(node)

    compiler = DropsTheWorkspace(
        chunks.c.meta,
        {
            "workspace_id": chunks.c.workspace_id,
            "owner_id": chunks.c.owner_id,
            "resource_id": chunks.c.resource_id,
        },
    )
    store = ScopedVectorStore(
        async_engine,
        viewer.auth,
        model=chunks,
        resource_type="document",
        strategy="postfilter",
        compiler=compiler,
    )
    hits = await store.query(QUERY, 5)
    assert [h.id for h in hits] == seen[:5]
    assert store.violations == 10
